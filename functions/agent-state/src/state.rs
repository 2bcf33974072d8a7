//! What one agent event does to the table, as pure functions of the event.
//!
//! * [`effect`]: the event's update of the agent's current item — a set of attributes to SET and to REMOVE.
//!   Applying events one by one is applying their updates in order; [`Update::then`] composes two updates into
//!   one with the same effect (per attribute, the later operation wins), which is what makes one folded write per
//!   agent per batch exact.
//! * [`history`]: the history items an event finishes (a status episode, after-contact-work periods).
//!
//! What each event type writes:
//!
//! | event | snapshot attributes, activity, index keys, `event_order`, `last_event_*`, `expires_at` | `logged_in`, `login_at` / `logout_at`, `session_order` | `last_heartbeat_at` |
//! |---|---|---|---|
//! | LOGIN | SET | SET (true, `login_at`) | – |
//! | LOGOUT | SET | SET (false, `logout_at`) | – |
//! | STATE_CHANGE | SET | – | – |
//! | HEART_BEAT | SET | – | SET |
//!
//! So a heartbeat after a logout refreshes the snapshot (status Offline) but leaves the agent logged out, and a
//! LOGIN after a LOGOUT logs it in again. An agent first seen through a HEART_BEAT or STATE_CHANGE gets no session
//! attributes: nothing in those events says whether the agent is logged in (heartbeats continue after logout), so the
//! item says "not known" and [`crate::table::AgentView::is_logged_in`] infers it from the activity until a LOGIN or
//! LOGOUT arrives. Unknown event types are not applied at all (see [`crate::handler`]).
//!
//! `activity_start` (and gsi3sk): for an activity derived from contacts, the earliest `StateStartTimestamp` of the
//! contacts in the deciding state; for a status-derived activity (AVAILABLE, OFFLINE, custom), the status
//! `StartTimestamp` when the status changed (or the event has no previous snapshot), the event time when the status
//! stayed and the contacts left (ACW finished, missed contact cleared); events that change neither (heartbeats,
//! configuration changes) leave it as it is. An agent first seen through such an event has no `activity_start`, and
//! so no by-activity entry, until its activity next changes.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use shared::model::agent::{Activity, AgentConfiguration, AgentEvent, AgentEventType, AgentSnapshot, SnapshotContact};
use shared::model::time::canonical;
use shared::ports::Item;

use crate::config::Settings;
use crate::table::{HISTORY_PREFIX, activity_partition, attr};

/// An update of one item: attributes to SET and attributes to REMOVE (disjoint).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Item,
    pub remove: BTreeSet<&'static str>,
}

impl Update {
    pub fn set(&mut self, name: &'static str, value: impl Into<Value>) {
        self.remove.remove(name);
        self.set.insert(name.to_owned(), value.into());
    }

    pub fn remove(&mut self, name: &'static str) {
        self.set.remove(name);
        self.remove.insert(name);
    }

    /// SET when there is a value, REMOVE when there is none.
    pub fn set_or_remove(&mut self, name: &'static str, value: Option<Value>) {
        match value {
            Some(v) => self.set(name, v),
            None => self.remove(name),
        }
    }

    /// Composes `self` then `later` into one update with the same effect on any item.
    pub fn then(&mut self, later: &Update) {
        for name in &later.remove {
            self.set.remove(*name);
            self.remove.insert(*name);
        }
        for (name, value) in &later.set {
            self.remove.remove(name.as_str());
            self.set.insert(name.clone(), value.clone());
        }
    }

