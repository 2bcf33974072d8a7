//! A batch: classify every record (invalid ones are quarantined), make each subscription's messages, read each
//! subscription's state (parked keys, disabled), deliver per subscription concurrently, and decide each record:
//! done when every subscription delivered or durably parked its message, retried otherwise — and, as everywhere,
//! once a record of a key retries, the key's later records retry too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use shared::batch::{Disposition, KeyRun, Outcomes, Processor};
use shared::kinesis::KinesisItem;
use shared::ports::{ItemStore, ObjectStore, PortError};
use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::config::Subscription;
use crate::deliver::{BREAKER, Fate, Live, Outgoing, Tally, deliver};
use crate::message::Record;
use crate::park::Parking;
use crate::secrets::{REFRESH, SecretSource, load};
use crate::sign::Secrets;
use crate::transport::Transport;

/// Metric names (EMF, dimension `Subscription`).
pub mod metric {
    pub const DELIVERED: &str = "MessagesDelivered";
    pub const PARKED: &str = "MessagesParked";
    pub const ATTEMPTS: &str = "DeliveryAttempts";
    pub const DISABLED: &str = "SubscriptionDisabled";
}

/// How long a subscription whose endpoint tripped the breaker ([`crate::deliver::BREAKER`] failed attempts in a row)
/// gets no requests from a warm function: its messages park at once, so a dead endpoint costs the shard one
/// timeout per cool-down instead of one per batch. Then requests are tried again.
pub const COOL_DOWN: Duration = Duration::from_secs(30);

pub struct StreamForwarder<T, O, I, S> {
    subscriptions: Vec<Subscription>,
    /// Per subscription: until when its breaker is open (a warm function's memory).
    open_until: Vec<std::sync::Mutex<Option<Instant>>>,
    secrets: RwLock<(Instant, BTreeMap<String, Secrets>)>,
    source: S,
    transport: T,
    parking: Parking<O, I>,
    budget: Duration,
}

impl<T: Transport, O: ObjectStore, I: ItemStore, S: SecretSource> StreamForwarder<T, O, I, S> {
    /// Reads every subscription's secrets (an error names the secret, never its value).
    pub async fn new(
        subscriptions: Vec<Subscription>,
        source: S,
        transport: T,
        parking: Parking<O, I>,
        budget: Duration,
    ) -> Result<Self, String> {
        let secrets = load(&source, subscriptions.iter().map(|s| s.secret_arn.as_str())).await?;
        let open_until = subscriptions.iter().map(|_| std::sync::Mutex::new(None)).collect();
        Ok(Self {
            subscriptions,
            open_until,
            secrets: RwLock::new((Instant::now(), secrets)),
            source,
            transport,
            parking,
            budget,
        })
    }

    /// Re-reads the secrets when they are older than [`REFRESH`]; keeps the old ones if that fails.
    async fn refresh_secrets(&self) {
        if self.secrets.read().await.0.elapsed() < REFRESH {
            return;
        }
        let mut guard = self.secrets.write().await;
        let references: Vec<&str> = self.subscriptions.iter().map(|s| s.secret_arn.as_str()).collect();
        match load(&self.source, references).await {
            Ok(fresh) => *guard = (Instant::now(), fresh),
            Err(e) => {
                tracing::warn!(error = %e, "signing secrets could not be re-read; the ones read before stay");
                guard.0 = Instant::now();
            }
        }
    }
}

