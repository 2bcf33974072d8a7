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

pub(crate) use crate::facts::contact_facts;
pub use crate::facts::{AgentFacts, ContactFacts, Facts, agent_facts, agent_id_of};

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
    /// Set when the alert is sent although late (a rule with `"late": "send_marked"`): why it is late.
    pub late: Option<String>,
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
        let key = AlertKey { rule: rule.name.clone(), subject: subject.to_owned(), episode };
        Self { key, at, facts, observed, late: None }
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
