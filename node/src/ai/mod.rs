//! AI replies to `@wayneAI` and `@consultingAI` (protocol §6.8).
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the personas, the [`AiProvider`] seam, the node's [`Ai`] (provider + running streams) |
//! | `stream.rs` | the event sequence of one reply: start, chunks, store, complete or error |
//! | `offline.rs` | the built-in provider: deterministic replies, no network (the default) |
//! | `openai.rs` | an OpenAI-compatible streaming chat-completions provider |
//!
//! Every reply runs in its own task, so a slow or failing provider never holds up the
//! chat path that started it.

mod offline;
mod openai;
mod stream;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use tokio::task::JoinSet;

pub(crate) use stream::start_replies;

use crate::config::{AiProviderKind, Config};

/// The AI personas a message can mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persona {
    /// `wayneAI`: a helpful assistant.
    Wayne,
    /// `consultingAI`: a business consultant.
    Consulting,
}

impl Persona {
    pub(crate) const ALL: [Persona; 2] = [Persona::Wayne, Persona::Consulting];

    pub(crate) fn from_ai_type(ai_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.ai_type() == ai_type)
    }

    /// The name on the wire (`aiType`) and after the `@`.
    pub(crate) fn ai_type(self) -> &'static str {
        match self {
            Persona::Wayne => "wayneAI",
            Persona::Consulting => "consultingAI",
        }
    }

    /// The system prompt a model-backed provider is given.
    fn instructions(self) -> &'static str {
        match self {
            Persona::Wayne => {
                "You are Wayne AI, a friendly and helpful assistant in a group chat. Answer clearly and \
                 concisely, in the language of the question. Use Markdown code blocks for code."
            }
            Persona::Consulting => {
                "You are Consulting AI, an experienced business consultant in a group chat. Give structured, \
                 practical advice on strategy, operations and decisions, in the language of the question."
            }
        }
    }
}

/// Why a provider could not produce a reply. Logged; clients get a fixed text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AiError {
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    #[error("provider answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("malformed provider stream: {0}")]
    Malformed(String),
    #[error("provider sent nothing for {0:?}")]
    Timeout(Duration),
}

/// A reply as it is generated: text chunks in order, whitespace-only ones included.
pub(crate) type Chunks = Pin<Box<dyn Stream<Item = Result<String, AiError>> + Send>>;

/// Where replies come from. The stream does its work lazily, when polled.
pub(crate) trait AiProvider: Send + Sync {
    fn reply(&self, persona: Persona, query: &str) -> Chunks;
}

/// The node's AI: the configured provider and the replies being streamed.
pub(crate) struct Ai {
    provider: Arc<dyn AiProvider>,
    /// Owned so shutdown can stop them; finished ones are reaped on every spawn.
    replies: Mutex<JoinSet<()>>,
}

impl Ai {
    pub(crate) fn from_config(config: &Config) -> Self {
        let provider: Arc<dyn AiProvider> = match config.ai_provider {
            AiProviderKind::Offline => Arc::new(offline::Offline::default()),
            AiProviderKind::Openai => Arc::new(openai::OpenAi::new(
                &config.ai_url,
                config.ai_api_key.clone().unwrap_or_default(),
                config.ai_model.clone(),
                config.ai_temperature,
            )),
        };
        tracing::info!(provider = ?config.ai_provider, "AI replies");
        Self::new(provider)
    }

    pub(crate) fn new(provider: Arc<dyn AiProvider>) -> Self {
        Self { provider, replies: Mutex::new(JoinSet::new()) }
    }

    pub(crate) fn provider(&self) -> &dyn AiProvider {
        self.provider.as_ref()
    }

    fn spawn(&self, reply: impl Future<Output = ()> + Send + 'static) {
        let mut replies = self.replies.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while replies.try_join_next().is_some() {}
        replies.spawn(reply);
    }

    /// Stop the replies still streaming (on shutdown); their members saw the start only.
    pub(crate) async fn shutdown(&self) {
        let mut replies = std::mem::take(&mut *self.replies.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        replies.abort_all();
        while replies.join_next().await.is_some() {}
    }
}
