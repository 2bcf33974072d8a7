//! Rules kept outside the function: an S3 object or an SSM parameter (`ALERT_RULES_SOURCE`), read at init and
//! re-read when its version changes, so a centre changes its rules without a redeploy.
//!
//! * [`RulesLocation`] — `s3://bucket/key` or `ssm:/parameter/name`.
//! * [`RulesStore`] — reads the document unless its version is the one known, and publishes one;
//!   [`AwsRulesStore`] does it on S3 (`HeadObject`, then `GetObject` only when the version id or ETag changed) or
//!   SSM Parameter Store (`GetParameter`: the value and its version in one call).
//!
//! [`crate::refresh::Refreshing`] wraps the handler and asks the store between batches.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use super::{Rules, validate};

/// Where the rules document is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesLocation {
    S3 {
        bucket: String,
        key: String,
    },
    /// A parameter name as SSM spells it: `/path/name` (hierarchical) or `name`.
    Ssm {
        name: String,
    },
}

impl FromStr for RulesLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(Self::S3 { bucket: bucket.into(), key: key.into() })
                }
                _ => Err(format!("{s:?}: expected s3://bucket/key")),
            };
        }
        if let Some(name) = s.strip_prefix("ssm:") {
            let valid = !name.is_empty()
                && name.len() <= 1011
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
                && !name.ends_with('/');
            return if valid {
                Ok(Self::Ssm { name: name.into() })
            } else {
                Err(format!("{s:?}: expected ssm:/parameter/name"))
            };
        }
        Err(format!("{s:?}: expected s3://bucket/key or ssm:/parameter/name"))
    }
}

impl fmt::Display for RulesLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Self::Ssm { name } => write!(f, "ssm:{name}"),
        }
    }
}

/// One version of the rules document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The S3 version id (the ETag when the bucket is not versioned) or the SSM parameter version.
    pub version: String,
    pub text: String,
}

/// Reads and publishes the rules document. Errors are readable sentences naming the location.
pub trait RulesStore: Send + Sync {
    /// The document, or `None` when its version is `known`.
    fn fetch(&self, known: Option<&str>) -> impl Future<Output = Result<Option<Document>, String>> + Send;
    /// Stores `text` as the new document; returns its version.
    fn publish(&self, text: &str) -> impl Future<Output = Result<String, String>> + Send;
}

/// [`RulesStore`] on S3 or SSM Parameter Store.
#[derive(Debug, Clone)]
pub enum AwsRulesStore {
    S3 { client: aws_sdk_s3::Client, bucket: String, key: String },
    Ssm { client: aws_sdk_ssm::Client, name: String },
}

impl AwsRulesStore {
    pub fn new(location: &RulesLocation, config: &aws_config::SdkConfig) -> Self {
        match location {
            RulesLocation::S3 { bucket, key } => Self::S3 {
                client: shared::adapters::aws::s3::S3ObjectStore::client(config),
                bucket: bucket.clone(),
                key: key.clone(),
            },
            RulesLocation::Ssm { name } => Self::Ssm { client: aws_sdk_ssm::Client::new(config), name: name.clone() },
        }
    }
}

/// An S3 object's version: its version id in a versioned bucket, else its ETag.
fn s3_version(version_id: Option<&str>, e_tag: Option<&str>) -> String {
    match version_id {
        Some(v) if v != "null" => v.to_owned(),
        _ => e_tag.unwrap_or_default().to_owned(),
    }
}

