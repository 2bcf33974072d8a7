//! Configuration, read once at init: the environment and the subscriptions document. Every error names the variable,
//! and inside the document the subscription and the field.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use shared::config::{ConfigError, Env, QuarantineConfig, bounded, optional, required};
use shared::model::RecordKind;

/// One endpoint and what it receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub name: String,
    pub url: Endpoint,
    pub kinds: BTreeSet<RecordKind>,
    /// Agent events only: which event types (`None`: all).
    pub event_types: Option<BTreeSet<String>>,
    /// The allowlist of dotted paths (`None`: every field); personal data only when a path names it.
    pub fields: Option<Vec<String>>,
    /// Messages per request (1: one message per request).
    pub batch: usize,
    pub timeout: Duration,
    pub secret_arn: String,
}

/// A validated endpoint URL: https, or http to loopback only (tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub https: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    subscriptions: Vec<RawSubscription>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    name: String,
    url: String,
    kinds: Vec<String>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default)]
    batch: Option<RawBatch>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    secret_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    max_messages: usize,
}

/// A subscriptions document, validated: an error names the subscription (by name, else index) and the field.
pub fn subscriptions(text: &str) -> Result<Vec<Subscription>, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: Document = serde_path_to_error::deserialize(&mut de).map_err(|e| match e.path().to_string().as_str() {
        "." => e.inner().to_string(),
        path => format!("at {path}: {}", e.inner()),
    })?;
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(doc.subscriptions.len());
    for (i, raw) in doc.subscriptions.into_iter().enumerate() {
        let who =
            if raw.name.is_empty() { format!("subscription {i}") } else { format!("subscription {:?}", raw.name) };
        let sub = subscription(raw).map_err(|(field, detail)| format!("{who}: {field}: {detail}"))?;
        if !names.insert(sub.name.clone()) {
            return Err(format!("{who}: name: used by another subscription"));
        }
        out.push(sub);
    }
    Ok(out)
}

fn subscription(raw: RawSubscription) -> Result<Subscription, (&'static str, String)> {
    let name_ok = (1..=64).contains(&raw.name.len())
        && raw.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(("name", "1 to 64 of a-z, 0-9 and '-'".to_owned()));
    }
    let url = endpoint(&raw.url).map_err(|e| ("url", e))?;
    if raw.kinds.is_empty() {
        return Err(("kinds", "name at least one of contact_record, agent_event, segment".to_owned()));
    }
    let mut kinds = BTreeSet::new();
    for k in &raw.kinds {
        kinds.insert(match k.as_str() {
            "contact_record" => RecordKind::ContactRecord,
            "agent_event" => RecordKind::AgentEvent,
            "segment" => RecordKind::AnalysisSegment,
            other => return Err(("kinds", format!("{other:?} is not one of contact_record, agent_event, segment"))),
        });
    }
    let event_types = match raw.event_types {
        None => None,
        Some(types) => {
            if !kinds.contains(&RecordKind::AgentEvent) {
                return Err(("event_types", "only for subscriptions that take agent_event".to_owned()));
            }
            if types.is_empty()
                || types.iter().any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
            {
                return Err(("event_types", "non-empty upper-case event types, e.g. LOGIN, STATE_CHANGE".to_owned()));
            }
            Some(types.into_iter().collect())
        }
    };
    if let Some(fields) = &raw.fields
        && (fields.is_empty() || fields.iter().any(|f| f.is_empty() || f.split('.').any(str::is_empty)))
    {
        return Err(("fields", "non-empty dotted paths, e.g. CurrentAgentSnapshot.AgentStatus".to_owned()));
    }
    let batch = match raw.batch {
        None => 1,
        Some(b) if (1..=100).contains(&b.max_messages) => b.max_messages,
        Some(_) => return Err(("batch.max_messages", "1 to 100".to_owned())),
    };
    let timeout = match raw.timeout_ms {
        None => Duration::from_millis(5000),
        Some(ms) if (100..=30_000).contains(&ms) => Duration::from_millis(ms),
        Some(_) => return Err(("timeout_ms", "100 to 30000".to_owned())),
    };
    let arn_ok = raw.secret_arn.starts_with("arn:") && raw.secret_arn.split(':').nth(2) == Some("secretsmanager");
    let local = raw.secret_arn.starts_with("env:") && raw.secret_arn.len() > 4;
    if !arn_ok && !local {
        return Err(("secret_arn", "a Secrets Manager secret ARN (arn:aws:secretsmanager:…)".to_owned()));
    }
    Ok(Subscription {
        name: raw.name,
        url,
        kinds,
        event_types,
        fields: raw.fields,
        batch,
        timeout,
        secret_arn: raw.secret_arn,
    })
}

