//! The steps every function's `process` shares (shared::batch): a store's refusal, a key's ordering rule, grouping.

use chrono::{TimeZone, Utc};
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::{Disposition, KeyRun, Outcomes, Processor, REFUSED_CODE, Route, classify_by_key, run_items};
use shared::kinesis::{KinesisItem, SeqNo};
use shared::model::ConnectRecord;
use shared::ports::PortError;
use shared::quarantine::ObjectQuarantine;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../events/raw/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn items(data: Vec<Vec<u8>>) -> Vec<KinesisItem> {
    data.into_iter()
        .enumerate()
        .map(|(index, data)| KinesisItem {
            index,
            seq: SeqNo::parse(&format!("4959{:052}", index + 1)),
            shard_id: "shardId-000000000000".into(),
            partition_key: "k".into(),
            arrival: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/test".into(),
            data,
        })
        .collect()
}

/// Answers the given dispositions, in order.
struct Fixed(Vec<Disposition>);

impl Processor for Fixed {
    async fn process(&self, _: &[KinesisItem]) -> Vec<Disposition> {
        self.0.clone()
    }
}

#[test]
fn a_permanent_port_error_is_a_refusal_and_a_transient_or_ambiguous_one_a_retry() {
    let permanent = PortError::permanent("dynamodb", "ValidationException: Item size too large");
    assert_eq!(Disposition::from(permanent.clone()), Disposition::Refused(permanent));
    for error in [PortError::transient("s3", "503 SlowDown"), PortError::ambiguous("sns", "timeout")] {
        assert_eq!(Disposition::from(error.clone()), Disposition::Retry(error));
    }
}

#[tokio::test]
async fn a_record_the_store_refused_is_quarantined_as_refused_counted_and_not_retried() {
    // GIVEN a valid record a store refused for good, between two done records
    let batch = items(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    let refusal = PortError::permanent("s3", "AccessDenied");
    let processor = Fixed(vec![Disposition::Done, Disposition::Refused(refusal.clone()), Disposition::Done]);
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "q/");
    // WHEN the batch runs
    let (response, report) = run_items("f", &batch, &processor, &quarantine).await.unwrap();
    // THEN it is not reported, it is counted as quarantined and as refused
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((report.done, report.quarantined, report.refused, report.failed), (2, 1, 1, 0));
    // AND its quarantine entry names the store's refusal, not bad data
    let entries = quarantine.entries().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].sequence_number, batch[1].seq_str());
    assert_eq!(
        (entries[0].reason_code.as_str(), entries[0].reason.as_str()),
        (REFUSED_CODE, "permanent s3 error: AccessDenied")
    );
    assert_eq!(entries[0].data().unwrap(), b"b");
}

#[test]
fn after_a_retry_the_keys_later_records_retry_too_with_its_error() {
    let throttled = PortError::transient("dynamodb", "throttled");
    let mut key = KeyRun::new(4);
    assert!(key.push(Disposition::Done));
    assert!(key.push(Disposition::Refused(PortError::permanent("dynamodb", "too large"))), "a refusal does not stop");
    assert!(!key.push(Disposition::Retry(throttled.clone())), "a retry stops the key");
    assert!(!key.going());
    let d = key.finish();
    assert_eq!(d.len(), 4);
    assert_eq!(d[2..], [Disposition::Retry(throttled.clone()), Disposition::Retry(throttled.clone())]);

    // A key stopped before its records (e.g. their history was not written): all of them retry.
    let mut key = KeyRun::new(3);
    assert!(key.extend([Disposition::Done]));
    key.stop(throttled.clone());
    assert_eq!(
        key.finish(),
        [Disposition::Done, Disposition::Retry(throttled.clone()), Disposition::Retry(throttled.clone())]
    );
    assert_eq!(
        KeyRun::retry_all(2, throttled.clone()),
        [Disposition::Retry(throttled.clone()), Disposition::Retry(throttled)]
    );
}

#[test]
fn once_a_key_stopped_a_later_record_retries_whatever_the_caller_says_but_poison() {
    let throttled = PortError::transient("dynamodb", "throttled");
    let mut key = KeyRun::new(4);
    assert!(!key.push(Disposition::Retry(throttled.clone())));
    key.push(Disposition::Done);
    key.push(Disposition::Stale);
    key.push(Disposition::Poison(shared::InvalidReason::Empty));
    let d = key.finish();
    assert_eq!(
        d[..3],
        [Disposition::Retry(throttled.clone()), Disposition::Retry(throttled.clone()), Disposition::Retry(throttled)]
    );
    assert!(matches!(d[3], Disposition::Poison(_)), "invalid input is quarantined wherever it stands");
}

#[test]
fn a_key_that_did_not_decide_every_record_retries_the_rest() {
    let mut key = KeyRun::new(2);
    key.push(Disposition::Done);
    assert!(matches!(key.finish()[..], [Disposition::Done, Disposition::Retry(_)]));
}

#[test]
fn an_undecided_record_of_a_batch_is_retried() {
    let mut outcomes = Outcomes::new(3);
    outcomes.set(0, Disposition::Skipped);
    outcomes.extend([(2, Disposition::Stale)]);
    let d = outcomes.finish();
    assert_eq!(d[0], Disposition::Skipped);
    assert!(matches!(&d[1], Disposition::Retry(e) if e.is_transient()), "{d:?}");
    assert_eq!(d[2], Disposition::Stale);
}

#[test]
fn classify_by_key_poisons_invalid_records_and_groups_the_valid_ones_in_batch_order() {
    // GIVEN two agents' events interleaved, a contact record, and two invalid records
    let batch = items(vec![
        fixture("agent/login.json"),
        b"{not json".to_vec(),
        fixture("ctr/voice-inbound.json"),
        fixture("agent/status-available.json"),
        fixture("agent/chat-multi-contact.json"),
        Vec::new(),
        fixture("agent/status-break.json"),
    ]);
    // WHEN agent events are grouped by agent and other kinds skipped
    let grouped = classify_by_key(&batch, |_, record| match record {
        ConnectRecord::Agent(event) => Route::Group(event.agent_arn.clone(), event.event_id.clone()),
        _ => Route::Now(Disposition::Skipped),
    });
    // THEN each group holds its records in batch order, with their batch indices; groups in key order
    let groups: Vec<(&str, Vec<usize>)> =
        grouped.groups.iter().map(|(k, g)| (&k[k.len() - 36..], g.iter().map(|(i, _)| *i).collect())).collect();
    assert_eq!(
        groups,
        [("28cf2b76-a414-4c40-a154-2a9f608eebcb", vec![4]), ("f7fd8b2d-fc26-45b7-90fb-8b8d91076163", vec![0, 3, 6])]
    );
    // AND the invalid records are poison, the skipped one skipped, the grouped ones still undecided (retried)
    let d = grouped.outcomes.finish();
    assert_eq!(d[1], Disposition::Poison(shared::classify(&batch[1].data).unwrap_err()));
    assert!(matches!(&d[5], Disposition::Poison(r) if r.code() == "empty"), "{d:?}");
    assert_eq!(d[2], Disposition::Skipped);
    assert!([0, 3, 4, 6].iter().all(|&i| d[i].is_retry()), "{d:?}");
}
