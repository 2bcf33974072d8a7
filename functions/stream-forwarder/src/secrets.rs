//! Where the signing secrets come from: Secrets Manager (read at init, re-read every [`REFRESH`] so a rotation
//! takes effect without a deploy), or — for local runs and tests only — an environment variable (`env:NAME`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::sign::Secrets;

/// How often a warm function re-reads the secrets.
pub const REFRESH: Duration = Duration::from_secs(600);

pub trait SecretSource: Send + Sync {
    /// The secret's current value; an error never carries the value.
    fn fetch(&self, reference: &str) -> impl Future<Output = Result<String, String>> + Send;
}

/// `env:NAME` references only.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSecrets;

impl SecretSource for EnvSecrets {
    async fn fetch(&self, reference: &str) -> Result<String, String> {
        let name = reference.strip_prefix("env:").ok_or_else(|| format!("{reference}: only env:NAME secrets here"))?;
        std::env::var(name)
            .map_err(|_| format!("environment variable {name} (named by a subscription's secret) is not set"))
    }
}

/// Secrets Manager, with `env:NAME` for local runs.
#[derive(Debug, Clone)]
pub struct SecretsManager(pub aws_sdk_secretsmanager::Client);

impl SecretSource for SecretsManager {
    async fn fetch(&self, reference: &str) -> Result<String, String> {
        if reference.starts_with("env:") {
            return EnvSecrets.fetch(reference).await;
        }
        let out = self
            .0
            .get_secret_value()
            .secret_id(reference)
            .send()
            .await
            .map_err(|e| format!("{reference}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e)))?;
        out.secret_string().map(str::to_owned).ok_or_else(|| format!("{reference}: not a string secret"))
    }
}

/// Every distinct secret the subscriptions name, parsed; an error names the secret reference (never the value).
pub async fn load(
    source: &impl SecretSource,
    references: impl IntoIterator<Item = &str>,
) -> Result<BTreeMap<String, Secrets>, String> {
    let mut out = BTreeMap::new();
    for reference in references {
        if out.contains_key(reference) {
            continue;
        }
        let value = source
            .fetch(reference)
            .await
            .map_err(|e| if e.contains(reference) { e } else { format!("{reference}: {e}") })?;
        let secrets = Secrets::parse(&value).map_err(|e| format!("{reference}: {e}"))?;
        out.insert(reference.to_owned(), secrets);
    }
    Ok(out)
}
