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

fn push_if_in_scope(out: &mut Vec<Candidate>, rule: &Rule, candidate: Candidate) {
    if rule.scope.matches(&candidate.facts) {
        out.push(candidate);
    }
}

fn listed(statuses: &[String], name: &str) -> bool {
    statuses.iter().any(|s| same(s, name))
}

// ---------------------------------------------------------------------------------------------------------------
// Agent events: status_entered, status_too_long, acw_too_long (no state needed).

/// Candidates of the agent rules that need no state. Heartbeats count: `status_too_long` and `acw_too_long` are
/// evaluated on every event of the agent, from the start times in the snapshot.
pub fn evaluate_agent_event(rules: &Rules, ev: &AgentEvent) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Some(current) = ev.current.as_ref() else {
        return out;
    };
    let agent = agent_facts(ev);
    let status = current.agent_status.as_ref();
    let status_name = status.and_then(|s| s.name.as_deref()).map(str::trim).filter(|s| !s.is_empty());
    let status_start = status.and_then(|s| s.start_timestamp);
    let previous_status = ev.previous.as_ref().and_then(|p| p.agent_status.as_ref());
    let entered = ev.event_type != AgentEventType::HeartBeat
        && previous_status
            .is_none_or(|p| p.name.as_deref().map(str::trim) != status_name || p.start_timestamp != status_start);
    let agent_only = Facts { agent: Some(agent.clone()), contact: None };

    for rule in &rules.rules {
        match &rule.kind {
            RuleKind::StatusEntered { statuses } => {
                if let Some(name) = status_name
                    && entered
                    && listed(statuses, name)
                {
                    let episode = canonical(&status_start.unwrap_or(ev.event_timestamp));
                    push_if_in_scope(
                        &mut out,
                        rule,
                        Candidate {
                            key: AlertKey { rule: rule.name.clone(), subject: agent.agent_id.clone(), episode },
                            at: ev.event_timestamp,
                            facts: agent_only.clone(),
                            observed: Observed::StatusEntered { status: name.to_owned(), since: status_start },
                        },
                    );
                }
            }
            RuleKind::StatusTooLong { statuses, longer_than } => {
                if let (Some(name), Some(since)) = (status_name, status_start)
                    && listed(statuses, name)
                {
                    let lasted = ev.event_timestamp - since;
                    if lasted > *longer_than {
                        push_if_in_scope(
                            &mut out,
                            rule,
                            Candidate {
                                key: AlertKey {
                                    rule: rule.name.clone(),
                                    subject: agent.agent_id.clone(),
                                    episode: canonical(&since),
                                },
                                at: ev.event_timestamp,
                                facts: agent_only.clone(),
                                observed: Observed::StatusTooLong {
                                    status: name.to_owned(),
                                    since,
                                    lasted,
                                    longer_than: *longer_than,
                                },
                            },
                        );
                    }
                }
            }
            RuleKind::AcwTooLong { longer_than } => {
                for c in current.contacts.iter().filter(|c| c.state.as_deref() == Some("ENDED")) {
                    let (Some(since), Some(contact)) = (c.state_start_timestamp, contact_facts(c)) else {
                        continue;
                    };
                    let lasted = ev.event_timestamp - since;
                    if lasted > *longer_than {
                        push_if_in_scope(
                            &mut out,
                            rule,
                            Candidate {
                                key: AlertKey {
                                    rule: rule.name.clone(),
                                    subject: contact.contact_id.clone(),
                                    episode: canonical(&since),
                                },
                                at: ev.event_timestamp,
                                facts: Facts { agent: Some(agent.clone()), contact: Some(contact) },
                                observed: Observed::AcwTooLong { since, lasted, longer_than: *longer_than },
                            },
                        );
                    }
                }
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Missed contacts: a bounded window of missed/rejected contacts per agent.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedContact {
    #[serde(rename = "id")]
    pub contact_id: String,
    pub at: DateTime<Utc>,
}

/// Contacts the agent missed or rejected, as this event shows them (time: the contact's state start).
pub fn missed_in_event(ev: &AgentEvent) -> Vec<MissedContact> {
    let Some(current) = ev.current.as_ref() else {
        return Vec::new();
    };
    current
        .contacts
        .iter()
        .filter(|c| matches!(c.state.as_deref(), Some("MISSED" | "REJECTED")))
        .filter_map(|c| {
            Some(MissedContact {
                contact_id: c.contact_id.clone().filter(|id| !id.is_empty())?,
                at: c.state_start_timestamp.unwrap_or(ev.event_timestamp),
            })
        })
        .collect()
}

/// Adds contacts to the window (a contact counts once, however many events show it), keeps the ones within
/// `keep` of the newest and at most [`MAX_WINDOW`]. Returns whether the window changed.
pub fn merge_missed(window: &mut Vec<MissedContact>, new: &[MissedContact], keep: TimeDelta) -> bool {
    let before = window.clone();
    for m in new {
        if !window.iter().any(|w| w.contact_id == m.contact_id) {
            window.push(m.clone());
        }
    }
    window.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.contact_id.cmp(&b.contact_id)));
    if let Some(newest) = window.last().map(|m| m.at) {
        window.retain(|m| newest - m.at <= keep);
    }
    let excess = window.len().saturating_sub(MAX_WINDOW as usize);
    window.drain(..excess);
    *window != before
}

/// Candidates of the missed-contacts rules for the missed contacts this event shows, against the merged window.
/// The episode is the missed contact that reached the count, so re-evaluating the event gives the same alert.
pub fn evaluate_missed(rules: &Rules, ev: &AgentEvent, window: &[MissedContact]) -> Vec<Candidate> {
    let mut out = Vec::new();
    let agent = agent_facts(ev);
    let contacts: BTreeMap<String, &SnapshotContact> =
        ev.current.iter().flat_map(|s| s.contacts.iter()).filter_map(|c| Some((c.contact_id.clone()?, c))).collect();
    for m in missed_in_event(ev) {
        for rule in &rules.rules {
            let RuleKind::MissedContacts { count, within } = rule.kind else {
                continue;
            };
            let missed = window.iter().filter(|w| w.at <= m.at && m.at - w.at < within).count();
            if missed < count as usize {
                continue;
            }
            let contact = contacts.get(&m.contact_id).and_then(|c| contact_facts(c));
            push_if_in_scope(
                &mut out,
                rule,
                Candidate {
                    key: AlertKey {
                        rule: rule.name.clone(),
                        subject: agent.agent_id.clone(),
                        episode: m.contact_id.clone(),
                    },
                    at: ev.event_timestamp,
                    facts: Facts { agent: Some(agent.clone()), contact },
                    observed: Observed::MissedContacts { missed, within, count },
                },
            );
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// The contact→agent join.

/// What agent events say about a contact's agent; stored per contact id so segments can be scoped and named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactJoin {
    pub contact_id: String,
    pub agent: AgentFacts,
    pub channel: Option<String>,
    pub queue: Option<String>,
    /// The agent event's order key (timestamp#event id) that wrote it.
    pub seen: String,
}

/// One join per contact in the event's current snapshot.
pub fn contact_joins(ev: &AgentEvent) -> Vec<ContactJoin> {
    let Some(current) = ev.current.as_ref() else {
        return Vec::new();
    };
    let agent = agent_facts(ev);
    current
        .contacts
        .iter()
        .filter_map(contact_facts)
        .map(|c| ContactJoin {
            contact_id: c.contact_id,
            agent: AgentFacts { queues: Vec::new(), channels: Vec::new(), ..agent.clone() },
            channel: c.channel,
            queue: c.queue,
            seen: ev.order_key(),
        })
        .collect()
}

/// The contact→agent links of a batch's agent events (`(record index, event)`), one per contact: the newest by the
/// event's order key wins (on a tie, the later record). Each link comes with the index of the record it is from.
pub fn newest_links<'a>(events: impl IntoIterator<Item = (usize, &'a AgentEvent)>) -> Vec<(usize, ContactJoin)> {
    let mut newest: BTreeMap<String, (usize, ContactJoin)> = BTreeMap::new();
    for (i, ev) in events {
        for join in contact_joins(ev) {
            if newest.get(&join.contact_id).is_some_and(|(_, held)| held.seen > join.seen) {
                continue;
            }
            newest.insert(join.contact_id.clone(), (i, join));
        }
    }
    newest.into_values().collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Contact Lens segments.

/// One finished customer turn: its sentiment label and its position in the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Sortable position: `o<BeginOffsetMillis>` (voice) or `t<AbsoluteTime>` (chat). Turns at or before the last
    /// applied position are skipped, so a redelivered record (or the Raw and Redacted copies of a chat record) is
    /// counted once. `None` when the payload has neither (then the turn is always counted).
    pub position: Option<String>,
    pub negative: bool,
}

/// What a SEGMENTS record holds for the rules: customer turns (labels only, never text) and matched categories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentDetail {
    pub turns: Vec<Turn>,
    pub categories: Vec<String>,
    /// The newest chat `AbsoluteTime`, if any (voice segments carry only offsets).
    pub last_time: Option<DateTime<Utc>>,
}

