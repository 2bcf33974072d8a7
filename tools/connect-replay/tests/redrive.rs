//! `connect-replay redrive` through the real binary: quarantined records land after the fix (and only they), an
//! on-failure object in Lambda's documented format is sent again, an archive re-driven twice changes nothing, and
//! a backtest over an archive gives the alerts the live replay published.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;
use connect_replay::app::{self, Local};
use connect_replay::generate::{DayConfig, DayGenerator, GenRecord, Stream};
use connect_replay::replay::ReplayOptions;
use shared::kinesis::{KinesisItem, SeqNo};
use shared::quarantine::{ObjectQuarantine, Quarantine, QuarantineEntry};

fn replay(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_connect-replay")).args(args).output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn day(agents: usize) -> Vec<GenRecord> {
    DayGenerator::new(DayConfig { agents, seed: 7, ..DayConfig::default() }).collect()
}

/// A generated day of `agents` agents replayed live into `out` with the demo rules; the local run, for what it left.
async fn replayed(out: &Path, agents: usize) -> Local {
    let local = Local::open(out, true).unwrap();
    local
        .run(day(agents).into_iter(), app::load_rules(None).unwrap(), &ReplayOptions::default(), None, false, true)
        .await
        .unwrap();
    local
}

/// A day without invalid records: its quarantine holds only what a test puts there.
fn clean_day(agents: usize) -> Vec<GenRecord> {
    DayGenerator::new(DayConfig { agents, seed: 7, invalid_rate: 0.0, ..DayConfig::default() }).collect()
}

fn event_type(r: &GenRecord) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&r.data).ok()?;
    v["EventType"].as_str().map(str::to_owned)
}

/// Everything a run leaves: the board, the alerts published, and every archive object's bytes by key.
async fn snapshot(out: &Path) -> (String, Vec<String>, BTreeMap<String, Vec<u8>>) {
    let local = Local::open(out, false).unwrap();
    let board = serde_json::to_string(&local.agent_table.with_sort_key("CURRENT").unwrap()).unwrap();
    let alerts = std::fs::read_to_string(out.join(app::ALERTS_FILE)).unwrap_or_default();
    let mut objects = BTreeMap::new();
    for key in shared::ports::ObjectStore::list(&local.archive, "").await.unwrap() {
        let body = shared::ports::ObjectStore::get(&local.archive, &key).await.unwrap().unwrap();
        objects.insert(key, body);
    }
    (board, alerts.lines().map(str::to_owned).collect(), objects)
}

fn logged_out(out: &Path, arn: &str) -> bool {
    let board = Local::open(out, false).unwrap().board().unwrap();
    let agent = board.iter().find(|a| a.agent_arn == arn).expect("the agent is on the board");
    !agent.is_logged_in()
}

