//! chatctl (work in progress).
fn main() {}
