//! Bad input inside good batches, through every function: each file of events/bad/ between good fixtures of
//! events/raw/, and property tests with arbitrary bytes and arbitrary Connect-like JSON. No panic; every bad record
//! quarantined with a precise reason (or, where the manifest calls it valid, processed); every good neighbour
//! processed; the partial-batch response names nothing or the lowest failing sequence number.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use agent_state::AgentState;
use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::ContactArchiver;
use futures::FutureExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use shared::adapters::fault::{FaultPlan, Faulty};
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
use shared::batch::{Disposition, Processor, run_items};
use shared::kinesis::{KinesisItem, SeqNo};
use shared::quarantine::{ObjectQuarantine, QuarantineEntry};
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;

fn events() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn example_rules() -> Rules {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions/supervisor-alerts/rules.example.json");
    connect_replay::app::load_rules(Some(&path)).unwrap()
}

/// Every raw fixture (agent events, contact records, segments), as Connect would send it.
fn good_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["agent", "ctr", "segments"] {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(events().join("raw").join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            out.push((format!("raw/{dir}/{}", f.file_name().unwrap().to_string_lossy()), std::fs::read(&f).unwrap()));
        }
    }
    out
}

#[derive(Debug, Clone, serde::Deserialize)]
struct ManifestEntry {
    file: String,
    expect: String,
    kind_if_valid: Option<String>,
    reason_contains: Option<String>,
}

fn bad_files() -> Vec<(ManifestEntry, Vec<u8>)> {
    let manifest: Vec<ManifestEntry> =
        serde_json::from_slice(&std::fs::read(events().join("bad/MANIFEST.json")).unwrap()).unwrap();
    let on_disk = std::fs::read_dir(events().join("bad")).unwrap().count() - 1;
    assert_eq!(manifest.len(), on_disk, "every file of events/bad/ is in MANIFEST.json");
    assert_eq!(manifest.len(), 40);
    manifest
        .into_iter()
        .map(|e| {
            let data = std::fs::read(events().join("bad").join(&e.file)).unwrap();
            (e, data)
        })
        .collect()
}

fn arrival() -> DateTime<Utc> {
    shared::model::time::parse("2026-11-02T18:00:00Z").unwrap()
}

/// A batch as Lambda gives it: one shard, increasing sequence numbers.
fn batch(data: Vec<Vec<u8>>) -> Vec<KinesisItem> {
    data.into_iter()
        .enumerate()
        .map(|(index, data)| KinesisItem {
            index,
            seq: SeqNo::parse(&format!("4959{:052}", index + 1)),
            shard_id: "shardId-000000000000".into(),
            partition_key: format!("key-{}", index % 7),
            arrival: arrival(),
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/connect-mixed".into(),
            data,
        })
        .collect()
}

/// A processor whose dispositions are kept for the test to read.
struct Recorded<P> {
    inner: P,
    last: Mutex<Vec<Disposition>>,
}

impl<P> Recorded<P> {
    fn new(inner: P) -> Self {
        Self { inner, last: Mutex::new(Vec::new()) }
    }
    fn dispositions(&self) -> Vec<Disposition> {
        self.last.lock().unwrap().clone()
    }
}

impl<P: Processor> Processor for Recorded<P> {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        let d = self.inner.process(items).await;
        *self.last.lock().unwrap() = d.clone();
        d
    }
}

/// What one invocation did: its response, the processor's dispositions and the quarantine afterwards.
struct Invocation {
    response: KinesisEventResponse,
    dispositions: Vec<Disposition>,
    quarantine: Vec<QuarantineEntry>,
}

/// Runs `items` through `processor` with the batch driver, failing the test (with the function's name) on a panic.
async fn invoke<P: Processor>(
    function: &str,
    processor: &Recorded<P>,
    quarantine: &ObjectQuarantine<MemoryObjectStore>,
    items: &[KinesisItem],
) -> Invocation {
    let result = AssertUnwindSafe(run_items(function, items, processor, quarantine)).catch_unwind().await;
    let (response, _) = match result {
        Ok(r) => r.unwrap_or_else(|e| panic!("{function}: batch error {e}")),
        Err(_) => panic!("{function} panicked"),
    };
    Invocation { response, dispositions: processor.dispositions(), quarantine: quarantine.entries().await.unwrap() }
}

fn quarantine() -> ObjectQuarantine<MemoryObjectStore> {
    ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/")
}

/// The role of each record of the mixed batch.
#[derive(Debug, Clone)]
enum Role {
    Good(String),
    Bad(ManifestEntry),
}

