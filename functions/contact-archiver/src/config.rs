//! The archiver's configuration, read once at init. Every error names the variable.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ARCHIVE_BUCKET` | required | bucket the archive is written to |
//! | `ARCHIVE_PREFIX` | empty | key prefix of the archive; a missing trailing `/` is appended, a leading `/` or an empty path segment (`//`) is rejected |
//! | `ARCHIVE_FORMAT` | `ndjson` | `ndjson`, `parquet` or `both` (see [`ArchiveFormat`]) |
//! | `ARCHIVE_AGENT_EVENTS` | `false` | `true`: agent events are archived too; `false`: they are skipped ([`ArchiveKinds`]) |
//! | `ARCHIVE_SEGMENTS` | `false` | `true`: Contact Lens segments (transcripts: personal data) are archived too; `false`: skipped |
//! | `QUARANTINE_BUCKET` | required | bucket poison records go to ([`shared::config::QuarantineConfig`]) |
//! | `QUARANTINE_PREFIX` | `quarantine/` | key prefix of the quarantine |

use std::fmt;
use std::str::FromStr;

use shared::RecordKind;
use shared::config::{ConfigError, Env, QuarantineConfig, optional, parsed, required};

/// Which objects the archiver writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// gzip NDJSON of the original bytes, for every kind.
    #[default]
    Ndjson,
    /// Parquet for contact records and agent events; NDJSON for analysis segments (they have no Parquet schema).
    Parquet,
    /// Both NDJSON and (where a schema exists) Parquet.
    Both,
}

impl ArchiveFormat {
    /// Whether records of `kind` are written as gzip NDJSON.
    pub fn writes_ndjson(self, kind: RecordKind) -> bool {
        match self {
            ArchiveFormat::Ndjson | ArchiveFormat::Both => true,
            ArchiveFormat::Parquet => !has_parquet_schema(kind),
        }
    }

    /// Whether records of `kind` are written as Parquet.
    pub fn writes_parquet(self, kind: RecordKind) -> bool {
        match self {
            ArchiveFormat::Ndjson => false,
            ArchiveFormat::Parquet | ArchiveFormat::Both => has_parquet_schema(kind),
        }
    }
}

/// Contact records and agent events have a typed Parquet schema; segments do not.
pub fn has_parquet_schema(kind: RecordKind) -> bool {
    matches!(kind, RecordKind::ContactRecord | RecordKind::AgentEvent)
}

/// Which record kinds are archived. Contact records always are; agent events and Contact Lens segments only when
/// enabled. A stream may carry several kinds (contact records and agent events on one stream, or everything on
/// one), so the archiver decides per record: a valid record of a kind not enabled is
/// [`shared::batch::Disposition::Skipped`] — counted, not written, not quarantined.
///
/// `Default` is what the function does with neither variable set: contact records only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArchiveKinds {
    pub agent_events: bool,
    pub segments: bool,
}

impl ArchiveKinds {
    /// Contact records only (the function's default).
    pub const CONTACT_RECORDS: Self = Self { agent_events: false, segments: false };
    /// Every kind (the local replay and the demo).
    pub const ALL: Self = Self { agent_events: true, segments: true };

    /// `ARCHIVE_AGENT_EVENTS` and `ARCHIVE_SEGMENTS`, `true` or `false`, each `false` when absent or empty.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            agent_events: parsed(env, "ARCHIVE_AGENT_EVENTS", false)?,
            segments: parsed(env, "ARCHIVE_SEGMENTS", false)?,
        })
    }

    /// Whether valid records of `kind` are archived.
    pub fn includes(self, kind: RecordKind) -> bool {
        match kind {
            RecordKind::ContactRecord => true,
            RecordKind::AgentEvent => self.agent_events,
            RecordKind::AnalysisSegment => self.segments,
        }
    }
}

impl fmt::Display for ArchiveKinds {
    /// The archived kinds' slugs, comma-separated (for the init log line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> =
            RecordKind::ALL.into_iter().filter(|k| self.includes(*k)).map(RecordKind::slug).collect();
        f.write_str(&kinds.join(","))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of ndjson, parquet, both")]
pub struct UnknownFormat;

impl FromStr for ArchiveFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ndjson" => Ok(Self::Ndjson),
            "parquet" => Ok(Self::Parquet),
            "both" => Ok(Self::Both),
            _ => Err(UnknownFormat),
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ndjson => "ndjson",
            Self::Parquet => "parquet",
            Self::Both => "both",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bucket: String,
    /// Empty or ending in `/`.
    pub prefix: String,
    pub format: ArchiveFormat,
    pub kinds: ArchiveKinds,
    pub quarantine: QuarantineConfig,
}

impl Config {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket: required(env, "ARCHIVE_BUCKET")?,
            prefix: normalize_prefix(&optional(env, "ARCHIVE_PREFIX", ""))?,
            format: parsed(env, "ARCHIVE_FORMAT", ArchiveFormat::default())?,
            kinds: ArchiveKinds::from_env(env)?,
            quarantine: QuarantineConfig::from_env(env)?,
        })
    }
}

