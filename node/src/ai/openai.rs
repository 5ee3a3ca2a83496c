//! An OpenAI-compatible provider: `POST {url}/chat/completions` with `stream: true`,
//! read as server-sent events (`data: {json}` lines, ended by `data: [DONE]`); each
//! event's `choices[0].delta.content` is one chunk.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use super::{AiError, AiProvider, Chunks, Persona};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an error body is kept for the log.
const ERROR_BODY_CHARS: usize = 300;

pub(crate) struct OpenAi {
    client: reqwest::Client,
    endpoint: String,
    api_key: String,
    model: String,
    temperature: f32,
}

impl OpenAi {
    pub(crate) fn new(url: &str, api_key: String, model: String, temperature: f32) -> Self {
        let client = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().unwrap_or_default();
        Self {
            client,
            endpoint: format!("{}/chat/completions", url.trim_end_matches('/')),
            api_key,
            model,
            temperature,
        }
    }
}

impl AiProvider for OpenAi {
    fn reply(&self, persona: Persona, query: &str) -> Chunks {
        let body = json!({
            "model": self.model,
            "temperature": self.temperature,
            "stream": true,
            "messages": [
                { "role": "system", "content": persona.instructions() },
                { "role": "user", "content": query },
            ],
        });
        let request = self.client.post(&self.endpoint).bearer_auth(&self.api_key).json(&body);
        let reading = Reading {
            request: Some(request),
            response: None,
            events: SseLines::default(),
            chunks: VecDeque::new(),
            done: false,
        };
        futures::stream::unfold(reading, Reading::next).boxed()
    }
}

/// The state of one streamed completion.
struct Reading {
    /// Sent on the first poll.
    request: Option<reqwest::RequestBuilder>,
    response: Option<reqwest::Response>,
    events: SseLines,
    /// Parsed chunks not yet handed out.
    chunks: VecDeque<String>,
    /// `[DONE]` seen, the body ended, or failed: hand out what is left, then stop.
    done: bool,
}

impl Reading {
    async fn next(mut self) -> Option<(Result<String, AiError>, Self)> {
        loop {
            if let Some(chunk) = self.chunks.pop_front() {
                return Some((Ok(chunk), self));
            }
            if self.done {
                return None;
            }
            if let Some(request) = self.request.take() {
                match open(request).await {
                    Ok(response) => self.response = Some(response),
                    Err(e) => return Some(self.fail(e)),
                }
                continue;
            }
            let response = self.response.as_mut()?;
            match response.chunk().await {
                Ok(Some(bytes)) => {
                    for data in self.events.push(&bytes) {
                        if let Err(e) = self.take_event(&data) {
                            return Some(self.fail(e));
                        }
                    }
                }
                Ok(None) => self.done = true,
                Err(e) => return Some(self.fail(AiError::Unreachable(e.to_string()))),
            }
        }
    }

    fn fail(mut self, error: AiError) -> (Result<String, AiError>, Self) {
        self.done = true;
        self.chunks.clear();
        (Err(error), self)
    }