impl RulesStore for AwsRulesStore {
    async fn fetch(&self, known: Option<&str>) -> Result<Option<Document>, String> {
        use aws_sdk_s3::error::DisplayErrorContext as S3Error;
        use aws_sdk_ssm::error::DisplayErrorContext as SsmError;
        match self {
            Self::S3 { client, bucket, key } => {
                let at = || format!("s3://{bucket}/{key}");
                if let Some(known) = known {
                    let head = client.head_object().bucket(bucket).key(key).send().await;
                    let head = head.map_err(|e| format!("{}: {}", at(), S3Error(&e)))?;
                    if s3_version(head.version_id(), head.e_tag()) == known {
                        return Ok(None);
                    }
                }
                let object = client.get_object().bucket(bucket).key(key).send().await;
                let object = object.map_err(|e| format!("{}: {}", at(), S3Error(&e)))?;
                let version = s3_version(object.version_id(), object.e_tag());
                if known == Some(version.as_str()) {
                    return Ok(None);
                }
                let body = object.body.collect().await.map_err(|e| format!("{}: {e}", at()))?;
                let text = String::from_utf8(body.into_bytes().to_vec())
                    .map_err(|_| format!("{}: the document is not UTF-8 text", at()))?;
                Ok(Some(Document { version, text }))
            }
            Self::Ssm { client, name } => {
                let out = client.get_parameter().name(name).with_decryption(true).send().await;
                let out = out.map_err(|e| format!("ssm:{name}: {}", SsmError(&e)))?;
                let parameter = out.parameter.ok_or_else(|| format!("ssm:{name}: no parameter in the answer"))?;
                let version = parameter.version.to_string();
                if known == Some(version.as_str()) {
                    return Ok(None);
                }
                let text = parameter.value.ok_or_else(|| format!("ssm:{name}: the parameter has no value"))?;
                Ok(Some(Document { version, text }))
            }
        }
    }

    async fn publish(&self, text: &str) -> Result<String, String> {
        use aws_sdk_s3::error::DisplayErrorContext as S3Error;
        use aws_sdk_ssm::error::DisplayErrorContext as SsmError;
        match self {
            Self::S3 { client, bucket, key } => {
                let out = client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("application/json")
                    .body(text.as_bytes().to_vec().into())
                    .send()
                    .await
                    .map_err(|e| format!("s3://{bucket}/{key}: {}", S3Error(&e)))?;
                Ok(s3_version(out.version_id(), out.e_tag()))
            }
            Self::Ssm { client, name } => {
                // Intelligent tiering: a standard parameter (free, ≤ 4 KB) until the document outgrows it, then
                // an advanced one (≤ 8 KB); larger documents belong in S3.
                let out = client
                    .put_parameter()
                    .name(name)
                    .value(text)
                    .r#type(aws_sdk_ssm::types::ParameterType::String)
                    .tier(aws_sdk_ssm::types::ParameterTier::IntelligentTiering)
                    .overwrite(true)
                    .send()
                    .await
                    .map_err(|e| format!("ssm:{name}: {}", SsmError(&e)))?;
                Ok(out.version.to_string())
            }
        }
    }
}

/// Reads the document at init: it must be there and valid (there are no rules in force to fall back on).
pub async fn load(store: &impl RulesStore, location: &RulesLocation) -> Result<(Rules, String), String> {
    let document = store.fetch(None).await?.ok_or_else(|| format!("{location}: no document"))?;
    let rules = validate(&document.text).map_err(|e| format!("{location} (version {}): {e}", document.version))?;
    Ok((rules, document.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_print_back() {
        for text in ["s3://rules-bucket/alerts/rules.json", "ssm:/connect/alert-rules", "ssm:alert-rules"] {
            let location: RulesLocation = text.parse().unwrap();
            assert_eq!(location.to_string(), text);
        }
        assert_eq!(
            "s3://b/k/x.json".parse::<RulesLocation>().unwrap(),
            RulesLocation::S3 { bucket: "b".into(), key: "k/x.json".into() }
        );
        for bad in ["", "s3://bucket", "s3://bucket/", "s3:///key", "ssm:", "ssm:/a b", "ssm:/trailing/", "https://x/y"]
        {
            assert!(bad.parse::<RulesLocation>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_s3_version_is_the_version_id_else_the_etag() {
        assert_eq!(s3_version(Some("3HL4kqtJ"), Some("\"abc\"")), "3HL4kqtJ");
        assert_eq!(s3_version(Some("null"), Some("\"abc\"")), "\"abc\"");
        assert_eq!(s3_version(None, Some("\"abc\"")), "\"abc\"");
    }
}
