//! Waiting for one Socket.IO event on a [`chat_ops::client`] socket, for tests that
//! talk to the nodes through the bench's own client.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chat_ops::client::{Events, Incoming};
use serde_json::Value;

/// How long [`next_event`] waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// The first event called `name` whose first argument satisfies `matches`, within
/// [`WAIT`]; other events are skipped, a closed socket is an error.
pub async fn next_event(events: &mut Events, name: &str, matches: impl Fn(&Value) -> bool) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let incoming = tokio::time::timeout_at(deadline, events.recv())
            .await
            .with_context(|| format!("no '{name}' within {WAIT:?}"))?;
        match incoming {
            Some(Incoming::Event { name: got, mut args, .. }) if got == name => {
                let first = if args.is_empty() { Value::Null } else { args.swap_remove(0) };
                if matches(&first) {
                    return Ok(first);
                }
            }
            Some(Incoming::Event { .. }) => {}
            Some(Incoming::Closed { reason }) => bail!("closed ({reason}) while waiting for '{name}'"),
            None => bail!("event stream ended while waiting for '{name}'"),
        }
    }
}