    /// `updates` composed in order, as `then` one after another would compose them. Per attribute the latest
    /// operation wins, so this walks from the newest and keeps the first operation it meets on each attribute: one
    /// clone per attribute instead of one per update and attribute (the fold of a batch's events per agent).
    pub fn compose<'a>(updates: impl DoubleEndedIterator<Item = &'a Update>) -> Update {
        let mut out = Update::default();
        for update in updates.rev() {
            for name in &update.remove {
                if !out.set.contains_key(*name) {
                    out.remove.insert(*name);
                }
            }
            for (name, value) in &update.set {
                if !out.remove.contains(name.as_str()) && !out.set.contains_key(name) {
                    out.set.insert(name.clone(), value.clone());
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// Whether the update SETs or REMOVEs `name`.
    pub fn decides(&self, name: &str) -> bool {
        self.set.contains_key(name) || self.remove.contains(name)
    }

    /// Moves `older`'s operations on attributes this update does not decide into it (composing `older` then
    /// `self`), leaving `older` empty.
    pub fn keep_decided(&mut self, older: &mut Update) {
        for name in std::mem::take(&mut older.remove) {
            if !self.set.contains_key(name) {
                self.remove.insert(name);
            }
        }
        for (name, value) in std::mem::take(&mut older.set) {
            if !self.remove.contains(name.as_str()) {
                self.set.entry(name).or_insert(value);
            }
        }
    }

    pub fn remove_list(&self) -> Vec<&'static str> {
        self.remove.iter().copied().collect()
    }
}

/// The instance ARN of an event: `InstanceARN`, else the prefix of the agent ARN (`…:instance/<id>/agent/<id>`).
pub fn instance_arn(event: &AgentEvent) -> &str {
    match event.instance_arn.as_deref().filter(|s| !s.is_empty()) {
        Some(arn) => arn,
        None => event.agent_arn.split_once("/agent/").map_or(event.agent_arn.as_str(), |(i, _)| i),
    }
}

/// The parts of an event's update of the current item. Each touches (SETs or REMOVEs) only the attributes it lists
/// — [`Part::apply`] writes them, [`Part::ATTRIBUTES`] names them, a test holds the two together — and an event's
/// [`effect`] is its parts applied in this order (in one event, each attribute is touched by at most one part: Login
/// and Logout share attributes but never apply to the same event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every event: identity, ordering, `last_event_*`, schema version, expiry.
    Base,
    /// An event with a snapshot: status, next status, contacts, activity (and its index partition).
    Snapshot,
    /// A snapshot that says when its activity started (see the module docs).
    ActivityStart,
    /// A snapshot with a configuration: names, routing profile, concurrency, hierarchy (and their index keys).
    Configuration,
    Login,
    Logout,
    Heartbeat,
}

impl Part {
    pub const ALL: [Part; 7] = [
        Part::Base,
        Part::Snapshot,
        Part::ActivityStart,
        Part::Configuration,
        Part::Login,
        Part::Logout,
        Part::Heartbeat,
    ];

    /// The attributes the part may touch.
    pub const fn attributes(self) -> &'static [&'static str] {
        match self {
            Part::Base => &[
                attr::AGENT_ARN,
                attr::INSTANCE_ARN,
                attr::GSI1PK,
                attr::EVENT_ORDER,
                attr::LAST_EVENT_AT,
                attr::LAST_EVENT_ID,
                attr::LAST_EVENT_TYPE,
                attr::SCHEMA_VERSION,
                attr::EXPIRES_AT,
            ],
            Part::Snapshot => &[attr::STATUS, attr::NEXT_STATUS, attr::CONTACTS, attr::GSI3PK, attr::ACTIVITY],
            Part::ActivityStart => &[attr::ACTIVITY_START, attr::GSI3SK],
            Part::Configuration => &[
                attr::USERNAME,
                attr::FIRST_NAME,
                attr::LAST_NAME,
                attr::GSI1SK,
                attr::ROUTING_PROFILE,
                attr::GSI2PK,
                attr::GSI2SK,
                attr::CONCURRENCY,
                attr::HIERARCHY,
            ],
            Part::Login => &[attr::LOGGED_IN, attr::LOGIN_AT, attr::SESSION_ORDER],
            Part::Logout => &[attr::LOGGED_IN, attr::LOGOUT_AT, attr::SESSION_ORDER],
            Part::Heartbeat => &[attr::LAST_HEARTBEAT_AT],
        }
    }

    /// Writes the part of `event`'s update into `u` (nothing when the part does not concern the event).
    pub fn apply(self, u: &mut Update, event: &AgentEvent, settings: &Settings) {
        let at = || canonical(&event.event_timestamp);
        match self {
            Part::Base => {
                let instance = instance_arn(event);
                u.set(attr::AGENT_ARN, event.agent_arn.as_str());
                u.set(attr::INSTANCE_ARN, instance);
                u.set(attr::GSI1PK, instance);
                u.set(attr::EVENT_ORDER, event.order_key());
                u.set(attr::LAST_EVENT_AT, at());
                u.set(attr::LAST_EVENT_ID, event.event_id.as_str());
                u.set(attr::LAST_EVENT_TYPE, event.event_type.as_str());
                u.set_or_remove(attr::SCHEMA_VERSION, event.version.clone().map(Value::from));
                let expires = event.event_timestamp + Duration::hours(i64::from(settings.agent_ttl_hours));
                u.set(attr::EXPIRES_AT, expires.timestamp());
            }
            // A snapshot is the whole truth about the agent at event time: what it does not hold is removed. A
            // missing snapshot (or configuration) says nothing, so it changes nothing.
            Part::Snapshot => {
                if let Some(current) = &event.current {
                    snapshot_attributes(u, current, instance_arn(event));
                }
            }
            Part::ActivityStart => {
                if let Some(current) = &event.current
                    && let Some(start) = activity_start(event, current, &current.activity())
                {
                    u.set(attr::ACTIVITY_START, time(&start));
                    u.set(attr::GSI3SK, time(&start));
                }
            }
            Part::Configuration => {
                if let Some(current) = &event.current
                    && let Some(config) = &current.configuration
                {
                    configuration_attributes(u, event, current, config);
                }
            }
            Part::Login | Part::Logout => {
                let (part, logged_in, name) = match event.event_type {
                    AgentEventType::Login => (Part::Login, true, attr::LOGIN_AT),
                    AgentEventType::Logout => (Part::Logout, false, attr::LOGOUT_AT),
                    _ => return,
                };
                if part == self {
                    u.set(attr::LOGGED_IN, logged_in);
                    u.set(name, at());
                    u.set(attr::SESSION_ORDER, event.order_key());
                }
            }
            Part::Heartbeat => {
                if event.event_type == AgentEventType::HeartBeat {
                    u.set(attr::LAST_HEARTBEAT_AT, at());
                }
            }
        }
    }
}

