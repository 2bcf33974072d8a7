//! The archiver through the real S3 adapter against moto (`scripts/test.sh` starts it and sets
//! `AWS_ENDPOINT_URL`, dummy credentials and `CONNECT_TEST_PYTHON`). Each test creates its own bucket.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use common::*;
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::{ContactArchiver, NAME};
use contact_archiver::ndjson;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::adapters::intercept::{Answer, Call, Hook, Intercepted};
use shared::batch::run_items;
use shared::ports::{ObjectStore, PortError, PortResult, PutOutcome};
use shared::quarantine::ObjectQuarantine;
use shared::{ConnectRecord, classify};

/// The emulator's endpoint; refuses anything but a local one.
fn local_endpoint() -> String {
    let url = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| panic!("AWS_ENDPOINT_URL is not set: run scripts/test.sh, which starts moto"));
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
        "emulator tests only talk to a local emulator, not {url}"
    );
    url
}

/// A client for the emulator and a new bucket of its own.
async fn new_bucket(test: &str) -> (aws_sdk_s3::Client, String) {
    local_endpoint();
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let cfg = shared::adapters::aws::sdk_config().await;
    let client = S3ObjectStore::client(&cfg);
    let nanos = Utc::now().timestamp_subsec_nanos();
    let bucket = format!("archiver-{test}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    client.create_bucket().bucket(&bucket).send().await.expect("create bucket in moto");
    (client, bucket)
}

/// Records every PUT's key and outcome.
#[derive(Default)]
struct Recorded {
    outcomes: Mutex<Vec<(String, PortResult<PutOutcome>)>>,
}

impl Recorded {
    fn store<S>(inner: S) -> Intercepted<S, Self> {
        Intercepted::new(inner, Self::default())
    }
    fn take(&self) -> Vec<(String, PortResult<PutOutcome>)> {
        std::mem::take(&mut *self.outcomes.lock().unwrap())
    }
}

impl Hook for Recorded {
    fn after(&self, call: &Call<'_>, result: Result<Answer<'_>, &PortError>) {
        if let Call::PutObject(o) = call {
            let outcome = match result {
                Ok(Answer::Put(outcome)) => Ok(outcome),
                Ok(other) => unreachable!("a PUT answers with its outcome, not {other:?}"),
                Err(e) => Err(e.clone()),
            };
            self.outcomes.lock().unwrap().push((o.key.clone(), outcome));
        }
    }
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn the_archive_round_trips_through_s3_and_an_identical_retry_writes_nothing_new() {
    let (client, bucket) = new_bucket("roundtrip").await;
    let items = envelope_items("ctr-batch.json");
    let archiver = ContactArchiver::new(
        Recorded::store(S3ObjectStore::new(client.clone(), &bucket)),
        "archive/",
        ArchiveFormat::Both,
        ArchiveKinds::ALL,
    );
    let quarantine = ObjectQuarantine::new(S3ObjectStore::new(client.clone(), &bucket), "quarantine/");

    let (response, report) = run_items(NAME, &items, &archiver, &quarantine).await.unwrap();

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.done, items.len());
    let first = archiver.store().hook().take();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|(_, o)| o == &Ok(PutOutcome::Created)), "{first:?}");
    let keys = archiver.store().list("archive/").await.unwrap();
    assert_eq!(keys.len(), 2);
    let ndjson_key = keys.iter().find(|k| k.ends_with(".ndjson.gz")).expect("an NDJSON object");
    assert!(ndjson_key.starts_with("archive/contact-records/year=2026/month=11/day=02/shardId-000000000000-"));
    let body = archiver.store().get(ndjson_key).await.unwrap().expect("stored");
    let originals: Vec<Vec<u8>> = items.iter().map(|i| i.data.clone()).collect();
    assert_eq!(ndjson::decode(&body).unwrap(), originals, "byte-equal after decompression");
    let head = client.head_object().bucket(&bucket).key(ndjson_key).send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/gzip"));

    // The identical batch again (a retried invocation): S3 answers 412, nothing is rewritten.
    let (response, _) = run_items(NAME, &items, &archiver, &quarantine).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let second = archiver.store().hook().take();
    assert_eq!(second.len(), 2);
    assert!(second.iter().all(|(_, o)| o == &Ok(PutOutcome::AlreadyExists)), "{second:?}");
    assert_eq!(archiver.store().list("archive/").await.unwrap(), keys);
    assert_eq!(archiver.store().get(ndjson_key).await.unwrap(), Some(body));
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn bad_records_land_in_the_s3_quarantine_and_good_ones_in_the_archive() {
    let (client, bucket) = new_bucket("quarantine").await;
    let items = envelope_items("mixed-bad.json");
    let archiver =
        ContactArchiver::new(S3ObjectStore::new(client.clone(), &bucket), "", ArchiveFormat::Ndjson, ArchiveKinds::ALL);
    let quarantine = ObjectQuarantine::new(S3ObjectStore::new(client.clone(), &bucket), "quarantine/");

    let (response, report) = run_items(NAME, &items, &archiver, &quarantine).await.unwrap();

    assert!(response.batch_item_failures.is_empty());
    assert_eq!((report.done, report.quarantined), (7, 11));
    assert_eq!(quarantine.entries().await.unwrap().len(), 11);
    let keys = archiver.store().list("contact-records/").await.unwrap();
    assert_eq!(keys.len(), 1);
    let archived = ndjson::decode(&archiver.store().get(&keys[0]).await.unwrap().unwrap()).unwrap();
    assert_eq!(archived.len(), 7);
    assert!(archived.iter().all(|d| classify(d).is_ok()));
}

