//! The `ALERT_STATE_TABLE` layout: every item this function keeps, on any [`ItemStore`] (DynamoDB in Lambda,
//! memory in tests and the replay). Keys `pk`/`sk` are strings; every item has a TTL (`expires_at`, epoch seconds);
//! every item is bounded in size. No secondary index.
//!
//! | item | pk | sk | attributes | TTL |
//! |---|---|---|---|---|
//! | alert claim | `alert#<rule>#<subject>` | episode | `alert_id`, `status` PENDING/SENT/RETRYABLE, `lease_until`, `lease_token`, `attempts`, `claimed_at`, `sent_at`, `last_error` | claim TTL |
//! | cooldown | `cooldown#<rule>#<agent:…\|contact:…>` | `cooldown` | `open_at`, `last_alert` | open_at + 1 h |
//! | contact→agent join | `contact#<contact id>` | `agent` | `agent_id`, `username`, `routing_profile`, `h1`..`h5`, `queue`, `channel`, `seen` | join TTL |
//! | missed window | `missed#<agent id>` | `window` | `contacts` [{id, at}] (≤ 50), `rev` | longest window + 1 h ([`Rules::missed_ttl`](crate::rules::Rules::missed_ttl)) |
//! | sentiment | `sentiment#<contact id>` | `window` | `state` {`recent`, `consecutive`, `turns`, `last_position`, `met`}, `rev` | join TTL |

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use shared::model::time::{canonical, parse};
use shared::ports::{Condition, EXPIRES_AT, Item, ItemStore, PK, PortError, PortResult, SK, WriteOutcome};

use crate::engine::AlertKey;

mod windows;
pub use windows::Unsaved;

pub const STATUS_PENDING: &str = "PENDING";
pub const STATUS_SENT: &str = "SENT";
pub const STATUS_RETRYABLE: &str = "RETRYABLE";

/// How long items live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    /// Alert claims: longer than Kinesis can redeliver a record, so a replay never re-sends.
    pub claim: TimeDelta,
    /// Contact→agent joins and sentiment state: longer than a contact lasts.
    pub contact: TimeDelta,
}

/// A claim as read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Sent,
    /// Being delivered (or the outcome of a publish is unknown) until `lease_until`.
    Pending {
        lease_until: DateTime<Utc>,
        token: String,
    },
    /// A delivery failed definitely; the next delivery takes over at once.
    Retryable {
        token: String,
    },
}

/// The lease a delivery holds on a claim; `token` makes conditional updates apply only to the holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub until: DateTime<Utc>,
    pub token: String,
}

impl Lease {
    pub fn new(until: DateTime<Utc>) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        Self { until, token: format!("{nanos:x}-{:x}-{n:x}", std::process::id()) }
    }
}

/// How many alert ids known to be SENT a warm process remembers.
pub const SENT_IDS_REMEMBERED: usize = 10_000;

/// Alert ids this process knows to be SENT, so that re-observing one (every heartbeat of a long break) costs no
/// claim read. Bounded: past `capacity` the oldest is forgotten. Only a shortcut: a SENT claim never changes back,
/// and an id not remembered (a cold process, an old alert) is read from the table as always.
#[derive(Debug)]
pub struct SentIds {
    capacity: usize,
    order: VecDeque<Arc<str>>,
    ids: HashSet<Arc<str>>,
}

impl SentIds {
    pub fn new(capacity: usize) -> Self {
        Self { capacity, order: VecDeque::new(), ids: HashSet::new() }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    pub fn insert(&mut self, id: &str) {
        if self.capacity == 0 || self.ids.contains(id) {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        let id: Arc<str> = Arc::from(id);
        self.order.push_back(Arc::clone(&id));
        self.ids.insert(id);
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct AlertTable<S> {
    store: S,
    ttls: Ttls,
    /// Shared by clones: one per warm process.
    sent: Arc<Mutex<SentIds>>,
}

fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp())
}

fn item(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn str_of<'a>(item: &'a Item, attr: &str) -> Option<&'a str> {
    item.get(attr).and_then(Value::as_str)
}

fn concurrent(what: &str) -> PortError {
    PortError::transient("alert-state", format!("{what} changed concurrently"))
}

pub fn claim_pk(key: &AlertKey) -> String {
    format!("alert#{}#{}", key.rule, key.subject)
}

fn claim_sk(key: &AlertKey) -> String {
    if key.episode.is_empty() { "-".into() } else { key.episode.clone() }
}

impl<S: ItemStore> AlertTable<S> {
    pub fn new(store: S, ttls: Ttls) -> Self {
        Self { store, ttls, sent: Arc::new(Mutex::new(SentIds::new(SENT_IDS_REMEMBERED))) }
    }

    fn sent_ids(&self) -> std::sync::MutexGuard<'_, SentIds> {
        // A panic while holding the lock cannot leave the set inconsistent in a way that matters: it is a cache.
        self.sent.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    // -- alert claims -------------------------------------------------------------------------------------------

