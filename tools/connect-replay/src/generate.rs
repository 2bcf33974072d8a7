//! A seeded, realistic synthetic contact-centre day, produced lazily in time order with flat memory.
//!
//! Each agent is a small state machine with its own queue of pending actions (login, heartbeats every 120 s
//! when nothing else happened, breaks, contacts with ringing, holds, after-contact work, missed contacts,
//! logout, heartbeats for up to an hour after logout). A heap merges the agents by time. Contacts produce a
//! contact record when after-contact work ends (some republished later with a new attribute), and Contact Lens
//! segments while connected. A small share of records is duplicated, delayed (out of order) or invalid.
//! [`Truth`] keeps what the day implies, so tests can check what the functions made of it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

pub const ACCOUNT: &str = "123456789012";
pub const INSTANCE_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-111111111111";

pub fn instance_arn() -> String {
    format!("arn:aws:connect:us-east-1:{ACCOUNT}:instance/{INSTANCE_ID}")
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    AgentEvents,
    ContactRecords,
    Segments,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::AgentEvents, Stream::ContactRecords, Stream::Segments];
    pub fn arn(self) -> String {
        let name = match self {
            Stream::AgentEvents => "connect-agent-events",
            Stream::ContactRecords => "connect-ctr",
            Stream::Segments => "connect-contact-lens",
        };
        format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}")
    }
}

/// One record for a stream: what a Kinesis producer would put.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRecord {
    pub stream: Stream,
    pub partition_key: String,
    pub data: Vec<u8>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct DayConfig {
    pub seed: u64,
    pub agents: usize,
    pub start: DateTime<Utc>,
    pub shift_minutes: i64,
    /// Share of records published twice.
    pub duplicate_rate: f64,
    /// Share of records delayed behind later ones.
    pub disorder_rate: f64,
    /// Invalid records added per good record.
    pub invalid_rate: f64,
}

impl Default for DayConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            agents: 50,
            start: DateTime::parse_from_rfc3339("2026-11-02T08:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            shift_minutes: 8 * 60,
            duplicate_rate: 0.005,
            disorder_rate: 0.005,
            invalid_rate: 0.001,
        }
    }
}

/// What the generated day implies.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub records: BTreeMap<Stream, usize>,
    pub contacts: usize,
    pub missed_contacts: usize,
    /// Every (ContactId, LastUpdateTimestamp) version of every contact record published.
    pub ctr_versions: BTreeSet<(String, String)>,
    pub republished: usize,
    /// (username, break start) of breaks that lasted over 16 minutes (a heartbeat falls after minute 15).
    pub long_breaks: Vec<(String, String)>,
    /// (username, contact id) of after-contact work periods over 8 minutes (so an event falls after minute 6).
    pub long_acw: Vec<(String, String)>,
    /// Contacts whose customer had 3 consecutive NEGATIVE turns.
    pub angry_contacts: BTreeSet<String>,
    pub escalation_contacts: BTreeSet<String>,
    pub duplicates: usize,
    pub delayed: usize,
    pub invalid: usize,
    /// Usernames of all agents; at the end of the day every one is logged out.
    pub agents: Vec<String>,
}

impl Truth {
    pub fn total(&self) -> usize {
        self.records.values().sum()
    }
}

/// Adds up the truth of consecutive days (counts summed, sets and lists joined).
impl std::ops::AddAssign<&Truth> for Truth {
    fn add_assign(&mut self, day: &Truth) {
        for (stream, n) in &day.records {
            *self.records.entry(*stream).or_default() += n;
        }
        self.contacts += day.contacts;
        self.missed_contacts += day.missed_contacts;
        self.ctr_versions.extend(day.ctr_versions.iter().cloned());
        self.republished += day.republished;
        self.long_breaks.extend(day.long_breaks.iter().cloned());
        self.long_acw.extend(day.long_acw.iter().cloned());
        self.angry_contacts.extend(day.angry_contacts.iter().cloned());
        self.escalation_contacts.extend(day.escalation_contacts.iter().cloned());
        self.duplicates += day.duplicates;
        self.delayed += day.delayed;
        self.invalid += day.invalid;
        self.agents.extend(day.agents.iter().cloned());
    }
}

