//! The archiver's behaviour with the in-memory adapters, through the shared batch driver.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use common::*;
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::{ContactArchiver, NAME};
use contact_archiver::ndjson;
use contact_archiver::tables::{agent_events_schema, contact_records_schema};
use contact_archiver::versions::{ArchivedContactRecord, newest_versions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{LogicalType, TimeUnit};
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::{BatchReport, Disposition, Processor, run_items};
use shared::kinesis::KinesisItem;
use shared::ports::{ObjectStore, PortError, PutOutcome};
use shared::quarantine::ObjectQuarantine;
use shared::{ConnectRecord, classify};

type MemoryQuarantine = ObjectQuarantine<MemoryObjectStore>;

fn quarantine() -> MemoryQuarantine {
    ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/")
}

async fn run<S: ObjectStore>(
    archiver: &ContactArchiver<S>,
    items: &[KinesisItem],
    quarantine: &MemoryQuarantine,
) -> (KinesisEventResponse, BatchReport) {
    run_items(NAME, items, archiver, quarantine).await.expect("every record has a sequence number")
}

fn reported(response: &KinesisEventResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap_or_default()).collect()
}

/// Every archived record's bytes, per object key (NDJSON objects only).
fn ndjson_objects(store: &MemoryObjectStore) -> BTreeMap<String, Vec<Vec<u8>>> {
    store
        .objects()
        .into_iter()
        .filter(|(key, _)| key.ends_with(".ndjson.gz"))
        .map(|(key, object)| (key, ndjson::decode(&object.body).expect("decodes")))
        .collect()
}

fn parquet_rows(body: &[u8]) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(body.to_vec()))
        .expect("a Parquet file")
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("rows");
    assert_eq!(batches.len(), 1, "a small object reads as one record batch");
    batches.into_iter().next().unwrap()
}

fn millis(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

#[tokio::test]
async fn a_batch_is_archived_in_one_object_and_reads_back_byte_equal() {
    let items = envelope_items("ctr-batch.json");
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "archive/", ArchiveFormat::Ndjson, ArchiveKinds::ALL);
    let q = quarantine();

    let (response, report) = run(&archiver, &items, &q).await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.done, items.len());
    let objects = ndjson_objects(archiver.store());
    let expected_key = format!(
        "archive/contact-records/year=2026/month=11/day=02/{SHARD}-{}-{}.ndjson.gz",
        items[0].seq_str(),
        items[items.len() - 1].seq_str()
    );
    assert_eq!(objects.keys().collect::<Vec<_>>(), [&expected_key]);
    let originals: Vec<Vec<u8>> = items.iter().map(|i| i.data.clone()).collect();
    assert_eq!(objects[&expected_key], originals, "the original bytes, in batch order");
    let object = &archiver.store().objects()[&expected_key];
    assert_eq!(object.content_type, "application/gzip");
    assert_eq!(object.content_encoding, None);
}

#[tokio::test]
async fn the_same_batch_again_writes_no_new_object_and_reports_nothing() {
    let items = envelope_items("ctr-batch.json");
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Both, ArchiveKinds::ALL);
    let q = quarantine();
    run(&archiver, &items, &q).await;
    let first = archiver.store().objects();
    let puts = archiver.store().puts.get();
    assert_eq!(first.len(), 2, "one NDJSON and one Parquet object");

    let (response, report) = run(&archiver, &items, &q).await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.done, items.len());
    assert_eq!(archiver.store().objects(), first, "nothing new, nothing rewritten");
    assert_eq!(archiver.store().puts.get(), puts + 2, "each object was tried once and found present");
}