#[tokio::test]
async fn quarantined_records_land_after_the_fix_and_only_they_and_a_second_redrive_changes_nothing() {
    // GIVEN a day in which agent-state (with a bug since fixed) quarantined one agent's last three events, valid
    // ones, and a truncated record that is invalid for good
    let records = clean_day(5);
    let first_agent = records.iter().find(|r| r.stream == Stream::AgentEvents).unwrap().partition_key.clone();
    let theirs: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.stream == Stream::AgentEvents && r.partition_key == first_agent)
        .map(|(i, _)| i)
        .collect();
    let logout = theirs.iter().rposition(|&i| event_type(&records[i]).as_deref() == Some("LOGOUT")).unwrap();
    // From two events before its last LOGOUT to the end of its day.
    let withheld: Vec<usize> = theirs[logout - 2..].to_vec();
    let n = withheld.len();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let local = Local::open(out, true).unwrap();
    let kept = records.iter().enumerate().filter(|(i, _)| !withheld.contains(i)).map(|(_, r)| r.clone());
    let rules = app::load_rules(None).unwrap();
    local.run(kept, rules, &ReplayOptions::default(), None, false, true).await.unwrap();
    let quarantine = ObjectQuarantine::new(local.archive.clone(), app::QUARANTINE_PREFIX);
    let entry = |i: usize, data: Vec<u8>, seq: u64, reason: &str| {
        let item = KinesisItem {
            index: 0,
            seq: SeqNo::parse(&format!("4963{seq:020}")),
            shard_id: "shardId-000000000007".into(),
            partition_key: records[i].partition_key.clone(),
            arrival: records[i].at,
            stream_arn: Stream::AgentEvents.arn(),
            data,
        };
        QuarantineEntry::new(agent_state::NAME, &item, "invalid_json", reason.into())
    };
    for (n, &i) in withheld.iter().enumerate() {
        quarantine
            .quarantine(&entry(i, records[i].data.clone(), n as u64 + 1, "bug #12: rejected a valid event"))
            .await
            .unwrap();
    }
    let truncated = records[theirs[0]].data[..40].to_vec();
    quarantine.quarantine(&entry(theirs[0], truncated, 100, "truncated")).await.unwrap();
    assert!(!logged_out(out, &first_agent), "without its last events the agent still shows logged in");
    let before = snapshot(out).await;
    let path = out.to_str().unwrap();
    let from = out.join(app::ARCHIVE_DIR);
    let from = from.to_str().unwrap();

    // WHEN a dry run is asked for, THEN it lists the four records for agent-state and changes nothing
    let dry = replay(&["redrive", "--source", "quarantine", "--from", from, "--out", path, "--dry-run", "--quiet"]);
    assert!(dry.status.success());
    let text = stdout(&dry);
    assert_eq!(text.matches("would send").count(), n + 1, "{text}");
    assert_eq!(text.matches(&format!("to {}", agent_state::NAME)).count(), n + 1, "{text}");
    assert_eq!(snapshot(out).await, before, "a dry run writes nothing");

    // WHEN the quarantine is re-driven after the fix
    let run = replay(&["redrive", "--source", "quarantine", "--from", from, "--out", path, "--quiet"]);
    assert!(run.status.success(), "{}", stdout(&run));
    let text = stdout(&run);

    // THEN the three valid events land in agent-state (the agent is logged out), the truncated one is quarantined
    // again with its reason, and nothing else was sent: no new alert, no new archive object
    assert!(logged_out(out, &first_agent), "the re-driven LOGOUT landed:\n{text}");
    let sent = format!("{} sent: {n} done, 0 stale, 0 skipped, 1 quarantined again, 0 failed", n + 1);
    assert!(text.contains(&sent), "{text}");
    assert!(text.contains("quarantined again:") && text.contains("truncated JSON"), "{text}");
    let after = snapshot(out).await;
    assert_eq!(after.1, before.1, "supervisor-alerts and the others were not sent agent-state's records");
    assert_eq!(after.2, before.2, "no archive or quarantine object was added");
    assert_ne!(after.0, before.0, "the board changed");

    // AND a second re-drive changes nothing
    let again = replay(&["redrive", "--source", "quarantine", "--from", from, "--out", path, "--quiet"]);
    assert!(again.status.success());
    assert!(stdout(&again).contains(&format!("{} sent: 0 done, {n} stale", n + 1)), "{}", stdout(&again));
    assert_eq!(snapshot(out).await, after);
}

/// An on-failure invocation record as Lambda writes it to S3 (docs: "Retain discarded batch records for a Kinesis
/// Data Streams event source in Lambda"): the payload is the whole event as an escaped JSON string.
fn on_failure_record(records: &[&GenRecord], first_seq: u64, payload: bool) -> serde_json::Value {
    let stream_arn = Stream::AgentEvents.arn();
    let b64 = base64::engine::general_purpose::STANDARD;
    let seq = |n: usize| format!("4963{:020}", first_seq + n as u64);
    let events: Vec<serde_json::Value> = records
        .iter()
        .enumerate()
        .map(|(n, r)| {
            serde_json::json!({
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": r.partition_key, "sequenceNumber": seq(n),
                            "data": b64.encode(&r.data), "approximateArrivalTimestamp": r.at.timestamp() as f64},
                "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": format!("shardId-000000000001:{}", seq(n)), "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/agent-state", "awsRegion": "us-east-1",
                "eventSourceARN": stream_arn,
            })
        })
        .collect();
    let mut record = serde_json::json!({
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-448a-9b2c-2a5b4e2b1c11",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:connect-AgentStateFunction-Q1w2E3r4",
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-11-03T17:30:06.021Z",
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000001", "startSequenceNumber": seq(0), "endSequenceNumber": seq(records.len() - 1),
            "approximateArrivalOfFirstRecord": records[0].at.to_rfc3339(),
            "approximateArrivalOfLastRecord": records[records.len() - 1].at.to_rfc3339(),
            "batchSize": records.len(), "streamArn": stream_arn
        },
    });
    if payload {
        record["payload"] = serde_json::Value::String(serde_json::json!({ "Records": events }).to_string());
    }
    record
}

