//! Fixtures and helpers shared by the archiver's tests (and `examples/cpu_budget.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use aws_lambda_events::event::kinesis::KinesisEvent;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use shared::adapters::intercept::{Answer, Call, Hook, Intercepted, Verdict};
use shared::adapters::memory::MemoryObjectStore;
use shared::kinesis::{KinesisItem, SeqNo, items_from_event};
use shared::ports::{PortError, PortResult, PutOutcome};

pub const SHARD: &str = "shardId-000000000000";
pub const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/connect-ctr";

pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

pub fn read_event_file(relative: &str) -> Vec<u8> {
    let path = events_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The records of an envelope in events/envelopes/, as the batch driver sees them.
pub fn envelope_items(name: &str) -> Vec<KinesisItem> {
    let event: KinesisEvent = serde_json::from_slice(&read_event_file(&format!("envelopes/{name}")))
        .unwrap_or_else(|e| panic!("envelope {name}: {e}"));
    items_from_event(event)
}

/// A 56-digit sequence number, increasing with `n`, like Kinesis's.
pub fn seq(n: usize) -> SeqNo {
    SeqNo::parse(&format!("4959{n:052}")).expect("digits")
}

pub fn arrival() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 20, 0, 0).single().expect("valid date")
}

/// Items built from data blobs: batch order, sequence numbers from `first_seq` up, one shard.
pub fn items(first_seq: usize, data: impl IntoIterator<Item = Vec<u8>>) -> Vec<KinesisItem> {
    data.into_iter()
        .enumerate()
        .map(|(index, data)| KinesisItem {
            index,
            seq: Some(seq(first_seq + index)),
            shard_id: SHARD.into(),
            partition_key: format!("pk-{index}"),
            arrival: arrival(),
            stream_arn: STREAM.into(),
            data,
        })
        .collect()
}

/// The compact one-line CTRs of events/envelopes/ctr-batch.json (every raw CTR fixture, all on 2026-11-02).
pub fn fixture_ctrs() -> Vec<Vec<u8>> {
    envelope_items("ctr-batch.json").into_iter().map(|i| i.data).collect()
}

/// Replaces the value of the first `"<field>":"…"` with `value` (same JSON string syntax, no re-serialisation).
pub fn replace_field(data: &[u8], field: &str, value: &str) -> Vec<u8> {
    let text = std::str::from_utf8(data).expect("UTF-8 fixture");
    let marker = format!("\"{field}\":\"");
    let start = text.find(&marker).unwrap_or_else(|| panic!("field {field} not in record")) + marker.len();
    let end = start + text[start..].find('"').expect("closing quote");
    format!("{}{value}{}", &text[..start], &text[end..]).into_bytes()
}

/// `n` distinct realistic CTRs (the fixture CTRs cycled, each with its own ContactId and LastUpdateTimestamp),
/// all initiated on 2026-11-02.
pub fn synthetic_ctrs(n: usize) -> Vec<Vec<u8>> {
    let base = fixture_ctrs();
    (0..n)
        .map(|i| {
            let data =
                replace_field(&base[i % base.len()], "ContactId", &format!("{i:08x}-0000-4000-8000-000000000000"));
            replace_field(&data, "LastUpdateTimestamp", &format!("2026-11-02T23:{:02}:{:02}Z", (i / 60) % 60, i % 60))
        })
        .collect()
}

/// The segment records of events/envelopes/segments-voice.json and segments-chat.json (5 voice, 3 chat).
pub fn fixture_segments() -> Vec<Vec<u8>> {
    ["segments-voice.json", "segments-chat.json"].into_iter().flat_map(envelope_items).map(|i| i.data).collect()
}

/// A chat SEGMENTS record whose only times are in an `Event` and an `Attachments` part (participant joined,
/// a file shared): shapes of the Connect API's `RealTimeContactAnalysisSegmentEvent` / `…Attachments`.
pub fn chat_event_segment(event_time: &str, attachment_time: &str) -> Vec<u8> {
    format!(
        r#"{{"Version":"2.0.0","Channel":"CHAT","AccountId":"123456789012","InstanceId":"aaaaaaaa-bbbb-cccc-dddd-111111111111","ContactId":"903d7db5-e28e-41b2-8b3b-2156195b8e47","OutputType":"Raw","StreamingEventType":"SEGMENTS","StreamingSettings":{{"LanguageCode":"en-US","Output":"Raw"}},"Segments":[{{"Event":{{"Id":"0b7c7c4e-3f0e-4d56-9d0e-6f3f7b0d6a11","ParticipantId":"be6e5d4f-0234-4f17-ac68-d4a019ee685f","ParticipantRole":"CUSTOMER","DisplayName":"Customer","EventType":"application/vnd.amazonaws.connect.event.participant.joined","Time":{{"AbsoluteTime":"{event_time}"}}}}}},{{"Attachments":{{"Id":"5a1f0f8e-2d3c-4b7a-9e61-0c2d4f6a8b90","ParticipantId":"be6e5d4f-0234-4f17-ac68-d4a019ee685f","ParticipantRole":"CUSTOMER","DisplayName":"Customer","Attachments":[{{"AttachmentName":"thermostat.jpg","ContentType":"image/jpeg","AttachmentId":"9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a","Status":"APPROVED"}}],"Time":{{"AbsoluteTime":"{attachment_time}"}}}}}}]}}"#
    )
    .into_bytes()
}

/// `n` segment records: the 8 fixture segments and one [`chat_event_segment`] cycled, each with its own
/// ContactId (so 1 in 9 carries its times outside transcripts).
pub fn synthetic_segments(n: usize) -> Vec<Vec<u8>> {
    let mut base = fixture_segments();
    base.push(chat_event_segment("2026-11-02T09:05:01.000Z", "2026-11-02T09:07:12.500Z"));
    (0..n)
        .map(|i| replace_field(&base[i % base.len()], "ContactId", &format!("{i:08x}-0000-4000-8000-000000000000")))
        .collect()
}

/// Fails PUTs of keys under `failing_prefix` while `failing` is set, and records every PUT's outcome.
pub struct FailingPrefix {
    failing_prefix: String,
    pub failing: AtomicBool,
    error: PortError,
    outcomes: Mutex<Vec<(String, PortResult<PutOutcome>)>>,
}

impl FailingPrefix {
    /// A memory store whose PUTs under `failing_prefix` fail with `error` (until `failing` is cleared).
    pub fn store(failing_prefix: &str, error: PortError) -> Intercepted<MemoryObjectStore, Self> {
        let hook = Self {
            failing_prefix: failing_prefix.into(),
            failing: AtomicBool::new(true),
            error,
            outcomes: Mutex::new(Vec::new()),
        };
        Intercepted::new(MemoryObjectStore::new(), hook)
    }
    pub fn take_outcomes(&self) -> BTreeMap<String, PortResult<PutOutcome>> {
        std::mem::take(&mut *self.outcomes.lock().unwrap()).into_iter().collect()
    }
}

impl Hook for FailingPrefix {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        match call {
            Call::PutObject(o) if self.failing.load(Ordering::SeqCst) && o.key.starts_with(&self.failing_prefix) => {
                Verdict::Fail(self.error.clone())
            }
            _ => Verdict::Pass,
        }
    }
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