#[tokio::test]
async fn both_versions_of_a_republished_ctr_are_kept_and_the_newest_is_v2() {
    // The raw fixtures are pretty-printed: their line breaks go through the lossless envelope.
    let v1 = read_event_file("raw/ctr/republished-v1.json");
    let v2 = read_event_file("raw/ctr/republished-v2.json");
    for order in [vec![v1.clone(), v2.clone()], vec![v2.clone(), v1.clone()]] {
        let items = items(10, order.clone());
        let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Ndjson, ArchiveKinds::ALL);
        let (response, _) = run(&archiver, &items, &quarantine()).await;
        assert!(response.batch_item_failures.is_empty());

        let objects = ndjson_objects(archiver.store());
        assert_eq!(objects.len(), 1, "republished versions share the partition of InitiationTimestamp");
        let archived: Vec<Vec<u8>> = objects.into_values().flatten().collect();
        assert_eq!(archived, order, "every version kept, byte for byte");

        let newest = newest_versions(archived.iter().filter_map(|d| ArchivedContactRecord::from_bytes(d)));
        let winner = &newest["e757bf59-6b3f-4720-b11f-43ca3ac5a352"];
        assert_eq!(winner.raw.as_bytes(), v2.as_slice());
        assert_eq!(winner.last_update_millis, Some(1_793_645_112_000), "2026-11-02T18:45:12Z");
    }
}

#[tokio::test]
async fn good_records_are_archived_and_bad_ones_quarantined_with_their_reasons() {
    let items = envelope_items("mixed-bad.json");
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Ndjson, ArchiveKinds::ALL);
    let q = quarantine();

    let (response, report) = run(&archiver, &items, &q).await;

    assert!(response.batch_item_failures.is_empty(), "retrying cannot fix bad records: they are not reported");
    assert_eq!((report.done, report.quarantined), (7, 11));
    let good: Vec<Vec<u8>> = items.iter().filter(|i| classify(&i.data).is_ok()).map(|i| i.data.clone()).collect();
    assert_eq!(good.len(), 7);
    assert_eq!(ndjson_objects(archiver.store()).into_values().flatten().collect::<Vec<_>>(), good);

    let entries = q.entries().await.unwrap();
    assert_eq!(entries.len(), 11);
    for entry in entries {
        let item = items.iter().find(|i| i.seq_str() == entry.sequence_number).expect("a record of the batch");
        let reason = classify(&item.data).expect_err("only invalid records are quarantined");
        assert_eq!(entry.data().as_deref(), Some(item.data.as_slice()), "quarantined byte for byte");
        assert_eq!((entry.reason_code.as_str(), entry.reason.as_str()), (reason.code(), reason.to_string().as_str()));
        assert_eq!(entry.function, NAME);
    }
}

#[tokio::test]
async fn every_bad_input_file_is_quarantined_or_archived_as_its_manifest_says() {
    #[derive(serde::Deserialize)]
    struct Case {
        file: String,
        expect: String,
    }
    let manifest: Vec<Case> = serde_json::from_slice(&read_event_file("bad/MANIFEST.json")).unwrap();
    let data: Vec<Vec<u8>> = manifest.iter().map(|c| read_event_file(&format!("bad/{}", c.file))).collect();
    let items = items(1, data.clone());
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Ndjson, ArchiveKinds::ALL);
    let q = quarantine();

    let (response, report) = run(&archiver, &items, &q).await;

    assert!(response.batch_item_failures.is_empty());
    let archived: BTreeSet<Vec<u8>> = ndjson_objects(archiver.store()).into_values().flatten().collect();
    let quarantined: BTreeMap<String, String> =
        q.entries().await.unwrap().into_iter().map(|e| (e.sequence_number, e.reason)).collect();
    for ((case, item), bytes) in manifest.iter().zip(&items).zip(&data) {
        match case.expect.as_str() {
            "valid" => assert!(archived.contains(bytes), "{} archived byte for byte", case.file),
            _ => {
                let reason = quarantined.get(item.seq_str());
                assert!(reason.is_some_and(|r| !r.is_empty()), "{} quarantined with a reason", case.file);
                assert!(!archived.contains(bytes), "{} not archived", case.file);
            }
        }
    }
    assert_eq!(report.quarantined, manifest.iter().filter(|c| c.expect == "invalid").count());
}

/// CTRs alternating between 2026-11-02 (even positions) and 2026-11-03 (odd positions).
fn two_day_batch(n: usize) -> Vec<KinesisItem> {
    let data = synthetic_ctrs(n)
        .into_iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { replace_field(&d, "InitiationTimestamp", "2026-11-03T01:00:00Z") } else { d });
    items(100, data)
}

