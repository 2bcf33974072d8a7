//! Where a record lands: its partition (a UTC day taken from the record's own time) and the object keys.
//!
//! Keys, all deterministic from what the object holds, so an identical retry finds its object:
//!
//! ```text
//! <ARCHIVE_PREFIX><kind>/year=YYYY/month=MM/day=DD/<shard>-<firstSeq>-<lastSeq>.ndjson.gz
//! <ARCHIVE_PREFIX><kind>-parquet/year=YYYY/month=MM/day=DD/<shard>-<firstSeq>-<lastSeq>.parquet
//! ```
//!
//! `<kind>` is [`RecordKind::slug`] (`contact-records`, `agent-events`, `analysis-segments`); `firstSeq` and
//! `lastSeq` are the lowest and highest sequence numbers of the records in that object (not of the batch).

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde_json::Value;
use shared::model::segment::{AnalysisSegment, Transcript};
use shared::model::time;
use shared::{ConnectRecord, RecordKind, SeqNo};

/// Which timestamp decided a record's partition (logged as a count, tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeSource {
    InitiationTimestamp,
    DisconnectTimestamp,
    LastUpdateTimestamp,
    EventTimestamp,
    SegmentAbsoluteTime,
    /// The Kinesis `approximateArrivalTimestamp`: stable across redeliveries, so still deterministic.
    Arrival,
}

/// The time a record is partitioned by, and where it came from.
///
/// Fallback order, first present wins:
/// * contact record: `InitiationTimestamp` (fixed for the life of the contact, so every republished version lands
///   in the same partition as the first), then `DisconnectTimestamp`, then `LastUpdateTimestamp`, then the Kinesis
///   arrival time;
/// * agent event: `EventTimestamp` (the classifier guarantees it);
/// * analysis segment: the earliest `Segments[].<part>.Time.AbsoluteTime` or `Segments[].<part>.AbsoluteTime`
///   (chat transcripts, events and attachments carry one), then the Kinesis arrival time. Voice segments carry
///   only offsets relative to the call start, and STARTED / COMPLETED / FAILED records carry no time at all, so
///   those use the arrival time; near midnight one contact's segments can therefore span two partitions.
///
/// `data` is the record's original bytes: segment times come from the parsed record, and `data` is read again
/// only when a time sits where the shared model does not look ([`segment_time`]). A time that cannot be read
/// falls through to the next source; it never fails the record.
pub fn partition_time(record: &ConnectRecord, data: &[u8], arrival: DateTime<Utc>) -> (DateTime<Utc>, TimeSource) {
    match record {
        ConnectRecord::Contact(c) => [
            (c.initiation_timestamp, TimeSource::InitiationTimestamp),
            (c.disconnect_timestamp, TimeSource::DisconnectTimestamp),
            (c.last_update_timestamp, TimeSource::LastUpdateTimestamp),
        ]
        .into_iter()
        .find_map(|(t, source)| t.map(|t| (t, source)))
        .unwrap_or((arrival, TimeSource::Arrival)),
        ConnectRecord::Agent(e) => (e.event_timestamp, TimeSource::EventTimestamp),
        ConnectRecord::Segment(segment) => segment_time(segment, data)
            .map(|t| (t, TimeSource::SegmentAbsoluteTime))
            .unwrap_or((arrival, TimeSource::Arrival)),
    }
}

/// The earliest time of a segment record's parts.
///
/// The shared model keeps the times of transcripts (`Transcript.Time.AbsoluteTime`, else `Transcript.AbsoluteTime`)
/// and nothing of the other parts. When the transcripts account for every `"AbsoluteTime"` in the record
/// ([`transcript_times_suffice`]), no other part has a time and the earliest transcript time is the answer: no
/// second parse, which is every voice record, every STARTED / COMPLETED / FAILED and every chat record whose times
/// are all in transcripts. Otherwise (chat `Event` or `Attachments` parts, a null `AbsoluteTime`, an
/// `AbsoluteTime` in an unexpected place) the record is read again by [`earliest_part_time`], which reads every
/// part, so the result never depends on which path was taken.
fn segment_time(segment: &AnalysisSegment, data: &[u8]) -> Option<DateTime<Utc>> {
    if transcript_times_suffice(segment, data) {
        transcripts(segment).filter_map(Transcript::absolute_time).min()
    } else {
        earliest_part_time(data)
    }
}

