//! chat-ops: the operator CLI (work in progress).
