//! One AI reply as the room sees it (protocol §6.8): `aiMessageStart` right after the
//! user's message, then in its own task an `aiMessageChunk` per non-blank chunk with
//! the text so far, then the stored reply as `aiMessageComplete` and (improvement) as
//! a normal `message` with its `seq`; or `aiMessageError`. Every event goes to the
//! room on every node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_raft::command::Millis;
use chat_raft::messages::{MessageKind, NewMessage, StoredMessage};
use futures::StreamExt;
use serde_json::{json, Map};
use tracing::Instrument;

use super::{AiError, Persona};
use crate::auth::now_ms;
use crate::fanout::Target;
use crate::rest::ids::object_id;
use crate::Node;

/// A provider silent for this long has failed.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(30);
/// What clients are told when a reply fails; the cause is only logged.
const REPLY_FAILED: &str = "AI 응답 생성 중 오류가 발생했습니다.";

/// Start one reply per AI persona `message` mentions (its `mentions`, in order of
/// first appearance). Emits each `aiMessageStart` before returning; the rest runs in
/// the background.
pub(crate) async fn start_replies(node: &Arc<Node>, message: &StoredMessage) {
    if !matches!(message.kind, MessageKind::Text | MessageKind::File) {
        return;
    }
    let personas: Vec<Persona> = message.mentions.iter().filter_map(|m| Persona::from_ai_type(m)).collect();
    if personas.is_empty() {
        return;
    }
    let query = query_of(&message.content);
    for persona in personas {
        let started = now_ms();
        let reply = Reply {
            room: message.room.clone(),
            persona,
            message_id: format!("{}-{started}", persona.ai_type()),
            query: query.clone(),
            started,
        };
        let start = json!({ "messageId": reply.message_id, "aiType": persona.ai_type(), "timestamp": started });
        node.fanout.emit(node, reply.target(), "aiMessageStart", start).await;
        let span =
            tracing::info_span!("ai_reply", node = node.config.id, room = %reply.room, ai_type = persona.ai_type());
        node.ai.spawn(reply.run(node.clone()).instrument(span));
    }
}

/// The question asked: the content without any AI mention, trimmed.
fn query_of(content: &str) -> String {
    let mut query = content.to_owned();
    for persona in Persona::ALL {
        query = without_mentions(&query, persona.ai_type());
    }
    query.trim().to_owned()
}

/// `text` with every `@<name>` not followed by a word character removed.
fn without_mentions(text: &str, name: &str) -> String {
    let needle = format!("@{name}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        let whole = !after.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        if !whole {
            out.push_str(&needle);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Whether `text` ends inside a triple-backtick fence.
fn in_code_block(text: &str) -> bool {
    text.matches("```").count() % 2 == 1
}

struct Reply {
    room: String,
    persona: Persona,
    /// `<aiType>-<start epoch ms>`, the id of every streaming event.
    message_id: String,
    query: String,
    started: Millis,
}

impl Reply {
    fn target(&self) -> Target {
        Target::Room(self.room.clone())
    }

    async fn run(self, node: Arc<Node>) {
        let began = Instant::now();
        let content = match self.stream(&node).await {
            Ok(content) => content,
            Err(e) => return self.fail(&node, &e.to_string()).await,
        };
        let mut metadata = Map::new();
        metadata.insert("query".into(), json!(self.query));
        metadata.insert("generationTime".into(), json!(began.elapsed().as_millis() as u64));
        let message = NewMessage {
            id: object_id(now_ms()),
            room: self.room.clone(),
            sender: None,
            kind: MessageKind::Ai,
            content,
            file: None,
            ai_type: Some(self.persona.ai_type().to_owned()),
            mentions: Vec::new(),
            metadata,
            // The existing backend stores the start time; the store keeps the room's
            // timestamps strictly increasing, so this may move later.
            at: self.started,
        };
        let stored = match node.messages.append(message).await {
            Ok(stored) => stored,
            Err(e) => return self.fail(&node, &format!("store: {e}")).await,
        };
        let complete = json!({
            "_id": stored.id,
            "messageId": self.message_id,
            "content": stored.content,
            "aiType": self.persona.ai_type(),
            "timestamp": stored.timestamp,
        });
        node.fanout.emit(&node, self.target(), "aiMessageComplete", complete).await;
        node.fanout.emit_message(&node, &stored).await;
        tracing::debug!(message = %stored.id, ms = began.elapsed().as_millis() as u64, "AI reply stored");
    }

    /// Relay the provider's chunks; the whole text once it is done.
    async fn stream(&self, node: &Node) -> Result<String, AiError> {
        let mut chunks = node.ai.provider().reply(self.persona, &self.query);
        let mut full = String::new();
        loop {
            let chunk = match tokio::time::timeout(CHUNK_TIMEOUT, chunks.next()).await {
                Err(_) => return Err(AiError::Timeout(CHUNK_TIMEOUT)),
                Ok(None) => return Ok(full),
                Ok(Some(chunk)) => chunk?,
            };
            // Whitespace-only chunks join the text without an event of their own
            // (protocol §10.18: dropping them glued words together).
            full.push_str(&chunk);
            if chunk.trim().is_empty() {
                continue;
            }
            let event = json!({
                "messageId": self.message_id,
                "fullContent": full,
                "isCodeBlock": in_code_block(&full),
                "isComplete": false,
            });
            node.fanout.emit(node, self.target(), "aiMessageChunk", event).await;
        }
    }

    async fn fail(&self, node: &Node, cause: &str) {
        tracing::warn!(cause, "AI reply failed");
        let event = json!({ "messageId": self.message_id, "error": REPLY_FAILED, "aiType": self.persona.ai_type() });
        node.fanout.emit(node, self.target(), "aiMessageError", event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_the_content_without_ai_mentions() {
        assert_eq!(query_of("@wayneAI  what is Raft? "), "what is Raft?");
        assert_eq!(query_of("hi @consultingAI and @wayneAI, plan? @wayneAI"), "hi  and , plan?");
        assert_eq!(query_of("@wayneAIx stays"), "@wayneAIx stays");
        assert_eq!(query_of("@wayneAI"), "");
    }

    #[test]
    fn code_blocks_open_and_close() {
        assert!(!in_code_block("plain"));
        assert!(in_code_block("see:\n```rust\nfn main"));
        assert!(!in_code_block("```a```"));
    }
}