    /// One `data:` payload: a chunk, the end, or an error the provider reported.
    fn take_event(&mut self, data: &str) -> Result<(), AiError> {
        if self.done {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let event: Value = serde_json::from_str(data).map_err(|e| AiError::Malformed(e.to_string()))?;
        if let Some(error) = event.get("error") {
            return Err(AiError::Malformed(error.to_string()));
        }
        if let Some(content) = event.pointer("/choices/0/delta/content").and_then(Value::as_str) {
            if !content.is_empty() {
                self.chunks.push_back(content.to_owned());
            }
        }
        Ok(())
    }
}

async fn open(request: reqwest::RequestBuilder) -> Result<reqwest::Response, AiError> {
    let response = request.send().await.map_err(|e| AiError::Unreachable(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default().chars().take(ERROR_BODY_CHARS).collect();
    Err(AiError::Status { status: status.as_u16(), body })
}

/// Splits a server-sent-event body into the payloads of its `data:` lines, however
/// the bytes were cut into network chunks.
#[derive(Debug, Default)]
struct SseLines {
    pending: Vec<u8>,
}

impl SseLines {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(data) = line.strip_prefix("data:") {
                out.push(data.strip_prefix(' ').unwrap_or(data).to_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(content: &str) -> String {
        json!({ "choices": [{ "index": 0, "delta": { "content": content } }] }).to_string()
    }

    #[test]
    fn data_lines_survive_any_split() {
        let body =
            format!(": comment\r\ndata: {}\r\n\r\nevent: x\ndata: {}\n\ndata: [DONE]\n\n", delta("안녕"), delta(" "));
        let bytes = body.as_bytes();
        for cut in 1..bytes.len() {
            let mut lines = SseLines::default();
            let mut out = lines.push(&bytes[..cut]);
            out.extend(lines.push(&bytes[cut..]));
            assert_eq!(out, [delta("안녕"), delta(" "), "[DONE]".to_owned()], "cut at {cut}");
        }
    }

    fn reading() -> Reading {
        Reading { request: None, response: None, events: SseLines::default(), chunks: VecDeque::new(), done: false }
    }

    #[test]
    fn events_become_chunks_until_done() {
        let mut r = reading();
        r.take_event(&delta("Hello")).unwrap();
        r.take_event(&delta(" ")).unwrap();
        r.take_event(&json!({ "choices": [{ "delta": { "role": "assistant" } }] }).to_string()).unwrap();
        r.take_event("[DONE]").unwrap();
        r.take_event(&delta("late")).unwrap();
        assert_eq!(Vec::from(r.chunks), ["Hello", " "], "whitespace kept, role-only and late events skipped");
    }

    #[test]
    fn provider_errors_and_junk_fail_the_reply() {
        assert!(matches!(reading().take_event(r#"{"error":{"message":"bad key"}}"#), Err(AiError::Malformed(_))));
        assert!(matches!(reading().take_event("not json"), Err(AiError::Malformed(_))));
    }

    /// A local OpenAI-compatible server answering every completion with `status` and `body`.
    async fn fake_api(status: u16, body: String) -> String {
        use axum::http::{header, HeaderMap, StatusCode};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |headers: HeaderMap, axum::Json(request): axum::Json<Value>| async move {
                assert_eq!(headers[header::AUTHORIZATION], "Bearer key");
                assert_eq!(request["stream"], true);
                assert_eq!(request["model"], "gpt-4.1-mini");
                assert_eq!(request["messages"][1]["content"], "hi");
                (StatusCode::from_u16(status).unwrap(), [(header::CONTENT_TYPE, "text/event-stream")], body)
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/v1/")
    }

    #[tokio::test]
    async fn a_streamed_completion_becomes_chunks() {
        let body =
            format!("data: {}\n\ndata: {}\n\ndata: {}\n\ndata: [DONE]\n\n", delta("Hel"), delta(" "), delta("lo"));
        let provider = OpenAi::new(&fake_api(200, body).await, "key".into(), "gpt-4.1-mini".into(), 0.7);
        let chunks: Vec<String> = provider.reply(Persona::Wayne, "hi").map(Result::unwrap).collect().await;
        assert_eq!(chunks, ["Hel", " ", "lo"]);
    }

    #[tokio::test]
    async fn a_refused_request_fails_with_its_status() {
        let url = fake_api(401, r#"{"error":{"message":"Incorrect API key"}}"#.into()).await;
        let provider = OpenAi::new(&url, "key".into(), "gpt-4.1-mini".into(), 0.7);
        let first = provider.reply(Persona::Consulting, "hi").next().await;
        assert!(matches!(first, Some(Err(AiError::Status { status: 401, .. }))), "{first:?}");
    }

    #[tokio::test]
    async fn an_unreachable_provider_fails_with_an_error() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", closed.local_addr().unwrap());
        drop(closed);
        let provider = OpenAi::new(&url, "key".into(), "gpt-4.1-mini".into(), 0.7);
        let mut chunks = provider.reply(Persona::Wayne, "hi");
        assert!(matches!(chunks.next().await, Some(Err(AiError::Unreachable(_)))));
        assert!(chunks.next().await.is_none());
    }
}
