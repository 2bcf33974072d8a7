//! Configuration, read once at init. Every error names the variable.

use shared::config::{ConfigError, Env, QuarantineConfig, bounded, required};

/// Retention of the table's items. Both TTLs count from event time (never the wall clock), so replaying the same
/// events always writes the same items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `AGENT_TTL_HOURS` (default 24): a current item expires this long after the newest event applied to it.
    pub agent_ttl_hours: u32,
    /// `HISTORY_TTL_DAYS` (default 35): a history item expires this long after the end of its episode.
    pub history_ttl_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { agent_ttl_hours: 24, history_ttl_days: 35 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `AGENT_STATE_TABLE` (required).
    pub table: String,
    pub settings: Settings,
    /// `QUARANTINE_BUCKET` (required), `QUARANTINE_PREFIX` (default `quarantine/`).
    pub quarantine: QuarantineConfig,
}

impl Config {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let defaults = Settings::default();
        let settings = Settings {
            agent_ttl_hours: bounded(env, "AGENT_TTL_HOURS", defaults.agent_ttl_hours, 1..=24 * 366)?,
            history_ttl_days: bounded(env, "HISTORY_TTL_DAYS", defaults.history_ttl_days, 1..=3660)?,
        };
        Ok(Self { table: required(env, "AGENT_STATE_TABLE")?, settings, quarantine: QuarantineConfig::from_env(env)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let env = [("AGENT_STATE_TABLE", "agents"), ("QUARANTINE_BUCKET", "archive")];
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.table, "agents");
        assert_eq!(config.settings, Settings { agent_ttl_hours: 24, history_ttl_days: 35 });
        assert_eq!(config.quarantine.prefix, "quarantine/");
    }

    #[test]
    fn a_missing_table_is_named() {
        let env = [("QUARANTINE_BUCKET", "archive")];
        assert_eq!(Config::from_env(&env), Err(ConfigError::Missing("AGENT_STATE_TABLE")));
    }

    #[test]
    fn bad_ttls_name_their_variable() {
        for (var, value) in [("AGENT_TTL_HOURS", "soon"), ("AGENT_TTL_HOURS", "0"), ("HISTORY_TTL_DAYS", "-1")] {
            let env = [("AGENT_STATE_TABLE", "agents"), ("QUARANTINE_BUCKET", "archive"), (var, value)];
            let err = Config::from_env(&env).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }
}