/// `https://host[:port]/path`, or `http://` to 127.0.0.1 / localhost (tests); no credentials in the URL.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("must start with https://".to_owned());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err("needs a host and no user:password@".to_owned());
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, port)| if port.parse::<u16>().is_ok() { h } else { authority });
    if !https && !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return Err("must be https:// (plain http only to 127.0.0.1 or localhost, for tests)".to_owned());
    }
    if url.parse::<http::Uri>().is_err() || url.contains(char::is_whitespace) {
        return Err("not a valid URL".to_owned());
    }
    Ok(Endpoint { url: url.to_owned(), https })
}

/// Where the subscriptions document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Inline(String),
    /// `s3://bucket/key`.
    S3 {
        bucket: String,
        key: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub source: Source,
    pub parking_bucket: String,
    pub parking_prefix: String,
    pub state_table: String,
    pub budget: Duration,
    pub quarantine: QuarantineConfig,
}

impl Config {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let inline = optional(env, "FORWARDER_SUBSCRIPTIONS", "");
        let uri = optional(env, "FORWARDER_SUBSCRIPTIONS_URI", "");
        let source = match (inline.is_empty(), uri.is_empty()) {
            (false, true) => Source::Inline(inline),
            (true, false) => {
                let (bucket, key) = uri
                    .strip_prefix("s3://")
                    .and_then(|r| r.split_once('/'))
                    .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                    .ok_or_else(|| ConfigError::Invalid {
                        var: "FORWARDER_SUBSCRIPTIONS_URI",
                        detail: "must be s3://bucket/key".to_owned(),
                    })?;
                Source::S3 { bucket: bucket.to_owned(), key: key.to_owned() }
            }
            (true, true) => return Err(ConfigError::Missing("FORWARDER_SUBSCRIPTIONS")),
            (false, false) => {
                return Err(ConfigError::Invalid {
                    var: "FORWARDER_SUBSCRIPTIONS_URI",
                    detail: "set FORWARDER_SUBSCRIPTIONS or FORWARDER_SUBSCRIPTIONS_URI, not both".to_owned(),
                });
            }
        };
        let mut parking_prefix = optional(env, "PARKING_PREFIX", "parked/");
        if !parking_prefix.ends_with('/') {
            parking_prefix.push('/');
        }
        Ok(Self {
            source,
            parking_bucket: required(env, "PARKING_BUCKET")?,
            parking_prefix,
            state_table: required(env, "FORWARDER_STATE_TABLE")?,
            budget: Duration::from_secs(bounded(env, "DELIVERY_BUDGET_SECONDS", 20, 1..=840)?),
            quarantine: QuarantineConfig::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:forwarder/wfm-AbCdEf";

    fn doc(sub: &str) -> String {
        format!(r#"{{"subscriptions": [{sub}]}}"#)
    }

    #[test]
    fn a_full_subscription_is_read() {
        let subs = subscriptions(&doc(&format!(
            r#"{{"name": "wfm", "url": "https://wfm.example.com/hooks", "kinds": ["agent_event", "contact_record"],
                "event_types": ["LOGIN", "STATE_CHANGE"], "fields": ["AgentARN", "CurrentAgentSnapshot.AgentStatus"],
                "batch": {{"max_messages": 50}}, "timeout_ms": 2000, "secret_arn": "{ARN}"}}"#
        )))
        .unwrap();
        assert_eq!(subs.len(), 1);
        let s = &subs[0];
        assert_eq!((s.name.as_str(), s.batch, s.timeout), ("wfm", 50, Duration::from_millis(2000)));
        assert!(s.url.https && s.kinds.len() == 2);
        assert_eq!(s.event_types.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn errors_name_the_subscription_and_the_field() {
        let cases = [
            (
                r#"{"name": "Bad Name", "url": "https://x", "kinds": ["agent_event"], "secret_arn": "ARN"}"#,
                "\"Bad Name\": name",
            ),
            (
                r#"{"name": "a", "url": "http://example.com", "kinds": ["agent_event"], "secret_arn": "ARN"}"#,
                "\"a\": url: must be https://",
            ),
            (r#"{"name": "a", "url": "ftp://x", "kinds": ["agent_event"], "secret_arn": "ARN"}"#, "\"a\": url"),
            (r#"{"name": "a", "url": "https://u:p@x", "kinds": ["agent_event"], "secret_arn": "ARN"}"#, "\"a\": url"),
            (r#"{"name": "a", "url": "https://x", "kinds": [], "secret_arn": "ARN"}"#, "\"a\": kinds"),
            (r#"{"name": "a", "url": "https://x", "kinds": ["ctr"], "secret_arn": "ARN"}"#, "\"a\": kinds: \"ctr\""),
            (
                r#"{"name": "a", "url": "https://x", "kinds": ["contact_record"], "event_types": ["LOGIN"], "secret_arn": "ARN"}"#,
                "\"a\": event_types",
            ),
            (
                r#"{"name": "a", "url": "https://x", "kinds": ["agent_event"], "fields": ["A..B"], "secret_arn": "ARN"}"#,
                "\"a\": fields",
            ),
            (
                r#"{"name": "a", "url": "https://x", "kinds": ["agent_event"], "batch": {"max_messages": 0}, "secret_arn": "ARN"}"#,
                "\"a\": batch.max_messages",
            ),
            (
                r#"{"name": "a", "url": "https://x", "kinds": ["agent_event"], "timeout_ms": 50, "secret_arn": "ARN"}"#,
                "\"a\": timeout_ms",
            ),
            (
                r#"{"name": "a", "url": "https://x", "kinds": ["agent_event"], "secret_arn": "my-secret"}"#,
                "\"a\": secret_arn",
            ),
            (
                r#"{"name": "", "url": "https://x", "kinds": ["agent_event"], "secret_arn": "ARN"}"#,
                "subscription 0: name",
            ),
        ];
        for (sub, expected) in cases {
            let err = subscriptions(&doc(&sub.replace("ARN", ARN))).unwrap_err();
            assert!(err.contains(expected), "{sub}: {err}");
        }
        let two = format!(
            r#"{{"subscriptions": [{{"name": "a", "url": "https://x", "kinds": ["agent_event"], "secret_arn": "{ARN}"}},
                {{"name": "a", "url": "https://y", "kinds": ["agent_event"], "secret_arn": "{ARN}"}}]}}"#
        );
        assert!(subscriptions(&two).unwrap_err().contains("\"a\": name: used by another"));
        let unknown =
            doc(r#"{"name": "a", "url": "https://x", "kinds": ["agent_event"], "secret_arn": "x", "colour": 1}"#);
        assert!(subscriptions(&unknown).unwrap_err().contains("colour"));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(!endpoint("http://127.0.0.1:8080/hook").unwrap().https);
        assert!(endpoint("http://localhost/hook").is_ok());
        assert!(endpoint("http://10.0.0.1/hook").is_err());
        assert!(endpoint("http://127.0.0.1.evil.com/hook").is_err());
    }

    #[test]
    fn exactly_one_subscriptions_source() {
        let base = [("PARKING_BUCKET", "b"), ("FORWARDER_STATE_TABLE", "t"), ("QUARANTINE_BUCKET", "q")];
        let with = |extra: &[(&str, &str)]| {
            let mut env: std::collections::HashMap<String, String> =
                base.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            env.entry("X".into()).or_default();
            Config::from_env(&env)
        };
        assert_eq!(with(&[]).unwrap_err(), ConfigError::Missing("FORWARDER_SUBSCRIPTIONS"));
        assert!(with(&[("FORWARDER_SUBSCRIPTIONS", "{}"), ("FORWARDER_SUBSCRIPTIONS_URI", "s3://b/k")]).is_err());
        assert_eq!(
            with(&[("FORWARDER_SUBSCRIPTIONS_URI", "s3://bucket/subs.json")]).unwrap().source,
            Source::S3 { bucket: "bucket".into(), key: "subs.json".into() }
        );
        assert!(with(&[("FORWARDER_SUBSCRIPTIONS_URI", "https://x")]).unwrap_err().to_string().contains("URI"));
        assert_eq!(with(&[("FORWARDER_SUBSCRIPTIONS", "{}")]).unwrap().parking_prefix, "parked/");
    }
}
