//! Record files written by `generate` read back as the same records.

use std::collections::BTreeSet;

use connect_replay::generate::{DayConfig, DayGenerator, GenRecord, Stream};
use connect_replay::io::{ENVELOPE_SHARD_ID, EnvelopeWriter};
use connect_replay::sources;

#[test]
fn kinesis_envelopes_written_per_stream_read_back_as_the_records_that_were_written() {
    // GIVEN generated records of every stream, invalid ones included
    let records: Vec<GenRecord> =
        DayGenerator::new(DayConfig { seed: 5, agents: 3, ..DayConfig::default() }).take(300).collect();
    assert!(Stream::ALL.iter().all(|s| records.iter().any(|r| r.stream == *s)));

    // WHEN they are written as Kinesis events of at most 40 records and read back
    let dir = tempfile::tempdir().unwrap();
    let mut writer = EnvelopeWriter::new(dir.path(), 40).unwrap();
    for r in &records {
        writer.push(r.clone()).unwrap();
    }
    writer.finish().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut read = Vec::new();
    for f in &files {
        let event: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let events = event["Records"].as_array().unwrap();
        assert!(events.len() <= 40);
        assert!(events.iter().all(|e| e["eventID"].as_str().unwrap().starts_with(ENVELOPE_SHARD_ID)));
        read.extend(sources::file(f).unwrap().map(Result::unwrap));
    }

    // THEN the same records come back: stream, partition key, bytes and arrival time (to the millisecond)
    let key = |r: &GenRecord| (r.stream, r.partition_key.clone(), r.data.clone(), r.at.timestamp_millis());
    assert_eq!(read.len(), records.len());
    assert_eq!(read.iter().map(key).collect::<BTreeSet<_>>(), records.iter().map(key).collect::<BTreeSet<_>>());
}