/// good, bad, good, bad, … — every bad file between two good fixtures (the good ones cycle as needed).
fn mixed_batch() -> (Vec<Role>, Vec<KinesisItem>) {
    let good = good_fixtures();
    let bad = bad_files();
    let (mut roles, mut data) = (Vec::new(), Vec::new());
    for (i, (entry, bytes)) in bad.into_iter().enumerate() {
        let (name, g) = &good[i % good.len()];
        roles.push(Role::Good(name.clone()));
        data.push(g.clone());
        roles.push(Role::Bad(entry));
        data.push(bytes);
    }
    for (name, g) in good.iter().skip(roles.len() / 2) {
        roles.push(Role::Good(name.clone()));
        data.push(g.clone());
    }
    (roles, batch(data))
}

fn processed(d: &Disposition) -> bool {
    matches!(d, Disposition::Done | Disposition::Stale | Disposition::Skipped)
}

/// The checks of one function on the mixed batch; `valid_must_be_done`: the archiver keeps every valid record.
fn check_mixed(function: &str, roles: &[Role], items: &[KinesisItem], run: &Invocation, valid_must_be_done: bool) {
    assert_eq!(run.dispositions.len(), items.len(), "{function}: one disposition per record");
    assert!(run.response.batch_item_failures.is_empty(), "{function}: nothing to retry: {:?}", run.response);
    let by_seq: BTreeMap<&str, &QuarantineEntry> =
        run.quarantine.iter().map(|e| (e.sequence_number.as_str(), e)).collect();
    let mut invalid = 0;
    for ((role, item), d) in roles.iter().zip(items).zip(&run.dispositions) {
        let seq = item.seq_str();
        match role {
            Role::Good(name) => {
                assert!(processed(d), "{function}: good neighbour {name} was {d:?}");
                assert!(!by_seq.contains_key(seq), "{function}: good neighbour {name} quarantined");
            }
            Role::Bad(entry) if entry.expect == "invalid" => {
                invalid += 1;
                let want = entry.reason_contains.as_deref().unwrap();
                let Disposition::Poison(reason) = d else {
                    panic!("{function}: {} should be poison, was {d:?}", entry.file);
                };
                assert!(
                    reason.to_string().to_lowercase().contains(want),
                    "{function}: {}: reason {reason:?} lacks {want:?}",
                    entry.file
                );
                let q = by_seq.get(seq).unwrap_or_else(|| panic!("{function}: {} not quarantined", entry.file));
                assert_eq!(q.function, function);
                assert_eq!(q.reason_code, reason.code(), "{function}: {}", entry.file);
                assert!(
                    q.reason.to_lowercase().contains(want),
                    "{function}: {}: stored reason {:?}",
                    entry.file,
                    q.reason
                );
                assert_eq!(
                    q.data().as_deref(),
                    Some(item.data.as_slice()),
                    "{function}: {}: raw bytes kept",
                    entry.file
                );
            }
            Role::Bad(entry) => {
                assert!(processed(d), "{function}: valid {} was {d:?}", entry.file);
                assert!(!valid_must_be_done || *d == Disposition::Done, "{function}: valid {} was {d:?}", entry.file);
                assert!(!by_seq.contains_key(seq), "{function}: valid {} quarantined", entry.file);
                let kind = shared::classify(&item.data).map(|r| r.kind()).ok();
                let want = match entry.kind_if_valid.as_deref() {
                    Some("agent") => Some(shared::RecordKind::AgentEvent),
                    Some("ctr") => Some(shared::RecordKind::ContactRecord),
                    Some("segment") => Some(shared::RecordKind::AnalysisSegment),
                    other => panic!("{}: kind_if_valid {other:?}", entry.file),
                };
                assert_eq!(kind, want, "{}", entry.file);
            }
        }
    }
    assert_eq!(run.quarantine.len(), invalid, "{function}: exactly the invalid records are quarantined");
    assert_eq!(invalid, 29, "the manifest's invalid files");
}

#[tokio::test]
async fn every_bad_file_between_good_records_is_quarantined_with_its_reason_and_every_good_one_processed() {
    let (roles, items) = mixed_batch();
    assert_eq!(items.len(), 80, "40 bad files, each between good fixtures");

    let archiver =
        Recorded::new(ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Both, ArchiveKinds::ALL));
    let agent_state = Recorded::new(AgentState::new(
        MemoryItemStore::new(&agent_state::INDEXES),
        agent_state::config::Settings::default(),
    ));
    let rules = example_rules();
    let settings = supervisor_alerts::config::Settings::replay();
    let publisher = MemoryPublisher::new();
    let alerts = Recorded::new(SupervisorAlerts::new(rules, MemoryItemStore::new(&[]), publisher.clone(), settings));
    let quarantines = [quarantine(), quarantine(), quarantine()];

    // Twice: the second delivery (a redelivery of the whole batch) must come to the same end.
    for _ in 0..2 {
        let run = invoke(contact_archiver::handler::NAME, &archiver, &quarantines[0], &items).await;
        check_mixed(contact_archiver::handler::NAME, &roles, &items, &run, true);
        let run = invoke(agent_state::NAME, &agent_state, &quarantines[1], &items).await;
        check_mixed(agent_state::NAME, &roles, &items, &run, false);
        let run = invoke(supervisor_alerts::NAME, &alerts, &quarantines[2], &items).await;
        check_mixed(supervisor_alerts::NAME, &roles, &items, &run, false);
    }
    assert!(!archiver.inner.store().is_empty(), "the good records were archived");
    assert!(!agent_state.inner.store().all().is_empty(), "the agent events reached the board");
    assert!(!publisher.published().is_empty(), "the alert fixtures raised alerts despite their bad neighbours");
}