/// Reads the turns and categories of a segment record from the parsed model (no text is copied out).
///
/// A turn counts when it is a CUSTOMER transcript with a sentiment label. Its position is voice's
/// `BeginOffsetMillis` or else chat's `Time.AbsoluteTime`; categories come from `MatchedCategories` and the keys of
/// `MatchedDetails`, each name once, in record order.
pub fn segment_detail(seg: &AnalysisSegment) -> SegmentDetail {
    let mut out =
        SegmentDetail { categories: seg.matched_categories().map(str::to_owned).collect(), ..SegmentDetail::default() };
    for t in seg.segments.iter().filter_map(|s| s.transcript.as_ref()) {
        if t.participant_role.as_deref() != Some("CUSTOMER") {
            continue;
        }
        let Some(label) = t.sentiment.as_deref() else {
            continue;
        };
        let time = t.absolute_time();
        out.last_time = out.last_time.max(time);
        let position = match (t.begin_offset_millis, time) {
            (Some(ms), _) => Some(format!("o{:020}", ms.max(0))),
            (None, Some(time)) => Some(format!("t{}", canonical(&time))),
            (None, None) => None,
        };
        out.turns.push(Turn { position, negative: label == "NEGATIVE" });
    }
    out
}

/// Per-contact sentiment state, bounded: the last N labels (N = the largest `over_last`), a run length, and the
/// sentiment rules whose condition has been met on this contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentimentState {
    /// One character per recent customer turn, oldest first: `N` negative, `.` anything else.
    pub recent: String,
    /// NEGATIVE customer turns in a row, up to now.
    pub consecutive: u32,
    pub turns: u64,
    pub last_position: Option<String>,
    /// Names of the sentiment rules met on this contact (each alerts once per contact).
    pub met: Vec<String>,
}

