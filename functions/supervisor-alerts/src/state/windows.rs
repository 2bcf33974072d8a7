//! The per-contact and per-agent state items of [`AlertTable`]: cooldowns, the contact→agent join, the versioned
//! windows (missed contacts, sentiment), and the load / save of one key's state.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use shared::model::time::canonical;
use shared::ports::{Condition, EXPIRES_AT, ItemStore, PK, PortError, PortResult, SK, WriteOutcome};

use super::{AlertTable, concurrent, epoch, item, str_of};
use crate::engine::{AgentFacts, ContactJoin, KeyState, Needs, Versioned};
use crate::rules::Rules;

impl<S: ItemStore> AlertTable<S> {
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
            .update(&pk, sk, set, &[], Condition::NewerThan { attr: "open_at", value: canonical(&at) }, Vec::new())
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
    /// The missed-contacts window lives as long as `rules` need it.
    pub async fn save(&self, state: &KeyState, rules: &Rules, now: DateTime<Utc>) -> Result<(), Unsaved> {
        if let Some(s) = &state.sentiment {
            let pk = format!("sentiment#{}", s.id);
            let saved = self.write_versioned(&pk, "state", s, now + self.ttls.contact).await;
            saved.map_err(|error| Unsaved { from: s.changed_from.unwrap_or(0), error })?;
        }
        if let Some(m) = &state.missed {
            let pk = format!("missed#{}", m.id);
            let saved = self.write_versioned(&pk, "contacts", m, now + rules.missed_ttl()).await;
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