/// `archive` → `archive/`; `a/b/` stays; empty stays empty. A leading `/` or `//` would make keys that the Glue
/// tables' locations (`s3://bucket/<prefix>…`) never match, so they are rejected instead of silently fixed.
fn normalize_prefix(raw: &str) -> Result<String, ConfigError> {
    let prefix = raw.trim();
    if prefix.is_empty() {
        return Ok(String::new());
    }
    let invalid = |detail: &str| ConfigError::Invalid { var: "ARCHIVE_PREFIX", detail: detail.to_owned() };
    if prefix.starts_with('/') {
        return Err(invalid("must not start with '/'"));
    }
    if prefix.contains("//") {
        return Err(invalid("must not contain an empty path segment ('//')"));
    }
    Ok(if prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_only_the_buckets_are_set() {
        let env = [("ARCHIVE_BUCKET", "archive"), ("QUARANTINE_BUCKET", "q")];
        let c = Config::from_env(&env).unwrap();
        assert_eq!(c.bucket, "archive");
        assert_eq!(c.prefix, "");
        assert_eq!(c.format, ArchiveFormat::Ndjson);
        assert_eq!(c.kinds, ArchiveKinds::CONTACT_RECORDS, "agent events and segments are off unless enabled");
        assert_eq!(c.quarantine.prefix, "quarantine/");
    }

    #[test]
    fn agent_events_and_segments_are_enabled_one_by_one() {
        let with = |agents: &'static str, segments: &'static str| {
            let env = [
                ("ARCHIVE_BUCKET", "a"),
                ("QUARANTINE_BUCKET", "q"),
                ("ARCHIVE_AGENT_EVENTS", agents),
                ("ARCHIVE_SEGMENTS", segments),
            ];
            Config::from_env(&env).map(|c| c.kinds)
        };
        assert_eq!(with("true", "false"), Ok(ArchiveKinds { agent_events: true, segments: false }));
        assert_eq!(with("false", "true"), Ok(ArchiveKinds { agent_events: false, segments: true }));
        assert_eq!(with("true", "true"), Ok(ArchiveKinds::ALL));
        assert_eq!(with("", " "), Ok(ArchiveKinds::CONTACT_RECORDS), "empty is absent: the default");
        assert_eq!(with(" true ", "false").map(|k| k.agent_events), Ok(true), "surrounding blanks are trimmed");
    }

    #[test]
    fn a_bad_kind_flag_fails_init_naming_the_variable() {
        for (var, value) in [("ARCHIVE_AGENT_EVENTS", "yes"), ("ARCHIVE_SEGMENTS", "1"), ("ARCHIVE_SEGMENTS", "on")] {
            let env = [("ARCHIVE_BUCKET", "a"), ("QUARANTINE_BUCKET", "q"), (var, value)];
            let e = Config::from_env(&env).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { var: v, .. } if v == var), "{var}={value}: {e}");
            assert!(e.to_string().contains(var), "{e}");
        }
    }

    #[test]
    fn contact_records_are_always_archived_and_other_kinds_only_when_enabled() {
        for kinds in
            [ArchiveKinds::CONTACT_RECORDS, ArchiveKinds::ALL, ArchiveKinds { agent_events: true, segments: false }]
        {
            assert!(kinds.includes(RecordKind::ContactRecord));
            assert_eq!(kinds.includes(RecordKind::AgentEvent), kinds.agent_events);
            assert_eq!(kinds.includes(RecordKind::AnalysisSegment), kinds.segments);
        }
        assert_eq!(ArchiveKinds::CONTACT_RECORDS.to_string(), "contact-records");
    }

    #[test]
    fn a_missing_bucket_names_its_variable() {
        let e = Config::from_env(&[("QUARANTINE_BUCKET", "q")]).unwrap_err();
        assert_eq!(e, ConfigError::Missing("ARCHIVE_BUCKET"));
        let e = Config::from_env(&[("ARCHIVE_BUCKET", "a")]).unwrap_err();
        assert_eq!(e, ConfigError::Missing("QUARANTINE_BUCKET"));
    }

    #[test]
    fn an_unknown_format_fails_init_naming_the_variable() {
        let env = [("ARCHIVE_BUCKET", "a"), ("QUARANTINE_BUCKET", "q"), ("ARCHIVE_FORMAT", "csv")];
        let e = Config::from_env(&env).unwrap_err();
        assert!(e.to_string().contains("ARCHIVE_FORMAT"), "{e}");
        for (text, format) in [("parquet", ArchiveFormat::Parquet), ("BOTH", ArchiveFormat::Both)] {
            let env = [("ARCHIVE_BUCKET", "a"), ("QUARANTINE_BUCKET", "q"), ("ARCHIVE_FORMAT", text)];
            assert_eq!(Config::from_env(&env).unwrap().format, format);
        }
    }

    #[test]
    fn the_prefix_gets_a_trailing_slash_and_bad_prefixes_name_the_variable() {
        let with = |p: &'static str| {
            Config::from_env(&[("ARCHIVE_BUCKET", "a"), ("QUARANTINE_BUCKET", "q"), ("ARCHIVE_PREFIX", p)])
        };
        assert_eq!(with("connect").unwrap().prefix, "connect/");
        assert_eq!(with("connect/archive/").unwrap().prefix, "connect/archive/");
        for bad in ["/connect", "a//b"] {
            let e = with(bad).unwrap_err();
            assert!(e.to_string().contains("ARCHIVE_PREFIX"), "{e}");
        }
    }

    #[test]
    fn segments_fall_back_to_ndjson_when_parquet_is_chosen() {
        let f = ArchiveFormat::Parquet;
        assert!(f.writes_ndjson(RecordKind::AnalysisSegment));
        assert!(!f.writes_parquet(RecordKind::AnalysisSegment));
        assert!(!f.writes_ndjson(RecordKind::ContactRecord));
        assert!(f.writes_parquet(RecordKind::AgentEvent));
        assert!(!ArchiveFormat::Ndjson.writes_parquet(RecordKind::ContactRecord));
        assert!(ArchiveFormat::Both.writes_ndjson(RecordKind::ContactRecord));
        assert!(ArchiveFormat::Both.writes_parquet(RecordKind::ContactRecord));
    }
}
