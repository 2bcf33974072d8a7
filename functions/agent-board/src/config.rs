//! Configuration, read once at init. Every error names the variable, and inside a JSON value the field.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::config::{ConfigError, Env, bounded, optional, required};

/// When a tile of an activity turns amber and red (minutes in the activity).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub amber_minutes: f64,
    pub red_minutes: f64,
}

/// The page's login settings: an OIDC issuer and the public client the page logs in as (authorization code + PKCE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Auth {
    pub issuer: String,
    pub client_id: String,
    pub scope: String,
}

/// What `GET /config.json` serves: everything the page needs before it may read data. Nothing in it is personal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    #[serde(default = "default_title")]
    pub title: String,
    /// How often the page polls the board.
    #[serde(default = "default_poll")]
    pub poll_seconds: u32,
    /// After how long without a successful poll the page says its data is stale.
    #[serde(default = "default_stale")]
    pub stale_seconds: u32,
    /// Per activity label (`AFTER_CONTACT_WORK`, a custom status such as `Break`, …).
    #[serde(default = "default_thresholds")]
    pub thresholds: BTreeMap<String, Threshold>,
    /// `null` when the page needs no login (the local server); set by the environment, never by a config file.
    #[serde(default, skip_deserializing)]
    pub auth: Option<Auth>,
}

fn default_title() -> String {
    "Agent board".to_owned()
}
fn default_poll() -> u32 {
    5
}
fn default_stale() -> u32 {
    20
}

/// Break amber after 15 minutes and red after 30; after-contact work amber after 2 and red after 5.
pub fn default_thresholds() -> BTreeMap<String, Threshold> {
    BTreeMap::from([
        ("Break".to_owned(), Threshold { amber_minutes: 15.0, red_minutes: 30.0 }),
        ("AFTER_CONTACT_WORK".to_owned(), Threshold { amber_minutes: 2.0, red_minutes: 5.0 }),
    ])
}

impl Default for PageConfig {
    fn default() -> Self {
        Self {
            title: default_title(),
            poll_seconds: default_poll(),
            stale_seconds: default_stale(),
            thresholds: default_thresholds(),
            auth: None,
        }
    }
}

impl PageConfig {
    /// A page configuration document (the local server's `--board-config` file), validated.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let config: Self =
            serde_path_to_error::deserialize(&mut de).map_err(|e| format!("at {}: {}", e.path(), e.inner()))?;
        config.validate()?;
        Ok(config)
    }

    /// Thresholds parsed from `BOARD_THRESHOLDS`-style JSON (`{"Break": {"amber_minutes": 15, "red_minutes": 30}}`).
    pub fn thresholds_from_json(text: &str) -> Result<BTreeMap<String, Threshold>, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let thresholds: BTreeMap<String, Threshold> =
            serde_path_to_error::deserialize(&mut de).map_err(|e| format!("at {}: {}", e.path(), e.inner()))?;
        check_thresholds(&thresholds)?;
        Ok(thresholds)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1..=300).contains(&self.poll_seconds) {
            return Err(format!("poll_seconds must be 1..=300, not {}", self.poll_seconds));
        }
        if self.stale_seconds < self.poll_seconds {
            return Err(format!(
                "stale_seconds ({}) must be at least poll_seconds ({})",
                self.stale_seconds, self.poll_seconds
            ));
        }
        check_thresholds(&self.thresholds)
    }
}