#[tokio::test]
async fn a_failed_put_reports_the_lowest_sequence_number_of_its_object_and_the_retry_finds_the_rest() {
    let items = two_day_batch(10);
    let store = FailingPrefix::store("contact-records/year=2026/month=11/day=03/", PortError::transient("s3", "503"));
    let archiver = ContactArchiver::new(store, "", ArchiveFormat::Ndjson, ArchiveKinds::ALL);
    let q = quarantine();

    // WHEN the day-03 object fails
    let dispositions = archiver.process(&items).await;

    // THEN its records are retried and the day-02 records are done
    for (i, d) in dispositions.iter().enumerate() {
        match i % 2 {
            1 => assert!(matches!(d, Disposition::Retry(_)), "record {i}: {d:?}"),
            _ => assert_eq!(d, &Disposition::Done, "record {i}"),
        }
    }
    let outcomes = archiver.store().hook().take_outcomes();
    assert_eq!(outcomes.len(), 2);
    for (key, outcome) in &outcomes {
        match key.contains("day=02") {
            true => assert_eq!(outcome, &Ok(PutOutcome::Created)),
            false => assert!(outcome.is_err()),
        }
    }

    // WHEN the batch comes again through the driver while S3 still fails
    let (response, report) = run(&archiver, &items, &q).await;

    // THEN the lowest sequence number of the failed object is reported, and the written object is found
    assert_eq!(reported(&response), [items[1].seq_str()], "lowest of the failed object, not of the batch");
    assert_eq!((report.done, report.failed), (5, 5));
    let outcomes = archiver.store().hook().take_outcomes();
    let day02 = outcomes.keys().find(|k| k.contains("day=02")).expect("day-02 object").clone();
    assert_eq!(outcomes[&day02], Ok(PutOutcome::AlreadyExists), "not rewritten");

    // WHEN the same batch comes again and S3 has recovered
    archiver.store().hook().failing.store(false, Ordering::SeqCst);
    let (response, _) = run(&archiver, &items, &q).await;

    // THEN the written object is found, not rewritten, and the failed one is created
    assert!(response.batch_item_failures.is_empty());
    let outcomes = archiver.store().hook().take_outcomes();
    assert_eq!(outcomes.len(), 2);
    for (key, outcome) in outcomes {
        let expected = if key.contains("day=02") { PutOutcome::AlreadyExists } else { PutOutcome::Created };
        assert_eq!(outcome, Ok(expected), "{key}");
    }
    let archived: BTreeSet<Vec<u8>> = ndjson_objects(archiver.store().inner()).into_values().flatten().collect();
    assert!(items.iter().all(|i| archived.contains(&i.data)));
}

#[tokio::test]
async fn a_failed_parquet_put_retries_records_whose_ndjson_object_was_written() {
    let items = two_day_batch(4);
    let store = FailingPrefix::store("contact-records-parquet/", PortError::transient("s3", "timeout"));
    let archiver = ContactArchiver::new(store, "", ArchiveFormat::Both, ArchiveKinds::ALL);

    let (response, report) = run(&archiver, &items, &quarantine()).await;

    assert_eq!(reported(&response), [items[0].seq_str()]);
    assert_eq!(report.failed, 4, "a record is done only when every object holding it is written");
}

