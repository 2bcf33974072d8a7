//! The batch contract, proven through the event-source-mapping simulator.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{TimeZone, Utc};
use shared::adapters::intercept::{Call, Hook, Intercepted, Verdict};
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::{Disposition, Processor, run_batch, run_items};
use shared::classify::InvalidReason;
use shared::kinesis::KinesisItem;
use shared::ports::PortError;
use shared::quarantine::{ObjectQuarantine, Quarantine};
use shared::sim::{EsmConfig, Invoke, SimStream, drain, to_event};

/// Records are "key:n" or "POISON". `fail_first[record] = k` fails that record transiently on its first k deliveries.
#[derive(Default)]
struct Scripted {
    fail_first: HashMap<String, usize>,
    seen: Mutex<HashMap<String, usize>>,
    processed: Mutex<Vec<String>>,
    /// A record whose delivery makes the whole invocation fail (a function error), every time.
    crash_on: Option<String>,
}

impl Processor for Scripted {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        let mut out = Vec::new();
        // The ordering rule every real processor follows: after a record of a key fails, later records of that
        // key in the batch are not applied (they come again, in order, with the redelivery).
        let mut failed_keys = std::collections::HashSet::new();
        for item in items {
            let text = String::from_utf8_lossy(&item.data).to_string();
            if failed_keys.contains(&item.partition_key) {
                out.push(Disposition::Retry(PortError::transient("test", "earlier record of the key failed")));
                continue;
            }
            if text == "POISON" {
                out.push(Disposition::Poison(InvalidReason::NotJson { detail: "poison".into() }));
                continue;
            }
            let mut seen = self.seen.lock().unwrap();
            let n = seen.entry(text.clone()).or_default();
            *n += 1;
            if *n <= self.fail_first.get(&text).copied().unwrap_or(0) {
                failed_keys.insert(item.partition_key.clone());
                out.push(Disposition::Retry(PortError::transient("test", "throttled")));
            } else {
                self.processed.lock().unwrap().push(text);
                out.push(Disposition::Done);
            }
        }
        out
    }
}

struct Function<'a, Q> {
    processor: &'a Scripted,
    quarantine: &'a Q,
}

impl<Q: Quarantine> Invoke for Function<'_, Q> {
    async fn invoke(&self, batch: Vec<KinesisItem>) -> Result<KinesisEventResponse, String> {
        if let Some(crash) = &self.processor.crash_on
            && batch.iter().any(|i| i.data == crash.as_bytes())
        {
            return Err("handler error".into());
        }
        // Through the real Lambda event type, like the runtime would deliver it.
        run_batch("test-fn", to_event(&batch), self.processor, self.quarantine)
            .await
            .map(|(resp, _)| resp)
            .map_err(|e| e.to_string())
    }
}

fn arrival() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn stream_of(keys: usize, per_key: usize, shards: usize) -> SimStream {
    let mut s = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/test", shards);
    for n in 0..per_key {
        for k in 0..keys {
            s.put(format!("agent-{k}"), format!("agent-{k}:{n}").into_bytes(), arrival());
        }
    }
    s
}

/// Every record processed at least once, and per key the first processing of each record in order.
fn assert_complete_and_ordered(processed: &[String], keys: usize, per_key: usize) {
    let mut first_seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut done = std::collections::HashSet::new();
    for p in processed {
        let (k, n) = p.split_once(':').unwrap();
        if done.insert(p.clone()) {
            first_seen.entry(k.to_owned()).or_default().push(n.parse().unwrap());
        }
    }
    assert_eq!(done.len(), keys * per_key, "every record processed at least once");
    for (k, ns) in first_seen {
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "key {k} processed out of order: {ns:?}");
    }
}