const SEGMENT_TICK_SECS: i64 = 30;
const HEARTBEAT_SECS: i64 = 120;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Login,
    Logout,
    Heartbeat,
    StartBreak { minutes: i64 },
    EndBreak,
    ContactArrives,
    Connect(usize),
    Miss(usize),
    ClearMissed(usize),
    Hold(usize),
    Resume(usize),
    End(usize),
    AcwDone(usize),
    SegmentTick(usize),
    Republish(usize),
}

#[derive(Debug, Clone)]
struct SimContact {
    id: String,
    channel: &'static str,
    method: &'static str,
    initial: Option<String>,
    state: &'static str,
    state_start: DateTime<Utc>,
    queued_at: DateTime<Utc>,
    connected_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    holds: i64,
    hold_secs: i64,
    lens: bool,
    angry: bool,
    escalation: bool,
    turns: usize,
    neg_streak: usize,
    offset_ms: i64,
    acw_secs: i64,
    ctr: Option<Value>,
}

struct Team {
    level1: &'static str,
    level2: &'static str,
    level3: &'static str,
    profile: &'static str,
    queue: &'static str,
    channel: &'static str,
}

const TEAMS: [Team; 4] = [
    Team {
        level1: "EMEA",
        level2: "Sales",
        level3: "Team Blue",
        profile: "Voice Sales",
        queue: "Sales",
        channel: "VOICE",
    },
    Team {
        level1: "EMEA",
        level2: "Support",
        level3: "Team Green",
        profile: "Chat Support",
        queue: "Support",
        channel: "CHAT",
    },
    Team {
        level1: "AMER",
        level2: "Support",
        level3: "Team Red",
        profile: "Voice Support",
        queue: "Support",
        channel: "VOICE",
    },
    Team {
        level1: "AMER",
        level2: "Billing",
        level3: "Team Gold",
        profile: "Voice Billing",
        queue: "Billing",
        channel: "VOICE",
    },
];

const FIRST: [&str; 10] = ["Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo"];
const LAST: [&str; 10] = ["Lopez", "Smith", "Wu", "Okafor", "Novak", "Khan", "Berg", "Sato", "Petrov", "Reed"];

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
fn ts_s(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

fn arn(kind: &str, id: &str) -> String {
    format!("{}/{kind}/{id}", instance_arn())
}

fn named(kind: &str, name: &str) -> Value {
    // Stable ids derived from the name, so every snapshot of the day agrees.
    let id = format!(
        "{:08x}-0000-4000-8000-{:012x}",
        name.len(),
        name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) & 0xffff_ffff_ffff
    );
    json!({"ARN": arn(kind, &id), "Name": name})
}

struct AgentSim {
    id: String,
    username: String,
    first: &'static str,
    last: &'static str,
    team: usize,
    status: (&'static str, &'static str, DateTime<Utc>),
    contacts: Vec<SimContact>,
    all_contacts: Vec<SimContact>,
    logged_in: bool,
    last_event: DateTime<Utc>,
    shift_end: DateTime<Utc>,
    /// After logout, heartbeats stop here (set at logout); while logged in they never stop.
    heartbeat_until: DateTime<Utc>,
    prev_snapshot: Value,
    pending: BinaryHeap<Reverse<(DateTime<Utc>, u64, Action)>>,
}

impl AgentSim {
    fn arn(&self) -> String {
        arn("agent", &self.id)
    }
    fn busy(&self) -> bool {
        !self.contacts.is_empty()
    }
    fn max_slots(&self) -> usize {
        if TEAMS[self.team].channel == "CHAT" { 2 } else { 1 }
    }

