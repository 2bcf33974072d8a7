//! Missed contacts: a bounded window of missed/rejected contacts per agent.

use super::{
    AgentEvent, BTreeMap, Candidate, DateTime, Deserialize, Facts, MAX_WINDOW, Observed, RuleKind, Rules, Serialize,
    SnapshotContact, TimeDelta, Utc, agent_facts, contact_facts, push_if_in_scope,
};

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
            let facts = Facts { agent: Some(agent.clone()), contact, instance_id: crate::facts::event_instance_id(ev) };
            let observed = Observed::MissedContacts { missed, within, count };
            let candidate =
                Candidate::new(rule, &agent.agent_id, m.contact_id.clone(), ev.event_timestamp, facts, observed);
            push_if_in_scope(&mut out, rule, candidate);
        }
    }
    out
}