#[tokio::test]
async fn transient_failures_end_with_every_record_processed_in_order_per_key() {
    let stream = stream_of(20, 30, 3);
    let mut fail_first = HashMap::new();
    for (i, rec) in ["agent-3:4", "agent-7:0", "agent-7:29", "agent-11:15", "agent-19:2"].iter().enumerate() {
        fail_first.insert((*rec).to_owned(), 1 + i % 3);
    }
    let processor = Scripted { fail_first, ..Scripted::default() };
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let config = EsmConfig { batch_size: 37, parallelization_factor: 2, ..EsmConfig::default() };
    let report = drain(&stream, &config, &Function { processor: &processor, quarantine: &quarantine }).await;

    assert!(report.partial_failures > 0, "the scripted failures were reported");
    assert_eq!(report.function_errors, 0);
    assert!(report.on_failure.is_empty());
    assert_eq!(report.blocked_lanes, 0);
    assert_complete_and_ordered(&processor.processed.lock().unwrap(), 20, 30);
}

#[tokio::test]
async fn a_poison_record_is_quarantined_and_never_blocks_its_shard() {
    let mut stream = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/test", 1);
    for n in 0..10 {
        stream.put("agent-0", format!("agent-0:{n}").into_bytes(), arrival());
        if n == 4 {
            stream.put("agent-0", b"POISON".to_vec(), arrival());
        }
    }
    let processor = Scripted::default();
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let config = EsmConfig { batch_size: 4, maximum_retry_attempts: None, max_invocations: 50, ..EsmConfig::default() };
    let report = drain(&stream, &config, &Function { processor: &processor, quarantine: &quarantine }).await;

    assert_eq!(report.blocked_lanes, 0);
    assert_eq!(report.invocations, 3, "11 records in batches of 4, no retries");
    assert_complete_and_ordered(&processor.processed.lock().unwrap(), 1, 10);
    let entries = quarantine.entries().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].data().unwrap(), b"POISON");
    assert_eq!(entries[0].reason_code, "not_json");
    assert_eq!(entries[0].function, "test-fn");
    assert_eq!(entries[0].shard_id, "shardId-000000000000");
}

/// Fails the first `fail` quarantine writes.
struct FailFirst {
    fail: Mutex<usize>,
}

impl Hook for FailFirst {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        let mut f = self.fail.lock().unwrap();
        if matches!(call, Call::Quarantine(_)) && *f > 0 {
            *f -= 1;
            return Verdict::Fail(PortError::transient("s3", "503 SlowDown"));
        }
        Verdict::Pass
    }
}

#[tokio::test]
async fn a_failed_quarantine_write_reports_the_record_and_it_lands_on_retry() {
    let mut stream = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/test", 1);
    for n in 0..6 {
        stream.put("agent-0", format!("agent-0:{n}").into_bytes(), arrival());
        if n == 2 {
            stream.put("agent-0", b"POISON".to_vec(), arrival());
        }
    }
    let processor = Scripted::default();
    let quarantine =
        Intercepted::new(ObjectQuarantine::new(MemoryObjectStore::new(), "q/"), FailFirst { fail: Mutex::new(2) });
    let report =
        drain(&stream, &EsmConfig::default(), &Function { processor: &processor, quarantine: &quarantine }).await;
    assert_eq!(report.partial_failures, 2);
    assert!(report.on_failure.is_empty());
    assert_eq!(quarantine.inner().entries().await.unwrap().len(), 1);
    assert_complete_and_ordered(&processor.processed.lock().unwrap(), 1, 6);
}

