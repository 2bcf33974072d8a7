//! Configuration from the environment, read once at init. Every error names the variable.

use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {detail}")]
    Invalid { var: &'static str, detail: String },
}

/// A source of configuration values: the process environment in Lambda, a map in tests and tools.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }
}

pub fn required(env: &impl Env, name: &'static str) -> Result<String, ConfigError> {
    env.var(name).filter(|v| !v.trim().is_empty()).ok_or(ConfigError::Missing(name))
}

pub fn optional(env: &impl Env, name: &'static str, default: &str) -> String {
    env.var(name).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
}

pub fn parsed<T: FromStr>(env: &impl Env, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match env.var(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid { var: name, detail: e.to_string() }),
    }
}

/// [`parsed`], then checked to lie in `range`: the one range-checked reader of the functions' configuration.
pub fn bounded<T>(
    env: &impl Env,
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let value = parsed(env, name, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            var: name,
            detail: format!("{value} is outside {}..={}", range.start(), range.end()),
        })
    }
}

/// Where poison records go: `QUARANTINE_BUCKET` (required) and `QUARANTINE_PREFIX` (default `quarantine/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineConfig {
    pub bucket: String,
    pub prefix: String,
}

impl QuarantineConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket: required(env, "QUARANTINE_BUCKET")?,
            prefix: optional(env, "QUARANTINE_PREFIX", "quarantine/"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        let env = [("AGENT_TTL_HOURS", "soon")];
        assert_eq!(QuarantineConfig::from_env(&env), Err(ConfigError::Missing("QUARANTINE_BUCKET")));
        let e = parsed::<u32>(&env, "AGENT_TTL_HOURS", 24).unwrap_err();
        assert!(e.to_string().contains("AGENT_TTL_HOURS"), "{e}");
        let env = [("QUARANTINE_BUCKET", "b")];
        assert_eq!(QuarantineConfig::from_env(&env).unwrap().prefix, "quarantine/");
    }
}
