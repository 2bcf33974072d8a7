//! Fixtures and helpers shared by the archiver's tests (and `examples/cpu_budget.rs`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use aws_lambda_events::event::kinesis::KinesisEvent;
use chrono::{DateTime, TimeZone, Utc};
use shared::kinesis::{KinesisItem, SeqNo, items_from_event};

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
    let event: KinesisEvent =
        serde_json::from_slice(&read_event_file(&format!("envelopes/{name}")))
            .unwrap_or_else(|e| panic!("envelope {name}: {e}"));
    items_from_event(event)
}

/// A 56-digit sequence number, increasing with `n`, like Kinesis's.
pub fn seq(n: usize) -> SeqNo {
    SeqNo::parse(&format!("4959{n:052}")).expect("digits")
}

pub fn arrival() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 20, 0, 0)
        .single()
        .expect("valid date")
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
    envelope_items("ctr-batch.json")
        .into_iter()
        .map(|i| i.data)
        .collect()
}

/// Replaces the value of the first `"<field>":"…"` with `value` (same JSON string syntax, no re-serialisation).
pub fn replace_field(data: &[u8], field: &str, value: &str) -> Vec<u8> {
    let text = std::str::from_utf8(data).expect("UTF-8 fixture");
    let marker = format!("\"{field}\":\"");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("field {field} not in record"))
        + marker.len();
    let end = start + text[start..].find('"').expect("closing quote");
    format!("{}{value}{}", &text[..start], &text[end..]).into_bytes()
}

/// `n` distinct realistic CTRs (the fixture CTRs cycled, each with its own ContactId and LastUpdateTimestamp),
/// all initiated on 2026-11-02.
pub fn synthetic_ctrs(n: usize) -> Vec<Vec<u8>> {
    let base = fixture_ctrs();
    (0..n)
        .map(|i| {
            let data = replace_field(
                &base[i % base.len()],
                "ContactId",
                &format!("{i:08x}-0000-4000-8000-000000000000"),
            );
            replace_field(
                &data,
                "LastUpdateTimestamp",
                &format!("2026-11-02T23:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            )
        })
        .collect()
}
