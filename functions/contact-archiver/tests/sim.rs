//! The archiver driven by the Kinesis event-source-mapping simulator, with S3 faults injected.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use aws_lambda_events::streams::KinesisEventResponse;
use common::*;
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::{ContactArchiver, NAME};
use contact_archiver::ndjson;
use contact_archiver::versions::{ArchivedContactRecord, newest_versions};
use shared::adapters::fault::{FaultPlan, Faulty};
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::run_batch;
use shared::kinesis::KinesisItem;
use shared::quarantine::{ObjectQuarantine, Quarantine};
use shared::sim::{EsmConfig, Invoke, SimStream, drain, to_event};

struct Function<'a, Q> {
    archiver: &'a ContactArchiver<Faulty<MemoryObjectStore>>,
    quarantine: &'a Q,
}

impl<Q: Quarantine> Invoke for Function<'_, Q> {
    async fn invoke(&self, batch: Vec<KinesisItem>) -> Result<KinesisEventResponse, String> {
        run_batch(NAME, to_event(&batch), self.archiver, self.quarantine)
            .await
            .map(|(response, _)| response)
            .map_err(|e| e.to_string())
    }
}

/// (ContactId, LastUpdateTimestamp) of a CTR's bytes.
fn version_of(data: &[u8]) -> (String, Option<i64>) {
    let r = ArchivedContactRecord::from_bytes(data).expect("a contact record");
    (r.contact_id, r.last_update_millis)
}

#[tokio::test]
async fn every_contact_record_version_reaches_the_archive_despite_transient_s3_failures() {
    // GIVEN 300 CTRs on 2 shards, 60 of them republished later with a newer LastUpdateTimestamp
    let mut ctrs = synthetic_ctrs(240);
    for i in 0..60 {
        let republished =
            replace_field(&ctrs[i * 4], "LastUpdateTimestamp", &format!("2026-11-03T{:02}:00:00Z", i % 24));
        ctrs.push(republished);
    }
    let mut stream = SimStream::new(STREAM, 2);
    for data in &ctrs {
        let (contact_id, _) = version_of(data);
        stream.put(contact_id, data.clone(), arrival());
    }
    // AND an S3 that fails a quarter of the PUTs (throttling, 5xx, timeouts, writes whose response is lost)
    let plan = FaultPlan::new(0.25, 42);
    let archiver = ContactArchiver::new(
        Faulty::new(MemoryObjectStore::new(), plan.clone()),
        "",
        ArchiveFormat::Both,
        ArchiveKinds::ALL,
    );
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let config = EsmConfig { batch_size: 40, ..EsmConfig::default() };

    // WHEN the stream is drained
    let report = drain(&stream, &config, &Function { archiver: &archiver, quarantine: &quarantine }).await;

    // THEN failures happened and were retried, nothing was given up on or quarantined
    assert!(plan.injected() > 5, "faults were injected: {}", plan.injected());
    assert!(plan.responses_lost.load(Ordering::Relaxed) > 0, "including writes whose response was lost");
    assert!(report.partial_failures > 0);
    assert_eq!((report.function_errors, report.blocked_lanes), (0, 0));
    assert!(report.on_failure.is_empty(), "{:?}", report.on_failure);
    assert!(quarantine.entries().await.unwrap().is_empty());

    // AND every (ContactId, LastUpdateTimestamp) is in the NDJSON archive, byte for byte
    let store = archiver.store().inner();
    let mut archived = Vec::new();
    for (key, object) in store.objects() {
        if key.ends_with(".ndjson.gz") {
            archived.extend(ndjson::decode(&object.body).unwrap());
        }
    }
    let expected: BTreeSet<(String, Option<i64>)> = ctrs.iter().map(|d| version_of(d)).collect();
    let found: BTreeSet<(String, Option<i64>)> = archived.iter().map(|d| version_of(d)).collect();
    assert_eq!(expected.len(), 300);
    assert_eq!(found, expected);
    let originals: BTreeSet<&Vec<u8>> = ctrs.iter().collect();
    assert!(archived.iter().all(|d| originals.contains(d)), "only original bytes are archived");

    // AND the Parquet archive holds the same versions
    let mut parquet_versions = BTreeSet::new();
    for (key, object) in store.objects() {
        if key.ends_with(".parquet") {
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(object.body))
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let raw = arrow_array::cast::AsArray::as_string::<i32>(batch.column_by_name("raw").unwrap());
                parquet_versions.extend(raw.iter().flatten().map(|r| version_of(r.as_bytes())));
            }
        }
    }
    assert_eq!(parquet_versions, expected);

    // AND the newest version of each republished contact is the republished one
    let newest = newest_versions(archived.iter().filter_map(|d| ArchivedContactRecord::from_bytes(d)));
    assert_eq!(newest.len(), 240);
    for republished in &ctrs[240..] {
        let (contact_id, lut) = version_of(republished);
        assert_eq!(newest[&contact_id].last_update_millis, lut);
    }
}
