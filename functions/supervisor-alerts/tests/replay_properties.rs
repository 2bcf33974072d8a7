//! Property: however the records are cut into batches and however often Lambda redelivers them, the alerts sent
//! are exactly those of one clean pass, each once.

mod common;

use std::collections::BTreeSet;

use common::*;
use proptest::prelude::*;
use shared::adapters::memory::{MemoryItemStore, MemoryPublisher};
use shared::batch::{Disposition, Processor};
use shared::kinesis::KinesisItem;
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;

fn example_rules() -> Rules {
    rules(include_str!("../rules.example.json"))
}

/// Delivers `records` in batches cut at `cuts`; after each batch, Lambda redelivers from `redeliver_from` (a
/// position in the batch) as if that record had been reported, `times` times.
async fn deliver(records: &[KinesisItem], cuts: &[usize], redeliveries: &[(usize, usize)]) -> Vec<String> {
    let publisher = MemoryPublisher::new();
    let rules = example_rules();
    let handler =
        SupervisorAlerts::new(rules.clone(), MemoryItemStore::new(&[]), publisher.clone(), Settings::replay());
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|c| *c > 0 && *c < records.len()).collect();
    bounds.sort();
    bounds.dedup();
    bounds.push(records.len());
    for (n, end) in bounds.into_iter().enumerate() {
        let chunk = batch(records[start..end].to_vec());
        let d = handler.process(&chunk).await;
        assert!(d.iter().all(|d| *d == Disposition::Done), "{d:?}");
        let (from, times) = redeliveries.get(n).copied().unwrap_or((0, 0));
        let from = from % chunk.len();
        for _ in 0..times {
            let again = batch(chunk[from..].to_vec());
            assert!(handler.process(&again).await.iter().all(|d| *d == Disposition::Done));
        }
        start = end;
    }
    alert_ids(&publisher.published())
}

fn records() -> Vec<KinesisItem> {
    // Stream order within each key, as Kinesis delivers it: agent events, then segments, then the CTR.
    let mut items = envelope("envelopes/supervisor-alerts-agent-events.json");
    items.extend(envelope("envelopes/supervisor-alerts-segments.json"));
    items.extend(envelope("envelopes/supervisor-alerts-ctr.json"));
    items
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_batching_and_redelivery_sends_the_same_alerts_once(
        cuts in proptest::collection::vec(0usize..12, 0..6),
        redeliveries in proptest::collection::vec((0usize..12, 0usize..3), 0..7),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let records = records();
        let clean = rt.block_on(deliver(&records, &[], &[]));
        let ids = rt.block_on(deliver(&records, &cuts, &redeliveries));
        let unique: BTreeSet<&String> = ids.iter().collect();
        prop_assert_eq!(unique.len(), ids.len(), "an alert was sent twice: {:?}", ids);
        prop_assert_eq!(unique, clean.iter().collect::<BTreeSet<_>>());
        prop_assert_eq!(clean.len(), 5);
    }
}
