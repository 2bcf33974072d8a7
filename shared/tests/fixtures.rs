//! Every events/ fixture is classified as what it is; every bad input gets its precise reason; nothing panics.

use std::path::{Path, PathBuf};

use aws_lambda_events::event::kinesis::KinesisEvent;
use serde::Deserialize;
use shared::model::RecordKind;
use shared::{ConnectRecord, classify};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(events_dir().join(dir))
        .unwrap_or_else(|e| panic!("events/{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "events/{dir} has fixtures");
    out
}

#[test]
fn every_raw_fixture_is_classified_as_its_stream() {
    for (dir, kind) in [
        ("raw/agent", RecordKind::AgentEvent),
        ("raw/ctr", RecordKind::ContactRecord),
        ("raw/segments", RecordKind::AnalysisSegment),
    ] {
        for path in files(dir) {
            let data = std::fs::read(&path).unwrap();
            match classify(&data) {
                Ok(record) => assert_eq!(record.kind(), kind, "{}", path.display()),
                Err(reason) => panic!("{} rejected: {reason}", path.display()),
            }
        }
    }
}

#[test]
fn agent_fixtures_keep_their_story_details() {
    let read = |name: &str| classify(&std::fs::read(events_dir().join("raw/agent").join(name)).unwrap()).unwrap();
    let ConnectRecord::Agent(login) = read("login.json") else { panic!("login is an agent event") };
    assert!(login.previous.is_none(), "LOGIN has a null previous snapshot");
    let ConnectRecord::Agent(chat) = read("chat-multi-contact.json") else { panic!() };
    let current = chat.current.as_ref().unwrap();
    assert!(current.contacts.len() >= 3, "several concurrent chats");
    let ConnectRecord::Agent(old) = read("old-version-2017.json") else { panic!() };
    assert_eq!(old.version.as_deref(), Some("2017-10-01"));
    let ConnectRecord::Agent(acw) = read("contact-ended-acw.json") else { panic!() };
    assert_eq!(acw.current.as_ref().unwrap().activity(), shared::model::Activity::AfterContactWork);
}

#[derive(Deserialize)]
struct ManifestEntry {
    file: String,
    expect: String,
    kind_if_valid: Option<String>,
    reason_contains: Option<String>,
}

#[test]
fn every_bad_input_is_rejected_with_its_reason_or_accepted_when_only_unusual() {
    let dir = events_dir().join("bad");
    let manifest: Vec<ManifestEntry> =
        serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).unwrap()).unwrap();
    assert!(manifest.len() >= 30, "the bad-input corpus has at least 30 cases");
    for entry in manifest {
        let data = std::fs::read(dir.join(&entry.file)).unwrap_or_else(|e| panic!("{}: {e}", entry.file));
        let result = classify(&data);
        match entry.expect.as_str() {
            "valid" => {
                let record = result.unwrap_or_else(|r| panic!("{} should be accepted, got: {r}", entry.file));
                let kind = match record.kind() {
                    RecordKind::AgentEvent => "agent",
                    RecordKind::ContactRecord => "ctr",
                    RecordKind::AnalysisSegment => "segment",
                };
                assert_eq!(Some(kind), entry.kind_if_valid.as_deref(), "{}", entry.file);
            }
            _ => {
                let reason = result.expect_err(&entry.file);
                let want = entry.reason_contains.unwrap_or_default().to_lowercase();
                assert!(
                    reason.to_string().to_lowercase().contains(&want),
                    "{}: reason {reason:?} should mention {want:?}",
                    entry.file
                );
            }
        }
    }
}

#[test]
fn every_envelope_decodes_and_its_records_classify_without_panicking() {
    for path in files("envelopes") {
        let event: KinesisEvent = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!event.records.is_empty(), "{}", path.display());
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut valid = 0;
        for r in &event.records {
            assert!(!r.kinesis.sequence_number.is_empty());
            if classify(&r.kinesis.data).is_ok() {
                valid += 1;
            }
        }
        if name == "mixed-bad.json" {
            assert!(valid > 0 && valid < event.records.len(), "mixed-bad has good and bad records");
        } else {
            assert_eq!(valid, event.records.len(), "{name}: every record valid");
        }
    }
}

#[test]
fn contact_record_fixtures_expose_agent_queue_and_hierarchy() {
    let data = std::fs::read(events_dir().join("raw/ctr/voice-inbound.json")).unwrap();
    let ConnectRecord::Contact(ctr) = classify(&data).unwrap() else { panic!("a contact record") };
    let agent = ctr.agent.as_ref().unwrap();
    assert_eq!(agent.username.as_deref(), Some("jdoe"));
    let levels = agent.hierarchy_groups.as_ref().unwrap().names();
    assert_eq!(levels[2], Some("Team Blue"));
    assert!(ctr.last_update_timestamp.is_some());
    let data = std::fs::read(events_dir().join("raw/ctr/abandoned-nulls.json")).unwrap();
    let ConnectRecord::Contact(abandoned) = classify(&data).unwrap() else { panic!() };
    assert!(abandoned.agent.is_none());
}

#[test]
fn chat_segments_expose_turn_times_and_categories_named_only_in_matched_details() {
    let data = std::fs::read(events_dir().join("raw/segments/chat-segments.json")).unwrap();
    let ConnectRecord::Segment(seg) = classify(&data).unwrap() else { panic!("a segment") };
    assert!(seg.matched_categories().any(|c| c == "device-malfunction"));
    let t = seg.segments.iter().find_map(|s| s.transcript.as_ref()).unwrap();
    assert_eq!(t.absolute_time().map(|t| t.to_rfc3339()), Some("2026-11-02T09:05:31.220+00:00".into()));
    assert_eq!(seg.customer_sentiments().filter(|s| *s == "NEGATIVE").count(), 1);
}
