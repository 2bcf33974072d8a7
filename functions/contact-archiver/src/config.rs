//! The archiver's configuration, read once at init. Every error names the variable.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ARCHIVE_BUCKET` | required | bucket the archive is written to |
//! | `ARCHIVE_PREFIX` | empty | key prefix of the archive; a missing trailing `/` is appended, a leading `/` or an empty path segment (`//`) is rejected |
//! | `ARCHIVE_FORMAT` | `ndjson` | `ndjson`, `parquet` or `both` (see [`ArchiveFormat`]) |
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
    pub quarantine: QuarantineConfig,
}

impl Config {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket: required(env, "ARCHIVE_BUCKET")?,
            prefix: normalize_prefix(&optional(env, "ARCHIVE_PREFIX", ""))?,
            format: parsed(env, "ARCHIVE_FORMAT", ArchiveFormat::default())?,
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
        assert_eq!(c.quarantine.prefix, "quarantine/");
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