/// The event's update of the agent's current item: its [`Part`]s.
pub fn effect(event: &AgentEvent, settings: &Settings) -> Update {
    let mut u = Update::default();
    for part in Part::ALL {
        part.apply(&mut u, event, settings);
    }
    u
}

/// The updates of `events` (oldest first) composed in order — what [`Update::compose`] of their [`effect`]s gives —
/// without building every event's update: walking from the newest, a part is skipped once every attribute it may
/// touch is decided by a newer event. A batch holding many events of one agent (heartbeats every few seconds) so
/// builds about one full update per agent instead of one per event.
pub fn fold<'a>(events: impl DoubleEndedIterator<Item = &'a AgentEvent>, settings: &Settings) -> Update {
    let mut out = Update::default();
    let mut decided = [false; Part::ALL.len()];
    let mut part_update = Update::default();
    for event in events.rev() {
        for (i, part) in Part::ALL.into_iter().enumerate() {
            if decided[i] {
                continue;
            }
            part.apply(&mut part_update, event, settings);
            if part_update.is_empty() {
                continue;
            }
            out.keep_decided(&mut part_update);
            decided[i] = part.attributes().iter().all(|name| out.decides(name));
        }
        if decided.iter().all(|d| *d) {
            break;
        }
    }
    out
}

/// The session part of a LOGIN or LOGOUT alone. Written on its own, conditioned on `session_order`, when the event
/// is older than the item but newer than its session attributes (a LOGIN delivered after a newer heartbeat).
pub fn session_effect(event: &AgentEvent, settings: &Settings) -> Update {
    let mut u = Update::default();
    Part::Login.apply(&mut u, event, settings);
    Part::Logout.apply(&mut u, event, settings);
    u
}

