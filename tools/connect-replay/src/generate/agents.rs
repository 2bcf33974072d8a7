//! The simulated agents and contacts the day is made of, and the small helpers that format their payload fields.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::*;

pub(super) const SEGMENT_TICK_SECS: i64 = 30;
pub(super) const HEARTBEAT_SECS: i64 = 120;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Action {
    Login,
    Logout,
    Heartbeat,
    StartBreak { minutes: i64 },
    EndBreak,
    ContactArrives,
    Connect(usize),
    Miss(usize),
    ClearMissed(usize),
    Hold(usize),
    Resume(usize),
    End(usize),
    AcwDone(usize),
    SegmentTick(usize),
    Republish(usize),
}

#[derive(Debug, Clone)]
pub(super) struct SimContact {
    pub(super) id: String,
    pub(super) channel: &'static str,
    pub(super) method: &'static str,
    pub(super) initial: Option<String>,
    pub(super) state: &'static str,
    pub(super) state_start: DateTime<Utc>,
    pub(super) queued_at: DateTime<Utc>,
    pub(super) connected_at: Option<DateTime<Utc>>,
    pub(super) ended_at: Option<DateTime<Utc>>,
    pub(super) holds: i64,
    pub(super) hold_secs: i64,
    pub(super) lens: bool,
    pub(super) angry: bool,
    pub(super) escalation: bool,
    pub(super) turns: usize,
    pub(super) neg_streak: usize,
    pub(super) offset_ms: i64,
    pub(super) acw_secs: i64,
    pub(super) ctr: Option<Value>,
}

pub(super) struct Team {
    pub(super) level1: &'static str,
    pub(super) level2: &'static str,
    pub(super) level3: &'static str,
    pub(super) profile: &'static str,
    pub(super) queue: &'static str,
    pub(super) channel: &'static str,
}

pub(super) const TEAMS: [Team; 4] = [
    Team {
        level1: "EMEA",
        level2: "Sales",
        level3: "Team Blue",
        profile: "Voice Sales",
        queue: "Sales",
        channel: "VOICE",
    },
    Team {
        level1: "EMEA",
        level2: "Support",
        level3: "Team Green",
        profile: "Chat Support",
        queue: "Support",
        channel: "CHAT",
    },
    Team {
        level1: "AMER",
        level2: "Support",
        level3: "Team Red",
        profile: "Voice Support",
        queue: "Support",
        channel: "VOICE",
    },
    Team {
        level1: "AMER",
        level2: "Billing",
        level3: "Team Gold",
        profile: "Voice Billing",
        queue: "Billing",
        channel: "VOICE",
    },
];

pub(super) const FIRST: [&str; 10] = ["Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo"];
pub(super) const LAST: [&str; 10] =
    ["Lopez", "Smith", "Wu", "Okafor", "Novak", "Khan", "Berg", "Sato", "Petrov", "Reed"];

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
pub(super) fn ts_s(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A random duration of `lo` to `hi` seconds (`hi` excluded).
pub(super) fn secs(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> Duration {
    Duration::seconds(rng.random_range(lo..hi))
}

pub(super) fn uuid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

pub(super) fn arn(kind: &str, id: &str) -> String {
    format!("{}/{kind}/{id}", instance_arn())
}

pub(super) fn named(kind: &str, name: &str) -> Value {
    // Stable ids derived from the name, so every snapshot of the day agrees.
    let id = format!(
        "{:08x}-0000-4000-8000-{:012x}",
        name.len(),
        name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) & 0xffff_ffff_ffff
    );
    json!({"ARN": arn(kind, &id), "Name": name})
}

pub(super) struct AgentSim {
    pub(super) id: String,
    pub(super) username: String,
    pub(super) first: &'static str,
    pub(super) last: &'static str,
    pub(super) team: usize,
    pub(super) status: (&'static str, &'static str, DateTime<Utc>),
    pub(super) contacts: Vec<SimContact>,
    pub(super) all_contacts: Vec<SimContact>,
    pub(super) logged_in: bool,
    pub(super) last_event: DateTime<Utc>,
    pub(super) shift_end: DateTime<Utc>,
    /// After logout, heartbeats stop here (set at logout); while logged in they never stop.
    pub(super) heartbeat_until: DateTime<Utc>,
    pub(super) prev_snapshot: Value,
    pub(super) pending: BinaryHeap<Reverse<(DateTime<Utc>, u64, Action)>>,
}

impl AgentSim {
    pub(super) fn arn(&self) -> String {
        arn("agent", &self.id)
    }
    pub(super) fn busy(&self) -> bool {
        !self.contacts.is_empty()
    }
    pub(super) fn max_slots(&self) -> usize {
        if TEAMS[self.team].channel == "CHAT" { 2 } else { 1 }
    }

    pub(super) fn snapshot(&self) -> Value {
        let team = &TEAMS[self.team];
        let status_arn = named("agent-state", self.status.0)["ARN"].clone();
        let contacts: Vec<Value> = self
            .contacts
            .iter()
            .map(|c| {
                json!({
                    "ContactId": c.id, "InitialContactId": c.initial, "Channel": c.channel, "InitiationMethod": c.method,
                    "State": c.state, "StateStartTimestamp": ts(c.state_start),
                    "ConnectedToAgentTimestamp": c.connected_at.map(ts), "QueueTimestamp": ts(c.queued_at),
                    "Queue": named("queue", team.queue),
                })
            })
            .collect();
        let slots = self.max_slots();
        json!({
            "AgentStatus": {"ARN": status_arn, "Name": self.status.0, "StartTimestamp": ts(self.status.2), "Type": self.status.1},
            "Configuration": {
                "AgentHierarchyGroups": {
                    "Level1": named("agent-group", team.level1), "Level2": named("agent-group", team.level2),
                    "Level3": named("agent-group", team.level3), "Level4": null, "Level5": null
                },
                "FirstName": self.first, "LastName": self.last, "Username": self.username,
                "RoutingProfile": {
                    "ARN": named("routing-profile", team.profile)["ARN"], "Name": team.profile,
                    "Concurrency": [{"Channel": team.channel, "AvailableSlots": slots.saturating_sub(self.contacts.len()), "MaximumSlots": slots}],
                    "DefaultOutboundQueue": {"ARN": named("queue", team.queue)["ARN"], "Name": team.queue, "Channels": [team.channel]},
                    "InboundQueues": [{"ARN": named("queue", team.queue)["ARN"], "Name": team.queue, "Channels": [team.channel]}]
                }
            },
            "Contacts": contacts,
        })
    }
}