#[tokio::test]
async fn an_on_failure_object_in_the_documented_format_is_sent_again_to_the_function_that_gave_it_up() {
    // GIVEN a day without one agent's last events, which agent-state's mapping gave up on (an on-failure object
    // with the payload), and an older object without payload (an SQS-style record: its records are in the stream)
    let records = day(3);
    let agent = records.iter().find(|r| r.stream == Stream::AgentEvents).unwrap().partition_key.clone();
    let theirs: Vec<&GenRecord> =
        records.iter().filter(|r| r.stream == Stream::AgentEvents && r.partition_key == agent).collect();
    let logout = theirs.iter().rposition(|r| event_type(r).as_deref() == Some("LOGOUT")).unwrap();
    let lost: Vec<&GenRecord> = theirs[logout - 3..].to_vec();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let local = Local::open(&out, true).unwrap();
    let kept = records.iter().filter(|r| !lost.iter().any(|l| std::ptr::eq(*l, *r))).cloned();
    local.run(kept, app::load_rules(None).unwrap(), &ReplayOptions::default(), None, false, true).await.unwrap();
    assert!(!logged_out(&out, &agent));
    let failed = dir.path().join("failed");
    let key = "aws/lambda/f89f8514-cdd9-4602-9e1f-01a5b77d449b/shardId-000000000001/2026/11/03";
    std::fs::create_dir_all(failed.join(key)).unwrap();
    let with = on_failure_record(&lost, 1, true);
    std::fs::write(failed.join(key).join("2026-11-03T17.30.06-3b1f8a52-6c1e-4d0b-9a8e-2f6d7c9e1a40"), with.to_string())
        .unwrap();
    let without = on_failure_record(&lost, 1, false);
    std::fs::write(
        failed.join(key).join("2026-11-03T17.30.07-0d1f8a52-6c1e-4d0b-9a8e-2f6d7c9e1a41"),
        without.to_string(),
    )
    .unwrap();
    let before = snapshot(&out).await;

    // WHEN the on-failure records are re-driven
    let args =
        ["redrive", "--source", "on-failure", "--from", failed.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let run = replay(&[&args[..], &["--quiet"]].concat());
    let text = stdout(&run);
    assert!(run.status.success(), "{text}");

    // THEN the payload's records land in agent-state only, and the record without payload is named as not sent
    assert!(logged_out(&out, &agent), "{text}");
    assert!(text.contains(&format!("{} sent: {} done", lost.len(), lost.len())), "{text}");
    assert!(text.contains("no payload") && text.contains("must be read from the stream"), "{text}");
    let after = snapshot(&out).await;
    assert_eq!((&after.1, &after.2), (&before.1, &before.2), "only agent-state was sent the records");
}

#[tokio::test]
async fn an_on_failure_batch_past_the_streams_retention_is_not_fetched_and_is_named() {
    use connect_replay::redrive::{Bucket, KinesisBatchInfo, Location, Selection, StreamReader, on_failure};
    struct Reader(std::sync::atomic::AtomicUsize);
    impl StreamReader for Reader {
        async fn retention(&self, _: &str) -> app::AppResult<chrono::TimeDelta> {
            Ok(chrono::TimeDelta::hours(24))
        }
        async fn read(&self, _: &KinesisBatchInfo) -> app::AppResult<Vec<KinesisItem>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Vec::new())
        }
    }
    let records = day(2);
    let agent_events: Vec<&GenRecord> = records.iter().filter(|r| r.stream == Stream::AgentEvents).take(3).collect();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("aws/lambda/uuid/shardId-000000000001/2026/11/03");
    std::fs::create_dir_all(&key).unwrap();
    std::fs::write(key.join("2026-11-03T17.30.06-x"), on_failure_record(&agent_events, 1, false).to_string()).unwrap();
    let (bucket, base) = Bucket::open(&Location::Dir(dir.path().to_owned())).await.unwrap();
    let reader = Reader(Default::default());
    let first = agent_events[0].at;

    // WHEN read 25 hours after the batch's first record: past the retention, nothing is fetched
    let late = first + chrono::TimeDelta::hours(25);
    let loaded = on_failure(&bucket, &base, &Selection::default(), Some(&reader), late, &|_| {}).await.unwrap();
    assert!(loaded.records.is_empty());
    assert_eq!(reader.0.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing fetched");
    assert!(loaded.notes[0].contains("retention") && loaded.notes[0].contains("lost"), "{:?}", loaded.notes);

    // WHEN read an hour after: the range is read from the stream
    let early = first + chrono::TimeDelta::hours(1);
    let loaded = on_failure(&bucket, &base, &Selection::default(), Some(&reader), early, &|_| {}).await.unwrap();
    assert_eq!(reader.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
}

#[tokio::test]
async fn an_archive_redriven_twice_changes_nothing_the_second_time() {
    // GIVEN the archive of a replayed day
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    replayed(&first, 4).await;
    let archive = first.join(app::ARCHIVE_DIR);
    let target = dir.path().join("target");
    let args = [
        "redrive",
        "--source",
        "archive",
        "--from",
        archive.to_str().unwrap(),
        "--out",
        target.to_str().unwrap(),
        "--functions",
        "agent-state,supervisor-alerts,contact-archiver",
        "--quiet",
    ];

    // WHEN it is re-driven through all three functions into an empty output, twice
    let once = replay(&args);
    assert!(once.status.success(), "{}", stdout(&once));
    let after_once = snapshot(&target).await;
    let twice = replay(&args);
    assert!(twice.status.success(), "{}", stdout(&twice));

    // THEN the first re-drive rebuilt the board, the alerts and the archive, and the second changed nothing
    assert_eq!(after_once.0, snapshot(&first).await.0, "the same board as the live replay");
    assert!(!after_once.1.is_empty() && !after_once.2.is_empty());
    assert_eq!(snapshot(&target).await, after_once);
}

#[tokio::test]
async fn a_backtest_over_an_archive_fires_the_alerts_the_live_replay_published() {
    // GIVEN a day replayed live with the demo rules (its alerts in alerts.jsonl) and archived
    let dir = tempfile::tempdir().unwrap();
    let local = replayed(dir.path(), 12).await;
    let mut live: Vec<String> =
        local.alerts().unwrap().iter().map(|a| a["subject"].as_str().unwrap().to_owned()).collect();
    live.sort();
    assert!(live.len() >= 5, "the day fires alerts: {live:?}");
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, app::DEMO_RULES).unwrap();

    // WHEN the rules are back-tested over the archive
    let archive = dir.path().join(app::ARCHIVE_DIR);
    let out = replay(&[
        "rules",
        "backtest",
        "--rules",
        rules.to_str().unwrap(),
        "--archive",
        archive.to_str().unwrap(),
        "--list",
        "--quiet",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");

    // THEN the same alerts would have fired, and the table counts them per rule and day
    let mut fired: Vec<String> = text.lines().filter_map(|l| l.strip_prefix("  ")).map(str::to_owned).collect();
    fired.sort();
    assert_eq!(fired, live, "{text}");
    assert!(text.contains(&format!("{} alerts would have fired", live.len())), "{text}");
    let day_row = text.lines().find(|l| l.starts_with("2026-")).expect("a row per day");
    let counted: usize = day_row.split_whitespace().skip(1).map(|n| n.parse::<usize>().unwrap()).sum();
    assert_eq!(counted, live.len(), "{text}");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn an_archive_in_an_s3_bucket_is_redriven_and_a_missing_bucket_stops_with_nothing_written() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("needs moto: run scripts/test.sh");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "loopback only: {endpoint}");
    // GIVEN the archive of a replayed day, uploaded to a bucket under archive/
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    replayed(&live, 3).await;
    let cfg = shared::adapters::aws::sdk_config().await;
    let s3 = shared::adapters::aws::s3::S3ObjectStore::client(&cfg);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let bucket = format!("redrive-archive-{}", nanos % 1_000_000_000_000);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let remote = shared::adapters::aws::s3::S3ObjectStore::new(s3, bucket.clone());
    let (_, _, objects) = snapshot(&live).await;
    for (key, body) in objects.into_iter().filter(|(k, _)| !k.starts_with("quarantine/")) {
        let object = shared::ports::PutObject {
            key: format!("archive/{key}"),
            body,
            content_type: "application/octet-stream",
            content_encoding: None,
        };
        shared::ports::ObjectStore::put_if_absent(&remote, object).await.unwrap();
    }
    let target = dir.path().join("target");
    let out = target.to_str().unwrap();

    // WHEN the bucket does not exist, THEN the command stops naming it, and nothing is written
    let missing = Command::new(env!("CARGO_BIN_EXE_connect-replay"))
        .args(["redrive", "--source", "archive", "--from", "s3://no-such-redrive-bucket/archive/", "--out", out])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("listing the source") && err.contains("NoSuchBucket"), "{err}");
    assert!(!target.join(app::AGENT_TABLE_FILE).exists(), "nothing written");

    // WHEN the bucket's archive is re-driven, THEN the board is the live replay's
    let from = format!("s3://{bucket}/archive/");
    let run = replay(&["redrive", "--source", "archive", "--from", &from, "--out", out, "--quiet"]);
    assert!(run.status.success(), "{}", stdout(&run));
    assert_eq!(snapshot(&target).await.0, snapshot(&live).await.0);
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn an_on_failure_record_without_payload_is_read_back_from_the_stream_within_its_retention() {
    use connect_replay::redrive::{Bucket, KinesisReader, Location, Selection, on_failure};
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("needs moto: run scripts/test.sh");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "loopback only: {endpoint}");
    // GIVEN five agent events in a stream, and an on-failure record (no payload) naming the 2nd to the 4th
    let reader = KinesisReader::from_env().await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("redrive-agent-events-{}", nanos % 1_000_000_000_000);
    reader.client.create_stream().stream_name(&name).shard_count(1).send().await.unwrap();
    let arn = loop {
        let s = reader.client.describe_stream_summary().stream_name(&name).send().await.unwrap();
        let s = s.stream_description_summary.unwrap();
        if s.stream_status == aws_sdk_kinesis::types::StreamStatus::Active {
            break s.stream_arn;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let records = day(2);
    let events: Vec<&GenRecord> = records.iter().filter(|r| r.stream == Stream::AgentEvents).take(5).collect();
    let mut put = Vec::new();
    for r in &events {
        let out = reader
            .client
            .put_record()
            .stream_arn(&arn)
            .partition_key(&r.partition_key)
            .data(aws_smithy_types::Blob::new(r.data.clone()))
            .send()
            .await
            .unwrap();
        put.push((out.shard_id, out.sequence_number));
    }
    let mut record = on_failure_record(&events[1..4], 0, false);
    let batch = &mut record["KinesisBatchInfo"];
    batch["streamArn"] = serde_json::json!(arn);
    batch["shardId"] = serde_json::json!(put[1].0);
    batch["startSequenceNumber"] = serde_json::json!(put[1].1);
    batch["endSequenceNumber"] = serde_json::json!(put[3].1);
    batch["approximateArrivalOfFirstRecord"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("aws/lambda/uuid").join(&put[1].0).join("2026/11/03");
    std::fs::create_dir_all(&key).unwrap();
    std::fs::write(key.join("2026-11-03T17.30.06-x"), record.to_string()).unwrap();

    // WHEN the on-failure records are read within the stream's retention
    let (bucket, base) = Bucket::open(&Location::Dir(dir.path().to_owned())).await.unwrap();
    let now = chrono::Utc::now();
    let loaded = on_failure(&bucket, &base, &Selection::default(), Some(&reader), now, &|_| {}).await.unwrap();

    // THEN exactly the named range comes back from the stream, byte for byte, for agent-state
    let got: Vec<&[u8]> = loaded.records.iter().map(|p| p.item.data.as_slice()).collect();
    let want: Vec<&[u8]> = events[1..4].iter().map(|r| r.data.as_slice()).collect();
    assert_eq!(got, want, "{:?}", loaded.notes);
    assert!(loaded.records.iter().all(|p| p.function == Some(connect_replay::redrive::Function::AgentState)));
    assert_eq!(loaded.records[0].item.seq_str(), put[1].1);
}

#[test]
fn the_archive_is_not_redriven_into_the_deployed_archiver() {
    // GIVEN an archive directory (its content does not matter: the refusal comes before anything is read or sent)
    let dir = tempfile::tempdir().unwrap();

    // WHEN it is re-driven against AWS with contact-archiver among the functions
    let run = replay(&[
        "redrive",
        "--source",
        "archive",
        "--from",
        dir.path().to_str().unwrap(),
        "--backend",
        "aws",
        "--functions",
        "agent-state,contact-archiver",
        "--quiet",
    ]);

    // THEN it stops with the reason: archived again, the records would be second copies under new keys
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("already archived") && err.contains("leave contact-archiver out"), "{err}");
}

#[test]
fn an_s3_prefix_is_a_folder() {
    use connect_replay::redrive::Location;
    let folder = |s: &str| match s.parse::<Location>().unwrap() {
        Location::S3 { prefix, .. } => prefix,
        Location::Dir(_) => panic!("{s} is not a directory"),
    };
    assert_eq!(folder("s3://b/archive"), "archive/");
    assert_eq!(folder("s3://b/archive/"), "archive/");
    assert_eq!(folder("s3://b"), "");
    assert_eq!(folder("s3://b/"), "");
}

#[tokio::test]
async fn a_corrupt_archive_object_stops_at_its_day_and_names_the_days_already_sent() {
    // GIVEN the archive of a replayed day, and the day after it holding one corrupt object
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    replayed(&first, 2).await;
    let archive = first.join(app::ARCHIVE_DIR);
    let days: Vec<String> = std::fs::read_dir(archive.join("agent-events/year=2026/month=11"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(days.len(), 1, "one generated day: {days:?}");
    let d: u32 = days[0].trim_start_matches("day=").parse().unwrap();
    let (sent, corrupt) = (format!("2026-11-{d:02}"), format!("2026-11-{:02}", d + 1));
    let later = archive.join(format!("agent-events/year=2026/month=11/day={:02}", d + 1));
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(later.join("shardId-000000000000-1-2.ndjson.gz"), b"not gzip at all").unwrap();
    let target = dir.path().join("target");
    let args = ["redrive", "--source", "archive", "--from", archive.to_str().unwrap(), "--out"];

    // WHEN it is re-driven
    let run = replay(&[&args[..], &[target.to_str().unwrap(), "--quiet"]].concat());

    // THEN it fails at the corrupt day, naming the object and the day already sent; that day's board is there
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains(&corrupt) && err.contains("shardId-000000000000-1-2.ndjson.gz"), "{err}");
    assert!(err.contains(&format!("the days {sent} to {sent} were re-driven before it")), "{err}");
    assert_ne!(snapshot(&target).await.0, "[]", "the first day's board was written");
}

#[tokio::test]
async fn what_a_redrive_will_not_do_is_said_before_it_is_sent() {
    // GIVEN an archive holding contact records only (the archiver's default), and an empty selection
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    replayed(&first, 2).await;
    let archive = first.join(app::ARCHIVE_DIR);
    std::fs::remove_dir_all(archive.join("agent-events")).unwrap();
    std::fs::remove_dir_all(archive.join("analysis-segments")).unwrap();
    let from = archive.to_str().unwrap();

    // WHEN its re-drive is dry-run, and a selection of a day it does not hold is re-driven
    let dry = replay(&["redrive", "--source", "archive", "--from", from, "--dry-run", "--quiet"]);
    let empty = replay(&["redrive", "--source", "archive", "--from", from, "--since", "2030-01-01", "--quiet"]);

    // THEN the dry run says the board and the alerts have no agent events or segments to go on; the empty
    // selection is an error, not a silent success
    assert!(dry.status.success());
    let out = stdout(&dry);
    assert!(out.contains("no agent-events in the selected archive") && out.contains("ARCHIVE_AGENT_EVENTS"), "{out}");
    assert!(out.contains("no analysis-segments in the selected archive") && out.contains("ARCHIVE_SEGMENTS"), "{out}");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no archive objects"));
}
