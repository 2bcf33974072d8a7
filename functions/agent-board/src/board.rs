//! The board as the API serves it: agents as tiles, filters, counts. Pure functions of the agent items.

use std::collections::BTreeMap;

use agent_state::table::{AgentView, HistoryView};
use serde::Serialize;

/// Filters of `GET /api/board`: each a set of accepted values (empty: no filter), matched case-sensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Routing profile name or ARN.
    pub routing_profile: Vec<String>,
    /// Hierarchy group name at any level.
    pub team: Vec<String>,
    /// Queue name or ARN of one of the agent's current contacts.
    pub queue: Vec<String>,
    /// Activity label.
    pub activity: Vec<String>,
}

impl Filters {
    /// The filters of a query string's pairs; several values are comma-separated or repeated.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut f = Self::default();
        for (key, value) in pairs {
            let target = match key {
                "routing_profile" => &mut f.routing_profile,
                "team" => &mut f.team,
                "queue" => &mut f.queue,
                "activity" => &mut f.activity,
                _ => continue,
            };
            target.extend(value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned));
        }
        f
    }

    pub fn accepts(&self, agent: &AgentView) -> bool {
        let profile = agent.routing_profile.as_ref();
        any(&self.routing_profile, profile.into_iter().flat_map(|p| [p.name.as_deref(), p.arn.as_deref()]).flatten())
            && any(&self.team, agent.hierarchy.values().map(String::as_str))
            && any(
                &self.queue,
                agent.contacts.iter().flat_map(|c| [c.queue_name.as_deref(), c.queue_arn.as_deref()]).flatten(),
            )
            && any(&self.activity, std::iter::once(activity_of(agent).as_str()))
    }
}

/// No filter (`wanted` empty), or one of the candidates is wanted.
fn any<'a>(wanted: &[String], mut candidates: impl Iterator<Item = &'a str>) -> bool {
    wanted.is_empty() || candidates.any(|c| wanted.iter().any(|w| w == c))
}

