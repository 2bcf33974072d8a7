//! Where replayed records come from: generated days, record files, Kinesis envelopes, or a local archive.

use std::path::Path;

use aws_lambda_events::event::kinesis::KinesisEvent;
use chrono::{DateTime, Duration, Utc};

use crate::generate::{DayConfig, DayGenerator, GenRecord, Stream};

/// `days` consecutive generated days (or endless with `None`), each with its own seed, lazily.
pub fn days(base: DayConfig, days: Option<usize>) -> impl Iterator<Item = GenRecord> {
    (0..days.unwrap_or(usize::MAX)).flat_map(move |d| {
        let mut cfg = base.clone();
        cfg.seed = base.seed.wrapping_add(d as u64);
        cfg.start = base.start + Duration::days(d as i64);
        DayGenerator::new(cfg)
    })
}

/// Which stream a Kinesis event came from, by its stream ARN (falls back to the record's own kind).
fn stream_of(arn: &str, data: &[u8]) -> Stream {
    let name = shared::kinesis::stream_name(arn);
    if name.contains("agent") {
        Stream::AgentEvents
    } else if name.contains("lens") || name.contains("segment") {
        Stream::Segments
    } else if name.contains("ctr") || name.contains("contact-record") {
        Stream::ContactRecords
    } else {
        match shared::classify(data).map(|r| r.kind()) {
            Ok(shared::RecordKind::AgentEvent) => Stream::AgentEvents,
            Ok(shared::RecordKind::AnalysisSegment) => Stream::Segments,
            _ => Stream::ContactRecords,
        }
    }
}

/// Records of a file: JSON lines from `generate` (`.jsonl`) or a Kinesis event envelope (`.json`).
pub fn file(path: &Path) -> std::io::Result<Box<dyn Iterator<Item = std::io::Result<GenRecord>>>> {
    if path.extension().is_some_and(|e| e == "jsonl") {
        return Ok(Box::new(crate::io::read_jsonl(path)?));
    }
    let event: KinesisEvent = serde_json::from_slice(&std::fs::read(path)?)
        .map_err(|e| std::io::Error::other(format!("{}: not a Kinesis event: {e}", path.display())))?;
    let records: Vec<std::io::Result<GenRecord>> = event
        .records
        .into_iter()
        .map(|r| {
            let arn = r.event_source_arn.unwrap_or_default();
            let data = r.kinesis.data.to_vec();
            Ok(GenRecord {
                stream: stream_of(&arn, &data),
                partition_key: r.kinesis.partition_key,
                at: r.kinesis.approximate_arrival_timestamp.0,
                data,
            })
        })
        .collect();
    Ok(Box::new(records.into_iter()))
}

/// Records of a local archive directory (the `archive/` of a previous run): every gzip NDJSON object, read back
/// into the original record bytes with the archiver's own [`contact_archiver::ndjson::decode`] (a record archived
/// as a `{"_raw_base64": …}` envelope line comes back as the bytes Connect sent). Parquet objects and quarantine
/// are skipped (NDJSON holds every record, byte for byte).
pub fn archive(dir: &Path) -> std::io::Result<Vec<GenRecord>> {
    let mut out = Vec::new();
    for kind in shared::RecordKind::ALL {
        let stream = match kind {
            shared::RecordKind::AgentEvent => Stream::AgentEvents,
            shared::RecordKind::ContactRecord => Stream::ContactRecords,
            shared::RecordKind::AnalysisSegment => Stream::Segments,
        };
        let mut files = Vec::new();
        collect(&dir.join(kind.slug()), &mut files)?;
        files.sort();
        for f in files.into_iter().filter(|f| f.to_string_lossy().ends_with(".ndjson.gz")) {
            let records = contact_archiver::ndjson::decode(&std::fs::read(&f)?)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", f.display())))?;
            for data in records {
                let (key, at) = key_and_time(&data);
                out.push(GenRecord { stream, partition_key: key, data, at });
            }
        }
    }
    out.sort_by_key(|r| r.at);
    Ok(out)
}

fn key_and_time(data: &[u8]) -> (String, DateTime<Utc>) {
    match shared::classify(data) {
        Ok(shared::ConnectRecord::Agent(e)) => (e.agent_arn.clone(), e.event_timestamp),
        Ok(shared::ConnectRecord::Contact(c)) => {
            (c.contact_id.clone(), c.last_update_timestamp.or(c.initiation_timestamp).unwrap_or_default())
        }
        Ok(shared::ConnectRecord::Segment(s)) => (s.contact_id.clone(), DateTime::<Utc>::default()),
        Err(_) => ("invalid".into(), DateTime::<Utc>::default()),
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
