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
/// * analysis segment: the earliest `Time.AbsoluteTime` (else `AbsoluteTime`) of the `Transcript`, `Event` and
///   `Attachments` parts of its segments (chat carries one; other parts are not read), then the Kinesis arrival time. Voice segments carry
///   only offsets relative to the call start, and STARTED / COMPLETED / FAILED records carry no time at all, so
///   those use the arrival time; near midnight one contact's segments can therefore span two partitions.
///
/// Every time comes from the parsed record (one parse per record). A time that cannot be read falls through to the
/// next source; it never fails the record.
pub fn partition_time(record: &ConnectRecord, arrival: DateTime<Utc>) -> (DateTime<Utc>, TimeSource) {
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
        ConnectRecord::Segment(segment) => segment
            .earliest_time()
            .map(|t| (t, TimeSource::SegmentAbsoluteTime))
            .unwrap_or((arrival, TimeSource::Arrival)),
    }
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
    use serde_json::{Value, json};
    use shared::model::time;

    fn arrival() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 1).unwrap()
    }

    fn classify(json: &str) -> ConnectRecord {
        shared::classify(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_contact_record_is_partitioned_by_initiation_then_disconnect_then_last_update_then_arrival() {
        let full = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c","InitiationTimestamp":"2026-11-01T23:59:59Z","DisconnectTimestamp":"2026-11-02T00:10:00Z","LastUpdateTimestamp":"2026-11-02T00:11:00Z"}"#;
        let (t, s) = partition_time(&classify(full), arrival());
        assert_eq!((Partition::of(t).day, s), (1, TimeSource::InitiationTimestamp));

        let no_init = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c","InitiationTimestamp":null,"DisconnectTimestamp":"2026-11-02T00:10:00Z","LastUpdateTimestamp":"2026-11-04T00:11:00Z"}"#;
        let (t, s) = partition_time(&classify(no_init), arrival());
        assert_eq!((Partition::of(t).day, s), (2, TimeSource::DisconnectTimestamp));

        let only_lut = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c","LastUpdateTimestamp":"2026-11-04T00:11:00Z"}"#;
        let (t, s) = partition_time(&classify(only_lut), arrival());
        assert_eq!((Partition::of(t).day, s), (4, TimeSource::LastUpdateTimestamp));

        let none = r#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c"}"#;
        assert_eq!(partition_time(&classify(none), arrival()), (arrival(), TimeSource::Arrival));
    }

    #[test]
    fn an_agent_event_is_partitioned_by_its_event_timestamp_in_utc() {
        let e = r#"{"AgentARN":"a","EventId":"e","EventType":"HEART_BEAT","EventTimestamp":"2026-11-02T00:30:00.000+01:00"}"#;
        let (t, s) = partition_time(&classify(e), arrival());
        assert_eq!(s, TimeSource::EventTimestamp);
        assert_eq!(Partition::of(t).to_string(), "year=2026/month=11/day=01");
    }

    #[test]
    fn a_segment_uses_its_earliest_absolute_time_else_the_arrival_time() {
        let chat = r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[
            {"Transcript":{"Time":{"AbsoluteTime":"2026-11-02T09:06:02.904Z"}}},
            {"Categories":{"MatchedCategories":[]}},
            {"Event":{"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}]}"#;
        let (t, s) = partition_time(&classify(chat), arrival());
        assert_eq!(s, TimeSource::SegmentAbsoluteTime);
        assert_eq!(t, time::parse("2026-11-02T09:05:31.220Z").unwrap());

        let voice = r#"{"Version":"1.0.0","ContactId":"c","EventType":"STARTED"}"#;
        assert_eq!(partition_time(&classify(voice), arrival()), (arrival(), TimeSource::Arrival));

        let unreadable = r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Transcript":{"Time":{"AbsoluteTime":"yesterday"}}}]}"#;
        assert_eq!(partition_time(&classify(unreadable), arrival()).1, TimeSource::Arrival);
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/raw/segments").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn chat_segments_use_the_earliest_time_of_transcripts_events_and_attachments() {
        let chat = fixture("chat-segments.json");
        assert_eq!(
            partition_time(&classify(std::str::from_utf8(&chat).unwrap()), arrival()),
            (time::parse("2026-11-02T09:05:31.220Z").unwrap(), TimeSource::SegmentAbsoluteTime)
        );
        for json in [
            r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Event":{"Time":{"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}}]}"#,
            r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Attachments":{"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}]}"#,
            r#"{"Version":"2.0.0","ContactId":"c","StreamingEventType":"SEGMENTS","Segments":[{"Transcript":{"Time":{"AbsoluteTime":null},"AbsoluteTime":"2026-11-02T09:05:31.220Z"}}]}"#,
        ] {
            assert_eq!(
                partition_time(&classify(json), arrival()).0,
                time::parse("2026-11-02T09:05:31.220Z").unwrap(),
                "{json}"
            );
        }
    }

    /// The reference: the earliest time of the parts that carry one in Connect's data model (chat `Transcript`,
    /// `Event`, `Attachments`), read from a generic JSON value (the slow, obvious way).
    fn earliest_part_time(data: &[u8]) -> Option<DateTime<Utc>> {
        let parsed: Value = serde_json::from_slice(data).ok()?;
        let read = |v: Option<&Value>| v.and_then(Value::as_str).and_then(time::parse);
        parsed["Segments"]
            .as_array()?
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|segment| ["Transcript", "Event", "Attachments"].into_iter().filter_map(|name| segment.get(name)))
            .filter_map(|part| {
                read(part.get("Time").and_then(|t| t.get("AbsoluteTime"))).or_else(|| read(part.get("AbsoluteTime")))
            })
            .min()
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
            proptest::prop_assert_eq!(partition_time(&record, arrival()), expected);
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
