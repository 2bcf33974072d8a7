//! Timestamps as Connect writes them, and the one canonical form the project stores.
//!
//! Connect writes ISO-8601 in UTC: agent events with milliseconds (`2026-11-02T09:00:00.000Z`), contact records
//! with seconds (`2026-11-02T09:00:00Z`). Offsets other than `Z` are accepted and converted to UTC. Everything the
//! project stores uses [`canonical`], a fixed-width form whose byte order equals time order, so DynamoDB string
//! conditions and sort keys compare timestamps correctly.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};

/// Parses an RFC 3339 timestamp (any offset, any sub-second precision) into UTC.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// Fixed-width UTC form with milliseconds, e.g. `2026-11-02T09:00:00.000Z`: sorts like the time it names.
pub fn canonical(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serde helper for an optional timestamp field: `null` or absent is `None`, a bad string is an error
/// that names the problem without echoing the value.
pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    match raw {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => parse(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("invalid timestamp (expected ISO-8601 / RFC 3339)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_like_time() {
        let a = parse("2026-11-02T09:00:00Z").unwrap();
        let b = parse("2026-11-02T09:00:00.001Z").unwrap();
        let c = parse("2026-11-02T10:00:00.000+01:00").unwrap();
        assert!(canonical(&a) < canonical(&b));
        assert_eq!(canonical(&c), "2026-11-02T09:00:00.000Z");
        assert_eq!(canonical(&a).len(), canonical(&b).len());
    }

    #[test]
    fn odd_formats_are_rejected() {
        assert!(parse("02/11/2026 09:00").is_none());
        assert!(parse("").is_none());
        assert!(parse("1699999999").is_none());
    }
}