#[tokio::test]
async fn a_permanent_put_failure_quarantines_the_records_of_that_object_only_as_refused() {
    let items = two_day_batch(4);
    let store =
        FailingPrefix::store("contact-records/year=2026/month=11/day=03/", PortError::permanent("s3", "denied"));
    let archiver = ContactArchiver::new(store, "", ArchiveFormat::Ndjson, ArchiveKinds::ALL);
    let q = quarantine();

    let (response, report) = run(&archiver, &items, &q).await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!((report.done, report.quarantined, report.refused, report.failed), (2, 2, 2, 0));
    let entries = q.entries().await.unwrap();
    let quarantined: BTreeSet<&str> = entries.iter().map(|e| e.sequence_number.as_str()).collect();
    assert_eq!(quarantined, BTreeSet::from([items[1].seq_str(), items[3].seq_str()]));
    // The records are valid: the reason is the store's refusal, not bad data.
    assert!(
        entries.iter().all(|e| e.reason_code == "refused" && e.reason == "permanent s3 error: denied"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn contact_records_in_parquet_read_back_equal_to_the_input_fields() {
    let items = envelope_items("ctr-batch.json");
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "p/", ArchiveFormat::Parquet, ArchiveKinds::ALL);
    let (response, _) = run(&archiver, &items, &quarantine()).await;
    assert!(response.batch_item_failures.is_empty());

    let objects = archiver.store().objects();
    assert_eq!(objects.len(), 1, "ARCHIVE_FORMAT=parquet writes no NDJSON for contact records");
    let (key, object) = objects.iter().next().unwrap();
    assert!(key.starts_with("p/contact-records-parquet/year=2026/month=11/day=02/") && key.ends_with(".parquet"));
    assert_eq!(object.content_type, "application/vnd.apache.parquet");

    // The file's own schema: TIMESTAMP(MILLIS, UTC) columns and the Glue column names, in order.
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(object.body.clone())).unwrap();
    let descr = builder.metadata().file_metadata().schema_descr();
    let ts = descr.columns().iter().find(|c| c.name() == "initiation_timestamp").unwrap();
    assert_eq!(ts.logical_type_ref(), Some(&LogicalType::timestamp(true, TimeUnit::MILLIS)));
    let rows = parquet_rows(&object.body);
    let schema = rows.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let glue = [
        "contact_id",
        "initial_contact_id",
        "previous_contact_id",
        "next_contact_id",
        "channel",
        "initiation_method",
        "instance_arn",
        "aws_account_id",
        "initiation_timestamp",
        "connected_to_system_timestamp",
        "disconnect_timestamp",
        "last_update_timestamp",
        "disconnect_reason",
        "agent_arn",
        "agent_username",
        "agent_routing_profile",
        "agent_connected_timestamp",
        "agent_interaction_duration",
        "agent_after_contact_work_duration",
        "agent_customer_hold_duration",
        "agent_number_of_holds",
        "queue_arn",
        "queue_name",
        "queue_duration",
        "queue_enqueue_timestamp",
        "queue_dequeue_timestamp",
        "attributes",
        "recording_location",
        "raw",
    ];
    assert_eq!(names, glue);
    assert_eq!(rows.schema().fields().len(), contact_records_schema().fields().len());
    assert_eq!(rows.num_rows(), items.len());

    let s = |name: &str, row: usize| {
        let col = rows.column_by_name(name).unwrap().as_string::<i32>();
        col.is_valid(row).then(|| col.value(row).to_owned())
    };
    let t = |name: &str, row: usize| {
        let col = rows.column_by_name(name).unwrap().as_primitive::<TimestampMillisecondType>();
        col.is_valid(row).then(|| col.value(row))
    };
    let n = |name: &str, row: usize| {
        let col = rows.column_by_name(name).unwrap().as_primitive::<Int64Type>();
        col.is_valid(row).then(|| col.value(row))
    };
    let attributes = rows.column_by_name("attributes").unwrap().as_map();
    for (row, item) in items.iter().enumerate() {
        let Ok(ConnectRecord::Contact(c)) = classify(&item.data) else { panic!("fixture CTR") };
        let agent = c.agent.clone().unwrap_or_default();
        let queue = c.queue.clone().unwrap_or_default();
        assert_eq!(s("contact_id", row).as_deref(), Some(c.contact_id.as_str()));
        assert_eq!(s("initial_contact_id", row), c.initial_contact_id);
        assert_eq!(s("previous_contact_id", row), c.previous_contact_id);
        assert_eq!(s("next_contact_id", row), c.next_contact_id);
        assert_eq!(s("channel", row), c.channel);
        assert_eq!(s("initiation_method", row), c.initiation_method);
        assert_eq!(s("instance_arn", row), c.instance_arn);
        assert_eq!(s("aws_account_id", row), c.aws_account_id);
        assert_eq!(t("initiation_timestamp", row), millis(c.initiation_timestamp));
        assert_eq!(t("connected_to_system_timestamp", row), millis(c.connected_to_system_timestamp));
        assert_eq!(t("disconnect_timestamp", row), millis(c.disconnect_timestamp));
        assert_eq!(t("last_update_timestamp", row), millis(c.last_update_timestamp));
        assert_eq!(s("disconnect_reason", row), c.disconnect_reason);
        assert_eq!(s("agent_arn", row), agent.arn);
        assert_eq!(s("agent_username", row), agent.username);
        assert_eq!(s("agent_routing_profile", row), agent.routing_profile.and_then(|p| p.name));
        assert_eq!(t("agent_connected_timestamp", row), millis(agent.connected_to_agent_timestamp));
        assert_eq!(n("agent_interaction_duration", row), agent.agent_interaction_duration);
        assert_eq!(n("agent_after_contact_work_duration", row), agent.after_contact_work_duration);
        assert_eq!(n("agent_customer_hold_duration", row), agent.customer_hold_duration);
        assert_eq!(n("agent_number_of_holds", row), agent.number_of_holds);
        assert_eq!(s("queue_arn", row), queue.arn);
        assert_eq!(s("queue_name", row), queue.name);
        assert_eq!(n("queue_duration", row), queue.duration);
        assert_eq!(t("queue_enqueue_timestamp", row), millis(queue.enqueue_timestamp));
        assert_eq!(t("queue_dequeue_timestamp", row), millis(queue.dequeue_timestamp));
        let entries = attributes.value(row);
        let (keys, values) = (entries.column(0).as_string::<i32>(), entries.column(1).as_string::<i32>());
        let read: BTreeMap<String, String> =
            (0..entries.len()).map(|i| (keys.value(i).to_owned(), values.value(i).to_owned())).collect();
        assert_eq!(read, c.attributes);
        let location =
            c.recording.and_then(|r| r.location).or_else(|| c.recordings.iter().find_map(|r| r.location.clone()));
        assert_eq!(s("recording_location", row), location);
        assert_eq!(s("raw", row).map(String::into_bytes), Some(item.data.clone()));
    }
    // The fixtures do exercise the values (a test over all-null columns could not fail).
    assert!((0..items.len()).any(|r| n("agent_number_of_holds", r) == Some(1)));
    assert!((0..items.len()).any(|r| s("agent_arn", r).is_none()), "the abandoned call has no agent");
    assert!((0..items.len()).any(|r| attributes.value(r).len() >= 2));
}

#[tokio::test]
async fn agent_events_in_parquet_read_back_equal_to_the_input_fields() {
    let items = envelope_items("agent-day.json");
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Both, ArchiveKinds::ALL);
    let (response, _) = run(&archiver, &items, &quarantine()).await;
    assert!(response.batch_item_failures.is_empty());

    let objects = archiver.store().objects();
    let keys: Vec<&String> = objects.keys().collect();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].starts_with("agent-events-parquet/year=2026/month=11/day=02/"));
    assert!(keys[1].starts_with("agent-events/year=2026/month=11/day=02/"));
    let rows = parquet_rows(&objects[keys[0]].body);
    let schema = rows.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "event_id",
            "event_type",
            "event_timestamp",
            "agent_arn",
            "instance_arn",
            "version",
            "username",
            "first_name",
            "last_name",
            "status_name",
            "status_type",
            "status_start_timestamp",
            "routing_profile",
            "hierarchy_level1",
            "hierarchy_level2",
            "hierarchy_level3",
            "hierarchy_level4",
            "hierarchy_level5",
            "contact_count",
            "raw",
        ]
    );
    assert_eq!(rows.schema().fields().len(), agent_events_schema().fields().len());
    let s = |name: &str, row: usize| {
        let col = rows.column_by_name(name).unwrap().as_string::<i32>();
        col.is_valid(row).then(|| col.value(row).to_owned())
    };
    let t = |name: &str, row: usize| {
        let col = rows.column_by_name(name).unwrap().as_primitive::<TimestampMillisecondType>();
        col.is_valid(row).then(|| col.value(row))
    };
    let contacts = rows.column_by_name("contact_count").unwrap().as_primitive::<Int32Type>();
    for (row, item) in items.iter().enumerate() {
        let Ok(ConnectRecord::Agent(e)) = classify(&item.data) else { panic!("fixture agent event") };
        let current = e.current.clone().unwrap_or_default();
        let config = current.configuration.clone().unwrap_or_default();
        let status = current.agent_status.clone().unwrap_or_default();
        assert_eq!(s("event_id", row), Some(e.event_id.clone()));
        assert_eq!(s("event_type", row).as_deref(), Some(e.event_type.as_str()));
        assert_eq!(t("event_timestamp", row), Some(e.event_timestamp.timestamp_millis()));
        assert_eq!(s("agent_arn", row), Some(e.agent_arn.clone()));
        assert_eq!(s("instance_arn", row), e.instance_arn);
        assert_eq!(s("version", row), e.version);
        assert_eq!(s("username", row), config.username);
        assert_eq!(s("first_name", row), config.first_name);
        assert_eq!(s("last_name", row), config.last_name);
        assert_eq!(s("status_name", row), status.name);
        assert_eq!(s("status_type", row), status.status_type);
        assert_eq!(t("status_start_timestamp", row), millis(status.start_timestamp));
        assert_eq!(s("routing_profile", row), config.routing_profile.and_then(|p| p.name));
        for (level, name) in current.hierarchy_names().iter().enumerate() {
            assert_eq!(s(&format!("hierarchy_level{}", level + 1), row).as_deref(), *name);
        }
        assert_eq!(contacts.value(row), i32::try_from(current.contacts.len()).unwrap());
        assert_eq!(s("raw", row).map(String::into_bytes), Some(item.data.clone()));
    }
    assert!((0..items.len()).any(|r| contacts.value(r) >= 1), "the day has contacts");
    assert!((0..items.len()).any(|r| s("hierarchy_level3", r).is_some()), "and hierarchy groups");
}

