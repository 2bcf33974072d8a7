//! `produce` without AWS: routing, the PutRecords limits, and order per partition key through retries, against an
//! in-memory Kinesis that checks every call and fails the entries a test chooses.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use connect_replay::generate::{DayConfig, DayGenerator, GenRecord, Stream};
use connect_replay::produce::{
    CallError, Entry, MAX_CALL_BYTES, MAX_CALL_RECORDS, MAX_RECORD_BYTES, ProduceError, ProduceOptions, PutRecords,
    Targets, hashed_key, next_call, produce, route,
};
use shared::ConnectRecord;

/// (partition key, data) of the records of a stream, in write order.
type Written = Vec<(String, Vec<u8>)>;

/// A Kinesis in memory: streams of (partition key, data) in write order. Every call is checked against the
/// PutRecords limits and the one-record-per-key rule; chosen records fail a chosen number of times.
#[derive(Default)]
struct FakeKinesis {
    streams: Mutex<BTreeMap<String, Written>>,
    /// Records per call.
    calls: Mutex<Vec<usize>>,
    /// data → failures still to report for it.
    failures: Mutex<HashMap<Vec<u8>, u32>>,
    /// data → how many calls carried it.
    tries: Mutex<HashMap<Vec<u8>, u32>>,
    /// Calls still to fail as a whole, retryably (throttling).
    throttled_calls: Mutex<u32>,
    /// Every call fails with this, not retryably.
    fatal: Option<String>,
}

impl FakeKinesis {
    fn failing(record: &[u8], times: u32) -> Self {
        let fake = Self::default();
        fake.failures.lock().unwrap().insert(record.to_vec(), times);
        fake
    }
    fn stream(&self, name: &str) -> Written {
        self.streams.lock().unwrap().get(name).cloned().unwrap_or_default()
    }
}

impl PutRecords for FakeKinesis {
    async fn put_records(&self, stream: &str, entries: &[&Entry]) -> Result<Vec<Option<String>>, CallError> {
        assert!(!entries.is_empty() && entries.len() <= MAX_CALL_RECORDS, "{} records in a call", entries.len());
        let bytes: usize = entries.iter().map(|e| e.data.len() + e.partition_key.len()).sum();
        assert!(bytes <= MAX_CALL_BYTES, "{bytes} bytes in a call");
        let mut keys: Vec<&str> = entries.iter().map(|e| e.partition_key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), entries.len(), "two records of one partition key in a call");
        for e in entries {
            assert!(e.data.len() + e.partition_key.len() <= MAX_RECORD_BYTES);
            *self.tries.lock().unwrap().entry(e.data.clone()).or_default() += 1;
        }
        self.calls.lock().unwrap().push(entries.len());
        if let Some(detail) = &self.fatal {
            return Err(CallError { retryable: false, detail: detail.clone() });
        }
        {
            let mut throttled = self.throttled_calls.lock().unwrap();
            if *throttled > 0 {
                *throttled -= 1;
                return Err(CallError { retryable: true, detail: "LimitExceededException: slow down".into() });
            }
        }
        let mut failures = self.failures.lock().unwrap();
        let mut streams = self.streams.lock().unwrap();
        let written = streams.entry(stream.to_owned()).or_default();
        Ok(entries
            .iter()
            .map(|e| match failures.get_mut(&e.data) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    Some("ProvisionedThroughputExceededException".to_owned())
                }
                _ => {
                    written.push((e.partition_key.clone(), e.data.clone()));
                    None
                }
            })
            .collect())
    }
}

fn day() -> Vec<GenRecord> {
    // No duplicates: the fake's bookkeeping goes by the records' bytes.
    let config = DayConfig {
        seed: 9,
        agents: 4,
        shift_minutes: 120,
        invalid_rate: 0.01,
        duplicate_rate: 0.0,
        ..DayConfig::default()
    };
    DayGenerator::new(config).collect()
}

fn three_streams() -> Targets {
    Targets { contact_records: "ctr".into(), agent_events: "agents".into(), segments: Some("lens".into()) }
}

fn fast() -> ProduceOptions {
    ProduceOptions { backoff_base: Duration::from_micros(100), lookahead: 200, ..ProduceOptions::default() }
}

