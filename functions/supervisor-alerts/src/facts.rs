//! What is known about the agent and the contact an alert is about: the facts a rule's [`crate::scope::Scope`] is
//! matched against and an alert names.

use serde::{Deserialize, Serialize};
use shared::model::AgentEvent;
use shared::model::agent::SnapshotContact;

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
    /// The Connect instance (its id, the UUID of its ARN), when the record tells.
    pub instance_id: Option<String>,
}

/// The instance id of an instance ARN or of any ARN inside an instance (`…:instance/<id>[/…]`).
pub fn instance_id_of(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":instance/")?.1;
    Some(rest.split('/').next().unwrap_or(rest)).filter(|id| !id.is_empty())
}

/// The instance id of an agent event: `InstanceARN`, else the agent ARN's.
pub fn event_instance_id(ev: &AgentEvent) -> Option<String> {
    ev.instance_arn.as_deref().and_then(instance_id_of).or_else(|| instance_id_of(&ev.agent_arn)).map(str::to_owned)
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

/// The contact side of an alert from a contact in an agent snapshot (`None` without a contact id).
pub(crate) fn contact_facts(c: &SnapshotContact) -> Option<ContactFacts> {
    Some(ContactFacts {
        contact_id: c.contact_id.clone().filter(|id| !id.is_empty())?,
        channel: c.channel.clone(),
        queue: c.queue.as_ref().and_then(|q| q.name.clone()),
    })
}
