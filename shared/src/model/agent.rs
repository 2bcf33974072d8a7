//! Agent event stream payloads (`Version` 2017-10-01 and 2019-05-25).
//!
//! Every field that Connect may omit or send as `null` is optional; unknown fields are ignored so newer payloads
//! (proficiencies, …) keep parsing. "On contact", "on hold" and "after contact work" are not statuses: they are
//! derived from [`AgentSnapshot::contacts`] by [`AgentSnapshot::activity`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{nullable, time};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum AgentEventType {
    Login,
    Logout,
    StateChange,
    HeartBeat,
    /// A type this code does not know yet (AWS adds types); consumers decide what to do with it.
    Other(String),
}

impl AgentEventType {
    pub fn parse(s: &str) -> Self {
        match s {
            "LOGIN" => Self::Login,
            "LOGOUT" => Self::Logout,
            "STATE_CHANGE" => Self::StateChange,
            "HEART_BEAT" => Self::HeartBeat,
            other => Self::Other(other.to_owned()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Self::Login => "LOGIN",
            Self::Logout => "LOGOUT",
            Self::StateChange => "STATE_CHANGE",
            Self::HeartBeat => "HEART_BEAT",
            Self::Other(s) => s,
        }
    }
    pub fn is_agent_event_type(s: &str) -> bool {
        matches!(s, "LOGIN" | "LOGOUT" | "STATE_CHANGE" | "HEART_BEAT")
    }
}

/// One agent event, as published on the agent event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    pub aws_account_id: Option<String>,
    pub agent_arn: String,
    pub event_id: String,
    pub event_timestamp: DateTime<Utc>,
    pub event_type: AgentEventType,
    pub instance_arn: Option<String>,
    pub version: Option<String>,
    pub current: Option<AgentSnapshot>,
    pub previous: Option<AgentSnapshot>,
}

impl AgentEvent {
    /// The total order used to decide which of two events is newer: timestamp, then event id.
    /// Its string form ([`AgentEvent::order_key`]) compares the same way byte for byte.
    pub fn order_key(&self) -> String {
        format!("{}#{}", time::canonical(&self.event_timestamp), self.event_id)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentSnapshot {
    #[serde(default)]
    pub agent_status: Option<AgentStatus>,
    #[serde(default)]
    pub next_agent_status: Option<NextAgentStatus>,
    #[serde(default)]
    pub configuration: Option<AgentConfiguration>,
    #[serde(default, deserialize_with = "nullable::vec")]
    pub contacts: Vec<SnapshotContact>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentStatus {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "time::opt")]
    pub start_timestamp: Option<DateTime<Utc>>,
    /// ROUTABLE, CUSTOM or OFFLINE (kept as text: AWS may add types).
    #[serde(rename = "Type", default)]
    pub status_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NextAgentStatus {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "time::opt")]
    pub enqueued_timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentConfiguration {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub agent_hierarchy_groups: Option<HierarchyGroups>,
    #[serde(default)]
    pub routing_profile: Option<RoutingProfile>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HierarchyGroups {
    #[serde(rename = "Level1", default)]
    pub level1: Option<NamedArn>,
    #[serde(rename = "Level2", default)]
    pub level2: Option<NamedArn>,
    #[serde(rename = "Level3", default)]
    pub level3: Option<NamedArn>,
    #[serde(rename = "Level4", default)]
    pub level4: Option<NamedArn>,
    #[serde(rename = "Level5", default)]
    pub level5: Option<NamedArn>,
}

impl HierarchyGroups {
    /// Group names for levels 1..=5 (`None` where the level is not set).
    pub fn names(&self) -> [Option<&str>; 5] {
        [&self.level1, &self.level2, &self.level3, &self.level4, &self.level5]
            .map(|l| l.as_ref().and_then(|g| g.name.as_deref()))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamedArn {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoutingProfile {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable::vec")]
    pub concurrency: Vec<Concurrency>,
    #[serde(default)]
    pub default_outbound_queue: Option<QueueRef>,
    #[serde(default, deserialize_with = "nullable::vec")]
    pub inbound_queues: Vec<QueueRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Concurrency {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub available_slots: Option<i64>,
    #[serde(default)]
    pub maximum_slots: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueRef {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable::vec")]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotContact {
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub initial_contact_id: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub initiation_method: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "time::opt")]
    pub state_start_timestamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time::opt")]
    pub connected_to_agent_timestamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time::opt")]
    pub queue_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub queue: Option<NamedArn>,
}

/// What the agent is doing, derived from status and contacts (Connect has no status for most of these).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Activity {
    Offline,
    Available,
    Incoming,
    OnContact,
    OnHold,
    AfterContactWork,
    Missed,
    Rejected,
    Error,
    /// A custom (non-routable) status such as "Break": its name.
    Custom(String),
}

impl Activity {
    pub fn label(&self) -> String {
        match self {
            Self::Offline => "OFFLINE".into(),
            Self::Available => "AVAILABLE".into(),
            Self::Incoming => "INCOMING".into(),
            Self::OnContact => "ON_CONTACT".into(),
            Self::OnHold => "ON_HOLD".into(),
            Self::AfterContactWork => "AFTER_CONTACT_WORK".into(),
            Self::Missed => "MISSED".into(),
            Self::Rejected => "REJECTED".into(),
            Self::Error => "ERROR".into(),
            Self::Custom(name) => name.clone(),
        }
    }
}

impl AgentSnapshot {
    pub fn status_name(&self) -> Option<&str> {
        self.agent_status.as_ref().and_then(|s| s.name.as_deref())
    }
    pub fn username(&self) -> Option<&str> {
        self.configuration.as_ref().and_then(|c| c.username.as_deref())
    }
    pub fn routing_profile(&self) -> Option<&RoutingProfile> {
        self.configuration.as_ref().and_then(|c| c.routing_profile.as_ref())
    }
    pub fn hierarchy_names(&self) -> [Option<&str>; 5] {
        self.configuration
            .as_ref()
            .and_then(|c| c.agent_hierarchy_groups.as_ref())
            .map(|h| h.names())
            .unwrap_or([None; 5])
    }

    /// The derived activity. Contact states outrank the status, the busiest contact wins:
    /// connected > on hold > incoming > after-contact work (ENDED) > missed > rejected/error.
    /// Without contacts: OFFLINE status type → Offline, ROUTABLE → Available, otherwise the custom status name.
    pub fn activity(&self) -> Activity {
        let rank = |state: &str| match state {
            "CONNECTED" => Some((7, Activity::OnContact)),
            "CONNECTED_ONHOLD" => Some((6, Activity::OnHold)),
            "PAUSED" => Some((6, Activity::OnHold)),
            "INCOMING" | "PENDING" | "CONNECTING" => Some((5, Activity::Incoming)),
            "ENDED" => Some((4, Activity::AfterContactWork)),
            "MISSED" => Some((3, Activity::Missed)),
            "REJECTED" => Some((2, Activity::Rejected)),
            "ERROR" => Some((1, Activity::Error)),
            _ => None,
        };
        if let Some((_, a)) =
            self.contacts.iter().filter_map(|c| c.state.as_deref().and_then(rank)).max_by_key(|(r, _)| *r)
        {
            return a;
        }
        match self.agent_status.as_ref() {
            None => Activity::Offline,
            Some(s) => match s.status_type.as_deref() {
                Some("OFFLINE") => Activity::Offline,
                Some("ROUTABLE") => Activity::Available,
                _ => Activity::Custom(s.name.clone().unwrap_or_else(|| "UNKNOWN".into())),
            },
        }
    }
}