fn transcripts(segment: &AnalysisSegment) -> impl Iterator<Item = &Transcript> {
    segment.segments.iter().filter_map(|s| s.transcript.as_ref())
}

/// Whether the `AbsoluteTime` strings the shared model kept are all the record has: as many as the bytes hold
/// `"AbsoluteTime"` (a substring count, no parse; an occurrence inside a string value only sends the record to
/// the slow path). Not foreseen, because Connect writes neither: keys spelled with `\u` escapes (not counted) and
/// segments written as JSON arrays (the shared model reads them positionally, the full read gives up on them).
fn transcript_times_suffice(segment: &AnalysisSegment, data: &[u8]) -> bool {
    let kept: usize = transcripts(segment)
        .map(|t| {
            usize::from(t.time.as_ref().is_some_and(|time| time.absolute_time.is_some()))
                + usize::from(t.absolute_time.is_some())
        })
        .sum();
    std::str::from_utf8(data).is_ok_and(|text| text.matches("\"AbsoluteTime\"").count() == kept)
}

#[derive(Deserialize)]
struct SegmentTimes {
    #[serde(rename = "Segments", default)]
    segments: Option<Vec<serde_json::Map<String, Value>>>,
}

/// The earliest `Time.AbsoluteTime` (else `AbsoluteTime`) of any part of any segment, read from the bytes.
fn earliest_part_time(data: &[u8]) -> Option<DateTime<Utc>> {
    let body = crate::ndjson::strip_bom(data);
    let parsed: SegmentTimes = serde_json::from_slice(body).ok()?;
    parsed
        .segments?
        .iter()
        .flat_map(|segment| segment.values())
        .filter_map(|part| {
            part.get("Time")
                .and_then(|t| t.get("AbsoluteTime"))
                .or_else(|| part.get("AbsoluteTime"))
                .and_then(Value::as_str)
                .and_then(time::parse)
        })
        .min()
}

/// A UTC day: the `year=/month=/day=` partition of the Glue tables (partition projection, two-digit month/day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Partition {
    pub fn of(t: DateTime<Utc>) -> Self {
        Self { year: t.year(), month: t.month(), day: t.day() }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "year={:04}/month={:02}/day={:02}", self.year, self.month, self.day)
    }
}

/// The two object formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Ndjson,
    Parquet,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        }
    }
}

/// One archive object's place: everything but the records it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub kind: RecordKind,
    pub partition: Partition,
    pub format: Format,
}

impl Target {
    /// The object key for records of shard `shard` with sequence numbers from `first` to `last`.
    pub fn key(&self, prefix: &str, shard: &str, first: &str, last: &str) -> String {
        let (suffix, ext) = match self.format {
            Format::Ndjson => ("", "ndjson.gz"),
            Format::Parquet => ("-parquet", "parquet"),
        };
        format!("{prefix}{}{suffix}/{}/{shard}-{first}-{last}.{ext}", self.kind.slug(), self.partition)
    }
}