#[tokio::test]
async fn each_kind_is_archived_under_its_own_prefix_and_segments_stay_ndjson() {
    let mut data: Vec<Vec<u8>> = envelope_items("segments-voice.json").into_iter().map(|i| i.data).collect();
    data.extend(envelope_items("segments-chat.json").into_iter().map(|i| i.data));
    data.push(fixture_ctrs().remove(0));
    data.push(envelope_items("agent-day.json").remove(0).data);
    let items = items(1, data);
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Parquet, ArchiveKinds::ALL);

    let (response, report) = run(&archiver, &items, &quarantine()).await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!((report.done, report.skipped), (items.len(), 0), "every kind is archived, nothing skipped");
    let prefixes: BTreeSet<String> =
        archiver.store().objects().keys().map(|k| k.split('/').next().unwrap().to_owned()).collect();
    assert_eq!(
        prefixes,
        BTreeSet::from(["agent-events-parquet", "analysis-segments", "contact-records-parquet"].map(String::from))
    );
    let segments: Vec<Vec<u8>> = ndjson_objects(archiver.store()).into_values().flatten().collect();
    assert_eq!(segments.len(), 8, "5 voice and 3 chat segment records");
}

/// A shared stream's batch: a contact record, an agent event, a segment and an invalid record, in that order.
fn mixed_kinds_batch() -> Vec<KinesisItem> {
    let ctr = fixture_ctrs().remove(0);
    let agent_event = envelope_items("agent-day.json").remove(0).data;
    let segment = fixture_segments().remove(0);
    let invalid = br#"{"ContactId":"truncated"#.to_vec();
    items(1, [ctr, agent_event, segment, invalid])
}

