//! A realistic agent-event generator: one agent's day as Connect publishes it. Snapshots are shaped and sized like
//! the fixtures (hierarchy with three levels, routing profile with concurrency and inbound queues, proficiencies);
//! STATE_CHANGE events carry the previous event's snapshot as `PreviousAgentSnapshot`, heartbeats carry the same
//! snapshot twice, LOGIN and LOGOUT carry `null`. Choices come from a byte sequence, so proptest can drive it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use shared::model::time::canonical;

const INSTANCE_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-111111111111";

fn instance() -> String {
    format!("arn:aws:connect:us-east-1:123456789012:instance/{INSTANCE_ID}")
}

/// ARN of the generated agent `n`.
pub fn agent_arn(n: usize) -> String {
    format!("{}/agent/{n:08x}-0000-4000-8000-000000000000", instance())
}

pub fn routing_profile_arn(n: usize) -> String {
    format!("{}/routing-profile/{n:08x}-1111-4111-8111-111111111111", instance())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Offline,
    Available,
    Break,
    Training,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Offline => "Offline",
            Status::Available => "Available",
            Status::Break => "Break",
            Status::Training => "Training",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Status::Offline => "OFFLINE",
            Status::Available => "ROUTABLE",
            Status::Break | Status::Training => "CUSTOM",
        }
    }
    fn arn(self) -> String {
        format!("{}/agent-state/{:08x}-2222-4222-8222-222222222222", instance(), self as usize)
    }
}

#[derive(Debug, Clone)]
struct Contact {
    id: String,
    channel: &'static str,
    state: &'static str,
    state_start: DateTime<Utc>,
    connected: Option<DateTime<Utc>>,
    queued: DateTime<Utc>,
}

/// One agent's event stream, generated step by step.
#[derive(Debug, Clone)]
pub struct AgentSim {
    n: usize,
    arn: String,
    now: DateTime<Utc>,
    logged_in: bool,
    ever_logged_in: bool,
    status: Status,
    status_start: DateTime<Utc>,
    next_status: Option<(Status, DateTime<Utc>)>,
    contacts: Vec<Contact>,
    profile: usize,
    current: Option<Value>,
    events: u64,
    contacts_made: u64,
}

impl AgentSim {
    pub fn new(n: usize) -> Self {
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 7, 0, 0).single().expect("valid time")
            + Duration::seconds(n as i64 % 600);
        Self {
            n,
            arn: agent_arn(n),
            now: start,
            logged_in: false,
            ever_logged_in: false,
            status: Status::Offline,
            status_start: start,
            next_status: None,
            contacts: Vec::new(),
            profile: n % 7,
            current: None,
            events: 0,
            contacts_made: 0,
        }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The next event, chosen by `choice` among what can happen in the agent's present situation.
    pub fn step(&mut self, choice: u8) -> Vec<u8> {
        self.now += Duration::milliseconds(500 + i64::from(choice) * 977);
        let c = usize::from(choice);
        if !self.logged_in {
            // Heartbeats continue for a while after a logout; otherwise the agent logs in.
            return if self.ever_logged_in && !c.is_multiple_of(3) { self.heartbeat() } else { self.login() };
        }
        if let Some(first) = self.contacts.first().cloned() {
            return match c % 10 {
                0 => self.heartbeat(),
                1 if first.channel == "CHAT" && self.contacts.len() < 3 => self.offer("CHAT"),
                2 if self.next_status.is_none() => {
                    self.enqueue_status(if c.is_multiple_of(4) { Status::Break } else { Status::Training })
                }
                _ => self.advance_contact(c),
            };
        }
        match c % 12 {
            0 | 1 => self.heartbeat(),
            2 => self.set_status(Status::Break),
            3 => self.set_status(Status::Training),
            4 => self.set_status(Status::Available),
            5 => self.config_change(),
            6 => self.logout(),
            _ if self.status == Status::Available => self.offer(if c.is_multiple_of(3) { "CHAT" } else { "VOICE" }),
            _ => self.set_status(Status::Available),
        }
    }

    /// A plausible working day: login, available, then `steps` chosen events.
    pub fn day(&mut self, choices: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![self.login(), self.set_status(Status::Available)];
        out.extend(choices.iter().map(|&c| self.step(c)));
        out
    }

    fn login(&mut self) -> Vec<u8> {
        self.logged_in = true;
        self.ever_logged_in = true;
        self.status = Status::Offline;
        self.status_start = self.now;
        self.next_status = None;
        self.contacts.clear();
        self.emit("LOGIN", false)
    }

    fn logout(&mut self) -> Vec<u8> {
        self.logged_in = false;
        self.status = Status::Offline;
        self.status_start = self.now - Duration::milliseconds(2_406);
        self.next_status = None;
        self.contacts.clear();
        self.emit("LOGOUT", false)
    }

    fn heartbeat(&mut self) -> Vec<u8> {
        self.emit("HEART_BEAT", true)
    }

    fn set_status(&mut self, status: Status) -> Vec<u8> {
        self.status = status;
        self.status_start = self.now;
        self.emit("STATE_CHANGE", true)
    }

    fn enqueue_status(&mut self, status: Status) -> Vec<u8> {
        self.next_status = Some((status, self.now));
        self.emit("STATE_CHANGE", true)
    }

    fn config_change(&mut self) -> Vec<u8> {
        self.profile = (self.profile + 1) % 7;
        self.emit("STATE_CHANGE", true)
    }

