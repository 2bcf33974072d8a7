//! Property tests: arbitrary bytes and arbitrary JSON never panic the classifier, and the batch driver's
//! response always follows the contract whatever the processor says.

use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value;
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::{Disposition, Processor, run_items};
use shared::classify::{InvalidReason, classify};
use shared::kinesis::{KinesisItem, SeqNo};
use shared::ports::PortError;
use shared::quarantine::ObjectQuarantine;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        // Values of the shapes the classifier looks at.
        prop_oneof![
            Just("LOGIN"),
            Just("HEART_BEAT"),
            Just("SEGMENTS"),
            Just("2026-11-02T09:00:00.000Z"),
            Just("2017-03-10")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    let keys = prop_oneof![
        Just("AgentARN"),
        Just("EventId"),
        Just("EventType"),
        Just("EventTimestamp"),
        Just("CurrentAgentSnapshot"),
        Just("ContactId"),
        Just("Channel"),
        Just("Attributes"),
        Just("Agent"),
        Just("Queue"),
        Just("Segments"),
        Just("AWSContactTraceRecordFormatVersion"),
        Just("StreamingEventType"),
        Just("Contacts"),
        Just("x"),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic_the_classifier(data in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(reason) = classify(&data) {
            prop_assert!(!reason.code().is_empty());
        }
    }

    #[test]
    fn arbitrary_json_is_classified_or_rejected_with_a_reason(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Err(reason) = classify(&bytes) {
            prop_assert!(!reason.to_string().is_empty());
            prop_assert!(!reason.code().is_empty());
        }
    }

    #[test]
    fn truncating_a_valid_record_never_yields_a_record(cut in 1usize..400) {
        let data = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/raw/ctr/voice-inbound.json")).unwrap();
        let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&data).unwrap()).unwrap();
        let cut = cut.min(compact.len() - 1);
        let r = classify(&compact[..compact.len() - cut]);
        prop_assert!(matches!(r, Err(InvalidReason::Truncated { .. })), "{r:?}");
    }
}

/// A processor that answers from a script: one disposition kind per record.
struct Scripted(Vec<u8>);

impl Processor for Scripted {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        items
            .iter()
            .map(|i| match self.0[i.index] % 5 {
                0 => Disposition::Done,
                1 => Disposition::Stale,
                2 => Disposition::Skipped,
                3 => Disposition::Poison(InvalidReason::Empty),
                _ => Disposition::Retry(PortError::transient("test", "boom")),
            })
            .collect()
    }
}

fn items(n: usize, gaps: &[u8]) -> Vec<KinesisItem> {
    let mut seq: u128 = 49_590_338_271_490_256_608_559_692_538_361_571_095;
    (0..n)
        .map(|index| {
            seq += 1 + u128::from(gaps[index % gaps.len()]);
            KinesisItem {
                index,
                seq: SeqNo::parse(&seq.to_string()),
                shard_id: "shardId-000000000000".into(),
                partition_key: format!("k{}", index % 3),
                arrival: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
                stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/s".into(),
                data: vec![b'x'; index % 7],
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_response_reports_exactly_the_lowest_failed_sequence_number(
        script in prop::collection::vec(any::<u8>(), 1..60),
        gaps in prop::collection::vec(any::<u8>(), 1..5),
    ) {
        let batch = items(script.len(), &gaps);
        let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "q/");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (resp, report): (KinesisEventResponse, _) =
            rt.block_on(run_items("f", &batch, &Scripted(script.clone()), &quarantine)).unwrap();
        let first_retry = script.iter().position(|s| s % 5 == 4);
        match first_retry {
            None => prop_assert!(resp.batch_item_failures.is_empty()),
            Some(i) => {
                prop_assert_eq!(resp.batch_item_failures.len(), 1);
                let id = resp.batch_item_failures[0].item_identifier.clone();
                prop_assert_eq!(id.as_deref(), Some(batch[i].seq_str()));
                prop_assert_eq!(report.redelivered, script.len() - i);
            }
        }
        let poison = script.iter().filter(|s| *s % 5 == 3).count();
        prop_assert_eq!(report.quarantined, poison);
        prop_assert_eq!(quarantine.store().len(), poison);
        prop_assert_eq!(report.done + report.stale + report.skipped + report.quarantined + report.failed, script.len());
    }
}
