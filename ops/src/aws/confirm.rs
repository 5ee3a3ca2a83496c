//! Asking the operator before `up` creates or `down` destroys anything: a y/N line
//! on stdin, or `--yes`. Without a terminal and without `--yes` the answer is no,
//! so a script never changes a cluster by accident.

use std::io::{BufRead, IsTerminal, Write};

use crate::Error;

/// Ok if the operator agrees to `action` (e.g. "create 7 instances").
pub fn confirm(action: &str, yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Usage(format!(
            "refusing to {action} without confirmation: stdin is not a terminal; pass --yes to go ahead"
        )));
    }
    print!("{action}? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|source| Error::Process { what: "reading stdin".into(), source })?;
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Error::Usage(format!("not confirmed: did not {action}; nothing was changed"))),
    }
}
