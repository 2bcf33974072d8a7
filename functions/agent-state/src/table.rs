//! The agent-state table and its read side.
//!
//! Keys `pk`/`sk` (strings), TTL attribute `expires_at` (epoch seconds).
//!
//! | item | pk | sk | carries GSI keys |
//! |---|---|---|---|
//! | current state | agent ARN | `CURRENT` | yes |
//! | finished status episode | agent ARN | `HIST#<canonical start>#STATUS#<status name>` | no |
//! | finished after-contact work | agent ARN | `HIST#<canonical start>#ACW#<contactId>` | no |
//!
//! GSIs ([`INDEXES`], all projecting everything): `by-instance` (gsi1pk = instance ARN, gsi1sk = username),
//! `by-routing-profile` (gsi2pk = routing profile ARN, gsi2sk = username), `by-activity`
//! (gsi3pk = `<instance ARN>#<activity label>`, gsi3sk = canonical time the activity started).
//! Every timestamp is stored in [`shared::model::time::canonical`] form, so string order is time order.
//!
//! The queries below use only `Query` (table or index), never `Scan`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use shared::model::time::canonical;
use shared::ports::{IndexDef, Item, ItemStore, PortError, PortResult, Query};

/// Sort key of an agent's current-state item.
pub const CURRENT_SK: &str = "CURRENT";
/// Prefix of the sort keys of an agent's history items.
pub const HISTORY_PREFIX: &str = "HIST#";

pub const BY_INSTANCE: &str = "by-instance";
pub const BY_ROUTING_PROFILE: &str = "by-routing-profile";
pub const BY_ACTIVITY: &str = "by-activity";

/// The table's global secondary indexes; the memory store and `DynamoItemStore` are built with these.
pub const INDEXES: [IndexDef; 3] = [
    IndexDef { name: BY_INSTANCE, pk_attr: attr::GSI1PK, sk_attr: attr::GSI1SK },
    IndexDef { name: BY_ROUTING_PROFILE, pk_attr: attr::GSI2PK, sk_attr: attr::GSI2SK },
    IndexDef { name: BY_ACTIVITY, pk_attr: attr::GSI3PK, sk_attr: attr::GSI3SK },
];

/// Attribute names (one home for the writer in [`crate::state`] and the readers here).
pub mod attr {
    pub use shared::ports::{EXPIRES_AT, PK, SK};

    // Current item: who.
    pub const AGENT_ARN: &str = "agent_arn";
    pub const INSTANCE_ARN: &str = "instance_arn";
    pub const USERNAME: &str = "username";
    pub const FIRST_NAME: &str = "first_name";
    pub const LAST_NAME: &str = "last_name";
    /// Map `{arn, name}`.
    pub const ROUTING_PROFILE: &str = "routing_profile";
    /// Map `level1`..`level5` → group name (levels without a group are absent).
    pub const HIERARCHY: &str = "hierarchy";
    /// Map channel → `{available, maximum}` slots.
    pub const CONCURRENCY: &str = "concurrency";
    // Current item: what.
    /// Map `{name, type, arn, start}`.
    pub const STATUS: &str = "status";
    /// Map `{name, arn, enqueued_at}`; absent when no status change is enqueued.
    pub const NEXT_STATUS: &str = "next_status";
    /// List of maps `{contact_id, initial_contact_id, channel, state, state_start, initiation_method, queue_arn,
    /// queue_name, connected_at, queued_at}`.
    pub const CONTACTS: &str = "contacts";
    /// `AgentSnapshot::activity()` label: OFFLINE, AVAILABLE, INCOMING, ON_CONTACT, ON_HOLD, AFTER_CONTACT_WORK,
    /// MISSED, REJECTED, ERROR, or the custom status name.
    pub const ACTIVITY: &str = "activity";
    pub const ACTIVITY_START: &str = "activity_start";
    // Current item: session, written only by LOGIN and LOGOUT.
    pub const LOGGED_IN: &str = "logged_in";
    pub const LOGIN_AT: &str = "login_at";
    pub const LOGOUT_AT: &str = "logout_at";
    /// Order key of the newest LOGIN/LOGOUT applied (guards the session attributes on their own).
    pub const SESSION_ORDER: &str = "session_order";
    pub const LAST_HEARTBEAT_AT: &str = "last_heartbeat_at";
    // Current item: the newest event applied.
    /// `AgentEvent::order_key()` of the newest event applied: every write is conditioned on it.
    pub const EVENT_ORDER: &str = "event_order";
    pub const LAST_EVENT_AT: &str = "last_event_at";
    pub const LAST_EVENT_ID: &str = "last_event_id";
    pub const LAST_EVENT_TYPE: &str = "last_event_type";
    pub const SCHEMA_VERSION: &str = "schema_version";
    // Current item: index keys.
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const GSI2PK: &str = "gsi2pk";
    pub const GSI2SK: &str = "gsi2sk";
    pub const GSI3PK: &str = "gsi3pk";
    pub const GSI3SK: &str = "gsi3sk";
    // History items.
    /// `STATUS` or `ACW`.
    pub const KIND: &str = "kind";
    /// The status name, or the contact id for ACW.
    pub const NAME: &str = "name";
    pub const START: &str = "start";
    pub const END: &str = "end";
    pub const DURATION_MS: &str = "duration_ms";
    pub const STATUS_TYPE: &str = "status_type";
    pub const STATUS_ARN: &str = "status_arn";
    pub const CONTACT_ID: &str = "contact_id";
    pub const CHANNEL: &str = "channel";
    pub const QUEUE_ARN: &str = "queue_arn";
    pub const QUEUE_NAME: &str = "queue_name";
}

