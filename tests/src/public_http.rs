//! Raw HTTP to a node's public listener, for tests that check status codes and error
//! bodies the typed client (`chat_ops::client::ChatApi`) turns into errors.

use std::time::Duration;

use anyhow::{Context, Result};
use chat_raft::NodeId;
use reqwest::Method;
use serde_json::Value;

use crate::TestCluster;

/// One request to node `node`'s public listener, with the client token when given:
/// the status and the JSON body (`Null` when the body is not JSON).
#[allow(clippy::too_many_arguments)]
pub async fn call(
    cluster: &TestCluster,
    http: &reqwest::Client,
    node: NodeId,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    timeout: Duration,
) -> Result<(u16, Value)> {
    let url = format!("http://{}{path}", cluster.node(node).addr.public);
    let mut request = http.request(method, url).timeout(timeout);
    if let Some(token) = token {
        request = request.header("x-auth-token", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.context("send")?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}
