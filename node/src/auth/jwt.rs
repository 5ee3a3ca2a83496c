//! Client JWTs (protocol §2.2): HS256 with the cluster-wide `--jwt-secret`, claims
//! `sub` (lowercased email), `userId`, `sessionId`, `iat`, `exp = iat + 24 h`, all times
//! in standard JWT seconds. Validation allows 60 s of clock skew and insists on
//! non-empty `userId` and `sessionId`, because the session check is keyed by them.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Token lifetime in seconds (24 h).
pub(crate) const TOKEN_TTL_SECS: u64 = 24 * 60 * 60;
/// Accepted clock skew when checking `exp`, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 60;

/// The claims of a client token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    // Defaults let a token without these claims reach our own emptiness check, which
    // names the missing claim instead of a generic decode error.
    #[serde(rename = "userId", default)]
    pub user_id: String,
    #[serde(rename = "sessionId", default)]
    pub session_id: String,
    pub iat: u64,
    pub exp: u64,
}

/// Why a presented token is not acceptable. The text goes into the
/// `WWW-Authenticate` `error_description` (protocol §2.4), so it names no internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("The token has expired")]
    Expired,
    #[error("The token is malformed or its signature is invalid")]
    Invalid,
    #[error("The token lacks the {0} claim")]
    MissingClaim(&'static str),
}