#[tokio::test]
async fn with_both_flags_off_only_contact_records_are_archived_and_other_valid_kinds_are_skipped() {
    // GIVEN a batch of every kind plus an invalid record, and the function's default configuration
    let items = mixed_kinds_batch();
    let archiver =
        ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Both, ArchiveKinds::CONTACT_RECORDS);
    let q = quarantine();

    // WHEN it is processed
    let dispositions = archiver.process(&items).await;
    let (response, report) = run(&archiver, &items, &q).await;

    // THEN the contact record is archived, the agent event and the segment are skipped (not quarantined, nothing
    // written for them) and the invalid record is quarantined
    assert!(matches!(
        dispositions.as_slice(),
        [Disposition::Done, Disposition::Skipped, Disposition::Skipped, Disposition::Poison(_)]
    ));
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((report.done, report.skipped, report.quarantined, report.failed), (1, 2, 1, 0));
    let prefixes: BTreeSet<String> =
        archiver.store().objects().keys().map(|k| k.split('/').next().unwrap().to_owned()).collect();
    assert_eq!(prefixes, BTreeSet::from(["contact-records", "contact-records-parquet"].map(String::from)));
    let archived: Vec<Vec<u8>> = ndjson_objects(archiver.store()).into_values().flatten().collect();
    assert_eq!(archived, [items[0].data.clone()], "the contact record alone, byte for byte");
    let quarantined = q.entries().await.unwrap();
    assert_eq!(quarantined.iter().map(|e| e.sequence_number.as_str()).collect::<Vec<_>>(), [items[3].seq_str()]);
}

