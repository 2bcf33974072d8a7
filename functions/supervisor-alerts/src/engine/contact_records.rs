//! Contact records: attribute thresholds.

use super::{
    AgentFacts, Candidate, ContactFacts, ContactRecord, DateTime, Facts, Observed, RuleKind, Rules, Utc, agent_id_of,
    push_if_in_scope,
};

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
        instance_id: ctr.instance_arn.as_deref().and_then(crate::facts::instance_id_of).map(str::to_owned),
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
            let observed = Observed::AttributeThreshold {
                attribute: attribute.clone(),
                value,
                operator: *operator,
                threshold: *threshold,
            };
            let candidate = Candidate::new(rule, &ctr.contact_id, "contact".into(), at, facts.clone(), observed);
            push_if_in_scope(&mut out, rule, candidate);
        }
    }
    out
}
