//! Go duration syntax, parsed and printed exactly like Go's `time.ParseDuration` and
//! `Duration.String`: `300ms`, `-1.5h`, `2h45m`, `1h30m0s`. Units `ns`, `us`/`µs`/`μs`,
//! `ms`, `s`, `m`, `h`; no days. Negative durations exist in Go but make no sense for
//! lifespans or expiry, so [`parse_go_duration`] rejects them (upstream would accept a
//! negative `expire` and reset everything; a clear error is what a user expects).

use std::time::Duration;

/// A malformed Go duration. The text matches Go's error messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not a duration at all.
    #[error("time: invalid duration \"{0}\"")]
    Invalid(String),
    /// A number without a unit (other than `0`).
    #[error("time: missing unit in duration \"{0}\"")]
    MissingUnit(String),
    /// An unknown unit such as `d`.
    #[error("time: unknown unit \"{unit}\" in duration \"{input}\"")]
    UnknownUnit {
        /// The unit text.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// Larger than Go can represent.
    #[error("time: invalid duration \"{0}\"")]
    Overflow(String),
    /// Negative durations are refused here.
    #[error("negative duration \"{0}\" is not allowed")]
    Negative(String),
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parse a Go duration string such as `1h30m` (negative values are rejected).
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let mut s = input;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_string()));
        }
        let scale = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_string(),
            input: input.to_string(),
        })?;
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| DurationError::Overflow(input.to_string()))?
        };
        let mut value = whole
            .checked_mul(scale)
            .ok_or_else(|| DurationError::Overflow(input.to_string()))?;
        if !frac_part.is_empty() {
            // Go truncates the fraction to nanosecond precision.
            let mut frac_nanos: u128 = 0;
            let mut place = scale;
            for digit in frac_part.bytes() {
                place /= 10;
                if place == 0 {
                    break;
                }
                frac_nanos += u128::from(digit - b'0') * place;
            }
            value += frac_nanos;
        }
        total = total
            .checked_add(value)
            .ok_or_else(|| DurationError::Overflow(input.to_string()))?;
        if total > i64::MAX as u128 {
            return Err(DurationError::Overflow(input.to_string()));
        }
    }
    if negative && total != 0 {
        return Err(DurationError::Negative(input.to_string()));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Print a duration the way Go's `Duration.String` does (`1h30m0s`, `300ms`, `0s`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos().min(i64::MAX as u128) as u64;
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (scale, unit) = if nanos < 1_000 {
            (1, "ns")
        } else if nanos < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{}{unit}", fixed(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let secs_nanos = nanos % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&fixed(secs_nanos, 1_000_000_000));
    out.push('s');
    out
}

/// Serde for `Option<Duration>` written as Go duration text (`"30m"`, `"1h30m0s"`); a
/// missing or `null` value is `None`. Used by Mason's extension keys (`lease-ttl` in the
/// config file, `lease_ttl` and `wait` in `/api/v2` bodies).
pub mod go_text_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{format_go_duration, parse_go_duration};

    /// Write `Some(d)` as Go text, `None` as `null` (pair it with `skip_serializing_if`).
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_go_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Read Go text (an empty or malformed string is an error naming the text).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse_go_duration(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// `value / scale` printed with the fraction's trailing zeros removed.
fn fixed(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        let cases = [
            ("0", 0),
            ("30m", 1_800_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("48h", 172_800_000_000_000),
            ("300ms", 300_000_000),
            ("1.5h", 5_400_000_000_000),
            ("30m0s", 1_800_000_000_000),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("2ns", 2),
            (".5s", 500_000_000),
            ("+1s", 1_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_go_duration(text).unwrap().as_nanos(), nanos, "{text}");
        }
    }

    #[test]
    fn rejects_like_go() {
        assert_eq!(
            parse_go_duration("woooo").unwrap_err().to_string(),
            "time: invalid duration \"woooo\""
        );
        assert_eq!(
            parse_go_duration("banana").unwrap_err().to_string(),
            "time: invalid duration \"banana\""
        );
        assert_eq!(
            parse_go_duration("10").unwrap_err().to_string(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            parse_go_duration("1d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration(".s").is_err());
        assert!(parse_go_duration("-1h").is_err());
        assert!(parse_go_duration("9999999999h").is_err());
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (1_800_000_000_000, "30m0s"),
            (5_400_000_000_000, "1h30m0s"),
            (172_800_000_000_000, "48h0m0s"),
            (300_000_000, "300ms"),
            (1_500_000_000, "1.5s"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (7, "7ns"),
            (61_000_000_000, "1m1s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format_go_duration(Duration::from_nanos(nanos)), text);
        }
    }

    #[test]
    fn round_trips() {
        for text in ["1h30m0s", "300ms", "1.5s", "48h0m0s", "2m3.004s"] {
            assert_eq!(format_go_duration(parse_go_duration(text).unwrap()), text);
        }
    }
}
