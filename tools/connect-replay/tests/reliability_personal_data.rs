//! Personal data never leaves through logs, alerts or metrics: every fixture of events/ (raw payloads, Kinesis
//! envelopes, the bad-input corpus) through every function, with logs at debug level, and no customer phone number,
//! transcript text or contact attribute value in what comes out.
//!
//! The functions' own telemetry is used, as in Lambda: `shared::telemetry::init` (lambda_runtime's subscriber with
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, `AWS_LAMBDA_LOG_LEVEL=debug`, and the CloudWatch EMF recorder) writes to stdout,
//! and every invocation goes through `shared::lambda::invoke`, as `serve` makes it (batch metrics recorded, then
//! flushed). Both are process-wide, so the test runs its work in a
//! child process (this same test binary, this same test) and reads everything the child printed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

const CHILD: &str = "RELIABILITY_PERSONAL_DATA_CHILD";
const TEST: &str = "no_phone_number_transcript_or_attribute_value_reaches_logs_alerts_or_metrics";

fn events() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every record's data in the fixtures: raw payloads, the records inside the envelopes, the bad-input files.
fn fixture_records() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    for f in files(&events().join("raw")) {
        out.push((f.display().to_string(), vec![std::fs::read(&f).unwrap()]));
    }
    for f in files(&events().join("envelopes")) {
        let event: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let data = shared::kinesis::items_from_event(event).into_iter().map(|i| i.data).collect();
        out.push((f.display().to_string(), data));
    }
    for f in files(&events().join("bad")).into_iter().filter(|f| !f.ends_with("MANIFEST.json")) {
        out.push((f.display().to_string(), vec![std::fs::read(&f).unwrap()]));
    }
    out
}

/// What must never come out: customer phone numbers (`CustomerEndpoint.Address` and any `+1555…` number in the
/// fixtures), transcript text (`Content`, `PartialContent`, whole and its first 24 characters), and contact
/// attribute values. Attribute values that are numbers or booleans are left out: "1" or "true" cannot be told
/// apart from a count or a flag, and an attribute-threshold alert reports the number it compared by design.
fn secrets() -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("CustomerEndpoint", Value::Object(e)) => {
                            if let Some(Value::String(a)) = e.get("Address") {
                                out.insert(a.clone());
                            }
                        }
                        ("Content" | "PartialContent", Value::String(s)) => {
                            out.insert(s.clone());
                            out.insert(s.chars().take(24).collect());
                        }
                        ("Attributes", Value::Object(attrs)) => {
                            for value in attrs.values().filter_map(Value::as_str) {
                                let plain = value.parse::<f64>().is_ok() || value == "true" || value == "false";
                                if !plain && value.len() >= 4 {
                                    out.insert(value.to_owned());
                                }
                            }
                        }
                        _ => {}
                    }
                    walk(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for (_, records) in fixture_records() {
        for data in records {
            let text = String::from_utf8_lossy(&data);
            let mut rest = text.as_ref();
            while let Some(at) = rest.find("+1555") {
                let number: String = rest[at..].chars().take_while(|c| *c == '+' || c.is_ascii_digit()).collect();
                if number.len() >= 8 {
                    out.insert(number.clone());
                }
                rest = &rest[at + number.len().max(1)..];
            }
            if let Ok(v) = serde_json::from_slice::<Value>(contact_archiver::ndjson::strip_bom(&data)) {
                walk(&v, &mut out);
            }
        }
    }
    out
}

