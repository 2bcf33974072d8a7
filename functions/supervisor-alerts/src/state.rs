//! The `ALERT_STATE_TABLE` layout: every item this function keeps, on any [`ItemStore`] (DynamoDB in Lambda,
//! memory in tests and the replay). Keys `pk`/`sk` are strings; every item has a TTL (`expires_at`, epoch seconds);
//! every item is bounded in size. No secondary index.
//!
//! | item | pk | sk | attributes | TTL |
//! |---|---|---|---|---|
//! | alert claim | `alert#<rule>#<subject>` | episode | `alert_id`, `status` PENDING/SENT/RETRYABLE, `lease_until`, `lease_token`, `attempts`, `claimed_at`, `sent_at`, `last_error` | claim TTL |
//! | cooldown | `cooldown#<rule>#<agent:…\|contact:…>` | `cooldown` | `open_at`, `last_alert` | open_at + 1 h |
//! | contact→agent join | `contact#<contact id>` | `agent` | `agent_id`, `username`, `routing_profile`, `h1`..`h5`, `queue`, `channel`, `seen` | join TTL |
//! | missed window | `missed#<agent id>` | `window` | `contacts` [{id, at}] (≤ 50), `rev` | longest window + 1 h |
//! | sentiment | `sentiment#<contact id>` | `window` | `state` {`recent`, `consecutive`, `turns`, `last_position`, `met`}, `rev` | join TTL |

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use shared::model::time::{canonical, parse};
use shared::ports::{Condition, EXPIRES_AT, Item, ItemStore, PK, PortError, PortResult, SK, WriteOutcome};

use crate::engine::{AgentFacts, AlertKey, ContactJoin, KeyState, Needs, Versioned};

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
    /// Missed-contact windows: the longest rule window.
    pub missed: TimeDelta,
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
        self.store.update(&claim_pk(key), &claim_sk(key), set, remove, held).await
    }

    // -- cooldowns ----------------------------------------------------------------------------------------------

    /// Opens the gate for `alert_id` if the rule's cooldown for `subject` is over at `at` (event time), and starts
    /// a new cooldown; a gate already opened for this same alert (an earlier attempt) stays open.
    pub async fn cooldown_gate(
        &self,
        rule: &str,
        subject: &str,
        alert_id: &str,
        at: DateTime<Utc>,
        cooldown: TimeDelta,
        now: DateTime<Utc>,
    ) -> PortResult<bool> {
        let (pk, sk) = (format!("cooldown#{rule}#{subject}"), "cooldown");
        let open_at = at + cooldown;
        let set = item([
            ("open_at", json!(canonical(&open_at))),
            ("last_alert", json!(alert_id)),
            (EXPIRES_AT, epoch(open_at.max(now) + TimeDelta::hours(1))),
        ]);
        let outcome = self
            .store
            .update(&pk, sk, set, &[], Condition::NewerThan { attr: "open_at", value: canonical(&at) })
            .await?;
        if outcome == WriteOutcome::Applied {
            return Ok(true);
        }
        let held = self.store.get(&pk, sk).await?;
        Ok(held.as_ref().and_then(|i| str_of(i, "last_alert")) == Some(alert_id))
    }

    // -- contact→agent join -------------------------------------------------------------------------------------

    /// Writes joins unconditionally with one `batch_put` (the adapter sends 25 per BatchWriteItem). The caller
    /// gives each contact once: DynamoDB refuses a batch that names one key twice.
    pub async fn put_joins(&self, joins: &[&ContactJoin], now: DateTime<Utc>) -> PortResult<()> {
        let mut items = Vec::with_capacity(joins.len());
        for join in joins {
            let mut i = item([
                (PK, json!(join_pk(&join.contact_id))),
                (SK, json!(JOIN_SK)),
                (EXPIRES_AT, epoch(now + self.ttls.contact)),
            ]);
            let Ok(Value::Object(fields)) = serde_json::to_value(JoinItem::from(*join)) else {
                return Err(PortError::permanent("alert-state", "a join did not serialise to an object"));
            };
            i.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
            items.push(i);
        }
        if items.is_empty() {
            return Ok(());
        }
        self.store.batch_put(items).await
    }

    /// The contact's join, if an agent event stored one. An unreadable item counts as no join (yet).
    pub async fn join(&self, contact_id: &str) -> PortResult<Option<ContactJoin>> {
        let Some(i) = self.store.get(&join_pk(contact_id), JOIN_SK).await? else {
            return Ok(None);
        };
        let stored: Option<JoinItem> = serde_json::from_value(Value::Object(i)).ok();
        Ok(stored.map(|stored| stored.into_join(contact_id)))
    }

    // -- versioned state items (missed window, sentiment) -------------------------------------------------------

    async fn read_versioned<T: serde::de::DeserializeOwned + Default>(
        &self,
        pk: &str,
        id: &str,
        field: &str,
    ) -> PortResult<Versioned<T>> {
        let Some(i) = self.store.get(pk, "window").await? else {
            return Ok(Versioned::new(id, T::default(), None));
        };
        let rev = i.get("rev").and_then(Value::as_i64);
        // An unreadable state item starts over rather than blocking the key forever.
        let value = i.get(field).cloned().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
        Ok(Versioned::new(id, value, rev))
    }

    /// Writes a changed state item, conditional on the revision read; unchanged items are not written.
    async fn write_versioned<T: serde::Serialize>(
        &self,
        pk: &str,
        field: &'static str,
        state: &Versioned<T>,
        expires: DateTime<Utc>,
    ) -> PortResult<()> {
        if state.changed_from.is_none() {
            return Ok(());
        }
        let value =
            serde_json::to_value(&state.value).map_err(|e| PortError::permanent("alert-state", e.to_string()))?;
        let rev = state.rev;
        let item = item([
            (PK, json!(pk)),
            (SK, json!("window")),
            (field, value),
            ("rev", json!(rev.unwrap_or(0) + 1)),
            (EXPIRES_AT, epoch(expires)),
        ]);
        let condition = match rev {
            None => Condition::NotExists,
            Some(r) => Condition::Equals { attr: "rev", value: json!(r) },
        };
        match self.store.put(item, condition).await? {
            WriteOutcome::Applied => Ok(()),
            WriteOutcome::ConditionFailed => Err(concurrent(pk)),
        }
    }

    // -- one key's state ----------------------------------------------------------------------------------------

    /// Reads what a key's records need, and nothing else.
    pub async fn load(&self, needs: &Needs) -> PortResult<KeyState> {
        let mut state = KeyState::default();
        if let Some(contact_id) = &needs.join {
            state.join = Some(self.join(contact_id).await?);
        }
        if let Some(contact_id) = &needs.sentiment {
            state.sentiment = Some(self.read_versioned(&format!("sentiment#{contact_id}"), contact_id, "state").await?);
        }
        if let Some(agent_id) = &needs.missed {
            state.missed = Some(self.read_versioned(&format!("missed#{agent_id}"), agent_id, "contacts").await?);
        }
        Ok(state)
    }

    /// Writes the state items the key's records changed. On failure, says from which of the key's records on the
    /// effects are not saved.
    pub async fn save(&self, state: &KeyState, now: DateTime<Utc>) -> Result<(), Unsaved> {
        if let Some(s) = &state.sentiment {
            let pk = format!("sentiment#{}", s.id);
            let saved = self.write_versioned(&pk, "state", s, now + self.ttls.contact).await;
            saved.map_err(|error| Unsaved { from: s.changed_from.unwrap_or(0), error })?;
        }
        if let Some(m) = &state.missed {
            let pk = format!("missed#{}", m.id);
            let saved = self.write_versioned(&pk, "contacts", m, now + self.ttls.missed).await;
            saved.map_err(|error| Unsaved { from: m.changed_from.unwrap_or(0), error })?;
        }
        Ok(())
    }
}