pub fn is_session_event(event: &AgentEvent) -> bool {
    matches!(event.event_type, AgentEventType::Login | AgentEventType::Logout)
}

fn snapshot_attributes(u: &mut Update, current: &AgentSnapshot, instance: &str) {
    u.set_or_remove(
        attr::STATUS,
        current.agent_status.as_ref().map(|s| {
            object([
                ("name", s.name.clone().map(Value::from)),
                ("type", s.status_type.clone().map(Value::from)),
                ("arn", s.arn.clone().map(Value::from)),
                ("start", s.start_timestamp.as_ref().map(time)),
            ])
        }),
    );
    u.set_or_remove(
        attr::NEXT_STATUS,
        current.next_agent_status.as_ref().map(|s| {
            object([
                ("name", s.name.clone().map(Value::from)),
                ("arn", s.arn.clone().map(Value::from)),
                ("enqueued_at", s.enqueued_timestamp.as_ref().map(time)),
            ])
        }),
    );
    u.set(attr::CONTACTS, Value::Array(current.contacts.iter().map(contact).collect()));

    let label = current.activity().label();
    u.set(attr::GSI3PK, activity_partition(instance, &label));
    u.set(attr::ACTIVITY, label);
}

fn configuration_attributes(u: &mut Update, event: &AgentEvent, current: &AgentSnapshot, config: &AgentConfiguration) {
    let username = non_empty(&config.username);
    u.set_or_remove(attr::USERNAME, username.map(Value::from));
    u.set_or_remove(attr::FIRST_NAME, config.first_name.clone().map(Value::from));
    u.set_or_remove(attr::LAST_NAME, config.last_name.clone().map(Value::from));
    // Index sort keys must be non-empty strings: an agent without a username sorts by its ARN.
    let sort_name = username.unwrap_or(event.agent_arn.as_str());
    u.set(attr::GSI1SK, sort_name);

    let profile = config.routing_profile.as_ref();
    u.set_or_remove(
        attr::ROUTING_PROFILE,
        profile.map(|p| object([("arn", p.arn.clone().map(Value::from)), ("name", p.name.clone().map(Value::from))])),
    );
    match profile.and_then(|p| non_empty(&p.arn)) {
        Some(arn) => {
            u.set(attr::GSI2PK, arn);
            u.set(attr::GSI2SK, sort_name);
        }
        None => {
            u.remove(attr::GSI2PK);
            u.remove(attr::GSI2SK);
        }
    }
    let slots: Map<String, Value> = profile
        .map(|p| p.concurrency.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            let channel = non_empty(&c.channel)?;
            let slots = object([
                ("available", c.available_slots.map(Value::from)),
                ("maximum", c.maximum_slots.map(Value::from)),
            ]);
            Some((channel.to_owned(), slots))
        })
        .collect();
    u.set_or_remove(attr::CONCURRENCY, (!slots.is_empty()).then_some(Value::Object(slots)));
    let levels: Map<String, Value> = current
        .hierarchy_names()
        .iter()
        .enumerate()
        .filter_map(|(i, name)| name.map(|n| (format!("level{}", i + 1), Value::from(n))))
        .collect();
    u.set_or_remove(attr::HIERARCHY, (!levels.is_empty()).then_some(Value::Object(levels)));
}

fn contact(c: &SnapshotContact) -> Value {
    let queue = c.queue.as_ref();
    object([
        ("contact_id", c.contact_id.clone().map(Value::from)),
        ("initial_contact_id", c.initial_contact_id.clone().map(Value::from)),
        ("channel", c.channel.clone().map(Value::from)),
        ("state", c.state.clone().map(Value::from)),
        ("state_start", c.state_start_timestamp.as_ref().map(time)),
        ("initiation_method", c.initiation_method.clone().map(Value::from)),
        ("queue_arn", queue.and_then(|q| q.arn.clone()).map(Value::from)),
        ("queue_name", queue.and_then(|q| q.name.clone()).map(Value::from)),
        ("connected_at", c.connected_to_agent_timestamp.as_ref().map(time)),
        ("queued_at", c.queue_timestamp.as_ref().map(time)),
    ])
}