// -- property tests ----------------------------------------------------------------------------------------------

/// Keys of the three payload kinds and of their nested objects.
const KEYS: &[&str] = &[
    "AWSAccountId",
    "AgentARN",
    "CurrentAgentSnapshot",
    "PreviousAgentSnapshot",
    "EventId",
    "EventTimestamp",
    "EventType",
    "InstanceARN",
    "Version",
    "AgentStatus",
    "Configuration",
    "Contacts",
    "ContactId",
    "InitialContactId",
    "Channel",
    "InitiationMethod",
    "State",
    "StateStartTimestamp",
    "Queue",
    "ARN",
    "Name",
    "Type",
    "StartTimestamp",
    "RoutingProfile",
    "AgentHierarchyGroups",
    "Level1",
    "Username",
    "LastUpdateTimestamp",
    "InitiationTimestamp",
    "DisconnectTimestamp",
    "Attributes",
    "CustomerEndpoint",
    "Address",
    "Agent",
    "Recording",
    "Segments",
    "Transcript",
    "Utterance",
    "Categories",
    "MatchedCategories",
    "Content",
    "Sentiment",
    "ParticipantRole",
    "BeginOffsetMillis",
    "EndOffsetMillis",
    "StreamingEventType",
    "InstanceId",
    "LanguageCode",
    "AccountId",
    "AWSContactTraceRecordFormatVersion",
    "_raw_base64",
];

/// Strings a Connect payload holds, plus the awkward ones.
fn connect_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2026-11-02T09:00:00.000Z".to_owned()),
        Just("2026-11-02T09:00:00Z".to_owned()),
        Just("02/11/2026 09:00".to_owned()),
        Just("STATE_CHANGE".to_owned()),
        Just("HEART_BEAT".to_owned()),
        Just("LOGIN".to_owned()),
        Just("SEGMENTS".to_owned()),
        Just("ENDED".to_owned()),
        Just("NEGATIVE".to_owned()),
        Just("VOICE".to_owned()),
        Just("arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/x".to_owned()),
        Just("+15555550123".to_owned()),
        Just(String::new()),
        "[a-zA-Z0-9:._/+-]{0,24}",
        any::<String>(),
    ]
}

fn connect_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        connect_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// A JSON object with Connect's top-level keys.
fn connect_object() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((proptest::sample::select(KEYS), connect_json()), 0..10).prop_map(|kv| {
        let map: serde_json::Map<String, Value> = kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        serde_json::to_vec(&Value::Object(map)).unwrap()
    })
}

/// A real fixture with one field (at any depth) replaced by an arbitrary value or removed.
fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    let fixtures: Vec<Value> =
        good_fixtures().into_iter().map(|(_, data)| serde_json::from_slice(&data).unwrap()).collect();
    (proptest::sample::select(fixtures), any::<usize>(), proptest::option::of(connect_json())).prop_map(
        |(mut v, pick, replacement)| {
            let mut paths = Vec::new();
            collect_paths(&v, &mut Vec::new(), &mut paths);
            if !paths.is_empty() {
                let path = &paths[pick % paths.len()];
                set_at(&mut v, path, replacement);
            }
            serde_json::to_vec(&v).unwrap()
        },
    )
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn collect_paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                out.push(at.clone());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(Step::Index(i));
                out.push(at.clone());
                collect_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn set_at(v: &mut Value, path: &[Step], replacement: Option<Value>) {
    let (last, parents) = path.split_last().unwrap();
    let mut node = v;
    for step in parents {
        node = match step {
            Step::Key(k) => &mut node[k.as_str()],
            Step::Index(i) => &mut node[*i],
        };
    }
    match (last, node, replacement) {
        (Step::Key(k), Value::Object(m), None) => {
            m.remove(k);
        }
        (Step::Key(k), Value::Object(m), Some(r)) => {
            m.insert(k.clone(), r);
        }
        (Step::Index(i), Value::Array(a), None) => {
            a.remove(*i);
        }
        (Step::Index(i), Value::Array(a), Some(r)) => a[*i] = r,
        _ => {}
    }
}