/// A failed [`AlertTable::save`]: the effects of the key's records from position `from` on are not saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsaved {
    pub from: usize,
    pub error: PortError,
}

// -- the join item --------------------------------------------------------------------------------------------------

const JOIN_SK: &str = "agent";

fn join_pk(contact_id: &str) -> String {
    format!("contact#{contact_id}")
}

/// The stored form of a [`ContactJoin`]: flat attributes (the names items have always had, so stored joins stay
/// readable). Empty values become absent ones, and [`AlertTable::put_joins`] leaves absent ones out.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct JoinItem {
    agent_id: String,
    username: Option<String>,
    routing_profile: Option<String>,
    queue: Option<String>,
    channel: Option<String>,
    h1: Option<String>,
    h2: Option<String>,
    h3: Option<String>,
    h4: Option<String>,
    h5: Option<String>,
    seen: String,
}

impl From<&ContactJoin> for JoinItem {
    fn from(j: &ContactJoin) -> Self {
        let some = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let [h1, h2, h3, h4, h5] = j.agent.hierarchy.each_ref().map(some);
        Self {
            agent_id: j.agent.agent_id.clone(),
            username: some(&j.agent.username),
            routing_profile: some(&j.agent.routing_profile),
            queue: some(&j.queue),
            channel: some(&j.channel),
            h1,
            h2,
            h3,
            h4,
            h5,
            seen: j.seen.clone(),
        }
    }
}

impl JoinItem {
    fn into_join(self, contact_id: &str) -> ContactJoin {
        ContactJoin {
            contact_id: contact_id.to_owned(),
            agent: AgentFacts {
                agent_id: self.agent_id,
                username: self.username,
                routing_profile: self.routing_profile,
                hierarchy: [self.h1, self.h2, self.h3, self.h4, self.h5],
                queues: Vec::new(),
                channels: Vec::new(),
            },
            channel: self.channel,
            queue: self.queue,
            seen: self.seen,
        }
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