/// How Python prints a UTC datetime (`str(datetime)`): microseconds only when non-zero.
fn python_str(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
    }
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn pyarrow_reads_the_parquet_object_as_written() {
    let python = std::env::var("CONNECT_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("CONNECT_TEST_PYTHON is not set: run scripts/test.sh (it points it at the venv's python with pyarrow)")
    });
    let (client, bucket) = new_bucket("pyarrow").await;
    let items = envelope_items("ctr-batch.json");
    let archiver = ContactArchiver::new(
        S3ObjectStore::new(client.clone(), &bucket),
        "",
        ArchiveFormat::Parquet,
        ArchiveKinds::ALL,
    );
    let quarantine = ObjectQuarantine::new(S3ObjectStore::new(client, &bucket), "quarantine/");
    let (response, _) = run_items(NAME, &items, &archiver, &quarantine).await.unwrap();
    assert!(response.batch_item_failures.is_empty());

    let keys = archiver.store().list("contact-records-parquet/").await.unwrap();
    assert_eq!(keys.len(), 1);
    let body = archiver.store().get(&keys[0]).await.unwrap().expect("stored");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contact-records.parquet");
    std::fs::write(&path, &body).unwrap();
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg("import pyarrow.parquet as pq, json, sys; t = pq.read_table(sys.argv[1]); print(json.dumps(t.to_pylist(), default=str))")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    assert!(output.status.success(), "pyarrow failed: {}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(rows.len(), items.len());
    for (row, item) in rows.iter().zip(&items) {
        let Ok(ConnectRecord::Contact(c)) = classify(&item.data) else { panic!("fixture CTR") };
        assert_eq!(row["contact_id"], c.contact_id.as_str());
        let ts = |t: Option<DateTime<Utc>>| t.map_or(serde_json::Value::Null, |t| python_str(t).into());
        assert_eq!(row["initiation_timestamp"], ts(c.initiation_timestamp), "{}", c.contact_id);
        assert_eq!(row["last_update_timestamp"], ts(c.last_update_timestamp), "{}", c.contact_id);
        assert_eq!(row["disconnect_timestamp"], ts(c.disconnect_timestamp), "{}", c.contact_id);
        // pyarrow reads a MAP as a list of (key, value) pairs.
        let pairs: BTreeMap<String, String> = row["attributes"]
            .as_array()
            .expect("a list of pairs")
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(pairs, c.attributes, "{}", c.contact_id);
        assert_eq!(row["raw"].as_str().map(str::as_bytes), Some(item.data.as_slice()));
    }
    assert!(rows.iter().any(|r| r["attributes"].as_array().is_some_and(|a| a.len() >= 2)));
}

#[tokio::test]
#[ignore = "needs CONNECT_TEST_PYTHON (duckdb): run scripts/test.sh"]
async fn the_rust_newest_version_rule_agrees_with_the_athena_view_run_in_duckdb() {
    use contact_archiver::versions::{ArchivedContactRecord, newest_versions};
    let python = std::env::var("CONNECT_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("CONNECT_TEST_PYTHON is not set: run scripts/test.sh (the venv's python has duckdb)")
    });
    // Republished versions in both orders, same-second copies that differ in content, a missing timestamp.
    let republished: Vec<Vec<u8>> = envelope_items("ctr-republished.json").into_iter().map(|i| i.data).collect();
    let base = fixture_ctrs().remove(0);
    let tie = replace_field(&base, "ContactId", "7a1e0000-0000-4000-8000-000000000000");
    let tie_a = replace_field(&tie, "DisconnectReason", "A_REASON");
    let tie_z = replace_field(&tie, "DisconnectReason", "Z_REASON");
    let no_lut = replace_field(&base, "ContactId", "0a1e0000-0000-4000-8000-000000000000");
    let no_lut_older = String::from_utf8(no_lut.clone()).unwrap().replacen(
        &format!("\"LastUpdateTimestamp\":\"{}\"", "2026-11-02T08:14:12Z"),
        "\"LastUpdateTimestamp\":null",
        1,
    );
    assert_ne!(no_lut_older.as_bytes(), no_lut.as_slice(), "the fixture's timestamp was replaced");
    let data = vec![republished[1].clone(), republished[0].clone(), tie_z, tie_a, no_lut_older.into_bytes(), no_lut];
    let archiver = ContactArchiver::new(
        shared::adapters::memory::MemoryObjectStore::new(),
        "",
        ArchiveFormat::Parquet,
        ArchiveKinds::ALL,
    );
    let quarantine = ObjectQuarantine::new(shared::adapters::memory::MemoryObjectStore::new(), "q/");
    let (response, _) = run_items(NAME, &items(1, data.clone()), &archiver, &quarantine).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let objects = archiver.store().objects();
    assert_eq!(objects.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contact-records.parquet");
    std::fs::write(&path, &objects.values().next().unwrap().body).unwrap();

    let script = "import duckdb, json, sys
con = duckdb.connect()
con.execute(\"CREATE VIEW contact_records_parquet AS SELECT *, '2026' AS year, '11' AS month, '02' AS day FROM read_parquet('\" + sys.argv[1] + \"')\")
con.execute(open(sys.argv[2]).read())
print(json.dumps(con.execute('SELECT contact_id, raw FROM contact_records_latest ORDER BY contact_id').fetchall()))";
    let view = events_dir().join("../athena/contact_records_latest.sql");
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(&view)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    assert!(output.status.success(), "duckdb failed: {}", String::from_utf8_lossy(&output.stderr));
    let from_sql: Vec<(String, String)> = serde_json::from_slice(&output.stdout).unwrap();

    let from_rust: Vec<(String, String)> =
        newest_versions(data.iter().filter_map(|d| ArchivedContactRecord::from_bytes(d)))
            .into_iter()
            .map(|(id, r)| (id, r.raw))
            .collect();
    assert_eq!(from_rust.len(), 3);
    assert_eq!(from_sql, from_rust);
    assert!(from_rust.iter().any(|(_, raw)| raw.contains("Z_REASON")), "the larger raw text wins a tie");
}
