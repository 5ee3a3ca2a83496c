#!/usr/bin/env bash
# Runs a local 3-node cluster on embedded storage (no external services) in the
# foreground until Ctrl-C. Data, secrets, logs and cluster.json live in
# ${CHAT_LOCAL_DIR:-.local-cluster}; running it again resumes the same cluster.
# Extra arguments go to `chatctl local up` (e.g. --edges 1).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p chat-node -p chat-ops
exec target/release/chatctl local up --nodes 3 --data-dir "${CHAT_LOCAL_DIR:-.local-cluster}" "$@"