    fn snapshot(&self) -> Value {
        let team = &TEAMS[self.team];
        let status_arn = named("agent-state", self.status.0)["ARN"].clone();
        let contacts: Vec<Value> = self
            .contacts
            .iter()
            .map(|c| {
                json!({
                    "ContactId": c.id, "InitialContactId": c.initial, "Channel": c.channel, "InitiationMethod": c.method,
                    "State": c.state, "StateStartTimestamp": ts(c.state_start),
                    "ConnectedToAgentTimestamp": c.connected_at.map(ts), "QueueTimestamp": ts(c.queued_at),
                    "Queue": named("queue", team.queue),
                })
            })
            .collect();
        let slots = self.max_slots();
        json!({
            "AgentStatus": {"ARN": status_arn, "Name": self.status.0, "StartTimestamp": ts(self.status.2), "Type": self.status.1},
            "Configuration": {
                "AgentHierarchyGroups": {
                    "Level1": named("agent-group", team.level1), "Level2": named("agent-group", team.level2),
                    "Level3": named("agent-group", team.level3), "Level4": null, "Level5": null
                },
                "FirstName": self.first, "LastName": self.last, "Username": self.username,
                "RoutingProfile": {
                    "ARN": named("routing-profile", team.profile)["ARN"], "Name": team.profile,
                    "Concurrency": [{"Channel": team.channel, "AvailableSlots": slots.saturating_sub(self.contacts.len()), "MaximumSlots": slots}],
                    "DefaultOutboundQueue": {"ARN": named("queue", team.queue)["ARN"], "Name": team.queue, "Channels": [team.channel]},
                    "InboundQueues": [{"ARN": named("queue", team.queue)["ARN"], "Name": team.queue, "Channels": [team.channel]}]
                }
            },
            "Contacts": contacts,
        })
    }
}

/// The day, as an iterator of records in (roughly) time order.
pub struct DayGenerator {
    config: DayConfig,
    rng: ChaCha8Rng,
    agents: Vec<AgentSim>,
    heap: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
    out: VecDeque<GenRecord>,
    delayed: Option<(GenRecord, usize)>,
    tick: u64,
    truth: Truth,
}

