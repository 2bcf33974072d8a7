//! The contact→agent join: what agent events say about a contact's agent, so segments can be scoped and named.

use super::{AgentEvent, AgentFacts, BTreeMap, agent_facts, contact_facts};

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

/// The joins of a batch's agent events (`(record index, event)`), one per contact: the newest by the event's order
/// key wins (on a tie, the later record). Each join comes with the index of the record it is from.
pub fn newest_joins<'a>(events: impl IntoIterator<Item = (usize, &'a AgentEvent)>) -> Vec<(usize, ContactJoin)> {
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