impl<T: Transport, O: ObjectStore, I: ItemStore, S: SecretSource> Processor for StreamForwarder<T, O, I, S> {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        let deadline = Instant::now() + self.budget;
        self.refresh_secrets().await;
        let mut outcomes = Outcomes::new(items.len());
        let mut keys: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut per_subscription: Vec<Vec<Outgoing>> = vec![Vec::new(); self.subscriptions.len()];
        for (i, item) in items.iter().enumerate() {
            let record = match shared::classify(&item.data).map(|r| Record::new(&r, &item.data)) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    outcomes.set(i, Disposition::Poison(shared::InvalidReason::NotAnObject { found: "other" }));
                    continue;
                }
                Err(reason) => {
                    outcomes.set(i, Disposition::Poison(reason));
                    continue;
                }
            };
            let mut wanted = false;
            for (s, sub) in self.subscriptions.iter().enumerate() {
                if let Some(message) = record.message_for(sub) {
                    wanted = true;
                    per_subscription[s].push(Outgoing {
                        index: i,
                        key: record.key.clone(),
                        message,
                        stream_arn: item.stream_arn.clone(),
                        shard_id: item.shard_id.clone(),
                        sequence_number: item.seq.as_ref().map(ToString::to_string).unwrap_or_default(),
                    });
                }
            }
            if wanted {
                keys.entry(record.key).or_default().push(i);
            } else {
                outcomes.set(i, Disposition::Skipped);
            }
        }

        let secrets = self.secrets.read().await;
        let deliveries = self.subscriptions.iter().zip(&self.open_until).zip(per_subscription).map(|((sub, open_until), messages)| {
            let secrets = &secrets.1;
            async move {
                if messages.is_empty() {
                    return Vec::new();
                }
                let tally = Tally::default();
                let state = match self.parking.state(&sub.name).await {
                    Ok(state) => state,
                    Err(e) => {
                        return messages.iter().map(|m| (m.index, Fate::Failed(e.clone().into_transient()))).collect();
                    }
                };
                let Some(signing) = secrets.get(&sub.secret_arn) else {
                    let e = PortError::transient("secretsmanager", format!("no secret for subscription {}", sub.name));
                    return messages.iter().map(|m| (m.index, Fate::Failed(e.clone()))).collect();
                };
                let open = open_until.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|until| Instant::now() < until);
                let live = Live {
                    subscription: sub,
                    secrets: signing,
                    state,
                    disabled: AtomicBool::new(false),
                    failures: AtomicU32::new(if open { BREAKER } else { 0 }),
                    deadline,
                };
                let fates = deliver(&live, messages, &self.transport, &self.parking, &tally).await;
                if !open {
                    let tripped = live.failures.load(Ordering::Relaxed) >= BREAKER;
                    *open_until.lock().unwrap_or_else(|p| p.into_inner()) = tripped.then(|| Instant::now() + COOL_DOWN);
                    if tripped {
                        tracing::warn!(subscription = %sub.name, "endpoint failing: no requests for {COOL_DOWN:?}, messages park");
                    }
                }
                record_metrics(&sub.name, &tally);
                fates
            }
        });
        let mut worst: BTreeMap<usize, Option<PortError>> = BTreeMap::new();
        for fates in futures::future::join_all(deliveries).await {
            for (index, fate) in fates {
                let slot = worst.entry(index).or_insert(None);
                if let Fate::Failed(e) = fate {
                    slot.get_or_insert(e);
                }
            }
        }
        drop(secrets);
        for indexes in keys.into_values() {
            let mut run = KeyRun::new(indexes.len());
            for &i in &indexes {
                run.push(match worst.remove(&i).flatten() {
                    None => Disposition::Done,
                    Some(e) => Disposition::Retry(e),
                });
            }
            outcomes.extend(indexes.into_iter().zip(run.finish()));
        }
        outcomes.finish()
    }
}

fn record_metrics(subscription: &str, tally: &Tally) {
    let label = subscription.to_owned();
    metrics::counter!(metric::DELIVERED, "Subscription" => label.clone())
        .increment(u64::from(tally.delivered.load(Ordering::Relaxed)));
    metrics::counter!(metric::PARKED, "Subscription" => label.clone())
        .increment(u64::from(tally.parked.load(Ordering::Relaxed)));
    metrics::counter!(metric::ATTEMPTS, "Subscription" => label.clone())
        .increment(u64::from(tally.attempts.load(Ordering::Relaxed)));
    if tally.disabled.load(Ordering::Relaxed) {
        metrics::counter!(metric::DISABLED, "Subscription" => label).increment(1);
    }
    tracing::info!(
        subscription,
        delivered = tally.delivered.load(Ordering::Relaxed),
        parked = tally.parked.load(Ordering::Relaxed),
        attempts = tally.attempts.load(Ordering::Relaxed),
        "subscription batch"
    );
}
