//! A seeded, realistic synthetic contact-centre day, produced lazily in time order with flat memory.
//!
//! Each agent is a small state machine with its own queue of pending actions (login, heartbeats every 120 s
//! when nothing else happened, breaks, contacts with ringing, holds, after-contact work, missed contacts,
//! logout, heartbeats for up to an hour after logout). A heap merges the agents by time. Contacts produce a
//! contact record when after-contact work ends (some republished later with a new attribute), and Contact Lens
//! segments while connected. A small share of records is duplicated, delayed (out of order) or invalid.
//! [`Truth`] keeps what the day implies, so tests can check what the functions made of it.

mod actions;
mod agents;
mod day;

pub use day::DayGenerator;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

pub const ACCOUNT: &str = "123456789012";
pub const INSTANCE_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-111111111111";

pub fn instance_arn() -> String {
    format!("arn:aws:connect:us-east-1:{ACCOUNT}:instance/{INSTANCE_ID}")
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    AgentEvents,
    ContactRecords,
    Segments,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::AgentEvents, Stream::ContactRecords, Stream::Segments];
    pub fn arn(self) -> String {
        let name = match self {
            Stream::AgentEvents => "connect-agent-events",
            Stream::ContactRecords => "connect-ctr",
            Stream::Segments => "connect-contact-lens",
        };
        format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}")
    }
}

/// One record for a stream: what a Kinesis producer would put.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRecord {
    pub stream: Stream,
    pub partition_key: String,
    pub data: Vec<u8>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct DayConfig {
    pub seed: u64,
    pub agents: usize,
    pub start: DateTime<Utc>,
    pub shift_minutes: i64,
    /// Share of records published twice.
    pub duplicate_rate: f64,
    /// Share of records delayed behind later ones.
    pub disorder_rate: f64,
    /// Invalid records added per good record.
    pub invalid_rate: f64,
}

impl Default for DayConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            agents: 50,
            start: DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            shift_minutes: 8 * 60,
            duplicate_rate: 0.005,
            disorder_rate: 0.005,
            invalid_rate: 0.001,
        }
    }
}

/// What the generated day implies.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub records: BTreeMap<Stream, usize>,
    pub contacts: usize,
    pub missed_contacts: usize,
    /// Every (ContactId, LastUpdateTimestamp) version of every contact record published.
    pub ctr_versions: BTreeSet<(String, String)>,
    pub republished: usize,
    /// (username, break start) of breaks that lasted over 16 minutes (a heartbeat falls after minute 15).
    pub long_breaks: Vec<(String, String)>,
    /// (username, contact id) of after-contact work periods over 8 minutes (so an event falls after minute 6).
    pub long_acw: Vec<(String, String)>,
    /// Contacts whose customer had 3 consecutive NEGATIVE turns.
    pub angry_contacts: BTreeSet<String>,
    pub escalation_contacts: BTreeSet<String>,
    pub duplicates: usize,
    pub delayed: usize,
    pub invalid: usize,
    /// Usernames of all agents; at the end of the day every one is logged out.
    pub agents: Vec<String>,
}

impl Truth {
    pub fn total(&self) -> usize {
        self.records.values().sum()
    }
}

/// Adds up the truth of consecutive days (counts summed, sets and lists joined).
impl std::ops::AddAssign<&Truth> for Truth {
    fn add_assign(&mut self, day: &Truth) {
        for (stream, n) in &day.records {
            *self.records.entry(*stream).or_default() += n;
        }
        self.contacts += day.contacts;
        self.missed_contacts += day.missed_contacts;
        self.ctr_versions.extend(day.ctr_versions.iter().cloned());
        self.republished += day.republished;
        self.long_breaks.extend(day.long_breaks.iter().cloned());
        self.long_acw.extend(day.long_acw.iter().cloned());
        self.angry_contacts.extend(day.angry_contacts.iter().cloned());
        self.escalation_contacts.extend(day.escalation_contacts.iter().cloned());
        self.duplicates += day.duplicates;
        self.delayed += day.delayed;
        self.invalid += day.invalid;
        self.agents.extend(day.agents.iter().cloned());
    }
}