/// The activity a tile shows: the item's, except `OFFLINE` for a logged-out agent whatever its last snapshot.
pub fn activity_of(agent: &AgentView) -> String {
    if !agent.is_logged_in() {
        return "OFFLINE".to_owned();
    }
    agent.activity.clone().unwrap_or_else(|| "UNKNOWN".to_owned())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    pub instance_arn: String,
    pub agents: Vec<Tile>,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tile {
    pub agent_id: String,
    pub agent_arn: String,
    pub username: Option<String>,
    pub name: Option<String>,
    pub logged_in: bool,
    pub activity: String,
    pub since: Option<String>,
    pub status: Option<TileStatus>,
    pub next_status: Option<String>,
    pub contacts: Vec<TileContact>,
    pub routing_profile: Option<String>,
    pub team: Option<String>,
    pub hierarchy: Vec<String>,
    pub last_event_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TileStatus {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub status_type: Option<String>,
    pub since: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TileContact {
    pub contact_id: Option<String>,
    pub channel: Option<String>,
    pub state: Option<String>,
    pub queue: Option<String>,
    pub since: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub logged_in: usize,
    /// Logged-in agents per activity, plus `OFFLINE` for the logged-out ones.
    pub activity: BTreeMap<String, usize>,
    /// Logged-in agents per team (deepest hierarchy group).
    pub team: BTreeMap<String, usize>,
    /// Logged-in agents with a current contact from the queue.
    pub queue: BTreeMap<String, usize>,
}

/// The agent id: the last segment of the agent ARN (`…:instance/<id>/agent/<agent id>`).
pub fn agent_id(agent_arn: &str) -> &str {
    agent_arn.rsplit_once("/agent/").map_or(agent_arn, |(_, id)| id)
}

/// The board of `agents` (in the order given: the index returns them by username) that pass `filters`.
pub fn board(instance_arn: &str, agents: &[AgentView], filters: &Filters) -> Board {
    let mut counts = Counts::default();
    let mut tiles = Vec::new();
    for agent in agents.iter().filter(|a| filters.accepts(a)) {
        let tile = tile(agent);
        counts.total += 1;
        *counts.activity.entry(tile.activity.clone()).or_default() += 1;
        if tile.logged_in {
            counts.logged_in += 1;
            if let Some(team) = &tile.team {
                *counts.team.entry(team.clone()).or_default() += 1;
            }
            let mut queues: Vec<&str> = tile.contacts.iter().filter_map(|c| c.queue.as_deref()).collect();
            queues.sort_unstable();
            queues.dedup();
            for q in queues {
                *counts.queue.entry(q.to_owned()).or_default() += 1;
            }
        }
        tiles.push(tile);
    }
    Board { instance_arn: instance_arn.to_owned(), agents: tiles, counts }
}

fn tile(agent: &AgentView) -> Tile {
    let logged_in = agent.is_logged_in();
    let name = match (agent.first_name.as_deref(), agent.last_name.as_deref()) {
        (None, None) => None,
        (first, last) => Some([first, last].into_iter().flatten().collect::<Vec<_>>().join(" ")),
    };
    let status = agent.status.as_ref().map(|s| TileStatus {
        name: s.name.clone(),
        status_type: s.status_type.clone(),
        since: s.start.clone(),
    });
    // A logged-out agent has been offline since its logout (its last snapshot may still show a contact ending).
    let since = if logged_in {
        agent.activity_start.clone().or_else(|| agent.status.as_ref().and_then(|s| s.start.clone()))
    } else {
        agent.logout_at.clone().or_else(|| agent.activity_start.clone())
    };
    let hierarchy: Vec<String> = agent.hierarchy.values().cloned().collect();
    Tile {
        agent_id: agent_id(&agent.agent_arn).to_owned(),
        agent_arn: agent.agent_arn.clone(),
        username: agent.username.clone(),
        name,
        logged_in,
        activity: activity_of(agent),
        since,
        status,
        next_status: agent.next_status.as_ref().and_then(|n| n.name.clone()),
        contacts: if logged_in {
            agent
                .contacts
                .iter()
                .map(|c| TileContact {
                    contact_id: c.contact_id.clone(),
                    channel: c.channel.clone(),
                    state: c.state.clone(),
                    queue: c.queue_name.clone().or_else(|| c.queue_arn.clone()),
                    since: c.state_start.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
        routing_profile: agent.routing_profile.as_ref().and_then(|p| p.name.clone().or_else(|| p.arn.clone())),
        // `hierarchy` is a map level1..level5: the last entry is the deepest group.
        team: hierarchy.last().cloned(),
        hierarchy,
        last_event_at: agent.last_event_at.clone(),
    }
}

/// `GET /api/agents/{id}/history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    pub agent_arn: String,
    pub username: Option<String>,
    pub name: Option<String>,
    pub from: String,
    pub to: String,
    pub current: Option<Current>,
    pub episodes: Vec<Episode>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    pub activity: String,
    pub since: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    pub kind: String,
    pub name: String,
    pub start: String,
    pub end: String,
    pub duration_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

pub fn history(
    agent_arn: &str,
    current: Option<&AgentView>,
    episodes: Vec<HistoryView>,
    from: String,
    to: String,
) -> History {
    let tile = current.map(tile);
    History {
        agent_arn: agent_arn.to_owned(),
        username: tile.as_ref().and_then(|t| t.username.clone()),
        name: tile.as_ref().and_then(|t| t.name.clone()),
        from,
        to,
        current: tile.map(|t| Current { activity: t.activity, since: t.since }),
        episodes: episodes
            .into_iter()
            .map(|h| Episode {
                kind: h.kind,
                name: h.name,
                start: h.start,
                end: h.end,
                duration_ms: h.duration_ms,
                status_type: h.status_type,
                channel: h.channel,
                queue: h.queue_name,
            })
            .collect(),
    }
}
