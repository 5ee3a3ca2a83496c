//! Human durations on the command line: `10s`, `500ms`, `2m`, `1h`.

use std::time::Duration;

use crate::Error;

/// Parse a whole number followed by a unit (`ms`, `s`, `m` or `h`), e.g. `10s`.
/// Used as a clap value parser.
pub fn parse(input: &str) -> Result<Duration, Error> {
    let fail = |reason| Error::Duration { input: input.to_string(), reason };
    let text = input.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| fail("missing unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(fail("expected a whole number before the unit"));
    }
    let n: u64 = number.parse().map_err(|_| fail("number too large"))?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(fail("unknown unit (use ms, s, m or h)")),
    };
    n.checked_mul(millis_per).map(Duration::from_millis).ok_or_else(|| fail("number too large"))
}

/// Format a duration the way [`parse`] reads it, in the largest exact unit.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".into(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let table = [
            ("10s", Duration::from_secs(10)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("0s", Duration::ZERO),
            (" 3s ", Duration::from_secs(3)),
        ];
        for (input, want) in table {
            assert_eq!(parse(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for input in
            ["", "10", "s", "1.5s", "-1s", "10 s", "10sec", "5d", "99999999999999999999s", "18446744073709551615h"]
        {
            let err = parse(input).unwrap_err();
            assert!(matches!(err, Error::Duration { .. }), "{input}: {err}");
            assert!(err.to_string().contains("10s, 500ms, 2m"), "message shows examples: {err}");
        }
    }

    #[test]
    fn format_round_trips() {
        for input in ["10s", "500ms", "2m", "1h", "0s", "1500ms"] {
            assert_eq!(format(parse(input).unwrap()), input);
        }
    }
}
