//! For tests and benchmarks (feature `testing`): a fleet of agents written through agent-state itself, so the board
//! reads the items production writes.

use std::sync::atomic::{AtomicU64, Ordering};

use agent_state::AgentState;
use agent_state::config::Settings;
use serde_json::{Value, json};
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::run_items;
use shared::kinesis::{KinesisItem, SeqNo};
use shared::ports::ItemStore;
use shared::quarantine::ObjectQuarantine;

pub const INSTANCE: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111";
pub const OTHER_INSTANCE: &str = "arn:aws:connect:us-east-1:123456789012:instance/99999999-bbbb-cccc-dddd-111111111111";
pub const TEAMS: [(&str, &str, &str); 4] = [
    ("Team Blue", "Voice Sales", "Sales"),
    ("Team Green", "Chat Support", "Support"),
    ("Team Red", "Voice Support", "Support"),
    ("Team Gold", "Voice Billing", "Billing"),
];

/// What agent `i` of a fleet is doing (the fleet cycles through these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    Available,
    Break,
    OnContact,
    AfterContactWork,
    LoggedOut,
}

impl Doing {
    pub const ALL: [Doing; 5] =
        [Doing::Available, Doing::Break, Doing::OnContact, Doing::AfterContactWork, Doing::LoggedOut];

    pub fn of(i: usize) -> Doing {
        Self::ALL[i % Self::ALL.len()]
    }

    /// The activity label the board shows.
    pub fn label(self) -> &'static str {
        match self {
            Doing::Available => "AVAILABLE",
            Doing::Break => "Break",
            Doing::OnContact => "ON_CONTACT",
            Doing::AfterContactWork => "AFTER_CONTACT_WORK",
            Doing::LoggedOut => "OFFLINE",
        }
    }
}

pub fn agent_arn(instance: &str, i: usize) -> String {
    format!("{instance}/agent/00000000-0000-4000-8000-{i:012}")
}

pub fn username(i: usize) -> String {
    format!("agent{i:04}")
}

fn named(instance: &str, kind: &str, name: &str) -> Value {
    let id: String = name.bytes().map(|b| format!("{b:02x}")).collect::<String>().chars().take(12).collect();
    json!({"ARN": format!("{instance}/{kind}/00000000-0000-4000-9000-{id:0>12}"), "Name": name})
}

pub fn routing_profile_arn(instance: &str, team: usize) -> String {
    named(instance, "routing-profile", TEAMS[team].1)["ARN"].as_str().unwrap_or_default().to_owned()
}

static EVENTS: AtomicU64 = AtomicU64::new(1);

/// One agent event of agent `i` at `at` showing `doing` since `since`, with no previous snapshot.
pub fn event(instance: &str, i: usize, event_type: &str, doing: Doing, at: &str, since: &str) -> Vec<u8> {
    let mut e = event_json(instance, i, event_type, doing, at, since);
    e.as_object_mut().expect("object").remove("PreviousAgentSnapshot");
    serde_json::to_vec(&e).expect("serialises")
}

/// A STATE_CHANGE of agent `i` at `at` from `before` (since `before_since`) to `doing` (since `at`), with both
/// snapshots as Connect sends them.
pub fn change(instance: &str, i: usize, before: Doing, before_since: &str, doing: Doing, at: &str) -> Vec<u8> {
    let mut e = event_json(instance, i, "STATE_CHANGE", doing, at, at);
    e["PreviousAgentSnapshot"] =
        event_json(instance, i, "STATE_CHANGE", before, at, before_since)["CurrentAgentSnapshot"].clone();
    serde_json::to_vec(&e).expect("serialises")
}

