//! The evaluation of one key's records (an agent's events, or a contact's segments and contact records) against
//! the state they share: what to load ([`Needs`]), the state as loaded ([`KeyState`]), and the pure step from one
//! record to its candidates ([`KeyState::evaluate`]), which updates the state in memory. The handler loads the
//! state before and saves it after.

use shared::model::{ConnectRecord, SegmentEventType};

use super::{
    AgentEvent, AnalysisSegment, Candidate, ContactJoin, DateTime, MissedContact, Rules, SentimentState, Utc,
    agent_id_of, apply_turns, ctr_facts, evaluate_agent_event, evaluate_categories, evaluate_ctr, evaluate_missed,
    evaluate_sentiment, merge_missed, missed_in_event, segment_detail, segment_facts, segment_holds,
};

/// What a key's records need read before they are evaluated: only what some record will use, so a key whose
/// records need nothing (heartbeats, contact records) costs no read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The contact whose join a segment needs (a SEGMENTS record with turns or categories).
    pub join: Option<String>,
    /// The contact whose sentiment window a segment needs (customer turns, and a sentiment rule).
    pub sentiment: Option<String>,
    /// The agent id whose missed-contact window an event needs (a missed contact, and a missed-contacts rule).
    pub missed: Option<String>,
}

impl Needs {
    pub fn of<'a>(rules: &Rules, records: impl IntoIterator<Item = &'a ConnectRecord>) -> Self {
        let mut needs = Self::default();
        for record in records {
            match record {
                ConnectRecord::Agent(ev) => {
                    if rules.has_missed_rules() && !missed_in_event(ev).is_empty() {
                        needs.missed.get_or_insert_with(|| agent_id_of(&ev.agent_arn));
                    }
                }
                ConnectRecord::Segment(seg) if seg.event_type == SegmentEventType::Segments => {
                    let (turns, categories) = segment_holds(seg);
                    if turns || categories {
                        needs.join.get_or_insert_with(|| seg.contact_id.clone());
                    }
                    if rules.has_sentiment_rules() && turns {
                        needs.sentiment.get_or_insert_with(|| seg.contact_id.clone());
                    }
                }
                ConnectRecord::Segment(_) | ConnectRecord::Contact(_) => {}
            }
        }
        needs
    }
}

/// A state item as read, with what it takes to write it back: its revision (the conditional write checks it) and
/// the position of the first of the key's records whose effect the value holds unsaved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The contact id (sentiment) or agent id (missed contacts) the item belongs to.
    pub id: String,
    pub value: T,
    /// `None`: the item does not exist yet.
    pub rev: Option<i64>,
    /// `None`: nothing to write.
    pub changed_from: Option<usize>,
}

impl<T> Versioned<T> {
    pub fn new(id: &str, value: T, rev: Option<i64>) -> Self {
        Self { id: id.to_owned(), value, rev, changed_from: None }
    }

    fn changed_at(&mut self, position: usize) {
        self.changed_from.get_or_insert(position);
    }
}

/// What a key's records share, loaded as [`Needs`] says: the contact's join (`Some(None)`: read, not joined yet)
/// and its sentiment window, or the agent's missed-contact window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyState {
    pub join: Option<Option<ContactJoin>>,
    pub sentiment: Option<Versioned<SentimentState>>,
    pub missed: Option<Versioned<Vec<MissedContact>>>,
}

impl KeyState {
    /// The candidates of the key's record at `position`, applying it to the state. Pure; applying a record again
    /// (a redelivery) changes nothing: turns and missed contacts count once.
    pub fn evaluate(
        &mut self,
        rules: &Rules,
        position: usize,
        record: &ConnectRecord,
        arrival: DateTime<Utc>,
    ) -> Vec<Candidate> {
        match record {
            ConnectRecord::Agent(ev) => self.agent_event(rules, position, ev),
            ConnectRecord::Segment(seg) => self.segment(rules, position, seg, arrival),
            ConnectRecord::Contact(ctr) => evaluate_ctr(rules, ctr, &ctr_facts(ctr), arrival),
        }
    }

    /// The status and ACW rules, and the missed-contacts window.
    fn agent_event(&mut self, rules: &Rules, position: usize, ev: &AgentEvent) -> Vec<Candidate> {
        let mut candidates = evaluate_agent_event(rules, ev);
        let missed = missed_in_event(ev);
        if let Some(window) = self.missed.as_mut()
            && !missed.is_empty()
        {
            if merge_missed(&mut window.value, &missed, rules.missed_window().0) {
                window.changed_at(position);
            }
            candidates.extend(evaluate_missed(rules, ev, &window.value));
        }
        candidates
    }

    /// The sentiment window and matched categories, scoped through the join.
    fn segment(
        &mut self,
        rules: &Rules,
        position: usize,
        seg: &AnalysisSegment,
        arrival: DateTime<Utc>,
    ) -> Vec<Candidate> {
        if seg.event_type != SegmentEventType::Segments {
            return Vec::new();
        }
        let detail = segment_detail(seg);
        if detail.turns.is_empty() && detail.categories.is_empty() {
            return Vec::new();
        }
        let facts = segment_facts(seg, self.join.as_ref().and_then(Option::as_ref));
        let at = detail.last_time.unwrap_or(arrival);
        let mut candidates = Vec::new();
        if let Some(sentiment) = self.sentiment.as_mut()
            && !detail.turns.is_empty()
        {
            if apply_turns(rules, &mut sentiment.value, &detail.turns) {
                sentiment.changed_at(position);
            }
            candidates.extend(evaluate_sentiment(rules, &sentiment.value, &facts, at));
        }
        candidates.extend(evaluate_categories(rules, &detail.categories, &facts, at));
        candidates
    }
}