#[tokio::test]
async fn the_response_names_only_the_lowest_failed_sequence_number() {
    let mut stream = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/test", 1);
    for n in 0..6 {
        stream.put("k", format!("k:{n}").into_bytes(), arrival());
    }
    let items: Vec<KinesisItem> = stream.shards()[0]
        .iter()
        .enumerate()
        .map(|(i, r)| KinesisItem {
            index: i,
            seq: Some(r.seq.clone()),
            shard_id: "shardId-000000000000".into(),
            partition_key: r.partition_key.clone(),
            arrival: r.arrival,
            stream_arn: stream.arn.clone(),
            data: r.data.clone(),
        })
        .collect();
    let fail_first = HashMap::from([("k:4".to_owned(), 1), ("k:1".to_owned(), 1)]);
    let processor = Scripted { fail_first, ..Scripted::default() };
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "q/");
    let (resp, report) = run_items("f", &items, &processor, &quarantine).await.unwrap();
    assert_eq!(resp.batch_item_failures.len(), 1);
    assert_eq!(resp.batch_item_failures[0].item_identifier.as_deref(), Some(items[1].seq_str()));
    assert_eq!(report.failed, 5, "k:1 failed and the later records of its key were held back");
    assert_eq!(report.redelivered, 5);

    // All done → an empty list, never a null identifier.
    let processor = Scripted::default();
    let (resp, report) = run_items("f", &items, &processor, &quarantine).await.unwrap();
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(report.done, 6);

    // A failed record without a sequence number cannot be reported alone: the invocation fails.
    let mut broken = items.clone();
    broken[2].seq = None;
    let processor = Scripted { fail_first: HashMap::from([("k:2".to_owned(), 1)]), ..Scripted::default() };
    assert!(run_items("f", &broken, &processor, &quarantine).await.is_err());
}

#[tokio::test]
async fn a_crashing_record_is_isolated_by_bisection_and_sent_to_the_on_failure_destination() {
    let mut stream = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/test", 1);
    for n in 0..16 {
        stream.put("k", format!("k:{n}").into_bytes(), arrival());
    }
    let processor = Scripted { crash_on: Some("k:9".into()), ..Scripted::default() };
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "q/");
    let config = EsmConfig { batch_size: 16, maximum_retry_attempts: Some(2), ..EsmConfig::default() };
    let report = drain(&stream, &config, &Function { processor: &processor, quarantine: &quarantine }).await;
    assert_eq!(report.on_failure.len(), 1, "{report:?}");
    assert_eq!(report.on_failure[0].records, 1, "bisection narrowed the failure to the one record");
    let processed = processor.processed.lock().unwrap();
    for n in (0..16).filter(|n| *n != 9) {
        assert!(processed.contains(&format!("k:{n}")), "k:{n} processed");
    }
}

#[tokio::test]
async fn without_a_retry_limit_a_crashing_record_blocks_its_shard() {
    let mut stream = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/test", 1);
    for n in 0..4 {
        stream.put("k", format!("k:{n}").into_bytes(), arrival());
    }
    let processor = Scripted { crash_on: Some("k:1".into()), ..Scripted::default() };
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "q/");
    let config = EsmConfig { maximum_retry_attempts: None, max_invocations: 40, ..EsmConfig::default() };
    let report = drain(&stream, &config, &Function { processor: &processor, quarantine: &quarantine }).await;
    assert_eq!(report.blocked_lanes, 1, "Lambda's default of infinite retries blocks the shard");
    assert!(!processor.processed.lock().unwrap().contains(&"k:3".to_owned()));
}

#[tokio::test]
async fn batches_respect_the_payload_limit() {
    let mut stream = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/test", 1);
    for n in 0..10 {
        let mut data = format!("k:{n}").into_bytes();
        data.resize(1_000_000, b' ');
        stream.put("k", data, arrival());
    }
    struct CountMax(Mutex<usize>);
    impl Invoke for CountMax {
        async fn invoke(&self, batch: Vec<KinesisItem>) -> Result<KinesisEventResponse, String> {
            let bytes: usize = batch.iter().map(|i| i.data.len()).sum();
            let mut m = self.0.lock().unwrap();
            *m = (*m).max(bytes);
            Ok(KinesisEventResponse::default())
        }
    }
    let f = CountMax(Mutex::new(0));
    let report = drain(&stream, &EsmConfig { batch_size: 10_000, ..EsmConfig::default() }, &f).await;
    assert!(*f.0.lock().unwrap() <= shared::sim::MAX_BATCH_BYTES);
    assert_eq!(report.invocations, 2);
}