    fn offer(&mut self, channel: &'static str) -> Vec<u8> {
        self.contacts_made += 1;
        let id = format!("{:08x}-{:04x}-4ccc-8ccc-cccccccccccc", self.n, self.contacts_made);
        let queued = self.now - Duration::seconds(31);
        self.contacts.push(Contact {
            id,
            channel,
            state: "CONNECTING",
            state_start: self.now,
            connected: None,
            queued,
        });
        self.emit("STATE_CHANGE", true)
    }

    fn advance_contact(&mut self, c: usize) -> Vec<u8> {
        let now = self.now;
        let contact = &mut self.contacts[0];
        let next = match contact.state {
            "CONNECTING" if c.is_multiple_of(7) => Some("MISSED"),
            "CONNECTING" => Some("CONNECTED"),
            "CONNECTED" if c.is_multiple_of(3) => Some("CONNECTED_ONHOLD"),
            "CONNECTED" => Some("ENDED"),
            "CONNECTED_ONHOLD" => Some("CONNECTED"),
            _ => None, // ENDED (after-contact work done) or MISSED (cleared): the contact leaves the snapshot.
        };
        match next {
            Some(state) => {
                if state == "CONNECTED" && contact.connected.is_none() {
                    contact.connected = Some(now);
                }
                contact.state = state;
                contact.state_start = now;
            }
            None => {
                self.contacts.remove(0);
                if self.contacts.is_empty()
                    && let Some((status, _)) = self.next_status.take()
                {
                    self.status = status;
                    self.status_start = now;
                }
            }
        }
        self.emit("STATE_CHANGE", true)
    }

    fn emit(&mut self, event_type: &str, with_previous: bool) -> Vec<u8> {
        self.events += 1;
        let current = self.snapshot();
        let previous = if with_previous && event_type == "HEART_BEAT" {
            current.clone()
        } else if with_previous {
            self.current.clone().unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        self.current = Some(current.clone());
        let event = json!({
            "AWSAccountId": "123456789012",
            "AgentARN": self.arn,
            "CurrentAgentSnapshot": current,
            "EventId": format!("{:08x}-0000-4eee-8eee-{:012x}", self.n, self.events),
            "EventTimestamp": canonical(&self.now),
            "EventType": event_type,
            "InstanceARN": instance(),
            "PreviousAgentSnapshot": previous,
            "Version": "2019-05-25",
        });
        serde_json::to_vec(&event).expect("serialises")
    }

    fn snapshot(&self) -> Value {
        let queue = |q: usize| format!("{}/queue/{q:08x}-3333-4333-8333-333333333333", instance());
        let profile_queues: Vec<Value> = (0..3)
            .map(|k| json!({"ARN": queue(self.profile * 3 + k), "Channels": ["VOICE", "CHAT"], "Name": format!("Queue {}", self.profile * 3 + k)}))
            .chain(std::iter::once(json!({
                "ARN": format!("{}/queue/agent/{:08x}-0000-4000-8000-000000000000", instance(), self.n),
                "Channels": ["VOICE", "CHAT", "TASK"],
                "Name": null
            })))
            .collect();
        let busy = |channel: &str| self.contacts.iter().filter(|c| c.channel == channel).count() as i64;
        let group = |level: usize, name: String| json!({"ARN": format!("{}/agent-group/{level:08x}-{:04x}-4444-8444-444444444444", instance(), self.n % 5), "Name": name});
        json!({
            "AgentStatus": {
                "ARN": self.status.arn(),
                "Name": self.status.name(),
                "StartTimestamp": canonical(&self.status_start),
                "Type": self.status.kind(),
            },
            "NextAgentStatus": self.next_status.map(|(s, at)| json!({"ARN": s.arn(), "Name": s.name(), "EnqueuedTimestamp": canonical(&at)})),
            "Configuration": {
                "AgentHierarchyGroups": {
                    "Level1": group(1, "EMEA".into()),
                    "Level2": group(2, format!("Site {}", self.n % 3)),
                    "Level3": group(3, format!("Team {}", self.n % 5)),
                    "Level4": null,
                    "Level5": null,
                },
                "FirstName": format!("First{}", self.n),
                "LastName": format!("Last{}", self.n),
                "Proficiencies": [
                    {"Level": 4.0, "Name": "Product", "Value": "Outdoor gear"},
                    {"Level": 2.0, "Name": "Language", "Value": "Spanish"}
                ],
                "RoutingProfile": {
                    "ARN": routing_profile_arn(self.profile),
                    "Concurrency": [
                        {"AvailableSlots": 1 - busy("VOICE").min(1), "Channel": "VOICE", "MaximumSlots": 1},
                        {"AvailableSlots": 3 - busy("CHAT").min(3), "Channel": "CHAT", "MaximumSlots": 3},
                        {"AvailableSlots": 1, "Channel": "TASK", "MaximumSlots": 1}
                    ],
                    "DefaultOutboundQueue": {"ARN": queue(self.profile * 3), "Channels": ["VOICE"], "Name": format!("Queue {}", self.profile * 3)},
                    "InboundQueues": profile_queues,
                    "Name": format!("Profile {}", self.profile),
                },
                "Username": format!("agent{:04}", self.n),
            },
            "Contacts": self.contacts.iter().map(|c| json!({
                "ContactId": c.id,
                "InitialContactId": null,
                "Channel": c.channel,
                "InitiationMethod": "INBOUND",
                "State": c.state,
                "StateStartTimestamp": canonical(&c.state_start),
                "ConnectedToAgentTimestamp": c.connected.map(|t| canonical(&t)),
                "QueueTimestamp": canonical(&c.queued),
                "Queue": {"ARN": queue(self.profile * 3), "Name": format!("Queue {}", self.profile * 3)},
            })).collect::<Vec<_>>(),
        })
    }
}