impl DayGenerator {
    pub fn new(config: DayConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut agents = Vec::with_capacity(config.agents);
        let mut heap = BinaryHeap::new();
        let mut truth = Truth::default();
        for i in 0..config.agents {
            let login = config.start + Duration::seconds(rng.random_range(0..900));
            let shift_end = login + Duration::minutes(config.shift_minutes);
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len()) % LAST.len()];
            let username = format!("{}.{}{i}", first.to_lowercase(), last.to_lowercase());
            truth.agents.push(username.clone());
            let mut a = AgentSim {
                id: uuid(&mut rng),
                username,
                first,
                last,
                team: i % TEAMS.len(),
                status: ("Offline", "OFFLINE", login),
                contacts: Vec::new(),
                all_contacts: Vec::new(),
                logged_in: false,
                last_event: login,
                shift_end,
                heartbeat_until: shift_end + Duration::minutes(rng.random_range(0..60)),
                prev_snapshot: Value::Null,
                pending: BinaryHeap::new(),
            };
            let mut seq = 0;
            let mut push = |a: &mut AgentSim, t, act| {
                seq += 1;
                a.pending.push(Reverse((t, seq, act)));
            };
            push(&mut a, login, Action::Login);
            push(&mut a, shift_end, Action::Logout);
            for _ in 0..2 {
                let at = login + Duration::minutes(rng.random_range(60..config.shift_minutes.max(120) - 45));
                let minutes = if rng.random_bool(0.25) { rng.random_range(17..26) } else { rng.random_range(5..14) };
                push(&mut a, at, Action::StartBreak { minutes });
            }
            heap.push(Reverse((login, i)));
            agents.push(a);
        }
        Self { config, rng, agents, heap, out: VecDeque::new(), delayed: None, tick: 1_000_000, truth }
    }

    /// What the day implies so far (complete once the iterator is exhausted).
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    fn schedule(&mut self, agent: usize, at: DateTime<Utc>, action: Action) {
        self.tick += 1;
        self.agents[agent].pending.push(Reverse((at, self.tick, action)));
    }

    fn emit(&mut self, stream: Stream, partition_key: String, value: &Value, at: DateTime<Utc>) {
        let data = serde_json::to_vec(value).unwrap_or_default();
        *self.truth.records.entry(stream).or_default() += 1;
        let record = GenRecord { stream, partition_key, data, at };
        if self.rng.random_bool(self.config.duplicate_rate) {
            self.truth.duplicates += 1;
            *self.truth.records.entry(stream).or_default() += 1;
            self.out.push_back(record.clone());
        }
        if self.rng.random_bool(self.config.invalid_rate) {
            self.truth.invalid += 1;
            *self.truth.records.entry(stream).or_default() += 1;
            let cut = record.data.len() / 2;
            let bad = GenRecord { data: record.data[..cut].to_vec(), ..record.clone() };
            self.out.push_back(bad);
        }
        if self.delayed.is_none() && self.rng.random_bool(self.config.disorder_rate) {
            self.truth.delayed += 1;
            self.delayed = Some((record, 3));
            return;
        }
        self.out.push_back(record);
    }

    fn agent_event(&mut self, a: usize, event_type: &str, at: DateTime<Utc>) {
        let current = self.agents[a].snapshot();
        let previous =
            if matches!(event_type, "LOGIN" | "LOGOUT") { Value::Null } else { self.agents[a].prev_snapshot.clone() };
        let event = json!({
            "AWSAccountId": ACCOUNT, "AgentARN": self.agents[a].arn(), "CurrentAgentSnapshot": current,
            "EventId": uuid(&mut self.rng), "EventTimestamp": ts(at), "EventType": event_type,
            "InstanceARN": instance_arn(), "PreviousAgentSnapshot": previous, "Version": "2019-05-25",
        });
        self.agents[a].prev_snapshot = event["CurrentAgentSnapshot"].clone();
        self.agents[a].last_event = at;
        let key = self.agents[a].arn();
        self.emit(Stream::AgentEvents, key, &event, at);
    }

    fn segment(&mut self, a: usize, c: usize, event_type: &str, segments: Vec<Value>, at: DateTime<Utc>) {
        let contact = &self.agents[a].all_contacts[c];
        let mut v = json!({
            "AccountId": ACCOUNT, "Channel": contact.channel, "ContactId": contact.id, "InstanceId": INSTANCE_ID,
            "LanguageCode": "en-US", "Segments": segments,
        });
        if contact.channel == "CHAT" {
            v["Version"] = json!("2.0.0");
            v["StreamingEventType"] = json!(event_type);
            v["OutputType"] = json!("Raw");
        } else {
            v["Version"] = json!("1.0.0");
            v["EventType"] = json!(event_type);
        }
        let key = contact.id.clone();
        self.emit(Stream::Segments, key, &v, at);
    }

    fn set_state(&mut self, a: usize, c: usize, state: &'static str, at: DateTime<Utc>) {
        let agent = &mut self.agents[a];
        agent.all_contacts[c].state = state;
        agent.all_contacts[c].state_start = at;
        let (id, connected_at) = (agent.all_contacts[c].id.clone(), agent.all_contacts[c].connected_at);
        if let Some(live) = agent.contacts.iter_mut().find(|x| x.id == id) {
            live.state = state;
            live.state_start = at;
            live.connected_at = connected_at;
        }
    }

    fn remove_contact(&mut self, a: usize, c: usize) {
        let id = self.agents[a].all_contacts[c].id.clone();
        self.agents[a].contacts.retain(|x| x.id != id);
    }

    fn contact_record(&mut self, a: usize, c: usize, at: DateTime<Utc>) -> Value {
        let agent = &self.agents[a];
        let team = &TEAMS[agent.team];
        let k = &agent.all_contacts[c];
        let answered = k.connected_at.is_some();
        let queue = named("queue", team.queue);
        let agent_block = answered.then(|| {
            let connected = k.connected_at.unwrap_or(at);
            let ended = k.ended_at.unwrap_or(at);
            json!({
                "ARN": agent.arn(), "Username": agent.username,
                "RoutingProfile": named("routing-profile", team.profile),
                "HierarchyGroups": {"Level1": {"GroupName": team.level1}, "Level2": {"GroupName": team.level2}, "Level3": {"GroupName": team.level3}},
                "ConnectedToAgentTimestamp": ts_s(connected),
                "AgentInteractionDuration": (ended - connected).num_seconds() - k.hold_secs,
                "AfterContactWorkStartTimestamp": ts_s(ended), "AfterContactWorkEndTimestamp": ts_s(at),
                "AfterContactWorkDuration": k.acw_secs, "CustomerHoldDuration": k.hold_secs,
                "NumberOfHolds": k.holds, "LongestHoldDuration": k.hold_secs,
            })
        });
        let phone = format!("+1555{:07}", self.rng.random_range(0..10_000_000));
        json!({
            "AWSAccountId": ACCOUNT, "AWSContactTraceRecordFormatVersion": "2017-03-10",
            "Agent": agent_block, "AgentConnectionAttempts": 1,
            "Attributes": {"intent": if k.escalation { "complaint" } else { "order-status" }, "language": "en-US"},
            "Channel": k.channel, "ConnectedToSystemTimestamp": ts_s(k.queued_at), "ContactId": k.id,
            "CustomerEndpoint": if k.channel == "VOICE" { json!({"Address": phone, "Type": "TELEPHONE_NUMBER"}) } else { Value::Null },
            "DisconnectReason": if answered { "AGENT_DISCONNECT" } else { "CUSTOMER_DISCONNECT" },
            "DisconnectTimestamp": ts_s(k.ended_at.unwrap_or(at)), "InitialContactId": k.initial,
            "InitiationMethod": k.method, "InitiationTimestamp": ts_s(k.queued_at), "InstanceARN": instance_arn(),
            "LastUpdateTimestamp": ts_s(at), "MediaStreams": [{"Type": if k.channel == "VOICE" { "AUDIO" } else { "CHAT" }}],
            "NextContactId": null, "PreviousContactId": k.initial,
            "Queue": {"ARN": queue["ARN"], "Name": team.queue, "EnqueueTimestamp": ts_s(k.queued_at),
                      "DequeueTimestamp": ts_s(k.connected_at.unwrap_or(at)), "Duration": (k.connected_at.unwrap_or(at) - k.queued_at).num_seconds()},
            "Recording": if answered && k.channel == "VOICE" { json!({"Location": format!("connect-recordings/{}.wav", k.id), "Status": "AVAILABLE", "Type": "AUDIO"}) } else { Value::Null },
            "Recordings": null,
            "SystemEndpoint": if k.channel == "VOICE" { json!({"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"}) } else { Value::Null },
            "TransferCompletedTimestamp": null, "TransferredToEndpoint": null,
        })
    }

    fn publish_ctr(&mut self, ctr: &Value, at: DateTime<Utc>) {
        let id = ctr["ContactId"].as_str().unwrap_or_default().to_owned();
        let version = ctr["LastUpdateTimestamp"].as_str().unwrap_or_default().to_owned();
        self.truth.ctr_versions.insert((id.clone(), version));
        self.emit(Stream::ContactRecords, id, ctr, at);
    }

    fn step(&mut self, a: usize, at: DateTime<Utc>, action: Action) {
        let secs = |rng: &mut ChaCha8Rng, lo: i64, hi: i64| Duration::seconds(rng.random_range(lo..hi));
        match action {
            Action::Login => {
                self.agents[a].logged_in = true;
                self.agents[a].status = ("Available", "ROUTABLE", at);
                self.agent_event(a, "LOGIN", at);
                let d = secs(&mut self.rng, 30, 300);
                self.schedule(a, at + d, Action::ContactArrives);
                self.schedule(a, at + Duration::seconds(HEARTBEAT_SECS), Action::Heartbeat);
            }
            Action::Logout => {
                if self.agents[a].busy() || self.agents[a].status.0 != "Available" {
                    self.schedule(a, at + Duration::seconds(60), Action::Logout);
                    return;
                }
                self.agents[a].logged_in = false;
                self.agents[a].status = ("Offline", "OFFLINE", at);
                // Heartbeats go on for up to an hour after the logout itself (a logout can come late: busy agents).
                let after = Duration::minutes(self.rng.random_range(0..60));
                self.agents[a].heartbeat_until = at + after;
                self.agent_event(a, "LOGOUT", at);
            }
            Action::Heartbeat => {
                let agent = &self.agents[a];
                if !agent.logged_in && at > agent.heartbeat_until {
                    return;
                }
                if (at - agent.last_event).num_seconds() >= HEARTBEAT_SECS {
                    self.agent_event(a, "HEART_BEAT", at);
                }
                let next = self.agents[a].last_event + Duration::seconds(HEARTBEAT_SECS);
                self.schedule(a, next.max(at + Duration::seconds(1)), Action::Heartbeat);
            }
            Action::StartBreak { minutes } => {
                let agent = &self.agents[a];
                if !agent.logged_in || at >= agent.shift_end {
                    return;
                }
                if agent.busy() || agent.status.0 != "Available" {
                    self.schedule(a, at + Duration::seconds(60), Action::StartBreak { minutes });
                    return;
                }
                self.agents[a].status = ("Break", "CUSTOM", at);
                self.agent_event(a, "STATE_CHANGE", at);
                if minutes >= 16 {
                    self.truth.long_breaks.push((self.agents[a].username.clone(), ts(at)));
                }
                let d = Duration::minutes(minutes) + secs(&mut self.rng, 0, 50);
                self.schedule(a, at + d, Action::EndBreak);
            }
            Action::EndBreak => {
                self.agents[a].status = ("Available", "ROUTABLE", at);
                self.agent_event(a, "STATE_CHANGE", at);
            }
            Action::ContactArrives => {
                let next = at + secs(&mut self.rng, 60, 420);
                if !self.agents[a].logged_in || at >= self.agents[a].shift_end {
                    return;
                }
                self.schedule(a, next, Action::ContactArrives);
                let agent = &self.agents[a];
                if agent.status.0 != "Available" || agent.contacts.len() >= agent.max_slots() {
                    return;
                }
                let channel = TEAMS[agent.team].channel;
                let roll: f64 = self.rng.random();
                let (method, initial) = match roll {
                    r if r < 0.08 => ("OUTBOUND", None),
                    r if r < 0.13 => ("CALLBACK", Some(uuid(&mut self.rng))),
                    r if r < 0.18 => ("TRANSFER", Some(uuid(&mut self.rng))),
                    _ => ("INBOUND", None),
                };
                let lens = self.rng.random_bool(0.6);
                let contact = SimContact {
                    id: uuid(&mut self.rng),
                    channel,
                    method,
                    initial,
                    state: "CONNECTING",
                    state_start: at,
                    queued_at: at - secs(&mut self.rng, 5, 90),
                    connected_at: None,
                    ended_at: None,
                    holds: 0,
                    hold_secs: 0,
                    lens,
                    angry: lens && self.rng.random_bool(0.1),
                    escalation: lens && self.rng.random_bool(0.05),
                    turns: 0,
                    neg_streak: 0,
                    offset_ms: 0,
                    acw_secs: 0,
                    ctr: None,
                };
                self.truth.contacts += 1;
                let c = self.agents[a].all_contacts.len();
                self.agents[a].contacts.push(contact.clone());
                self.agents[a].all_contacts.push(contact);
                self.agent_event(a, "STATE_CHANGE", at);
                if self.rng.random_bool(0.04) {
                    self.schedule(a, at + Duration::seconds(20), Action::Miss(c));
                } else {
                    let d = secs(&mut self.rng, 3, 12);
                    self.schedule(a, at + d, Action::Connect(c));
                }
            }
            Action::Miss(c) => {
                self.truth.missed_contacts += 1;
                self.set_state(a, c, "MISSED", at);
                self.agent_event(a, "STATE_CHANGE", at);
                self.schedule(a, at + Duration::seconds(5), Action::ClearMissed(c));
            }
            Action::ClearMissed(c) => {
                self.remove_contact(a, c);
                self.agents[a].all_contacts[c].ended_at = Some(at);
                self.agent_event(a, "STATE_CHANGE", at);
                let ctr = self.contact_record(a, c, at);
                self.publish_ctr(&ctr, at);
            }
            Action::Connect(c) => {
                self.agents[a].all_contacts[c].connected_at = Some(at);
                self.set_state(a, c, "CONNECTED", at);
                self.agent_event(a, "STATE_CHANGE", at);
                let contact = &self.agents[a].all_contacts[c];
                let talk = secs(&mut self.rng, 120, 600);
                if contact.lens {
                    self.segment(a, c, "STARTED", Vec::new(), at);
                    self.schedule(a, at + Duration::seconds(SEGMENT_TICK_SECS), Action::SegmentTick(c));
                }
                if self.rng.random_bool(0.2) {
                    let d = secs(&mut self.rng, 40, 100);
                    self.schedule(a, at + d, Action::Hold(c));
                }
                self.schedule(a, at + talk, Action::End(c));
            }
            Action::Hold(c) => {
                if self.agents[a].all_contacts[c].state != "CONNECTED" {
                    return;
                }
                self.set_state(a, c, "CONNECTED_ONHOLD", at);
                self.agents[a].all_contacts[c].holds += 1;
                self.agent_event(a, "STATE_CHANGE", at);
                let d = secs(&mut self.rng, 10, 15);
                self.agents[a].all_contacts[c].hold_secs += d.num_seconds();
                self.schedule(a, at + d, Action::Resume(c));
            }
            Action::Resume(c) => {
                if self.agents[a].all_contacts[c].state != "CONNECTED_ONHOLD" {
                    return;
                }
                self.set_state(a, c, "CONNECTED", at);
                self.agent_event(a, "STATE_CHANGE", at);
            }
            Action::End(c) => {
                self.agents[a].all_contacts[c].ended_at = Some(at);
                self.set_state(a, c, "ENDED", at);
                self.agent_event(a, "STATE_CHANGE", at);
                if self.agents[a].all_contacts[c].lens {
                    self.segment(a, c, "COMPLETED", Vec::new(), at);
                }
                let acw = if self.rng.random_bool(0.05) {
                    self.rng.random_range(500..600)
                } else {
                    self.rng.random_range(15..120)
                };
                // Over 480 s, so an event of the agent (at worst the heartbeat 120 s after the last) falls after minute 6.
                if acw >= 500 {
                    let id = self.agents[a].all_contacts[c].id.clone();
                    self.truth.long_acw.push((self.agents[a].username.clone(), id));
                }
                self.agents[a].all_contacts[c].acw_secs = acw;
                self.schedule(a, at + Duration::seconds(acw), Action::AcwDone(c));
            }
            Action::AcwDone(c) => {
                self.remove_contact(a, c);
                self.agent_event(a, "STATE_CHANGE", at);
                let ctr = self.contact_record(a, c, at);
                self.publish_ctr(&ctr, at);
                if self.rng.random_bool(0.1) {
                    self.agents[a].all_contacts[c].ctr = Some(ctr);
                    let d = Duration::minutes(self.rng.random_range(20..90));
                    self.schedule(a, at + d, Action::Republish(c));
                }
            }
            Action::Republish(c) => {
                if let Some(mut ctr) = self.agents[a].all_contacts[c].ctr.take() {
                    ctr["Attributes"]["csatScore"] = json!(self.rng.random_range(1..6).to_string());
                    ctr["LastUpdateTimestamp"] = json!(ts_s(at));
                    self.truth.republished += 1;
                    self.publish_ctr(&ctr, at);
                }
            }
            Action::SegmentTick(c) => {
                let state = self.agents[a].all_contacts[c].state;
                if state == "ENDED" {
                    return;
                }
                let mut segments = Vec::new();
                for _ in 0..self.rng.random_range(1..4) {
                    segments.push(self.turn(a, c));
                }
                let contact = &mut self.agents[a].all_contacts[c];
                if contact.escalation && contact.turns >= 4 && !self.truth.escalation_contacts.contains(&contact.id) {
                    self.truth.escalation_contacts.insert(contact.id.clone());
                    segments.push(
                        json!({"Categories": {"MatchedCategories": ["escalation-request"], "MatchedDetails": {}}}),
                    );
                }
                self.segment(a, c, "SEGMENTS", segments, at);
                self.schedule(a, at + Duration::seconds(SEGMENT_TICK_SECS), Action::SegmentTick(c));
            }
        }
    }

    /// One finished transcript turn; angry customers turn NEGATIVE three times in a row, others never do.
    fn turn(&mut self, a: usize, c: usize) -> Value {
        let contact = &mut self.agents[a].all_contacts[c];
        contact.turns += 1;
        let customer = contact.turns % 2 == 1;
        let sentiment = if !customer {
            "NEUTRAL"
        } else if (contact.angry && contact.turns >= 3 && contact.neg_streak < 3)
            || (contact.neg_streak == 0 && self.rng.random_bool(0.1))
        {
            "NEGATIVE"
        } else {
            ["POSITIVE", "NEUTRAL", "MIXED"][self.rng.random_range(0..3)]
        };
        if customer {
            contact.neg_streak = if sentiment == "NEGATIVE" { contact.neg_streak + 1 } else { 0 };
            if contact.neg_streak >= 3 {
                self.truth.angry_contacts.insert(contact.id.clone());
            }
        }
        let begin = contact.offset_ms;
        contact.offset_ms += 4_000;
        let role = if customer { "CUSTOMER" } else { "AGENT" };
        json!({"Transcript": {
            "Id": format!("{}-{}", &contact.id[..8], contact.turns), "ParticipantId": role, "ParticipantRole": role,
            "Content": if customer { "I am calling about my order, it has not arrived yet." } else { "Let me check that for you right away." },
            "BeginOffsetMillis": begin, "EndOffsetMillis": begin + 3_500, "Sentiment": sentiment
        }})
    }
}

impl Iterator for DayGenerator {
    type Item = GenRecord;

    fn next(&mut self) -> Option<GenRecord> {
        loop {
            if let Some((rec, n)) = self.delayed.take() {
                if n == 0 || (self.out.is_empty() && self.heap.is_empty()) {
                    self.out.push_back(rec);
                } else if !self.out.is_empty() {
                    self.delayed = Some((rec, n - 1));
                    return self.out.pop_front();
                } else {
                    self.delayed = Some((rec, n));
                }
            }
            if let Some(r) = self.out.pop_front() {
                return Some(r);
            }
            let Reverse((_, a)) = self.heap.pop()?;
            let Some(Reverse((at, _, action))) = self.agents[a].pending.pop() else { continue };
            self.step(a, at, action);
            if let Some(Reverse((next, _, _))) = self.agents[a].pending.peek() {
                self.heap.push(Reverse((*next, a)));
            }
        }
    }
}