/// The activity a contact state stands for (the ranking itself is `AgentSnapshot::activity`).
fn contact_activity(state: &str) -> Option<Activity> {
    Some(match state {
        "CONNECTED" => Activity::OnContact,
        "CONNECTED_ONHOLD" | "PAUSED" => Activity::OnHold,
        "INCOMING" | "PENDING" | "CONNECTING" => Activity::Incoming,
        "ENDED" => Activity::AfterContactWork,
        "MISSED" => Activity::Missed,
        "REJECTED" => Activity::Rejected,
        "ERROR" => Activity::Error,
        _ => return None,
    })
}

/// When the snapshot's activity started, or `None` when the event does not tell (see the module docs).
pub fn activity_start(event: &AgentEvent, current: &AgentSnapshot, activity: &Activity) -> Option<DateTime<Utc>> {
    let deciding: Vec<&SnapshotContact> = current
        .contacts
        .iter()
        .filter(|c| c.state.as_deref().and_then(contact_activity).as_ref() == Some(activity))
        .collect();
    if !deciding.is_empty() {
        let start = deciding.iter().filter_map(|c| c.state_start_timestamp).min();
        return Some(start.unwrap_or(event.event_timestamp));
    }
    let status = |s: &AgentSnapshot| s.agent_status.as_ref().map(|a| (a.name.clone(), a.start_timestamp));
    let status_start = current.agent_status.as_ref().and_then(|s| s.start_timestamp).unwrap_or(event.event_timestamp);
    match &event.previous {
        None => Some(status_start),
        Some(previous) if status(previous) != status(current) => Some(status_start),
        Some(previous) if previous.activity() == *activity => None,
        Some(_) => Some(event.event_timestamp),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// History.

/// The history items the event finishes, compared with `previous`: the event's `PreviousAgentSnapshot`, or — when
/// Connect sent none (LOGIN, LOGOUT) — the snapshot of the event it is known to have replaced (the handler passes
/// the agent's preceding event when one write applies both).
///
/// * A status episode ends when a STATE_CHANGE or LOGOUT shows another status (name or start time) than the
///   previous snapshot: the previous status, from its start to the new status' start (or the event time).
/// * An after-contact-work period ends when a contact that was ENDED in the previous snapshot is gone from the
///   current one: from its `StateStartTimestamp` to the event time.
///
/// Every field is a function of the two snapshots and the event time, so redelivery rewrites identical items.
pub fn history(event: &AgentEvent, previous: Option<&AgentSnapshot>, settings: &Settings) -> Vec<Item> {
    let (Some(previous), Some(current)) = (previous, event.current.as_ref()) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    let username = current.username().or(previous.username());

    if matches!(event.event_type, AgentEventType::StateChange | AgentEventType::Logout)
        && let Some(before) = &previous.agent_status
        && let Some(start) = before.start_timestamp
    {
        let after = current.agent_status.as_ref();
        let changed = after.is_none_or(|a| a.name != before.name || a.start_timestamp != before.start_timestamp);
        let end = after.and_then(|a| a.start_timestamp).unwrap_or(event.event_timestamp);
        if changed && end >= start {
            let name = before.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "UNKNOWN".to_owned());
            let mut item = history_item(event, username, "STATUS", &name, start, end, settings);
            insert_opt(&mut item, attr::STATUS_TYPE, before.status_type.clone());
            insert_opt(&mut item, attr::STATUS_ARN, before.arn.clone());
            items.push(item);
        }
    }

    for ended in previous.contacts.iter().filter(|c| c.state.as_deref() == Some("ENDED")) {
        let (Some(id), Some(start)) = (non_empty(&ended.contact_id), ended.state_start_timestamp) else {
            continue;
        };
        let still_there = current.contacts.iter().any(|c| c.contact_id.as_deref() == Some(id));
        if still_there || event.event_timestamp < start {
            continue;
        }
        let mut item = history_item(event, username, "ACW", id, start, event.event_timestamp, settings);
        item.insert(attr::CONTACT_ID.into(), id.into());
        insert_opt(&mut item, attr::CHANNEL, ended.channel.clone());
        insert_opt(&mut item, attr::QUEUE_ARN, ended.queue.as_ref().and_then(|q| q.arn.clone()));
        insert_opt(&mut item, attr::QUEUE_NAME, ended.queue.as_ref().and_then(|q| q.name.clone()));
        items.push(item);
    }
    items
}

/// The sort key of a history item.
pub fn history_sk(start: &DateTime<Utc>, kind: &str, name: &str) -> String {
    format!("{HISTORY_PREFIX}{}#{kind}#{name}", canonical(start))
}

fn history_item(
    event: &AgentEvent,
    username: Option<&str>,
    kind: &str,
    name: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    settings: &Settings,
) -> Item {
    let expires = end + Duration::days(i64::from(settings.history_ttl_days));
    let mut item = Item::new();
    item.insert(attr::PK.into(), event.agent_arn.clone().into());
    item.insert(attr::SK.into(), history_sk(&start, kind, name).into());
    item.insert(attr::AGENT_ARN.into(), event.agent_arn.clone().into());
    item.insert(attr::INSTANCE_ARN.into(), instance_arn(event).into());
    insert_opt(&mut item, attr::USERNAME, username.map(str::to_owned));
    item.insert(attr::KIND.into(), kind.into());
    item.insert(attr::NAME.into(), name.into());
    item.insert(attr::START.into(), time(&start));
    item.insert(attr::END.into(), time(&end));
    item.insert(attr::DURATION_MS.into(), (end - start).num_milliseconds().into());
    item.insert(attr::EXPIRES_AT.into(), expires.timestamp().into());
    item
}

/// The key of an item (`pk`, `sk`), for de-duplicating batch writes.
pub fn item_key(item: &Item) -> (String, String) {
    let s = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    (s(attr::PK), s(attr::SK))
}

// ---------------------------------------------------------------------------------------------------------------

fn time(t: &DateTime<Utc>) -> Value {
    Value::String(canonical(t))
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// A map of the present values only (DynamoDB gets no NULLs from here).
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).collect())
}