fn event_json(instance: &str, i: usize, event_type: &str, doing: Doing, at: &str, since: &str) -> Value {
    let (team, profile, queue) = TEAMS[i % TEAMS.len()];
    let status = match doing {
        Doing::Break => ("Break", "CUSTOM"),
        Doing::LoggedOut => ("Offline", "OFFLINE"),
        _ => ("Available", "ROUTABLE"),
    };
    let contacts = match doing {
        Doing::OnContact | Doing::AfterContactWork => vec![json!({
            "ContactId": format!("c0000000-0000-4000-8000-{i:012}"), "InitialContactId": null, "Channel": "VOICE",
            "InitiationMethod": "INBOUND",
            "State": if doing == Doing::OnContact { "CONNECTED" } else { "ENDED" },
            "StateStartTimestamp": since, "ConnectedToAgentTimestamp": since, "QueueTimestamp": since,
            "Queue": named(instance, "queue", queue),
        })],
        _ => Vec::new(),
    };
    let status_start = if matches!(doing, Doing::OnContact | Doing::AfterContactWork) { at } else { since };
    let n = EVENTS.fetch_add(1, Ordering::Relaxed);
    json!({
        "AWSAccountId": "123456789012",
        "AgentARN": agent_arn(instance, i),
        "EventId": format!("e0000000-0000-4000-8000-{n:012}"),
        "EventTimestamp": at,
        "EventType": event_type,
        "InstanceARN": instance,
        "Version": "2019-05-25",
        "CurrentAgentSnapshot": {
            "AgentStatus": {"ARN": format!("{instance}/agent-state/{}", status.0), "Name": status.0, "StartTimestamp": status_start, "Type": status.1},
            "Configuration": {
                "AgentHierarchyGroups": {
                    "Level1": named(instance, "agent-group", if i % 4 < 2 { "EMEA" } else { "AMER" }),
                    "Level2": named(instance, "agent-group", queue),
                    "Level3": named(instance, "agent-group", team),
                    "Level4": null, "Level5": null
                },
                "FirstName": format!("First{i}"), "LastName": format!("Last{i}"), "Username": username(i),
                "RoutingProfile": {
                    "ARN": named(instance, "routing-profile", profile)["ARN"], "Name": profile,
                    "Concurrency": [{"Channel": "VOICE", "AvailableSlots": 1 - contacts.len() as i64, "MaximumSlots": 1}]
                }
            },
            "Contacts": contacts
        },
        "PreviousAgentSnapshot": null
    })
}

/// Writes a fleet of `n` agents of `instance` through agent-state: each logs in at 08:00 and then shows
/// [`Doing::of`] since 09:00 (the logged-out ones log out at 09:00).
pub async fn fleet<S: ItemStore + Clone>(store: &S, instance: &str, n: usize) {
    let mut events = Vec::new();
    for i in 0..n {
        events.push(event(
            instance,
            i,
            "LOGIN",
            Doing::Available,
            "2026-12-04T08:00:00.000Z",
            "2026-12-04T08:00:00.000Z",
        ));
        let doing = Doing::of(i);
        let event_type = if doing == Doing::LoggedOut { "LOGOUT" } else { "STATE_CHANGE" };
        events.push(event(instance, i, event_type, doing, "2026-12-04T09:00:00.000Z", "2026-12-04T09:00:00.000Z"));
    }
    apply(store, &events).await;
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// Runs agent events through agent-state (batches of 500, as a mapping would).
pub async fn apply<S: ItemStore + Clone>(store: &S, events: &[Vec<u8>]) {
    let handler = AgentState::new(store.clone(), Settings::default());
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    for chunk in events.chunks(500) {
        let items: Vec<KinesisItem> = chunk
            .iter()
            .enumerate()
            .map(|(index, data)| KinesisItem {
                index,
                seq: SeqNo::parse(&format!("4965{:052}", SEQ.fetch_add(1, Ordering::Relaxed))),
                shard_id: "shardId-000000000000".into(),
                partition_key: "agent".into(),
                arrival: chrono::Utc::now(),
                stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/connect-agent-events".into(),
                data: data.clone(),
            })
            .collect();
        let (_, report) = run_items("agent-state", &items, &handler, &quarantine).await.expect("batch runs");
        assert_eq!(report.quarantined, 0, "fixture events are valid");
    }
}
