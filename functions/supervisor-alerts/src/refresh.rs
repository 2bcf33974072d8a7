//! The handler with its rules re-read from a [`RulesStore`] between batches: before a batch, at most every
//! `ALERT_RULES_REFRESH_SECONDS`, [`Refreshing`] asks the store; a new document that validates is put in force from
//! that batch on; one that does not is refused, the rules in force stay, [`REJECTED_METRIC`] counts (at every check,
//! while the refused version is the source's) and the log names the version, the rule and the field. A source that
//! cannot be read keeps the rules in force too ([`UNREADABLE_METRIC`]).

use std::time::{Duration, Instant};

use shared::batch::{Disposition, Processor};
use shared::kinesis::KinesisItem;
use shared::ports::{ItemStore, Publisher};
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::delivery::Clock;
use crate::handler::SupervisorAlerts;
use crate::rules::RulesError;
use crate::rules::source::{RulesLocation, RulesStore};
use crate::rules::validate;

/// Counted at each check while the source holds a document that failed validation: alarm on it.
pub const REJECTED_METRIC: &str = "AlertRulesRejected";
/// Counted at each check that could not read the source (the rules in force stay).
pub const UNREADABLE_METRIC: &str = "AlertRulesUnreadable";

/// What the last checks found.
#[derive(Debug)]
struct Watch {
    /// The version in force.
    version: String,
    /// The version last refused, while it is the source's.
    refused: Option<String>,
    checked: Instant,
    /// Checks that counted [`REJECTED_METRIC`] / [`UNREADABLE_METRIC`], since init.
    rejected_checks: u64,
    unreadable_checks: u64,
}

/// The handler, with its rules re-read from a [`RulesStore`] between batches.
pub struct Refreshing<S, P, C, R> {
    handler: SupervisorAlerts<S, P, C>,
    store: R,
    location: RulesLocation,
    every: Duration,
    watch: Mutex<Watch>,
}

impl<S: ItemStore, P: Publisher, C: Clock, R: RulesStore> Refreshing<S, P, C, R> {
    /// `handler` runs the rules of `version` (read by [`crate::rules::source::load`]); the store is asked again at most every `every`.
    pub fn new(
        handler: SupervisorAlerts<S, P, C>,
        store: R,
        location: RulesLocation,
        version: String,
        every: Duration,
    ) -> Self {
        let watch = Watch { version, refused: None, checked: Instant::now(), rejected_checks: 0, unreadable_checks: 0 };
        Self { handler, store, location, every, watch: Mutex::new(watch) }
    }

    pub fn handler(&self) -> &SupervisorAlerts<S, P, C> {
        &self.handler
    }

    /// The version of the rules in force.
    pub async fn version(&self) -> String {
        self.watch.lock().await.version.clone()
    }

    /// Checks that found a refused document ([`REJECTED_METRIC`]) and checks that could not read the source
    /// ([`UNREADABLE_METRIC`]), since init.
    pub async fn failed_checks(&self) -> (u64, u64) {
        let watch = self.watch.lock().await;
        (watch.rejected_checks, watch.unreadable_checks)
    }

    /// Asks the store if the last check is at least `every` ago (always with `every` zero).
    pub async fn refresh(&self) {
        let mut watch = self.watch.lock().await;
        if watch.checked.elapsed() < self.every {
            return;
        }
        watch.checked = Instant::now();
        let known = watch.refused.clone().unwrap_or_else(|| watch.version.clone());
        let location = &self.location;
        match self.store.fetch(Some(&known)).await {
            Err(e) => {
                watch.unreadable_checks += 1;
                metrics::counter!(UNREADABLE_METRIC).increment(1);
                warn!(source = %location, error = %e, "alert rules source unreadable: the rules in force stay");
            }
            Ok(None) if watch.refused.is_some() => {
                watch.rejected_checks += 1;
                metrics::counter!(REJECTED_METRIC).increment(1);
                warn!(source = %location, version = known, "the source still holds the refused alert rules");
            }
            Ok(None) => {}
            Ok(Some(document)) => match validate(&document.text) {
                Ok(rules) => {
                    info!(source = %location, version = document.version, rules = rules.rules.len(), "alert rules updated");
                    self.handler.replace_rules(rules);
                    watch.version = document.version;
                    watch.refused = None;
                }
                Err(e) => {
                    watch.rejected_checks += 1;
                    metrics::counter!(REJECTED_METRIC).increment(1);
                    let (rule, field) = match &e {
                        RulesError::Field { rule, field, .. } => (rule.as_str(), field.as_str()),
                        _ => ("", ""),
                    };
                    error!(
                        source = %location, version = document.version, in_force = watch.version, rule, field, error = %e,
                        "new alert rules refused: the rules in force stay"
                    );
                    watch.refused = Some(document.version);
                }
            },
        }
    }
}

impl<S: ItemStore, P: Publisher, C: Clock, R: RulesStore> Processor for Refreshing<S, P, C, R> {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        self.refresh().await;
        self.handler.process(items).await
    }
}
