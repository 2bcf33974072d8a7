//! The day's generator: a heap of agents by time, the records they emit, and what the day implies ([`super::Truth`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::agents::*;
use super::*;

/// The day, as an iterator of records in (roughly) time order.
pub struct DayGenerator {
    pub(super) config: DayConfig,
    pub(super) rng: ChaCha8Rng,
    pub(super) agents: Vec<AgentSim>,
    pub(super) heap: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
    pub(super) out: VecDeque<GenRecord>,
    pub(super) delayed: Option<(GenRecord, usize)>,
    pub(super) tick: u64,
    pub(super) truth: Truth,
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

    pub(super) fn schedule(&mut self, agent: usize, at: DateTime<Utc>, action: Action) {
        self.tick += 1;
        self.agents[agent].pending.push(Reverse((at, self.tick, action)));
    }

    pub(super) fn emit(&mut self, stream: Stream, partition_key: String, value: &Value, at: DateTime<Utc>) {
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

    pub(super) fn agent_event(&mut self, a: usize, event_type: &str, at: DateTime<Utc>) {
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

    pub(super) fn segment(&mut self, a: usize, c: usize, event_type: &str, segments: Vec<Value>, at: DateTime<Utc>) {
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

    pub(super) fn set_state(&mut self, a: usize, c: usize, state: &'static str, at: DateTime<Utc>) {
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

    pub(super) fn remove_contact(&mut self, a: usize, c: usize) {
        let id = self.agents[a].all_contacts[c].id.clone();
        self.agents[a].contacts.retain(|x| x.id != id);
    }

    pub(super) fn contact_record(&mut self, a: usize, c: usize, at: DateTime<Utc>) -> Value {
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

    pub(super) fn publish_ctr(&mut self, ctr: &Value, at: DateTime<Utc>) {
        let id = ctr["ContactId"].as_str().unwrap_or_default().to_owned();
        let version = ctr["LastUpdateTimestamp"].as_str().unwrap_or_default().to_owned();
        self.truth.ctr_versions.insert((id.clone(), version));
        self.emit(Stream::ContactRecords, id, ctr, at);
    }

    /// One finished transcript turn; angry customers turn NEGATIVE three times in a row, others never do.
    pub(super) fn turn(&mut self, a: usize, c: usize) -> Value {
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