impl SentimentState {
    fn negative_in_last(&self, k: usize) -> Option<usize> {
        let n = self.recent.len();
        (n >= k).then(|| self.recent[n - k..].bytes().filter(|b| *b == b'N').count())
    }
}

/// Applies new customer turns to the state and records which sentiment rules are met. Returns whether the state
/// changed (turns already applied — at or before `last_position` — change nothing).
pub fn apply_turns(rules: &Rules, state: &mut SentimentState, turns: &[Turn]) -> bool {
    let window = rules.sentiment_window().max(1);
    let mut changed = false;
    for turn in turns {
        if let (Some(p), Some(last)) = (&turn.position, &state.last_position)
            && p <= last
        {
            continue;
        }
        changed = true;
        state.turns += 1;
        state.recent.push(if turn.negative { 'N' } else { '.' });
        let excess = state.recent.len().saturating_sub(window);
        state.recent.drain(..excess);
        state.consecutive = if turn.negative { state.consecutive.saturating_add(1) } else { 0 };
        if turn.position.is_some() {
            state.last_position.clone_from(&turn.position);
        }
        for rule in &rules.rules {
            let RuleKind::NegativeSentiment(trigger) = rule.kind else {
                continue;
            };
            if state.met.contains(&rule.name) {
                continue;
            }
            let met = match trigger {
                SentimentTrigger::Consecutive(n) => state.consecutive >= n,
                SentimentTrigger::Share { above, over_last } => state
                    .negative_in_last(over_last as usize)
                    .is_some_and(|neg| neg as f64 / f64::from(over_last) > above),
            };
            if met {
                state.met.push(rule.name.clone());
            }
        }
    }
    changed
}