fn insert_opt(item: &mut Item, name: &str, value: Option<String>) {
    if let Some(v) = value {
        item.insert(name.to_owned(), Value::String(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composing_updates_lets_the_later_operation_win() {
        let mut a = Update::default();
        a.set("x", 1);
        a.set("y", 1);
        a.remove("z");
        let mut b = Update::default();
        b.remove("x");
        b.set("z", 2);
        a.then(&b);
        assert_eq!(a.set.get("y"), Some(&Value::from(1)));
        assert_eq!(a.set.get("z"), Some(&Value::from(2)));
        assert!(!a.set.contains_key("x"));
        assert_eq!(a.remove_list(), vec!["x"]);
    }

    proptest::proptest! {
        /// `compose` of any sequence of updates equals composing them one after another with `then`.
        #[test]
        fn compose_equals_then_one_after_another(
            ops in proptest::collection::vec(proptest::collection::vec((0usize..6, proptest::option::of(0i64..4)), 0..6), 0..8)
        ) {
            const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
            let updates: Vec<Update> = ops
                .iter()
                .map(|u| {
                    let mut update = Update::default();
                    for (name, value) in u {
                        update.set_or_remove(NAMES[*name], value.map(Value::from));
                    }
                    update
                })
                .collect();
            let mut expected = Update::default();
            for u in &updates {
                expected.then(u);
            }
            proptest::prop_assert_eq!(Update::compose(updates.iter()), expected);
        }
    }
}