/// The by-activity partition of an instance and activity label.
pub fn activity_partition(instance_arn: &str, activity_label: &str) -> String {
    format!("{instance_arn}#{activity_label}")
}

// ---------------------------------------------------------------------------------------------------------------
// Typed views of the items.

/// An agent's current-state item as the board reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AgentView {
    #[serde(default)]
    pub agent_arn: String,
    #[serde(default)]
    pub instance_arn: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub status: Option<StatusView>,
    #[serde(default)]
    pub next_status: Option<NextStatusView>,
    #[serde(default)]
    pub activity: Option<String>,
    #[serde(default)]
    pub activity_start: Option<String>,
    #[serde(default)]
    pub contacts: Vec<ContactView>,
    #[serde(default)]
    pub routing_profile: Option<RoutingProfileView>,
    #[serde(default)]
    pub hierarchy: BTreeMap<String, String>,
    #[serde(default)]
    pub concurrency: BTreeMap<String, SlotsView>,
    /// Written only by LOGIN/LOGOUT; absent for an agent first seen through a HEART_BEAT or STATE_CHANGE.
    #[serde(default)]
    pub logged_in: Option<bool>,
    #[serde(default)]
    pub login_at: Option<String>,
    #[serde(default)]
    pub logout_at: Option<String>,
    #[serde(default)]
    pub last_heartbeat_at: Option<String>,
    #[serde(default)]
    pub last_event_at: String,
    #[serde(default)]
    pub last_event_id: String,
    #[serde(default)]
    pub last_event_type: String,
}

impl AgentView {
    /// Whether the board shows the agent as logged in. The newest LOGIN/LOGOUT decides. For an agent no LOGIN or
    /// LOGOUT has been seen for (first seen through a heartbeat or state change, e.g. right after deployment), the
    /// newest snapshot decides: logged in unless the agent is OFFLINE (status type OFFLINE and no contacts) —
    /// heartbeats keep coming for up to an hour after a logout, so "sends events" alone does not mean logged in.
    pub fn is_logged_in(&self) -> bool {
        self.logged_in.unwrap_or_else(|| self.activity.as_deref() != Some("OFFLINE"))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatusView {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub status_type: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NextStatusView {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub enqueued_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ContactView {
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub initial_contact_id: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub state_start: Option<String>,
    #[serde(default)]
    pub initiation_method: Option<String>,
    #[serde(default)]
    pub queue_arn: Option<String>,
    #[serde(default)]
    pub queue_name: Option<String>,
    #[serde(default)]
    pub connected_at: Option<String>,
    #[serde(default)]
    pub queued_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RoutingProfileView {
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SlotsView {
    #[serde(default)]
    pub available: Option<i64>,
    #[serde(default)]
    pub maximum: Option<i64>,
}

/// A finished status episode or after-contact-work period.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HistoryView {
    pub agent_arn: String,
    /// `STATUS` or `ACW`.
    pub kind: String,
    /// Status name, or the contact id for ACW.
    pub name: String,
    pub start: String,
    pub end: String,
    pub duration_ms: i64,
    #[serde(default)]
    pub status_type: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub queue_name: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(item: Item) -> PortResult<T> {
    serde_json::from_value(Value::Object(item))
        .map_err(|e| PortError::permanent("dynamodb", format!("agent-state item not readable: {e}")))
}

// ---------------------------------------------------------------------------------------------------------------
// Queries.

/// Every agent of an instance, ordered by username.
pub async fn agents_of_instance(store: &impl ItemStore, instance_arn: &str) -> PortResult<Vec<AgentView>> {
    index_query(store, BY_INSTANCE, instance_arn.to_owned()).await
}

/// Every agent of a routing profile, ordered by username.
pub async fn agents_by_routing_profile(
    store: &impl ItemStore,
    routing_profile_arn: &str,
) -> PortResult<Vec<AgentView>> {
    index_query(store, BY_ROUTING_PROFILE, routing_profile_arn.to_owned()).await
}

/// Every agent of an instance in an activity (its [`shared::model::Activity::label`]), longest in it first.
pub async fn agents_by_activity(
    store: &impl ItemStore,
    instance_arn: &str,
    activity_label: &str,
) -> PortResult<Vec<AgentView>> {
    index_query(store, BY_ACTIVITY, activity_partition(instance_arn, activity_label)).await
}

/// One agent's finished status episodes and ACW periods that started within `[from, to]`, oldest first.
pub async fn agent_history(
    store: &impl ItemStore,
    agent_arn: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> PortResult<Vec<HistoryView>> {
    let query = Query {
        index: None,
        pk: agent_arn.to_owned(),
        // `~` sorts after every character of the kind and name that follow the start time.
        sk_between: Some((
            format!("{HISTORY_PREFIX}{}", canonical(&from)),
            format!("{HISTORY_PREFIX}{}#~", canonical(&to)),
        )),
        ..Query::default()
    };
    store.query(query).await?.into_iter().map(decode).collect()
}

/// An agent's current item, if any (a consistent read of one item).
pub async fn agent(store: &impl ItemStore, agent_arn: &str) -> PortResult<Option<AgentView>> {
    store.get(agent_arn, CURRENT_SK).await?.map(decode).transpose()
}

async fn index_query(store: &impl ItemStore, index: &'static str, pk: String) -> PortResult<Vec<AgentView>> {
    let items = store.query(Query { index: Some(index), pk, ..Query::default() }).await?;
    items.into_iter().map(decode).collect()
}