/// The lowest and highest of the given sequence numbers (`None` if there is none).
pub fn seq_range<'a>(seqs: impl IntoIterator<Item = &'a SeqNo>) -> Option<(&'a SeqNo, &'a SeqNo)> {
    seqs.into_iter().fold(None, |acc, s| match acc {
        None => Some((s, s)),
        Some((lo, hi)) => Some((lo.min(s), hi.max(s))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn arrival() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 1).unwrap()
    }

    fn classify(json: &str) -> ConnectRecord {
        shared::classify(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_contact_record_is_partitioned_by_initiation_then_disconnect_then_last_update_then_arrival() {
        let full = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c","InitiationTimestamp":"2026-11-01T23:59:59Z","DisconnectTimestamp":"2026-11-02T00:10:00Z","LastUpdateTimestamp":"2026-11-02T00:11:00Z"}"#;
        let (t, s) = partition_time(&classify(full), full.as_bytes(), arrival());
        assert_eq!((Partition::of(t).day, s), (1, TimeSource::InitiationTimestamp));

        let no_init = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c","InitiationTimestamp":null,"DisconnectTimestamp":"2026-11-02T00:10:00Z","LastUpdateTimestamp":"2026-11-04T00:11:00Z"}"#;
        let (t, s) = partition_time(&classify(no_init), no_init.as_bytes(), arrival());
        assert_eq!((Partition::of(t).day, s), (2, TimeSource::DisconnectTimestamp));

        let only_lut = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c","LastUpdateTimestamp":"2026-11-04T00:11:00Z"}"#;
        let (t, s) = partition_time(&classify(only_lut), only_lut.as_bytes(), arrival());
        assert_eq!((Partition::of(t).day, s), (4, TimeSource::LastUpdateTimestamp));

        let none = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c"}"#;
        assert_eq!(partition_time(&classify(none), none.as_bytes(), arrival()), (arrival(), TimeSource::Arrival));
    }

    #[test]
    fn an_agent_event_is_partitioned_by_its_event_timestamp_in_utc() {
        let e = r#"{"AgentARN":"a","EventId":"e","EventType":"HEART_BEAT","EventTimestamp":"2026-11-02T00:30:00.000+01:00"}"#;
        let (t, s) = partition_time(&classify(e), e.as_bytes(), arrival());
        assert_eq!(s, TimeSource::EventTimestamp);
        assert_eq!(Partition::of(t).to_string(), "year=2026/month=11/day=01");
    }

    #[test]
    fn a_segment_uses_its_earliest_absolute_time_else_the_arrival_time() {
        let chat = r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[
            {"Transcript":{"Time":{"AbsoluteTime":"2026-11-02T09:06:02.904Z"}}},
            {"Categories":{"MatchedCategories":[]}},
            {"Event":{"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}]}"#;
        let (t, s) = partition_time(&classify(chat), chat.as_bytes(), arrival());
        assert_eq!(s, TimeSource::SegmentAbsoluteTime);
        assert_eq!(t, time::parse("2026-11-02T09:05:31.220Z").unwrap());

        let voice = r#"{"Version":"1.0.0","ContactId":"c","EventType":"STARTED"}"#;
        assert_eq!(partition_time(&classify(voice), voice.as_bytes(), arrival()), (arrival(), TimeSource::Arrival));

        let unreadable = r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Transcript":{"Time":{"AbsoluteTime":"yesterday"}}}]}"#;
        assert_eq!(partition_time(&classify(unreadable), unreadable.as_bytes(), arrival()).1, TimeSource::Arrival);
    }

    fn segment(json: &[u8]) -> AnalysisSegment {
        match shared::classify(json) {
            Ok(ConnectRecord::Segment(s)) => *s,
            other => panic!("not a segment: {other:?}"),
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/raw/segments").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn segments_timed_only_by_transcripts_are_not_parsed_again() {
        for name in ["chat-segments.json", "chat-started.json", "voice-segments-1.json", "voice-completed.json"] {
            let data = fixture(name);
            assert!(transcript_times_suffice(&segment(&data), &data), "{name}");
        }
        let chat = fixture("chat-segments.json");
        assert_eq!(
            partition_time(&classify(std::str::from_utf8(&chat).unwrap()), &chat, arrival()),
            (time::parse("2026-11-02T09:05:31.220Z").unwrap(), TimeSource::SegmentAbsoluteTime)
        );
    }

    #[test]
    fn times_the_shared_model_does_not_keep_send_the_record_to_the_full_read() {
        for json in [
            r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Event":{"Time":{"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}}]}"#,
            r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Attachments":{"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}]}"#,
            r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Transcript":{"Time":{"AbsoluteTime":null},"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}]}"#,
        ] {
            assert!(!transcript_times_suffice(&segment(json.as_bytes()), json.as_bytes()), "{json}");
        }
    }

    /// A segment record as JSON: elements of one or two parts, each part with or without a time in either place.
    fn arbitrary_segment_record() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        // Where a part may hold a time: mostly nothing or a readable time, sometimes an unreadable or null one.
        let place = || {
            prop_oneof![
                3 => Just(None),
                4 => prop::sample::select(vec![
                    "2026-11-01T23:59:59.900Z",
                    "2026-11-02T00:00:00.100Z",
                    "2026-11-02T01:00:00+02:00",
                    "2026-11-02T09:05:31.220Z",
                ])
                .prop_map(|t| Some(json!(t))),
                1 => Just(Some(json!("yesterday"))),
                1 => Just(Some(Value::Null)),
            ]
        };
        let part = (
            // Mostly transcripts, so that both paths of `segment_time` are taken often.
            prop::sample::select(vec![
                "Transcript",
                "Transcript",
                "Transcript",
                "Transcript",
                "Event",
                "Attachments",
                "Categories",
                "Issues",
                "Utterance",
            ]),
            prop::option::of(place()),
            place(),
            // Text that mentions the key: escaped quotes never look like it, a bare mention does (and is read again).
            prop::sample::select(vec!["hello", "hello", "hello", "\"AbsoluteTime\"", "AbsoluteTime"]),
        )
            .prop_map(|(name, time, absolute, content)| {
                let mut body = serde_json::Map::new();
                if name == "Transcript" || name == "Utterance" {
                    body.insert("Content".into(), json!(content));
                }
                match time {
                    None => {}
                    Some(None) => {
                        body.insert("Time".into(), json!({}));
                    }
                    Some(Some(t)) => {
                        body.insert("Time".into(), json!({ "AbsoluteTime": t }));
                    }
                }
                if let Some(t) = absolute {
                    body.insert("AbsoluteTime".into(), t);
                }
                (name, Value::Object(body))
            });
        let parts = prop_oneof![4 => prop::collection::vec(part.clone(), 1..2), 1 => prop::collection::vec(part, 2..3)];
        let element = parts.prop_map(|parts| {
            // Categories must keep the shape the shared model reads.
            Value::Object(
                parts.into_iter().filter(|(name, _)| *name != "Categories").map(|(n, b)| (n.into(), b)).collect(),
            )
        });
        prop::collection::vec(element, 0..5).prop_map(|segments| {
            serde_json::to_vec(&json!({
                "Version": "2.0.0", "ContactId": "c", "StreamingEventType": "SEGMENTS", "Segments": segments
            }))
            .unwrap()
        })
    }

    proptest::proptest! {
        // About one case in eight takes the one-parse path with a time; 1,024 cases give over a hundred of those.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        #[test]
        fn a_segment_lands_where_reading_every_part_puts_it(data in arbitrary_segment_record()) {
            let record = shared::classify(&data).unwrap();
            let expected = earliest_part_time(&data)
                .map_or((arrival(), TimeSource::Arrival), |t| (t, TimeSource::SegmentAbsoluteTime));
            proptest::prop_assert_eq!(partition_time(&record, &data, arrival()), expected);
        }
    }

    #[test]
    fn keys_follow_the_documented_layout() {
        let target = Target {
            kind: RecordKind::ContactRecord,
            partition: Partition { year: 2026, month: 1, day: 2 },
            format: Format::Ndjson,
        };
        assert_eq!(
            target.key("p/", "shardId-000000000001", "10", "20"),
            "p/contact-records/year=2026/month=01/day=02/shardId-000000000001-10-20.ndjson.gz"
        );
        let parquet = Target { kind: RecordKind::AgentEvent, format: Format::Parquet, ..target };
        assert_eq!(parquet.key("", "s", "1", "1"), "agent-events-parquet/year=2026/month=01/day=02/s-1-1.parquet");
    }

    #[test]
    fn the_sequence_range_orders_numerically() {
        let seqs = ["9", "100", "11"].map(|s| SeqNo::parse(s).unwrap());
        let (lo, hi) = seq_range(&seqs).unwrap();
        assert_eq!((lo.as_str(), hi.as_str()), ("9", "100"));
        assert!(seq_range(&[]).is_none());
    }
}
