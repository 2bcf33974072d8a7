//! Test helpers: fixtures from events/, Kinesis items, a manual clock, publishers that fail on purpose.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::adapters::intercept::{Call, Hook, Intercepted, Verdict};
use shared::adapters::memory::{MemoryItemStore, MemoryPublisher};
use shared::kinesis::{KinesisItem, SeqNo};
use shared::ports::{Message, PortError};
#[allow(unused_imports)] // not every test binary builds settings
pub use supervisor_alerts::config::Settings;

use supervisor_alerts::rules::{Rules, validate};

pub fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// A raw fixture's bytes, e.g. `raw/agent/status-break.json`.
pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(events_dir().join(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

/// The Kinesis records of an envelope file, in order.
pub fn envelope(path: &str) -> Vec<KinesisItem> {
    let event: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_slice(&fixture(path)).unwrap();
    shared::kinesis::items_from_event(event)
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A Kinesis item with a fresh, increasing sequence number.
pub fn item(data: Vec<u8>, arrival: &str) -> KinesisItem {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    KinesisItem {
        index: 0,
        seq: SeqNo::parse(&format!("4959{n:052}")),
        shard_id: "shardId-000000000000".into(),
        partition_key: "test".into(),
        arrival: ts(arrival),
        stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/test".into(),
        data,
    }
}

pub fn json_item(v: &Value, arrival: &str) -> KinesisItem {
    item(serde_json::to_vec(v).unwrap(), arrival)
}

/// Numbers items 0.. in batch order.
pub fn batch(mut items: Vec<KinesisItem>) -> Vec<KinesisItem> {
    for (i, it) in items.iter_mut().enumerate() {
        it.index = i;
    }
    items
}

pub fn ts(s: &str) -> DateTime<Utc> {
    shared::model::time::parse(s).unwrap()
}

/// An agent event fixture re-timed (and given a new event id), e.g. a heartbeat later in the same status.
pub fn agent_event_at(path: &str, event_type: &str, at: &str) -> Value {
    let mut v = fixture_json(path);
    v["EventType"] = Value::String(event_type.into());
    v["EventTimestamp"] = Value::String(at.into());
    v["EventId"] = Value::String(format!("test-{}", SEQ.fetch_add(1, Ordering::Relaxed)));
    if event_type == "HEART_BEAT" {
        v["PreviousAgentSnapshot"] = v["CurrentAgentSnapshot"].clone();
    }
    v
}

pub fn rules(json: &str) -> Rules {
    validate(json).unwrap_or_else(|e| panic!("test rules invalid: {e}"))
}

pub fn one_rule(rule: &str) -> Rules {
    rules(&format!(r#"{{"rules":[{rule}]}}"#))
}

#[allow(unused_imports)] // not every test binary moves time
pub use shared::clock::ManualClock;

/// What a publisher's next calls do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// SNS answers, but every entry failed on its side (server fault): definitely not published.
    EntryTransient,
    /// SNS refused the entries as invalid (sender fault).
    EntryPermanent,
    /// The call timed out: unknown whether SNS published.
    Timeout,
}

/// Fails the first `fail_calls` publish calls as told (a hook on the memory publisher: [`flaky_publisher`]).
#[derive(Debug, Clone)]
pub struct PublishFaults {
    pub failure: Failure,
    pub fail_calls: Arc<AtomicUsize>,
    pub calls: Arc<AtomicUsize>,
}

/// The memory publisher, its first `fail_calls` calls failing as `failure` says.
pub type FlakyPublisher = Intercepted<MemoryPublisher, PublishFaults>;

pub fn flaky_publisher(failure: Failure, fail_calls: usize) -> FlakyPublisher {
    let faults = PublishFaults {
        failure,
        fail_calls: Arc::new(AtomicUsize::new(fail_calls)),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    Intercepted::new(MemoryPublisher::new(), faults)
}

impl Hook for PublishFaults {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        let Call::Publish { messages } = call else { return Verdict::Pass };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let fail = self.fail_calls.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok();
        if !fail {
            return Verdict::Pass;
        }
        match self.failure {
            Failure::EntryTransient => Verdict::Entries(
                messages.iter().map(|_| Err(PortError::transient("sns", "entry failed: InternalError"))).collect(),
            ),
            Failure::EntryPermanent => Verdict::Entries(
                messages.iter().map(|_| Err(PortError::permanent("sns", "entry rejected: InvalidParameter"))).collect(),
            ),
            Failure::Timeout => Verdict::Fail(PortError::ambiguous("sns", "timeout")),
        }
    }
}

/// Fails writes as told (a hook on the memory store: [`FailingStore`]). `batch_put`: the next `transient_calls`
/// calls fail with a throttling error (nothing written), and every call holding the item `refused_pk` fails
/// permanently (DynamoDB's ValidationException: nothing written). `put`: while `throttled_put_prefix` holds a prefix,
/// puts of items whose `pk` starts with it fail with a throttling error. Other calls pass through.
#[derive(Debug, Clone, Default)]
pub struct StoreFaults {
    pub transient_calls: Arc<AtomicUsize>,
    pub refused_pk: Option<String>,
    /// `batch_put` calls made, failed ones included.
    pub batch_calls: Arc<AtomicUsize>,
    pub throttled_put_prefix: Arc<Mutex<Option<String>>>,
}

/// The memory store with [`StoreFaults`].
pub type FailingStore = Intercepted<MemoryItemStore, StoreFaults>;

pub fn failing_store(faults: StoreFaults) -> FailingStore {
    Intercepted::new(MemoryItemStore::default(), faults)
}

impl StoreFaults {
    pub fn throttle_puts(&self, pk_prefix: Option<&str>) {
        *self.throttled_put_prefix.lock().unwrap() = pk_prefix.map(str::to_owned);
    }
}

impl Hook for StoreFaults {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        let throttled = || Verdict::Fail(PortError::transient("dynamodb", "ThrottlingException"));
        match call {
            Call::PutItem { item, .. } => {
                let prefix = self.throttled_put_prefix.lock().unwrap().clone();
                let pk = item.get("pk").and_then(Value::as_str);
                if prefix.is_some_and(|prefix| pk.is_some_and(|pk| pk.starts_with(prefix.as_str()))) {
                    return throttled();
                }
                Verdict::Pass
            }
            Call::BatchPut { items } => {
                self.batch_calls.fetch_add(1, Ordering::Relaxed);
                if self.transient_calls.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
                {
                    return throttled();
                }
                if let Some(pk) = &self.refused_pk
                    && items.iter().any(|i| i["pk"] == pk.as_str())
                {
                    return Verdict::Fail(PortError::permanent("dynamodb", "ValidationException"));
                }
                Verdict::Pass
            }
            _ => Verdict::Pass,
        }
    }
}

/// The published messages' bodies as JSON.
pub fn bodies(messages: &[Message]) -> Vec<Value> {
    messages.iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
}

/// Published alert ids, in publish order.
pub fn alert_ids(messages: &[Message]) -> Vec<String> {
    bodies(messages).iter().map(|b| b["alertId"].as_str().unwrap().to_owned()).collect()
}

/// Published rule names, in publish order.
pub fn rule_names(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.attributes["rule"].clone()).collect()
}

pub fn attrs(m: &Message) -> BTreeMap<String, String> {
    m.attributes.clone()
}

/// Sentences and numbers that must never reach an alert or a log line.
pub const PERSONAL_DATA: &[&str] = &[
    "teal kayak paddle",
    "third time I have called",
    "tracking page has said pending",
    "full refund",
    "speak to your supervisor",
    "thermostat",
    "ridiculous",
    "+1555555",
    "John",
    "Doe",
    "Ann Smith",
];
