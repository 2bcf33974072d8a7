//! Contact Lens segments: customer turns (labels only) into a bounded sentiment window, matched categories.

use shared::model::segment::Transcript;

use super::{
    AnalysisSegment, Candidate, ContactFacts, ContactJoin, DateTime, Deserialize, Facts, Observed, RuleKind, Rules,
    SentimentTrigger, Serialize, Utc, canonical, listed, push_if_in_scope,
};

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
    for (t, label) in customer_turns(seg) {
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

/// The turns that count, with their labels: CUSTOMER transcripts with a sentiment label.
fn customer_turns(seg: &AnalysisSegment) -> impl Iterator<Item = (&Transcript, &str)> {
    let transcripts = seg.segments.iter().filter_map(|s| s.transcript.as_ref());
    transcripts
        .filter(|t| t.participant_role.as_deref() == Some("CUSTOMER"))
        .filter_map(|t| Some((t, t.sentiment.as_deref()?)))
}

/// What [`segment_detail`] would find in a SEGMENTS record, without building it: (customer turns, categories).
pub fn segment_holds(seg: &AnalysisSegment) -> (bool, bool) {
    (customer_turns(seg).next().is_some(), seg.matched_categories().next().is_some())
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
        let observed = Observed::NegativeSentiment {
            trigger,
            consecutive: state.consecutive,
            negative_recent: state.negative_in_last(recent).unwrap_or(0),
            recent,
        };
        let candidate = Candidate::new(rule, &contact.contact_id, "contact".into(), at, facts.clone(), observed);
        push_if_in_scope(&mut out, rule, candidate);
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
            if listed(categories, w) {
                let observed = Observed::CategoryMatched { category: w.clone() };
                let candidate = Candidate::new(rule, &contact.contact_id, w.clone(), at, facts.clone(), observed);
                push_if_in_scope(&mut out, rule, candidate);
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
        instance_id: seg.instance_id.clone().filter(|id| !id.is_empty()),
    }
}
