//! The function's configuration, read and validated once at init. Every error names the variable (and, for the
//! rules document, the rule and the field).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ALERT_STATE_TABLE` | required | DynamoDB table (`pk`/`sk` strings, TTL `expires_at`) for claims, cooldowns, joins, windows |
//! | `ALERT_TOPIC_ARN` | required | SNS topic alerts are published to |
//! | `ALERT_RULES` | — | the rules document, inline JSON (exactly one of `ALERT_RULES`, `ALERT_RULES_FILE`, `ALERT_RULES_SOURCE`) |
//! | `ALERT_RULES_FILE` | — | path of the rules document (e.g. packaged with the function) |
//! | `ALERT_RULES_SOURCE` | — | `s3://bucket/key` or `ssm:/parameter/name`: read at init, re-read when its version changes ([`crate::rules::source`]) |
//! | `ALERT_RULES_REFRESH_SECONDS` | `60` | how often, at most, the source's version is checked (0–3600; 0: before every batch) |
//! | `ALERT_LEASE_SECONDS` | `90` | how long a delivery holds an alert claim; keep it above the function timeout |
//! | `ALERT_CLAIM_TTL_HOURS` | `192` | how long alert claims are kept; above the streams' retention (max 7 days) |
//! | `CONTACT_STATE_TTL_HOURS` | `24` | how long contact→agent joins and sentiment state live after their last update |
//! | `QUARANTINE_BUCKET` | required | bucket poison records go to ([`shared::config::QuarantineConfig`]) |
//! | `QUARANTINE_PREFIX` | `quarantine/` | key prefix of the quarantine |

use chrono::TimeDelta;
use shared::config::{ConfigError as EnvError, Env, QuarantineConfig, bounded, required};

use crate::rules::source::RulesLocation;
use crate::rules::{Rules, RulesError, validate};
use crate::state::Ttls;

pub const ALERT_STATE_TABLE: &str = "ALERT_STATE_TABLE";
pub const ALERT_TOPIC_ARN: &str = "ALERT_TOPIC_ARN";
pub const ALERT_RULES: &str = "ALERT_RULES";
pub const ALERT_RULES_FILE: &str = "ALERT_RULES_FILE";
pub const ALERT_RULES_SOURCE: &str = "ALERT_RULES_SOURCE";
pub const ALERT_RULES_REFRESH_SECONDS: &str = "ALERT_RULES_REFRESH_SECONDS";
pub const ALERT_LEASE_SECONDS: &str = "ALERT_LEASE_SECONDS";
pub const ALERT_CLAIM_TTL_HOURS: &str = "ALERT_CLAIM_TTL_HOURS";
pub const CONTACT_STATE_TTL_HOURS: &str = "CONTACT_STATE_TTL_HOURS";
pub const ALERT_LATENESS: &str = "ALERT_LATENESS";
pub const ALERT_CHAT_FORMAT: &str = "ALERT_CHAT_FORMAT";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(
        "set exactly one of {ALERT_RULES} (inline JSON), {ALERT_RULES_FILE} (a path) and {ALERT_RULES_SOURCE} (s3://bucket/key or ssm:/name); {0} are set"
    )]
    ManyRuleSources(String),
    #[error(
        "missing alert rules: set {ALERT_RULES} (inline JSON), {ALERT_RULES_FILE} (a path) or {ALERT_RULES_SOURCE} (s3://bucket/key or ssm:/name)"
    )]
    NoRules,
    #[error("{ALERT_RULES_FILE} {path}: cannot read: {detail}")]
    RulesFile { path: String, detail: String },
    #[error("{source_name}: {error}")]
    Rules { source_name: String, error: RulesError },
    #[error("environment variable {var} is invalid: {detail}")]
    Invalid { var: &'static str, detail: String },
}

/// Tunables of state and delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub lease: TimeDelta,
    pub ttls: Ttls,
    /// What "late" is measured against ([`Lateness`]).
    pub lateness: Lateness,
    /// What chat subscribers of the topic receive ([`ChatFormat`]).
    pub chat: ChatFormat,
}

/// `ALERT_CHAT_FORMAT`: `none` (default: every subscriber gets the JSON body) or `chatbot`: the topic's HTTPS
/// subscribers — AWS Chatbot (Amazon Q Developer in chat applications) subscribes that way — get its documented
/// custom-notification format, so a Slack or Teams channel shows a readable alert; SQS, Lambda, email and the other
/// protocols keep the JSON body (SNS `MessageStructure=json`, one message per protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    None,
    Chatbot,
}

/// Whether alerts are judged for lateness ([`crate::lateness`]): against the wall clock in Lambda, where a backlog
/// must not page about situations already over; on event time in replays and backtests, which re-enact the day as it
/// happened and so send what would have been sent then (they say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    WallClock,
    EventTime,
}

/// The settings' defaults, written once: [`Settings::replay`] and [`Config::from_env`] both use them.
const DEFAULT_LEASE_SECONDS: i64 = 90;
const DEFAULT_CLAIM_TTL_HOURS: i64 = 192;
const DEFAULT_CONTACT_STATE_TTL_HOURS: i64 = 24;
const DEFAULT_RULES_REFRESH_SECONDS: i64 = 60;