/// Candidates of the sentiment rules met on the contact (one alert per contact and rule: episode `contact`).
pub fn evaluate_sentiment(rules: &Rules, state: &SentimentState, facts: &Facts, at: DateTime<Utc>) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Some(contact) = facts.contact.as_ref() else {
        return out;
    };
    for rule in &rules.rules {
        let RuleKind::NegativeSentiment(trigger) = rule.kind else {
            continue;
        };
        if !state.met.contains(&rule.name) {
            continue;
        }
        let recent = match trigger {
            SentimentTrigger::Share { over_last, .. } => (over_last as usize).min(state.recent.len()),
            SentimentTrigger::Consecutive(_) => state.recent.len(),
        };
        push_if_in_scope(
            &mut out,
            rule,
            Candidate {
                key: AlertKey {
                    rule: rule.name.clone(),
                    subject: contact.contact_id.clone(),
                    episode: "contact".into(),
                },
                at,
                facts: facts.clone(),
                observed: Observed::NegativeSentiment {
                    trigger,
                    consecutive: state.consecutive,
                    negative_recent: state.negative_in_last(recent).unwrap_or(0),
                    recent,
                },
            },
        );
    }
    out
}

/// Candidates of the category rules (one alert per contact, rule and category).
pub fn evaluate_categories(rules: &Rules, categories: &[String], facts: &Facts, at: DateTime<Utc>) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Some(contact) = facts.contact.as_ref() else {
        return out;
    };
    for rule in &rules.rules {
        let RuleKind::CategoryMatched { categories: wanted } = &rule.kind else {
            continue;
        };
        for w in wanted {
            if categories.iter().any(|c| same(c, w)) {
                push_if_in_scope(
                    &mut out,
                    rule,
                    Candidate {
                        key: AlertKey {
                            rule: rule.name.clone(),
                            subject: contact.contact_id.clone(),
                            episode: w.clone(),
                        },
                        at,
                        facts: facts.clone(),
                        observed: Observed::CategoryMatched { category: w.clone() },
                    },
                );
            }
        }
    }
    out
}

/// Facts for a segment record: the contact from the segment, the agent (and queue) from the join when known.
pub fn segment_facts(seg: &AnalysisSegment, join: Option<&ContactJoin>) -> Facts {
    Facts {
        agent: join.map(|j| j.agent.clone()),
        contact: Some(ContactFacts {
            contact_id: seg.contact_id.clone(),
            channel: seg.channel.clone().or_else(|| join.and_then(|j| j.channel.clone())),
            queue: join.and_then(|j| j.queue.clone()),
        }),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Contact records.

/// Facts for a contact record: the agent, routing profile, hierarchy (CTRs name groups `GroupName`) and queue as
/// the record itself gives them.
pub fn ctr_facts(ctr: &ContactRecord) -> Facts {
    Facts {
        agent: ctr.agent.as_ref().map(|a| AgentFacts {
            agent_id: a.arn.as_deref().map(agent_id_of).unwrap_or_default(),
            username: a.username.clone(),
            routing_profile: a.routing_profile.as_ref().and_then(|p| p.name.clone()),
            hierarchy: a.hierarchy_groups.as_ref().map(|h| h.names().map(|n| n.map(str::to_owned))).unwrap_or_default(),
            queues: Vec::new(),
            channels: Vec::new(),
        }),
        contact: Some(ContactFacts {
            contact_id: ctr.contact_id.clone(),
            channel: ctr.channel.clone(),
            queue: ctr.queue.as_ref().and_then(|q| q.name.clone()),
        }),
    }
}

/// Candidates of the attribute-threshold rules (one alert per contact and rule; a republished CTR gives the same
/// key). An attribute that is absent or not a number does not fire.
pub fn evaluate_ctr(rules: &Rules, ctr: &ContactRecord, facts: &Facts, fallback_at: DateTime<Utc>) -> Vec<Candidate> {
    let mut out = Vec::new();
    let at = ctr.disconnect_timestamp.or(ctr.last_update_timestamp).or(ctr.initiation_timestamp).unwrap_or(fallback_at);
    for rule in &rules.rules {
        let RuleKind::AttributeThreshold { attribute, operator, value: threshold } = &rule.kind else {
            continue;
        };
        let Some(value) =
            ctr.attributes.get(attribute).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite())
        else {
            continue;
        };
        if operator.holds(value, *threshold) {
            push_if_in_scope(
                &mut out,
                rule,
                Candidate {
                    key: AlertKey {
                        rule: rule.name.clone(),
                        subject: ctr.contact_id.clone(),
                        episode: "contact".into(),
                    },
                    at,
                    facts: facts.clone(),
                    observed: Observed::AttributeThreshold {
                        attribute: attribute.clone(),
                        value,
                        operator: *operator,
                        threshold: *threshold,
                    },
                },
            );
        }
    }
    out
}