    /// Whether this process has seen the alert SENT (in the table or by confirming it): no read needed.
    pub fn known_sent(&self, key: &AlertKey) -> bool {
        self.sent_ids().contains(&key.id())
    }

    fn remember_sent(&self, key: &AlertKey) {
        self.sent_ids().insert(&key.id());
    }

    /// Reads the claim from the table (a SENT one is remembered, see [`Self::known_sent`]).
    pub async fn claim(&self, key: &AlertKey) -> PortResult<Option<Claim>> {
        let Some(item) = self.store.get(&claim_pk(key), &claim_sk(key)).await? else {
            return Ok(None);
        };
        let token = str_of(&item, "lease_token").unwrap_or_default().to_owned();
        Ok(Some(match str_of(&item, "status") {
            Some(STATUS_SENT) => {
                self.remember_sent(key);
                Claim::Sent
            }
            Some(STATUS_RETRYABLE) => Claim::Retryable { token },
            _ => Claim::Pending {
                // An unreadable lease counts as expired: a later delivery takes over rather than wait forever.
                lease_until: str_of(&item, "lease_until").and_then(parse).unwrap_or(DateTime::<Utc>::MIN_UTC),
                token,
            },
        }))
    }

    /// Claims a new alert (`Condition::NotExists`).
    pub async fn claim_new(&self, key: &AlertKey, lease: &Lease, now: DateTime<Utc>) -> PortResult<WriteOutcome> {
        let claim = item([
            (PK, json!(claim_pk(key))),
            (SK, json!(claim_sk(key))),
            ("alert_id", json!(key.id())),
            ("status", json!(STATUS_PENDING)),
            ("lease_until", json!(canonical(&lease.until))),
            ("lease_token", json!(lease.token)),
            ("attempts", json!(1)),
            ("claimed_at", json!(canonical(&now))),
            (EXPIRES_AT, epoch(now + self.ttls.claim)),
        ]);
        self.store.put(claim, Condition::NotExists).await
    }

    /// Takes over a claim whose lease expired or that was marked retryable: applies only if the claim still holds
    /// the token that was read.
    pub async fn take_over(
        &self,
        key: &AlertKey,
        old_token: &str,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> PortResult<WriteOutcome> {
        let set = item([
            ("status", json!(STATUS_PENDING)),
            ("lease_until", json!(canonical(&lease.until))),
            ("lease_token", json!(lease.token)),
            ("claimed_at", json!(canonical(&now))),
            (EXPIRES_AT, epoch(now + self.ttls.claim)),
        ]);
        self.update_claim(key, old_token, set, &[]).await
    }

    /// SNS accepted the message: the claim becomes SENT for good (and is remembered).
    pub async fn confirm_sent(&self, key: &AlertKey, lease: &Lease, now: DateTime<Utc>) -> PortResult<WriteOutcome> {
        let set = item([("status", json!(STATUS_SENT)), ("sent_at", json!(canonical(&now)))]);
        let outcome = self.update_claim(key, &lease.token, set, &["last_error"]).await?;
        if outcome == WriteOutcome::Applied {
            self.remember_sent(key);
        }
        Ok(outcome)
    }

    /// The publish failed definitely (nothing was sent): the next delivery takes over at once.
    pub async fn mark_retryable(&self, key: &AlertKey, lease: &Lease, error: &PortError) -> PortResult<WriteOutcome> {
        let set = item([("status", json!(STATUS_RETRYABLE)), ("last_error", json!(error.to_string()))]);
        self.update_claim(key, &lease.token, set, &[]).await
    }

    /// The publish outcome is unknown (a timeout): the claim stays PENDING and its lease ends now, so the next
    /// delivery takes over (and may send a second copy: the documented at-least-once case).
    pub async fn end_lease(
        &self,
        key: &AlertKey,
        lease: &Lease,
        error: &PortError,
        now: DateTime<Utc>,
    ) -> PortResult<WriteOutcome> {
        let set = item([("lease_until", json!(canonical(&now))), ("last_error", json!(error.to_string()))]);
        self.update_claim(key, &lease.token, set, &[]).await
    }

    /// Sets `set` and removes `remove` on the claim, only while it holds the lease `token`.
    async fn update_claim(
        &self,
        key: &AlertKey,
        token: &str,
        set: Item,
        remove: &[&'static str],
    ) -> PortResult<WriteOutcome> {
        let held = Condition::Equals { attr: "lease_token", value: json!(token) };
        self.store.update(&claim_pk(key), &claim_sk(key), set, remove, held, Vec::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::SentIds;

    #[test]
    fn sent_ids_forget_the_oldest_past_their_capacity() {
        let mut sent = SentIds::new(3);
        for id in ["a", "b", "c", "b"] {
            sent.insert(id);
        }
        assert_eq!(sent.len(), 3, "an id is held once");
        sent.insert("d");
        assert!(!sent.contains("a"), "the oldest is forgotten");
        assert!(["b", "c", "d"].iter().all(|id| sent.contains(id)));
        assert_eq!(sent.len(), 3);
    }
}
