//! The evaluation engine: pure functions from Connect records — and, for the stateful rules, the state the handler
//! read from the table — to alert [`Candidate`]s. No I/O and no clock: the handler loads and saves the state and
//! delivers the candidates; the local replay tool can call these directly (`rules backtest`).
//!
//! Every candidate carries a deterministic [`AlertKey`] (rule, subject, episode): evaluating the same record twice
//! gives the same keys, which is what makes delivery exactly-once.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use shared::model::agent::SnapshotContact;
use shared::model::time::canonical;
use shared::model::{AgentEvent, AgentEventType, AnalysisSegment, ContactRecord};

use crate::rules::{MAX_WINDOW, Operator, Rule, RuleKind, Rules, SentimentTrigger};
use crate::scope::same;

// ---------------------------------------------------------------------------------------------------------------
// Facts: what is known about the agent and the contact an alert is about.

/// The agent side of an alert. From agent events directly; for segments through the contact→agent join.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFacts {
    /// The last path segment of the agent ARN (a UUID): what logs and keys carry.
    pub agent_id: String,
    pub username: Option<String>,
    pub routing_profile: Option<String>,
    /// Hierarchy group names, Level1..Level5.
    pub hierarchy: [Option<String>; 5],
    /// The routing profile's inbound queue names (agent-level alerts match `scope.queues` against these).
    pub queues: Vec<String>,
    /// The routing profile's channels (agent-level alerts match `scope.channels` against these).
    pub channels: Vec<String>,
}

/// The contact side of an alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFacts {
    pub contact_id: String,
    pub channel: Option<String>,
    pub queue: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `None` when the agent is not known (a segment whose contact is not joined to an agent yet).
    pub agent: Option<AgentFacts>,
    /// `None` for agent-level alerts (status rules).
    pub contact: Option<ContactFacts>,
}

/// The agent id (UUID) from an agent ARN `arn:aws:connect:…:instance/<id>/agent/<agent-id>`.
pub fn agent_id_of(agent_arn: &str) -> String {
    agent_arn.rsplit_once("/agent/").map(|(_, id)| id).unwrap_or(agent_arn).to_owned()
}

/// The agent facts of an agent event (current snapshot, else the previous one).
pub fn agent_facts(ev: &AgentEvent) -> AgentFacts {
    let snap = ev.current.as_ref().or(ev.previous.as_ref());
    let profile = snap.and_then(|s| s.routing_profile());
    let mut queues: Vec<String> = profile
        .map(|p| p.inbound_queues.iter().filter_map(|q| q.name.clone()).filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    queues.sort();
    queues.dedup();
    let mut channels: Vec<String> = profile
        .map(|p| {
            p.concurrency
                .iter()
                .filter_map(|c| c.channel.clone())
                .chain(p.inbound_queues.iter().flat_map(|q| q.channels.iter().cloned()))
                .collect()
        })
        .unwrap_or_default();
    channels.sort();
    channels.dedup();
    AgentFacts {
        agent_id: agent_id_of(&ev.agent_arn),
        username: snap.and_then(|s| s.username()).map(str::to_owned),
        routing_profile: profile.and_then(|p| p.name.clone()),
        hierarchy: snap.map(|s| s.hierarchy_names().map(|n| n.map(str::to_owned))).unwrap_or_default(),
        queues,
        channels,
    }
}

fn contact_facts(c: &SnapshotContact) -> Option<ContactFacts> {
    Some(ContactFacts {
        contact_id: c.contact_id.clone().filter(|id| !id.is_empty())?,
        channel: c.channel.clone(),
        queue: c.queue.as_ref().and_then(|q| q.name.clone()),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Candidates.

/// The deterministic identity of an alert: one alert per (rule, subject, episode).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertKey {
    pub rule: String,
    /// The agent id (agent rules) or the contact id (contact rules).
    pub subject: String,
    /// Which occurrence: a status start time, an ACW start time, a missed contact id, a category, `contact`.
    pub episode: String,
}

impl AlertKey {
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.rule, self.subject, self.episode)
    }
}

/// What the rule saw; goes into the alert body. Never transcript text, never a phone number.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    StatusEntered { status: String, since: Option<DateTime<Utc>> },
    StatusTooLong { status: String, since: DateTime<Utc>, lasted: TimeDelta, longer_than: TimeDelta },
    AcwTooLong { since: DateTime<Utc>, lasted: TimeDelta, longer_than: TimeDelta },
    MissedContacts { missed: usize, within: TimeDelta, count: u32 },
    NegativeSentiment { trigger: SentimentTrigger, consecutive: u32, negative_recent: usize, recent: usize },
    CategoryMatched { category: String },
    AttributeThreshold { attribute: String, value: f64, operator: Operator, threshold: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub key: AlertKey,
    /// Event time of the observation (cooldowns are measured in event time, so replays behave the same).
    pub at: DateTime<Utc>,
    pub facts: Facts,
    pub observed: Observed,
}

impl Candidate {
    /// The alert `rule` raises about `subject` (an agent or contact id) for `episode`.
    pub fn new(
        rule: &Rule,
        subject: &str,
        episode: String,
        at: DateTime<Utc>,
        facts: Facts,
        observed: Observed,
    ) -> Self {
        Self { key: AlertKey { rule: rule.name.clone(), subject: subject.to_owned(), episode }, at, facts, observed }
    }

    pub fn rule(&self) -> &str {
        &self.key.rule
    }
    /// Whom a cooldown is counted for: the agent when known, else the contact.
    pub fn cooldown_subject(&self) -> String {
        match (&self.facts.agent, &self.facts.contact) {
            (Some(a), _) => format!("agent:{}", a.agent_id),
            (None, Some(c)) => format!("contact:{}", c.contact_id),
            (None, None) => format!("subject:{}", self.key.subject),
        }
    }
}

/// Adds the candidate if its facts are in the scope of its rule.
fn push_if_in_scope(out: &mut Vec<Candidate>, rule: &Rule, candidate: Candidate) {
    if rule.scope.matches(&candidate.facts) {
        out.push(candidate);
    }
}

fn listed(statuses: &[String], name: &str) -> bool {
    statuses.iter().any(|s| same(s, name))
}

// ---------------------------------------------------------------------------------------------------------------
// The evaluation, by record kind, and of one key's records.

mod agent;
mod contact_records;
mod join;
mod key;
mod missed;
mod segments;

pub use agent::evaluate_agent_event;
pub use contact_records::{ctr_facts, evaluate_ctr};
pub use join::{ContactJoin, contact_joins, newest_joins};
pub use key::{KeyState, Needs, Versioned};
pub use missed::{MissedContact, evaluate_missed, merge_missed, missed_in_event};
pub use segments::{
    SegmentDetail, SentimentState, Turn, apply_turns, evaluate_categories, evaluate_sentiment, segment_detail,
    segment_facts, segment_holds,
};
