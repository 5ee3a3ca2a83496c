//! The input rules of protocol §2.5 with their exact messages. A field that is absent
//! (`null`) fails "not blank" only; a present blank string fails every rule it breaks,
//! as the existing backend's Bean Validation does ("a blank email yields both
//! errors"). Lengths count characters, not bytes.

use super::respond::FieldError;

const NAME_MIN: &str = "이름은 2자 이상이어야 합니다.";
const NAME_BLANK: &str = "이름을 입력해주세요.";
const NAME_MAX: &str = "이름은 50자 이하여야 합니다.";
/// Longest user name, in characters. A name is copied into every message, event and
/// room list that shows its user, so its size is everyone's cost (issue 12).
pub(crate) const MAX_NAME_CHARS: usize = 50;
const EMAIL_FORMAT: &str = "올바른 이메일 형식이 아닙니다.";
const EMAIL_BLANK: &str = "이메일을 입력해주세요.";
const PASSWORD_MIN: &str = "비밀번호는 6자 이상이어야 합니다.";
const PASSWORD_BLANK: &str = "비밀번호를 입력해주세요.";
// Room rules: the existing backend's generic English texts; no client reads them.
const NOT_BLANK: &str = "must not be blank";
const ROOM_NAME_SIZE: &str = "size must be between 2 and 100";
const ROOM_PASSWORD_SIZE: &str = "size must be between 4 and 100";

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn len(s: &str) -> usize {
    s.chars().count()
}