/// The partition key Connect uses, read from the JSON itself; None for a record the classifier rejects.
fn connect_key(data: &[u8]) -> Option<(Stream, String)> {
    let kind = match shared::classify(data).ok()? {
        ConnectRecord::Agent(_) => Stream::AgentEvents,
        ConnectRecord::Contact(_) => Stream::ContactRecords,
        ConnectRecord::Segment(_) => Stream::Segments,
    };
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let key = if kind == Stream::AgentEvents { &v["AgentARN"] } else { &v["ContactId"] };
    Some((kind, key.as_str()?.to_owned()))
}

/// Per partition key, the data in order.
fn by_key(records: impl IntoIterator<Item = (String, Vec<u8>)>) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for (key, data) in records {
        out.entry(key).or_default().push(data);
    }
    out
}

/// What each stream must hold, per key, in input order: (stream → key → data).
fn expected(records: &[GenRecord], targets: &Targets) -> BTreeMap<String, BTreeMap<String, Vec<Vec<u8>>>> {
    let mut out: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for r in records {
        let (kind, key) = connect_key(&r.data).unwrap_or_else(|| (r.stream, hashed_key(&r.data)));
        out.entry(targets.of(kind).unwrap().to_owned()).or_default().push((key, r.data.clone()));
    }
    out.into_iter().map(|(stream, records)| (stream, by_key(records))).collect()
}

fn written(fake: &FakeKinesis) -> BTreeMap<String, BTreeMap<String, Vec<Vec<u8>>>> {
    fake.streams.lock().unwrap().clone().into_iter().map(|(stream, records)| (stream, by_key(records))).collect()
}