#[test]
fn no_phone_number_transcript_or_attribute_value_reaches_logs_alerts_or_metrics() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let secrets = secrets();
    for must in ["+15555550123", "+15555550199", "Promoción otoño", "SO-771204", "web-help-center"] {
        assert!(secrets.contains(must), "the secrets include {must:?}");
    }
    assert!(secrets.iter().any(|s| s.contains("teal kayak paddle")), "transcript text is among the secrets");

    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "debug")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed:\n{stderr}\n{}", &stdout[stdout.len().saturating_sub(4000)..]);

    // The capture is real: JSON logs at debug level, EMF documents, alerts.
    // (The test harness prints "test … " before the child's first line, on the same line: cut at the JSON.)
    let json_lines = || stdout.lines().filter_map(|l| l.find('{').map(|at| &l[at..]));
    let logs: Vec<&str> = json_lines().filter(|l| l.starts_with("{\"level\"")).collect();
    let metrics: Vec<&str> = json_lines().filter(|l| l.contains("\"_aws\"")).collect();
    let alerts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ALERT ")).collect();
    assert!(logs.iter().any(|l| l.contains("batch processed")), "batch logs captured");
    assert!(logs.iter().any(|l| l.contains("\"DEBUG\"")), "debug logs captured");
    assert!(logs.iter().any(|l| l.contains("quarantining invalid record")), "rejection logs captured");
    assert!(logs.iter().any(|l| l.contains("\"WARN\"") && l.contains("injected")), "failure logs captured");
    assert!(
        metrics.iter().any(|l| l.contains("RecordsIn") && l.contains("ConnectStreamConsumers")),
        "metrics captured"
    );
    assert!(alerts.len() >= 4, "alerts captured: {}", alerts.len());

    for secret in &secrets {
        for (what, lines) in [("a log line", &logs), ("the metrics", &metrics), ("an alert", &alerts)] {
            if let Some(line) = lines.iter().find(|l| l.contains(secret.as_str())) {
                panic!("{secret:?} reached {what}: {line}");
            }
        }
        assert!(!stdout.contains(secret.as_str()), "{secret:?} reached the output");
    }
}

/// The child: the functions' telemetry on stdout; every fixture through every function, twice (the second time on
/// stores that fail now and then, so that failure paths log too); the alerts printed as `ALERT <json>` lines.
fn child() {
    use connect_replay::app;
    use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
    use contact_archiver::handler::ContactArchiver;
    use shared::adapters::fault::{FaultPlan, Faulty};
    use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
    use shared::kinesis::{KinesisItem, SeqNo};
    use shared::lambda::invoke;
    use shared::quarantine::ObjectQuarantine;

    let collector = shared::telemetry::init("reliability-personal-data").expect("telemetry");
    let rules_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions/supervisor-alerts/rules.example.json");
    let rules = app::load_rules(Some(&rules_path)).unwrap();
    let settings = supervisor_alerts::config::Settings::replay();
    let publisher = MemoryPublisher::new();
    let arrival = shared::model::time::parse("2026-11-02T18:00:00Z").unwrap();
    let mut seq = 0u64;
    let mut batch = |data: Vec<Vec<u8>>| -> Vec<KinesisItem> {
        data.into_iter()
            .enumerate()
            .map(|(index, data)| {
                seq += 1;
                KinesisItem {
                    index,
                    seq: SeqNo::parse(&format!("4959{seq:052}")),
                    shard_id: "shardId-000000000000".into(),
                    partition_key: "fixtures".into(),
                    arrival,
                    stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/connect-fixtures".into(),
                    data,
                }
            })
            .collect()
    };
    let fixtures = fixture_records();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for fault_rate in [0.0, 0.3] {
            let plan = FaultPlan::new(fault_rate, 5);
            let quarantine = ObjectQuarantine::new(Faulty::new(MemoryObjectStore::new(), plan.clone()), "quarantine/");
            let archiver = ContactArchiver::new(
                Faulty::new(MemoryObjectStore::new(), plan.clone()),
                "",
                ArchiveFormat::Both,
                ArchiveKinds::ALL,
            );
            let agent_state = agent_state::AgentState::new(
                Faulty::new(MemoryItemStore::new(&agent_state::INDEXES), plan.clone()),
                agent_state::config::Settings::default(),
            );
            let alerts = supervisor_alerts::handler::SupervisorAlerts::new(
                rules.clone(),
                Faulty::new(MemoryItemStore::new(&[]), plan.clone()),
                Faulty::new(publisher.clone(), plan.clone()),
                settings,
            );
            for (_, data) in &fixtures {
                let items = batch(data.clone());
                invoke(contact_archiver::handler::NAME, &items, &archiver, &quarantine, collector).await.unwrap();
                invoke(agent_state::NAME, &items, &agent_state, &quarantine, collector).await.unwrap();
                invoke(supervisor_alerts::NAME, &items, &alerts, &quarantine, collector).await.unwrap();
            }
        }
    });
    for m in publisher.published() {
        let alert = serde_json::json!({"subject": m.subject, "body": m.body, "attributes": m.attributes});
        println!("ALERT {alert}");
    }
}