/// `^[^\s@]+@[^\s@]+\.[^\s@]+$`, with `\s` as in Java (ASCII whitespace incl. VT).
pub(crate) fn is_email(s: &str) -> bool {
    if s.chars().any(|c| matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    // The domain needs a dot with something on both sides, and no second '@'.
    !local.is_empty()
        && !domain.contains('@')
        && domain.char_indices().any(|(i, c)| c == '.' && i > 0 && i + 1 < domain.len())
}

/// `POST /api/auth/register`.
pub(crate) fn register(name: Option<&str>, email: Option<&str>, password: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if name.is_none_or(|n| len(n.trim()) < 2) {
        errors.push(FieldError { field: "name", message: NAME_MIN });
    }
    if name.is_some_and(|n| len(n.trim()) > MAX_NAME_CHARS) {
        errors.push(FieldError { field: "name", message: NAME_MAX });
    }
    if email.is_none_or(|e| is_blank(e) || !is_email(e)) {
        errors.push(FieldError { field: "email", message: EMAIL_FORMAT });
    }
    if password.is_none_or(|p| is_blank(p) || len(p) < 6) {
        errors.push(FieldError { field: "password", message: PASSWORD_MIN });
    }
    errors
}

/// `POST /api/auth/login`.
pub(crate) fn login(email: Option<&str>, password: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match email {
        None => errors.push(FieldError { field: "email", message: EMAIL_BLANK }),
        Some(e) => {
            if is_blank(e) {
                errors.push(FieldError { field: "email", message: EMAIL_BLANK });
            }
            if !is_email(e) {
                errors.push(FieldError { field: "email", message: EMAIL_FORMAT });
            }
        }
    }
    if password.is_none_or(is_blank) {
        errors.push(FieldError { field: "password", message: PASSWORD_BLANK });
    }
    errors
}

/// `PUT /api/users/profile`.
pub(crate) fn profile(name: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(name) = name else {
        return vec![FieldError { field: "name", message: NAME_BLANK }];
    };
    if is_blank(name) {
        errors.push(FieldError { field: "name", message: NAME_BLANK });
    }
    if len(name.trim()) < 2 {
        errors.push(FieldError { field: "name", message: NAME_MIN });
    }
    if len(name.trim()) > MAX_NAME_CHARS {
        errors.push(FieldError { field: "name", message: NAME_MAX });
    }
    errors
}

/// `POST /api/rooms`. An empty password means "no password".
pub(crate) fn room(name: Option<&str>, password: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match name {
        None => errors.push(FieldError { field: "name", message: NOT_BLANK }),
        Some(n) => {
            if is_blank(n) {
                errors.push(FieldError { field: "name", message: NOT_BLANK });
            }
            if !(2..=100).contains(&len(n)) {
                errors.push(FieldError { field: "name", message: ROOM_NAME_SIZE });
            }
        }
    }
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        if !(4..=100).contains(&len(p)) {
            errors.push(FieldError { field: "password", message: ROOM_PASSWORD_SIZE });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errors: Vec<FieldError>) -> Vec<(&'static str, &'static str)> {
        errors.into_iter().map(|e| (e.field, e.message)).collect()
    }

    #[test]
    fn emails_follow_the_contract_pattern() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com", "한글@예시.한국", "a@b.c.d"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "a@.b", "a@b.", "@b.co", "a@@b.co", "a b@c.de", "a@b.co\t", "a@b@c.de"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn register_rules_and_messages() {
        assert!(register(Some("Al"), Some("a@b.co"), Some("123456")).is_empty());
        assert!(register(Some("  김철  "), Some("A@B.CO"), Some("!@#$%^")).is_empty());
        assert_eq!(
            messages(register(None, Some(" "), Some("12345"))),
            vec![
                ("name", "이름은 2자 이상이어야 합니다."),
                ("email", "올바른 이메일 형식이 아닙니다."),
                ("password", "비밀번호는 6자 이상이어야 합니다.")
            ]
        );
        assert_eq!(messages(register(Some(" a "), Some("a@b.co"), Some("      "))).len(), 2);
    }

    #[test]
    fn login_rules_and_messages() {
        assert!(login(Some("a@b.co"), Some("x")).is_empty());
        assert_eq!(
            messages(login(Some(""), None)),
            vec![
                ("email", "이메일을 입력해주세요."),
                ("email", "올바른 이메일 형식이 아닙니다."),
                ("password", "비밀번호를 입력해주세요.")
            ]
        );
        assert_eq!(messages(login(None, Some("x"))), vec![("email", "이메일을 입력해주세요.")]);
        assert_eq!(messages(login(Some("nope"), Some("x"))), vec![("email", "올바른 이메일 형식이 아닙니다.")]);
    }

    #[test]
    fn profile_rules_and_messages() {
        assert!(profile(Some("새 이름")).is_empty());
        assert_eq!(messages(profile(None)), vec![("name", "이름을 입력해주세요.")]);
        assert_eq!(
            messages(profile(Some("   "))),
            vec![("name", "이름을 입력해주세요."), ("name", "이름은 2자 이상이어야 합니다.")]
        );
        assert_eq!(messages(profile(Some(" a "))), vec![("name", "이름은 2자 이상이어야 합니다.")]);
    }

    #[test]
    fn room_rules() {
        assert!(room(Some("ab"), None).is_empty());
        assert!(room(Some("ab"), Some("")).is_empty(), "an empty password means none");
        assert!(room(Some(&"가".repeat(100)), Some(&"p".repeat(100))).is_empty());
        assert_eq!(messages(room(None, None)), vec![("name", "must not be blank")]);
        assert_eq!(
            messages(room(Some(" "), Some("abc"))),
            vec![
                ("name", "must not be blank"),
                ("name", "size must be between 2 and 100"),
                ("password", "size must be between 4 and 100")
            ]
        );
        assert_eq!(messages(room(Some(&"a".repeat(101)), None)), vec![("name", "size must be between 2 and 100")]);
    }

    #[test]
    fn names_longer_than_the_maximum_are_refused() {
        let long = "가".repeat(MAX_NAME_CHARS + 1);
        let fits = "가".repeat(MAX_NAME_CHARS);
        assert_eq!(messages(register(Some(&long), Some("a@b.co"), Some("secret1"))), vec![("name", NAME_MAX)]);
        assert!(register(Some(&fits), Some("a@b.co"), Some("secret1")).is_empty());
        assert_eq!(messages(profile(Some(&long))), vec![("name", NAME_MAX)]);
        assert!(profile(Some(&fits)).is_empty());
    }
}