#[test]
fn records_are_routed_by_kind_with_connects_partition_keys() {
    let records = day();
    let mut seen = BTreeMap::<Stream, usize>::new();
    for r in &records {
        let (kind, key) = route(r);
        match connect_key(&r.data) {
            Some(expected) => assert_eq!((kind, key), expected),
            None => {
                assert_eq!(kind, r.stream, "an invalid record goes to the stream its source names");
                assert_eq!(key, hashed_key(&r.data), "stable: the same bytes, the same key");
                assert_eq!(key.len(), 32);
                assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
        *seen.entry(kind).or_default() += 1;
    }
    assert_eq!(seen.len(), 3, "the day has every kind: {seen:?}");
    assert!(records.iter().any(|r| connect_key(&r.data).is_none()), "and invalid records");
    assert_ne!(hashed_key(b"a"), hashed_key(b"b"));
}

#[test]
fn a_call_takes_the_first_queued_record_of_each_key_within_500_records_and_5_mib() {
    let entry = |index: u64, key: &str, size: usize| Entry {
        index,
        kind: Stream::AgentEvents,
        partition_key: key.to_owned(),
        data: vec![b'x'; size - key.len()],
        attempts: 0,
    };
    // 600 distinct keys: the first 500.
    let queue: VecDeque<Entry> = (0..600).map(|i| entry(i, &format!("k{i:04}"), 100)).collect();
    assert_eq!(next_call(&queue), (0..500).collect::<Vec<_>>());

    // One record per key: a key's second record waits, even when records of other keys follow it.
    let queue: VecDeque<Entry> =
        [("a", 0), ("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)].map(|(k, i)| entry(i, k, 10)).into();
    assert_eq!(next_call(&queue), [0, 2, 4]);

    // 5 MiB: five records of 1 MiB fit exactly, the sixth goes to the next call; a record that does not fit
    // holds back its key's later records but not other keys'.
    let queue: VecDeque<Entry> = (0..6).map(|i| entry(i, &format!("m{i}"), MAX_RECORD_BYTES)).collect();
    assert_eq!(next_call(&queue), [0, 1, 2, 3, 4]);
    let mut queue: VecDeque<Entry> = (0..5).map(|i| entry(i, &format!("m{i}"), 900_000)).collect();
    queue.push_back(entry(5, "big", 1_000_000));
    queue.push_back(entry(6, "big", 10));
    queue.push_back(entry(7, "small", MAX_CALL_BYTES - 5 * 900_000));
    assert_eq!(next_call(&queue), [0, 1, 2, 3, 4, 7], "'big' does not fit, so neither of its records goes");
}

#[tokio::test]
async fn a_record_over_1_mib_is_refused_and_counted_not_sent() {
    // Invalid bytes, so the key is the 32-character hash: exactly 1 MiB with it fits, one byte more does not.
    let record = |fill: u8, size: usize| GenRecord {
        stream: Stream::ContactRecords,
        partition_key: String::new(),
        data: vec![fill; size - 32],
        at: DayConfig::default().start,
    };
    let mut records: Vec<GenRecord> = (0..6).map(|i| record(b'a' + i, MAX_RECORD_BYTES)).collect();
    records.insert(2, record(b'z', MAX_RECORD_BYTES + 1));
    let fake = FakeKinesis::default();

    let summary = produce(records.into_iter(), &three_streams(), &fake, &fast(), |_| {}).await.unwrap();

    assert_eq!(summary.refused, BTreeMap::from([(Stream::ContactRecords, 1)]));
    assert_eq!(summary.put(), 6);
    assert_eq!(*fake.calls.lock().unwrap(), [5, 1], "5 MiB per call");
    assert!(fake.stream("ctr").iter().all(|(_, data)| data[0] != b'z'), "the refused record was never sent");
}

#[tokio::test]
async fn every_record_reaches_the_stream_of_its_kind_in_order_per_partition_key() {
    let records = day();
    let targets = three_streams();
    let fake = FakeKinesis::default();
    let mut progress = 0u64;

    let summary = produce(records.clone().into_iter(), &targets, &fake, &fast(), |n| progress += n).await.unwrap();

    assert_eq!(written(&fake), expected(&records, &targets));
    assert_eq!((summary.read, summary.put(), progress), (records.len(), records.len(), records.len() as u64));
    assert!(summary.failed.is_empty() && summary.refused.is_empty() && summary.retried() == 0);
    let streams: Vec<&str> = summary.streams.iter().map(|s| s.stream.as_str()).collect();
    assert_eq!(streams, ["ctr", "agents", "lens"]);
    let agents = &summary.streams[1];
    assert_eq!(agents.put.keys().copied().collect::<Vec<_>>(), [Stream::AgentEvents]);
    assert!(
        agents.calls >= agents.put[&Stream::AgentEvents] / 4,
        "4 agents: at most 4 agent events per call ({} calls)",
        agents.calls
    );
}

#[tokio::test]
async fn kinds_sharing_one_stream_interleave_in_their_original_order() {
    let records = day();
    let one = "everything".to_owned();
    let targets = Targets { contact_records: one.clone(), agent_events: one.clone(), segments: Some(one.clone()) };
    let fake = FakeKinesis::default();
    let summary = produce(records.clone().into_iter(), &targets, &fake, &fast(), |_| {}).await.unwrap();

    assert_eq!(written(&fake), expected(&records, &targets));
    assert_eq!(summary.streams.len(), 1, "one stream, one queue");
    assert_eq!(summary.streams[0].put.len(), 3, "all three kinds on it");
    // Kinds interleave as they came (sending kind by kind would switch kinds a handful of times); records of other
    // keys may pass a record that waits behind its own key's earlier records.
    let kind_of: HashMap<&[u8], Stream> = records.iter().map(|r| (r.data.as_slice(), route(r).0)).collect();
    let switches = |kinds: Vec<Stream>| kinds.windows(2).filter(|w| w[0] != w[1]).count();
    let input = switches(records.iter().map(|r| kind_of[r.data.as_slice()]).collect());
    let output = switches(fake.stream(&one).iter().map(|(_, d)| kind_of[d.as_slice()]).collect());
    assert!(output >= input / 4, "{output} kind switches in the stream, {input} in the input");
}

#[tokio::test]
async fn a_failed_entry_is_retried_before_any_later_record_of_its_key() {
    // GIVEN an agent's first two events and a contact record that fail 3, 1 and 2 times
    let records = day();
    let agent = connect_key(&records.iter().find(|r| r.stream == Stream::AgentEvents).unwrap().data).unwrap().1;
    let events: Vec<&GenRecord> =
        records.iter().filter(|r| connect_key(&r.data).is_some_and(|(_, k)| k == agent)).collect();
    let ctr = records.iter().find(|r| connect_key(&r.data).is_some_and(|(k, _)| k == Stream::ContactRecords)).unwrap();
    let fake = FakeKinesis::failing(&events[0].data, 3);
    fake.failures.lock().unwrap().insert(events[1].data.clone(), 1);
    fake.failures.lock().unwrap().insert(ctr.data.clone(), 2);
    let targets = three_streams();

    // WHEN the day is produced
    let summary = produce(records.clone().into_iter(), &targets, &fake, &fast(), |_| {}).await.unwrap();

    // THEN every record arrived once, each key's records in their original order, after 6 retries
    assert_eq!(written(&fake), expected(&records, &targets));
    assert_eq!(summary.retried(), 6);
    assert!(summary.failed.is_empty());
    assert_eq!(fake.tries.lock().unwrap()[&events[0].data], 4);
    let agent_stream: Vec<Vec<u8>> =
        fake.stream("agents").into_iter().filter(|(k, _)| *k == agent).map(|(_, d)| d).collect();
    assert_eq!(agent_stream[..2], [events[0].data.clone(), events[1].data.clone()]);
}

#[tokio::test]
async fn a_record_failing_every_attempt_is_given_up_and_reported_and_the_rest_arrive() {
    let records = day();
    let victim = records.iter().position(|r| r.stream == Stream::Segments).unwrap();
    let fake = FakeKinesis::failing(&records[victim].data, u32::MAX);
    let options = ProduceOptions { max_attempts: 3, ..fast() };

    let summary = produce(records.clone().into_iter(), &three_streams(), &fake, &options, |_| {}).await.unwrap();

    assert_eq!(summary.failed.len(), 1);
    let failed = &summary.failed[0];
    assert_eq!((failed.index, failed.kind, failed.stream.as_str()), (victim as u64, Stream::Segments, "lens"));
    assert_eq!(failed.error, "ProvisionedThroughputExceededException");
    assert_eq!(fake.tries.lock().unwrap()[&records[victim].data], 3, "max_attempts calls carried it");
    assert_eq!(summary.put(), records.len() - 1);
    assert_eq!(summary.retried(), 2);
}

#[tokio::test]
async fn throttled_calls_are_retried_and_an_error_that_is_not_transient_stops_the_run() {
    let records = day();
    let fake = FakeKinesis::default();
    *fake.throttled_calls.lock().unwrap() = 3;
    let summary = produce(records.clone().into_iter(), &three_streams(), &fake, &fast(), |_| {}).await.unwrap();
    assert_eq!(summary.put(), records.len());
    assert!(summary.retried() > 0 && summary.failed.is_empty());

    let fake = FakeKinesis { fatal: Some("ResourceNotFoundException: no stream ctr".into()), ..FakeKinesis::default() };
    let e = produce(records.into_iter(), &three_streams(), &fake, &fast(), |_| {}).await.unwrap_err();
    assert!(matches!(&e, ProduceError::Call { detail, .. } if detail.contains("ResourceNotFound")), "{e}");
}

#[tokio::test]
async fn segments_without_a_contact_lens_stream_are_counted_not_sent() {
    let records = day();
    let segments = records.iter().filter(|r| route(r).0 == Stream::Segments).count();
    let targets = Targets { segments: None, ..three_streams() };
    let fake = FakeKinesis::default();

    let summary = produce(records.clone().into_iter(), &targets, &fake, &fast(), |_| {}).await.unwrap();

    assert_eq!(summary.no_stream, BTreeMap::from([(Stream::Segments, segments)]));
    assert_eq!(summary.put(), records.len() - segments);
    assert!(fake.stream("lens").is_empty());
}

#[tokio::test]
async fn the_rate_limits_records_per_second() {
    let records: Vec<GenRecord> = day().into_iter().take(400).collect();
    let fake = FakeKinesis::default();
    let options = ProduceOptions { rate: Some(2_000.0), lookahead: 50, ..fast() };

    let summary = produce(records.into_iter(), &three_streams(), &fake, &options, |_| {}).await.unwrap();

    // 400 records at 2,000/s: the last call starts at least (400 − its own records) / 2,000 s after the first.
    let last = *fake.calls.lock().unwrap().last().unwrap();
    let floor = Duration::from_secs_f64((400 - last) as f64 / 2_000.0);
    assert!(summary.elapsed >= floor, "{:?} < {floor:?}", summary.elapsed);
}
