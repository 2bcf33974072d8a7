//! Test support shared by the agent-state test binaries: fixtures, batches, a realistic agent-event generator,
//! store wrappers (interleaving, flaky), the moto table, and the scenarios run against both stores.

#![allow(dead_code)]

pub mod generator;
pub mod scenarios;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use agent_state::config::Settings;
use agent_state::table::{self, AgentView};
use agent_state::{AgentState, NAME};
use aws_lambda_events::event::kinesis::KinesisEvent;
use serde_json::Value;
use shared::adapters::intercept::{Call, Hook, Intercepted, Verdict};
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore};
use shared::batch::{BatchReport, run_items};
use shared::kinesis::{KinesisItem, SeqNo, items_from_event};
use shared::ports::{Item, ItemStore, PortError};
use shared::quarantine::ObjectQuarantine;

pub const INSTANCE: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111";
pub const JDOE: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/f7fd8b2d-fc26-45b7-90fb-8b8d91076163";
pub const ASMITH: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/28cf2b76-a414-4c40-a154-2a9f608eebcb";
pub const KBROWN: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/c3275a32-0b71-401c-aa25-b5771f22e0b0";
pub const VOICE_SALES: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/routing-profile/8f2ac5c5-b41c-402a-afab-055b99334c58";

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// A raw agent event fixture's bytes (`events/raw/agent/<name>.json`).
pub fn raw(name: &str) -> Vec<u8> {
    let path = events_dir().join("raw/agent").join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A raw fixture as JSON, to derive variants from.
pub fn raw_json(name: &str) -> Value {
    serde_json::from_slice(&raw(name)).expect("fixture is JSON")
}

pub fn bad(name: &str) -> Vec<u8> {
    let path = events_dir().join("bad").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn other_raw(dir: &str, name: &str) -> Vec<u8> {
    let path = events_dir().join("raw").join(dir).join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The records of a Kinesis envelope fixture (`events/envelopes/<name>.json`), as Lambda delivers them.
pub fn envelope(name: &str) -> Vec<KinesisItem> {
    let path = events_dir().join("envelopes").join(format!("{name}.json"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let event: KinesisEvent = serde_json::from_slice(&bytes).expect("envelope parses");
    items_from_event(event)
}

/// A variant of a JSON payload with some top-level fields replaced.
pub fn with(mut payload: Value, fields: &[(&str, Value)]) -> Vec<u8> {
    for (k, v) in fields {
        payload[*k] = v.clone();
    }
    serde_json::to_vec(&payload).expect("serialises")
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// Records as one Kinesis batch, with fresh, increasing sequence numbers.
pub fn batch(payloads: &[Vec<u8>]) -> Vec<KinesisItem> {
    payloads
        .iter()
        .enumerate()
        .map(|(index, data)| {
            let n = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
            KinesisItem {
                index,
                seq: SeqNo::parse(&format!("4965{n:052}")),
                shard_id: "shardId-000000000000".into(),
                partition_key: "agent".into(),
                arrival: chrono::Utc::now(),
                stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/connect-agent-events".into(),
                data: data.clone(),
            }
        })
        .collect()
}

pub fn memory_store() -> MemoryItemStore {
    MemoryItemStore::new(&agent_state::INDEXES)
}

pub fn handler<S: ItemStore>(store: S) -> AgentState<S> {
    AgentState::new(store, Settings::default())
}

/// Runs a batch through the shared batch contract (quarantine in memory) and returns its report.
pub async fn run<S: ItemStore>(handler: &AgentState<S>, items: &[KinesisItem]) -> BatchReport {
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let (_, report) = run_items(NAME, items, handler, &quarantine).await.expect("batch runs");
    report
}

/// Payloads, each in its own batch, in the order given.
pub async fn run_each<S: ItemStore>(handler: &AgentState<S>, payloads: &[Vec<u8>]) {
    for p in payloads {
        run(handler, &batch(std::slice::from_ref(p))).await;
    }
}

pub async fn agent<S: ItemStore>(store: &S, arn: &str) -> AgentView {
    table::agent(store, arn).await.expect("read").expect("agent item exists")
}

/// The raw current item.
pub async fn current_item<S: ItemStore>(store: &S, arn: &str) -> Option<Item> {
    store.get(arn, table::CURRENT_SK).await.expect("read")
}

// ---------------------------------------------------------------------------------------------------------------
// Store wrappers.

/// Yields to the scheduler before every call, so two handlers joined on one task really interleave their writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interleaving;

impl Hook for Interleaving {
    async fn before(&self, _: &Call<'_>) -> Verdict {
        tokio::task::yield_now().await;
        Verdict::Pass
    }
}

/// `store` with [`Interleaving`].
pub fn interleaving<S>(store: S) -> Intercepted<S, Interleaving> {
    Intercepted::new(store, Interleaving)
}

/// Fails chosen calls: the n-th `update`s (1-based) and/or every `batch_put`, with a given error.
#[derive(Debug, Clone)]
pub struct Flaky {
    pub fail_updates: Vec<usize>,
    pub fail_batch_put: bool,
    pub error: PortError,
    pub updates: Arc<AtomicUsize>,
}

impl Flaky {
    pub fn new(error: PortError) -> Self {
        Self { fail_updates: Vec::new(), fail_batch_put: false, error, updates: Arc::new(AtomicUsize::new(0)) }
    }
}

impl Hook for Flaky {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        let fail = match call {
            Call::UpdateItem { .. } => self.fail_updates.contains(&(self.updates.fetch_add(1, Ordering::SeqCst) + 1)),
            Call::BatchPut { .. } => self.fail_batch_put,
            _ => false,
        };
        if fail { Verdict::Fail(self.error.clone()) } else { Verdict::Pass }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The emulator.

pub mod moto {
    use shared::adapters::aws::dynamodb::DynamoItemStore;

    /// A fresh table shaped like template.yaml's AgentStateTable, on the emulator at `AWS_ENDPOINT_URL`.
    pub async fn table(label: &str) -> DynamoItemStore {
        agent_state::testing::moto_table(label).await
    }
}
