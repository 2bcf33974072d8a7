//! Agent events: status_entered, status_too_long, acw_too_long (no state needed).

use super::{
    AgentEvent, AgentEventType, Candidate, Facts, Observed, RuleKind, Rules, agent_facts, canonical, contact_facts,
    listed, push_if_in_scope,
};

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
    let (at, subject) = (ev.event_timestamp, agent.agent_id.as_str());
    let instance_id = crate::facts::event_instance_id(ev);
    let agent_only = || Facts { agent: Some(agent.clone()), contact: None, instance_id: instance_id.clone() };

    for rule in &rules.rules {
        match &rule.kind {
            RuleKind::StatusEntered { statuses } => {
                if let Some(name) = status_name
                    && entered
                    && listed(statuses, name)
                {
                    let episode = canonical(&status_start.unwrap_or(at));
                    let observed = Observed::StatusEntered { status: name.to_owned(), since: status_start };
                    push_if_in_scope(
                        &mut out,
                        rule,
                        Candidate::new(rule, subject, episode, at, agent_only(), observed),
                    );
                }
            }
            RuleKind::StatusTooLong { statuses, longer_than } => {
                if let (Some(name), Some(since)) = (status_name, status_start)
                    && listed(statuses, name)
                    && at - since > *longer_than
                {
                    let (status, lasted, longer_than) = (name.to_owned(), at - since, *longer_than);
                    let observed = Observed::StatusTooLong { status, since, lasted, longer_than };
                    let candidate = Candidate::new(rule, subject, canonical(&since), at, agent_only(), observed);
                    push_if_in_scope(&mut out, rule, candidate);
                }
            }
            RuleKind::AcwTooLong { longer_than } => {
                for c in current.contacts.iter().filter(|c| c.state.as_deref() == Some("ENDED")) {
                    let (Some(since), Some(contact)) = (c.state_start_timestamp, contact_facts(c)) else {
                        continue;
                    };
                    let lasted = at - since;
                    if lasted > *longer_than {
                        let observed = Observed::AcwTooLong { since, lasted, longer_than: *longer_than };
                        let subject = contact.contact_id.clone();
                        let facts = Facts {
                            agent: Some(agent.clone()),
                            contact: Some(contact),
                            instance_id: instance_id.clone(),
                        };
                        let candidate = Candidate::new(rule, &subject, canonical(&since), at, facts, observed);
                        push_if_in_scope(&mut out, rule, candidate);
                    }
                }
            }
            _ => {}
        }
    }
    out
}
