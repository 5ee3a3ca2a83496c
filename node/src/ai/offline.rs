//! The built-in provider: a deterministic, persona-specific reply streamed in a few
//! chunks with short pauses, so the whole AI flow works and is testable without a
//! network or an API key. The reply contains a code block (so `isCodeBlock` turns on
//! and off again) and whitespace-only chunks (which must not glue words together,
//! protocol §10.18).

use std::time::Duration;

use futures::StreamExt;

use super::{AiProvider, Chunks, Persona};

/// Pause before each chunk, as a model would take.
const CHUNK_DELAY: Duration = Duration::from_millis(60);

#[derive(Debug)]
pub(crate) struct Offline {
    delay: Duration,
}

impl Default for Offline {
    fn default() -> Self {
        Self { delay: CHUNK_DELAY }
    }
}

impl AiProvider for Offline {
    fn reply(&self, persona: Persona, query: &str) -> Chunks {
        let delay = self.delay;
        futures::stream::iter(script(persona, query))
            .then(move |chunk| async move {
                tokio::time::sleep(delay).await;
                Ok(chunk)
            })
            .boxed()
    }
}

/// The reply's chunks, in order.
fn script(persona: Persona, query: &str) -> Vec<String> {
    let query = if query.is_empty() { "(빈 질문)" } else { query };
    let parts: &[&str] = match persona {
        Persona::Wayne => &[
            "안녕하세요, Wayne AI입니다.",
            " ",
            "질문을 이렇게 이해했습니다:",
            "\n\n```text\n",
            query,
            "\n```",
            "\n\n",
            "지금은 오프라인 응답 모드입니다.",
        ],
        Persona::Consulting => &[
            "Consulting AI의 검토 의견입니다.",
            " ",
            "요청:",
            " ",
            query,
            "\n\n```markdown\n",
            "1. 목표 정의\n2. 현황 분석\n3. 실행 계획",
            "\n```",
            "\n\n",
            "지금은 오프라인 응답 모드입니다.",
        ],
    };
    parts.iter().map(|part| (*part).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    #[tokio::test]
    async fn replies_are_deterministic_per_persona() {
        let provider = Offline { delay: Duration::ZERO };
        let wayne: Vec<String> = provider.reply(Persona::Wayne, "hello").try_collect().await.unwrap();
        assert_eq!(wayne, script(Persona::Wayne, "hello"));
        let text = wayne.concat();
        assert!(text.starts_with("안녕하세요, Wayne AI입니다. 질문을"), "whitespace chunks are kept: {text}");
        assert!(text.contains("```text\nhello\n```"));
        assert!(wayne.iter().any(|c| c.trim().is_empty()), "has a whitespace-only chunk");
        let consulting = script(Persona::Consulting, "").concat();
        assert!(consulting.contains("요청: (빈 질문)"));
        assert_ne!(consulting, text);
    }
}