#[tokio::test]
async fn each_flag_turns_on_its_own_kind_and_invalid_records_are_quarantined_either_way() {
    let items = mixed_kinds_batch();
    let cases = [
        (ArchiveKinds { agent_events: true, segments: false }, vec!["agent-events", "contact-records"], 1),
        (ArchiveKinds { agent_events: false, segments: true }, vec!["analysis-segments", "contact-records"], 1),
        (ArchiveKinds::ALL, vec!["agent-events", "analysis-segments", "contact-records"], 0),
    ];
    for (kinds, expected, skipped) in cases {
        let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Ndjson, kinds);
        let q = quarantine();

        let (response, report) = run(&archiver, &items, &q).await;

        assert!(response.batch_item_failures.is_empty(), "{kinds:?}");
        assert_eq!((report.done, report.skipped, report.quarantined), (3 - skipped, skipped, 1), "{kinds:?}");
        let objects = ndjson_objects(archiver.store());
        let prefixes: Vec<&str> = objects.keys().map(|k| k.split('/').next().unwrap()).collect();
        assert_eq!(prefixes, expected, "{kinds:?}");
        let archived: BTreeSet<Vec<u8>> = objects.into_values().flatten().collect();
        let enabled: BTreeSet<Vec<u8>> = items[..3]
            .iter()
            .filter(|i| kinds.includes(classify(&i.data).unwrap().kind()))
            .map(|i| i.data.clone())
            .collect();
        assert_eq!(archived, enabled, "{kinds:?}: every record of an enabled kind, byte for byte");
        assert_eq!(q.entries().await.unwrap().len(), 1, "{kinds:?}");
    }
}

#[tokio::test]
async fn a_chat_segment_lands_on_the_day_of_its_earliest_part_whichever_part_holds_it() {
    // GIVEN two chat SEGMENTS records arriving on 2026-11-02 at 20:00: one timed by its transcripts (that morning),
    // one timed only by an Event and an Attachments part, the earliest just before midnight of the day before
    let transcripts: Vec<u8> = envelope_items("segments-chat.json")
        .into_iter()
        .map(|i| i.data)
        .find(|d| String::from_utf8_lossy(d).contains("\"SEGMENTS\""))
        .expect("the chat fixture has a SEGMENTS record");
    let events = chat_event_segment("2026-11-02T00:00:03.000Z", "2026-11-01T23:59:58.000Z");
    let items = items(1, [transcripts.clone(), events.clone()]);
    let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", ArchiveFormat::Ndjson, ArchiveKinds::ALL);

    // WHEN the batch is archived
    let (response, report) = run(&archiver, &items, &quarantine()).await;

    // THEN each lands on the day of its own earliest time, not on the arrival day
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.done, 2);
    let text = |r: Vec<u8>| String::from_utf8(r).expect("UTF-8 record");
    let by_day: BTreeMap<String, Vec<String>> = ndjson_objects(archiver.store())
        .into_iter()
        .map(|(key, records)| {
            (key.split('/').nth(3).expect("day=DD").to_owned(), records.into_iter().map(text).collect())
        })
        .collect();
    assert_eq!(
        by_day,
        BTreeMap::from([("day=01".to_owned(), vec![text(events)]), ("day=02".to_owned(), vec![text(transcripts)])])
    );
}

#[tokio::test]
async fn a_thousand_ctrs_of_one_day_cost_one_put_per_format() {
    let items = items(1, synthetic_ctrs(1_000));
    for (format, expected) in [(ArchiveFormat::Ndjson, 1), (ArchiveFormat::Parquet, 1), (ArchiveFormat::Both, 2)] {
        let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", format, ArchiveKinds::ALL);
        let (response, report) = run(&archiver, &items, &quarantine()).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(report.done, 1_000);
        let puts = archiver.store().puts.get();
        let bytes: usize = archiver.store().objects().values().map(|o| o.body.len()).sum();
        println!("ARCHIVE_FORMAT={format}: {puts} PUT(s) per 1,000 CTRs, {bytes} bytes stored");
        assert_eq!(puts, expected, "{format}");
    }
}
