//! Helpers shared by the crate tests that need external components.

pub mod mongo;