/// The signing and verifying keys of this node (the same secret on every node).
pub(crate) struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// Keys from the configured secret; without one, a random secret that only this
    /// process knows (tokens then fail on every other node, hence the warning).
    pub(crate) fn from_config(secret: Option<&str>) -> Self {
        match secret {
            Some(secret) => Self::new(secret.as_bytes()),
            None => {
                tracing::warn!(
                    "no --jwt-secret / CHAT_JWT_SECRET given: using a random key; tokens issued by this node \
                     will NOT be accepted by any other node and die with this process"
                );
                let random = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
                Self::new(random.as_bytes())
            }
        }
    }

    /// Sign a token issued at `iat` (seconds since the epoch).
    pub(crate) fn issue(&self, email: &str, user_id: &str, session_id: &str, iat: u64) -> String {
        let claims = Claims {
            sub: email.to_lowercase(),
            user_id: user_id.to_owned(),
            session_id: session_id.to_owned(),
            iat,
            exp: iat + TOKEN_TTL_SECS,
        };
        // HS256 over a plain struct cannot fail: the key is any byte string.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing")
    }

    /// Check signature, expiry (with leeway) and the claims the session check needs.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                _ => JwtError::Invalid,
            })?;
        let claims = data.claims;
        if claims.user_id.is_empty() {
            return Err(JwtError::MissingClaim("userId"));
        }
        if claims.session_id.is_empty() {
            return Err(JwtError::MissingClaim("sessionId"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> u64 {
        crate::auth::now_ms() / 1000
    }

    fn sign(claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    #[test]
    fn issued_tokens_round_trip_with_lowercased_subject_and_24h_expiry() {
        let keys = JwtKeys::new(SECRET);
        let iat = now();
        let token = keys.issue("Alice@Example.COM", "665f1c2a9b1e8a3f4c2d1e0f", &"a".repeat(32), iat);
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.sub, "alice@example.com");
        assert_eq!(claims.user_id, "665f1c2a9b1e8a3f4c2d1e0f");
        assert_eq!(claims.session_id, "a".repeat(32));
        assert_eq!(claims.exp - claims.iat, 86_400);
    }

    #[test]
    fn claims_use_the_wire_names() {
        let keys = JwtKeys::new(SECRET);
        let token = keys.issue("a@b.co", "u1", "s1", 1_700_000_000);
        let v = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token).unwrap().claims;
        assert_eq!(
            v,
            serde_json::json!({"sub":"a@b.co","userId":"u1","sessionId":"s1","iat":1_700_000_000u64,"exp":1_700_086_400u64})
        );
    }

    #[test]
    fn expiry_is_checked_with_sixty_seconds_of_leeway() {
        let keys = JwtKeys::new(SECRET);
        let base = serde_json::json!({"sub":"a@b.co","userId":"u","sessionId":"s","iat":now() - 90_000});
        let mut within = base.clone();
        within["exp"] = (now() - 30).into();
        assert!(keys.verify(&sign(&within)).is_ok(), "30 s past exp is within the leeway");
        let mut past = base;
        past["exp"] = (now() - 120).into();
        assert_eq!(keys.verify(&sign(&past)), Err(JwtError::Expired));
    }

    #[test]
    fn wrong_key_garbage_and_missing_claims_are_refused() {
        let keys = JwtKeys::new(SECRET);
        let other = JwtKeys::new(b"another-secret-another-secret-xx");
        let token = other.issue("a@b.co", "u", "s", now());
        assert_eq!(keys.verify(&token), Err(JwtError::Invalid));
        assert_eq!(keys.verify("not.a.jwt"), Err(JwtError::Invalid));
        assert_eq!(keys.verify(""), Err(JwtError::Invalid));
        let exp = now() + 100;
        let no_user = sign(&serde_json::json!({"sub":"a@b.co","sessionId":"s","iat":now(),"exp":exp}));
        assert_eq!(keys.verify(&no_user), Err(JwtError::MissingClaim("userId")));
        let empty_session = sign(&serde_json::json!({"sub":"a","userId":"u","sessionId":"","iat":now(),"exp":exp}));
        assert_eq!(keys.verify(&empty_session), Err(JwtError::MissingClaim("sessionId")));
        let no_exp = sign(&serde_json::json!({"sub":"a","userId":"u","sessionId":"s","iat":now()}));
        assert_eq!(keys.verify(&no_exp), Err(JwtError::Invalid));
    }

    #[test]
    fn another_algorithm_is_refused() {
        let keys = JwtKeys::new(SECRET);
        let claims = serde_json::json!({"sub":"a","userId":"u","sessionId":"s","iat":now(),"exp":now() + 100});
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(SECRET));
        assert_eq!(keys.verify(&hs512.unwrap()), Err(JwtError::Invalid));
    }

    /// Property (issue 12 fuzzing, bounded: a fixed seed and 3,000 cases): any byte-level
    /// mutation of a valid token (flip, insert, delete, truncate, swap segments) either
    /// fails to verify or verifies to exactly the original claims; nothing panics.
    #[test]
    fn mutated_tokens_never_verify_as_something_else() {
        use rand::{Rng, SeedableRng};
        let keys = JwtKeys::new(SECRET);
        let token = keys.issue("a@b.co", "665f1c2a9b1e8a3f4c2d1e0f", "s1", now());
        let original = keys.verify(&token).unwrap();
        let alphabet = b"ABCXYZabcxyz0129-_.=+/ {}\"\\\x00\xff";
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x12);
        for _ in 0..3_000 {
            let mut bytes = token.clone().into_bytes();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len().max(1));
                match rng.gen_range(0..5) {
                    0 if !bytes.is_empty() => bytes[at] = alphabet[rng.gen_range(0..alphabet.len())],
                    1 => bytes.insert(at, alphabet[rng.gen_range(0..alphabet.len())]),
                    2 if bytes.len() > 1 => {
                        bytes.remove(at);
                    }
                    3 => bytes.truncate(at),
                    _ => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let mut parts: Vec<&str> = text.split('.').collect();
                        let last = parts.len() - 1;
                        parts.swap(0, last);
                        bytes = parts.join(".").into_bytes();
                    }
                }
            }
            let mutated = String::from_utf8_lossy(&bytes);
            if let Ok(claims) = keys.verify(&mutated) {
                assert_eq!(claims, original, "{mutated} verified to other claims");
            }
        }
    }
}