impl Settings {
    /// The defaults, on event time: replays, backtests and tests (`Config::from_env` judges lateness against the
    /// wall clock).
    pub fn replay() -> Self {
        Self {
            lateness: Lateness::EventTime,
            chat: ChatFormat::None,
            lease: TimeDelta::seconds(DEFAULT_LEASE_SECONDS),
            ttls: Ttls {
                claim: TimeDelta::hours(DEFAULT_CLAIM_TTL_HOURS),
                contact: TimeDelta::hours(DEFAULT_CONTACT_STATE_TTL_HOURS),
            },
        }
    }
}

/// Where the rules come from.
#[derive(Debug, Clone, PartialEq)]
pub enum RulesFrom {
    /// `ALERT_RULES` or `ALERT_RULES_FILE`: read and validated here, fixed for the function's life.
    Document(Rules),
    /// `ALERT_RULES_SOURCE`: read by `main` at init, re-read when its version changes, checked at most every
    /// `refresh`.
    Source { location: RulesLocation, refresh: std::time::Duration },
}

impl RulesFrom {
    /// The rules, when they are fixed.
    pub fn document(&self) -> Option<&Rules> {
        match self {
            Self::Document(rules) => Some(rules),
            Self::Source { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub table: String,
    pub topic_arn: String,
    pub rules: RulesFrom,
    pub settings: Settings,
    pub quarantine: QuarantineConfig,
}

fn set(env: &impl Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.trim().is_empty())
}

/// Reads the rules from `ALERT_RULES` or `ALERT_RULES_FILE` and validates them, or the location of
/// `ALERT_RULES_SOURCE` (exactly one of the three).
pub fn rules_from_env(env: &impl Env) -> Result<RulesFrom, ConfigError> {
    let given: Vec<&str> =
        [ALERT_RULES, ALERT_RULES_FILE, ALERT_RULES_SOURCE].into_iter().filter(|v| set(env, v).is_some()).collect();
    match given.as_slice() {
        [] => Err(ConfigError::NoRules),
        [ALERT_RULES] => {
            let text = set(env, ALERT_RULES).unwrap_or_default();
            let rules =
                validate(&text).map_err(|error| ConfigError::Rules { source_name: ALERT_RULES.into(), error })?;
            Ok(RulesFrom::Document(rules))
        }
        [ALERT_RULES_FILE] => {
            let path = set(env, ALERT_RULES_FILE).unwrap_or_default();
            let text = std::fs::read_to_string(path.trim())
                .map_err(|e| ConfigError::RulesFile { path: path.clone(), detail: e.to_string() })?;
            let rules = validate(&text)
                .map_err(|error| ConfigError::Rules { source_name: format!("{ALERT_RULES_FILE} {path}"), error })?;
            Ok(RulesFrom::Document(rules))
        }
        [ALERT_RULES_SOURCE] => {
            let location = set(env, ALERT_RULES_SOURCE)
                .unwrap_or_default()
                .parse()
                .map_err(|detail| ConfigError::Invalid { var: ALERT_RULES_SOURCE, detail })?;
            let refresh = bounded(env, ALERT_RULES_REFRESH_SECONDS, DEFAULT_RULES_REFRESH_SECONDS, 0..=3600)?;
            Ok(RulesFrom::Source { location, refresh: std::time::Duration::from_secs(refresh.unsigned_abs()) })
        }
        many => Err(ConfigError::ManyRuleSources(many.join(", "))),
    }
}

impl Config {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let table = required(env, ALERT_STATE_TABLE)?;
        let topic_arn = required(env, ALERT_TOPIC_ARN)?;
        if !topic_arn.starts_with("arn:") {
            return Err(ConfigError::Invalid {
                var: ALERT_TOPIC_ARN,
                detail: "expected an SNS topic ARN (arn:…:sns:…)".into(),
            });
        }
        let rules = rules_from_env(env)?;
        let lease = bounded(env, ALERT_LEASE_SECONDS, DEFAULT_LEASE_SECONDS, 1..=900)?;
        let claim_hours = bounded(env, ALERT_CLAIM_TTL_HOURS, DEFAULT_CLAIM_TTL_HOURS, 1..=24 * 366)?;
        let contact_hours = bounded(env, CONTACT_STATE_TTL_HOURS, DEFAULT_CONTACT_STATE_TTL_HOURS, 1..=24 * 366)?;
        let lateness = match shared::config::optional(env, ALERT_LATENESS, "wall-clock").as_str() {
            "wall-clock" => Lateness::WallClock,
            "event-time" => Lateness::EventTime,
            other => {
                return Err(ConfigError::Invalid {
                    var: ALERT_LATENESS,
                    detail: format!("{other:?}: wall-clock or event-time"),
                });
            }
        };
        let chat = match shared::config::optional(env, ALERT_CHAT_FORMAT, "none").as_str() {
            "none" => ChatFormat::None,
            "chatbot" => ChatFormat::Chatbot,
            other => {
                return Err(ConfigError::Invalid {
                    var: ALERT_CHAT_FORMAT,
                    detail: format!("{other:?}: none or chatbot"),
                });
            }
        };
        let settings = Settings {
            chat,
            lateness,
            lease: TimeDelta::seconds(lease),
            ttls: Ttls { claim: TimeDelta::hours(claim_hours), contact: TimeDelta::hours(contact_hours) },
        };
        Ok(Self { table, topic_arn, rules, settings, quarantine: QuarantineConfig::from_env(env)? })
    }
}
