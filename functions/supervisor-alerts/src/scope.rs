//! Who a rule is about ([`Scope`]) and whether an alert's [`Facts`] are in it. The document form of a scope (its
//! keys and their messages) is read with the rest of the rules document in `rules::schema`.

use crate::facts::Facts;

/// Who a rule is about. Every non-empty list is a condition (all must hold); a list holds when any of its entries
/// equals the value (case-insensitive). An empty scope matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub routing_profiles: Vec<String>,
    /// Hierarchy group names, at any level (Level1..Level5).
    pub hierarchy_groups: Vec<String>,
    pub queues: Vec<String>,
    /// Agent usernames.
    pub agents: Vec<String>,
    /// VOICE, CHAT, TASK, EMAIL …
    pub channels: Vec<String>,
    /// Connect instances, by id or ARN (several instances may stream into one account).
    pub instances: Vec<String>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.routing_profiles.is_empty()
            && self.hierarchy_groups.is_empty()
            && self.queues.is_empty()
            && self.agents.is_empty()
            && self.channels.is_empty()
            && self.instances.is_empty()
    }

    /// Whether an alert with these facts is in scope. Queues and channels are the contact's when the alert is
    /// about a contact, otherwise the agent's routing profile's. An unknown agent matches no agent-side list.
    pub fn matches(&self, facts: &Facts) -> bool {
        let agent = facts.agent.as_ref();
        let (queues, channels): (Vec<&str>, Vec<&str>) = match &facts.contact {
            Some(c) => (c.queue.as_deref().into_iter().collect(), c.channel.as_deref().into_iter().collect()),
            None => (
                agent.map(|a| a.queues.iter().map(String::as_str).collect()).unwrap_or_default(),
                agent.map(|a| a.channels.iter().map(String::as_str).collect()).unwrap_or_default(),
            ),
        };
        any_listed(&self.agents, agent.and_then(|a| a.username.as_deref()))
            && any_listed(&self.routing_profiles, agent.and_then(|a| a.routing_profile.as_deref()))
            && any_listed(
                &self.hierarchy_groups,
                agent.into_iter().flat_map(|a| a.hierarchy.iter().flatten().map(String::as_str)),
            )
            && any_listed(&self.queues, queues)
            && any_listed(&self.channels, channels)
            && (self.instances.is_empty()
                || facts.instance_id.as_deref().is_some_and(|id| {
                    self.instances.iter().any(|w| same(crate::facts::instance_id_of(w).unwrap_or(w), id))
                }))
    }
}

/// Whether two names from the rules and from Connect are the same: case-insensitive, surrounding spaces ignored.
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

fn any_listed<'a>(wanted: &[String], have: impl IntoIterator<Item = &'a str>) -> bool {
    wanted.is_empty() || have.into_iter().any(|h| wanted.iter().any(|w| same(w, h)))
}
