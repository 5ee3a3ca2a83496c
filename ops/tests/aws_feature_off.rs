//! A chatctl built without the `aws` feature (the default build, which never
//! compiles aws-sdk-ec2) refuses every `aws` subcommand and says how to get them.
#![cfg(not(feature = "aws"))]

use std::process::Command;

#[test]
fn aws_subcommands_say_how_to_build_them() {
    for args in [
        &["aws", "plan", "--cluster", "event"][..],
        &["aws", "status", "--cluster", "event"],
        &["aws", "down", "--cluster", "event", "--yes"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_chatctl")).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains("cargo build -p chat-ops --features aws"), "{args:?}: {err}");
    }
}
