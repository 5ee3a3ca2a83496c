//! The `--json FILE` of the commands that report (raft-bench, bench, drill): the
//! report, pretty-printed, written where the operator asked, and said so.

use std::path::Path;

use serde::Serialize;

use crate::Error;

/// Write `report` to `path` as pretty JSON and print where it went.
pub(crate) fn write(path: &Path, report: &impl Serialize) -> Result<(), Error> {
    let mut json = serde_json::to_vec_pretty(report).expect("the report always serializes");
    json.push(b'\n');
    std::fs::write(path, json).map_err(Error::io(path))?;
    println!("report written to {}", path.display());
    Ok(())
}
