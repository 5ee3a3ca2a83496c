//! Waiting for a condition with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}")]
pub struct WaitError {
    pub what: String,
    pub waited: Duration,
}

/// Poll `check` every 20 ms until it yields `Some`, or fail after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if start.elapsed() >= timeout {
            return Err(WaitError { what: what.to_owned(), waited: start.elapsed() });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