/// Runs `data` as one batch through the three functions on stores that fail now and then (so retries happen too),
/// and checks the contract: no panic, one disposition per record, and a response naming nothing or the lowest
/// sequence number of a record to retry.
fn contract_holds(data: Vec<Vec<u8>>, seed: u64) -> Result<(), TestCaseError> {
    let items = batch(data);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let plan = FaultPlan::new(0.2, seed);
        let archiver = Recorded::new(ContactArchiver::new(
            Faulty::new(MemoryObjectStore::new(), plan.clone()),
            "",
            ArchiveFormat::Both,
            ArchiveKinds::ALL,
        ));
        let agent_state = Recorded::new(AgentState::new(
            Faulty::new(MemoryItemStore::new(&agent_state::INDEXES), plan.clone()),
            agent_state::config::Settings::default(),
        ));
        let rules = example_rules();
        let settings = supervisor_alerts::config::Settings::replay();
        let alerts = Recorded::new(SupervisorAlerts::new(
            rules,
            Faulty::new(MemoryItemStore::new(&[]), plan.clone()),
            Faulty::new(MemoryPublisher::new(), plan.clone()),
            settings,
        ));
        let runs = [
            (contact_archiver::handler::NAME, invoke_any(&archiver, &items).await),
            (agent_state::NAME, invoke_any(&agent_state, &items).await),
            (supervisor_alerts::NAME, invoke_any(&alerts, &items).await),
        ];
        for (function, run) in runs {
            let (response, dispositions) = run.map_err(|e| TestCaseError::fail(format!("{function}: {e}")))?;
            prop_assert_eq!(dispositions.len(), items.len(), "{}: one disposition per record", function);
            let lowest_retry = items
                .iter()
                .zip(&dispositions)
                .filter(|(_, d)| matches!(d, Disposition::Retry(_)))
                .filter_map(|(i, _)| i.seq.clone())
                .min();
            let reported: Vec<Option<String>> =
                response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
            match lowest_retry {
                None => prop_assert!(reported.is_empty(), "{}: nothing failed, {:?} reported", function, reported),
                Some(seq) => prop_assert_eq!(reported, vec![Some(seq.to_string())], "{}", function),
            }
        }
        Ok(())
    })
}

/// One invocation through the batch driver (quarantine in memory, never failing), panics caught.
async fn invoke_any<P: Processor>(
    processor: &Recorded<P>,
    items: &[KinesisItem],
) -> Result<(KinesisEventResponse, Vec<Disposition>), String> {
    let quarantine = quarantine();
    match AssertUnwindSafe(run_items("property", items, processor, &quarantine)).catch_unwind().await {
        Ok(Ok((response, _))) => Ok((response, processor.dispositions())),
        Ok(Err(e)) => Err(format!("batch error: {e}")),
        Err(_) => Err("panicked".into()),
    }
}

/// Arbitrary records between real fixtures (so grouping by agent and contact has company).
fn with_neighbours(records: Vec<Vec<u8>>, picks: Vec<usize>) -> Vec<Vec<u8>> {
    let good = good_fixtures();
    let mut out = Vec::new();
    for (r, p) in records.into_iter().zip(picks.into_iter().chain(std::iter::repeat(0))) {
        out.push(good[p % good.len()].1.clone());
        out.push(r);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_in_a_batch_never_break_the_contract(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        picks in proptest::collection::vec(any::<usize>(), 0..6),
        seed in any::<u64>(),
    ) {
        contract_holds(with_neighbours(records, picks), seed)?;
    }

    #[test]
    fn arbitrary_connect_like_json_in_a_batch_never_breaks_the_contract(
        records in proptest::collection::vec(prop_oneof![connect_object(), mutated_fixture()], 1..6),
        picks in proptest::collection::vec(any::<usize>(), 0..6),
        seed in any::<u64>(),
    ) {
        contract_holds(with_neighbours(records, picks), seed)?;
    }
}

#[test]
fn the_contract_check_sees_a_retry() {
    // The property's oracle is not vacuous: with every call failing, records are retried and the lowest is named.
    let items = batch(good_fixtures().into_iter().map(|(_, d)| d).collect());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (response, dispositions) = runtime.block_on(async {
        let archiver = Recorded::new(ContactArchiver::new(
            Faulty::new(MemoryObjectStore::new(), FaultPlan::new(1.0, 3)),
            "",
            ArchiveFormat::Ndjson,
            ArchiveKinds::ALL,
        ));
        invoke_any(&archiver, &items).await.unwrap()
    });
    assert!(dispositions.iter().all(|d| matches!(d, Disposition::Retry(_))));
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier.as_deref(), Some(items[0].seq_str()));
}