fn check_thresholds(thresholds: &BTreeMap<String, Threshold>) -> Result<(), String> {
    for (activity, t) in thresholds {
        if activity.trim().is_empty() {
            return Err("a threshold has an empty activity name".to_owned());
        }
        if !(t.amber_minutes.is_finite() && t.amber_minutes > 0.0) {
            return Err(format!("thresholds.{activity}.amber_minutes must be a positive number"));
        }
        if !(t.red_minutes.is_finite() && t.red_minutes > t.amber_minutes) {
            return Err(format!("thresholds.{activity}.red_minutes must be greater than amber_minutes"));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `AGENT_STATE_TABLE` (required).
    pub table: String,
    /// `CONNECT_INSTANCE_ARN`: the instance shown when a request names none (empty: requests must name one).
    pub default_instance: Option<String>,
    /// `BOARD_CACHE_MS` (default 2000, at most 2000): how long a warm function answers polls from the agents it read.
    pub cache: Duration,
    /// `BOARD_TITLE`, `BOARD_POLL_SECONDS`, `BOARD_STALE_SECONDS`, `BOARD_THRESHOLDS` (JSON), and the login:
    /// `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_SCOPE` (default `openid`).
    pub page: PageConfig,
}

/// The longest a cached board may be served (the issue's bound: screens see a change within 2 s plus their poll).
pub const MAX_CACHE_MS: u64 = 2000;

impl Config {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let table = required(env, "AGENT_STATE_TABLE")?;
        let default_instance = Some(optional(env, "CONNECT_INSTANCE_ARN", "")).filter(|s| !s.is_empty());
        if let Some(arn) = &default_instance {
            check_instance_arn(arn).map_err(|detail| ConfigError::Invalid { var: "CONNECT_INSTANCE_ARN", detail })?;
        }
        let cache = Duration::from_millis(bounded(env, "BOARD_CACHE_MS", MAX_CACHE_MS, 0..=MAX_CACHE_MS)?);
        Ok(Self { table, default_instance, cache, page: page_from_env(env)? })
    }
}

/// The page configuration from the environment (the Lambda, and the local server's login settings).
pub fn page_from_env(env: &impl Env) -> Result<PageConfig, ConfigError> {
    let defaults = PageConfig::default();
    let thresholds = match env.var("BOARD_THRESHOLDS").filter(|v| !v.trim().is_empty()) {
        None => defaults.thresholds,
        Some(text) => PageConfig::thresholds_from_json(&text)
            .map_err(|detail| ConfigError::Invalid { var: "BOARD_THRESHOLDS", detail })?,
    };
    let page = PageConfig {
        title: optional(env, "BOARD_TITLE", &defaults.title),
        poll_seconds: bounded(env, "BOARD_POLL_SECONDS", defaults.poll_seconds, 1..=300)?,
        stale_seconds: bounded(env, "BOARD_STALE_SECONDS", defaults.stale_seconds, 1..=3600)?,
        thresholds,
        auth: auth_from_env(env)?,
    };
    page.validate().map_err(|detail| ConfigError::Invalid { var: "BOARD_STALE_SECONDS", detail })?;
    Ok(page)
}

/// `OIDC_ISSUER` and `OIDC_CLIENT_ID` together, or neither.
pub fn auth_from_env(env: &impl Env) -> Result<Option<Auth>, ConfigError> {
    let issuer = optional(env, "OIDC_ISSUER", "");
    let client_id = optional(env, "OIDC_CLIENT_ID", "");
    match (issuer.is_empty(), client_id.is_empty()) {
        (true, true) => Ok(None),
        (false, true) => Err(ConfigError::Missing("OIDC_CLIENT_ID")),
        (true, false) => Err(ConfigError::Missing("OIDC_ISSUER")),
        (false, false) => {
            let loopback = issuer.starts_with("http://127.0.0.1") || issuer.starts_with("http://localhost");
            if !issuer.starts_with("https://") && !loopback {
                return Err(ConfigError::Invalid {
                    var: "OIDC_ISSUER",
                    detail: "must be an https:// URL (http:// only on loopback, for tests)".to_owned(),
                });
            }
            Ok(Some(Auth {
                issuer: issuer.trim_end_matches('/').to_owned(),
                client_id,
                scope: optional(env, "OIDC_SCOPE", "openid"),
            }))
        }
    }
}

/// An instance ARN as the agent events carry it: `arn:<partition>:connect:<region>:<account>:instance/<id>`.
pub fn check_instance_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "connect"
        && parts[5].strip_prefix("instance/").is_some_and(|id| !id.is_empty() && !id.contains('/'));
    if ok {
        Ok(())
    } else {
        Err("not a Connect instance ARN (arn:aws:connect:<region>:<account>:instance/<id>)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:connect:eu-west-2:123456789012:instance/abc";

    #[test]
    fn defaults_apply_with_only_the_table() {
        let config = Config::from_env(&[("AGENT_STATE_TABLE", "agents")]).unwrap();
        assert_eq!(config.cache, Duration::from_millis(2000));
        assert_eq!(config.default_instance, None);
        assert_eq!(config.page, PageConfig::default());
        assert_eq!(config.page.thresholds["Break"], Threshold { amber_minutes: 15.0, red_minutes: 30.0 });
    }

    #[test]
    fn the_cache_cannot_exceed_two_seconds() {
        let err = Config::from_env(&[("AGENT_STATE_TABLE", "t"), ("BOARD_CACHE_MS", "2001")]).unwrap_err();
        assert!(err.to_string().contains("BOARD_CACHE_MS"), "{err}");
    }

    #[test]
    fn thresholds_errors_name_the_activity_and_field() {
        let env = [
            ("AGENT_STATE_TABLE", "t"),
            ("BOARD_THRESHOLDS", r#"{"Break": {"amber_minutes": 30, "red_minutes": 15}}"#),
        ];
        let err = Config::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("BOARD_THRESHOLDS") && err.contains("Break.red_minutes"), "{err}");
        let env = [("AGENT_STATE_TABLE", "t"), ("BOARD_THRESHOLDS", r#"{"Break": {"amber": 3}}"#)];
        let err = Config::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("Break") && err.contains("amber"), "{err}");
    }

    #[test]
    fn login_needs_issuer_and_client_together_over_https() {
        let both = [("AGENT_STATE_TABLE", "t"), ("OIDC_ISSUER", "https://idp.example/"), ("OIDC_CLIENT_ID", "c")];
        let auth = Config::from_env(&both).unwrap().page.auth.unwrap();
        assert_eq!(
            (auth.issuer.as_str(), auth.client_id.as_str(), auth.scope.as_str()),
            ("https://idp.example", "c", "openid")
        );
        let only_issuer = [("AGENT_STATE_TABLE", "t"), ("OIDC_ISSUER", "https://idp.example")];
        assert_eq!(Config::from_env(&only_issuer).unwrap_err(), ConfigError::Missing("OIDC_CLIENT_ID"));
        let plain = [("AGENT_STATE_TABLE", "t"), ("OIDC_ISSUER", "http://idp.example"), ("OIDC_CLIENT_ID", "c")];
        assert!(Config::from_env(&plain).unwrap_err().to_string().contains("OIDC_ISSUER"));
    }

    #[test]
    fn the_default_instance_must_be_an_instance_arn() {
        assert_eq!(
            Config::from_env(&[("AGENT_STATE_TABLE", "t"), ("CONNECT_INSTANCE_ARN", ARN)])
                .unwrap()
                .default_instance
                .as_deref(),
            Some(ARN)
        );
        for bad in ["abc", "arn:aws:connect:eu-west-2:1:instance/", "arn:aws:s3:::bucket"] {
            let err = Config::from_env(&[("AGENT_STATE_TABLE", "t"), ("CONNECT_INSTANCE_ARN", bad)]).unwrap_err();
            assert!(err.to_string().contains("CONNECT_INSTANCE_ARN"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_page_config_file_is_validated_and_cannot_set_the_login() {
        let page = PageConfig::from_json(
            r#"{"title": "Floor 2", "thresholds": {"Break": {"amber_minutes": 10, "red_minutes": 15}}}"#,
        )
        .unwrap();
        assert_eq!(page.title, "Floor 2");
        assert_eq!(page.poll_seconds, 5);
        // The login comes from the environment only: a file cannot switch it off or point it elsewhere.
        assert!(PageConfig::from_json(r#"{"auth": {"issuer": "x"}}"#).unwrap_err().contains("auth"));
        let err = PageConfig::from_json(r#"{"poll_seconds": 10, "stale_seconds": 5}"#).unwrap_err();
        assert!(err.contains("stale_seconds"), "{err}");
        let err = PageConfig::from_json(r#"{"colour": "red"}"#).unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }
}
