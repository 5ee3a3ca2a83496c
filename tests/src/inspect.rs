//! What a test reads of a node from outside, through the operating system: its
//! memory from `/proc` and the files in its blob directories. Tests of memory bounds
//! and of file clean-up assert on these, never on what the node says of itself.

use std::path::Path;

use anyhow::{Context, Result};

use crate::TestCluster;

/// A process's resident memory (`VmRSS`) and peak resident memory (`VmHWM`), in KiB.
pub fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("{name} in status"))?;
        Ok(line.split_whitespace().nth(1).context("a value")?.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Every file under each node's blob directory, staged and temporary files included,
/// as `node-<id>:<path>`, sorted.
pub fn blob_files(cluster: &TestCluster) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    for id in cluster.ids() {
        walk(&cluster.node(id).data_dir.join("blobs"), &format!("node-{id}:"), &mut out);
    }
    out.sort();
    out
}
