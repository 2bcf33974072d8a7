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
/// as a `{"_raw_base64": …}` envelope line comes back as the bytes Connect sent), in time order ([`archived`]).
/// Parquet objects and quarantine are skipped (NDJSON holds every record, byte for byte).
pub fn archive(dir: &Path) -> std::io::Result<Vec<GenRecord>> {
    let mut objects = Vec::new();
    for kind in shared::RecordKind::ALL {
        let mut files = Vec::new();
        collect(&dir.join(kind.slug()), &mut files)?;
        files.sort();
        for f in files.into_iter().filter(|f| f.to_string_lossy().ends_with(ARCHIVE_SUFFIX)) {
            objects.push((kind, f.display().to_string(), std::fs::read(&f)?));
        }
    }
    archived(objects.iter().map(|(kind, name, body)| (*kind, name.as_str(), body.as_slice())))
}

/// The name ending of the archive's NDJSON objects (the ones a re-drive reads).
pub const ARCHIVE_SUFFIX: &str = ".ndjson.gz";

/// The stream a kind of record arrives on.
pub fn stream_of_kind(kind: shared::RecordKind) -> Stream {
    match kind {
        shared::RecordKind::AgentEvent => Stream::AgentEvents,
        shared::RecordKind::ContactRecord => Stream::ContactRecords,
        shared::RecordKind::AnalysisSegment => Stream::Segments,
    }
}

/// The records of archive objects (kind, name for errors, gzip NDJSON body), each at its own time, in time order.
///
/// The archive keeps the bytes, not the arrival time, so each record gets the time Connect gave it: an agent
/// event its `EventTimestamp`, a contact record its `LastUpdateTimestamp` (or `InitiationTimestamp`), a chat
/// segment its earliest `AbsoluteTime`. A voice segment carries only offsets into the call: it gets the contact's
/// `ConnectedToAgentTimestamp` (from its contact record among these objects) plus its last `EndOffsetMillis`, a
/// STARTED event the connection time and a COMPLETED event the `DisconnectTimestamp` — so a contact's segments come
/// after the agent event that connected it, and the contact→agent join exists when they arrive, as in production.
/// A segment whose contact record is not among the objects keeps the time of the record before it.
pub fn archived<'a>(
    objects: impl IntoIterator<Item = (shared::RecordKind, &'a str, &'a [u8])>,
) -> std::io::Result<Vec<GenRecord>> {
    use shared::ConnectRecord;
    let mut out = Vec::new();
    // Contact id → (connected to the agent, disconnected), from its contact records.
    type Call = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let mut calls: std::collections::HashMap<String, Call> = std::collections::HashMap::new();
    let mut voice = Vec::new();
    for (kind, name, body) in objects {
        let records =
            contact_archiver::ndjson::decode(body).map_err(|e| std::io::Error::other(format!("{name}: {e}")))?;
        for data in records {
            let (partition_key, at) = match shared::classify(&data) {
                Ok(ConnectRecord::Agent(e)) => (e.agent_arn.clone(), Some(e.event_timestamp)),
                Ok(ConnectRecord::Contact(c)) => {
                    let connected = c.agent.as_ref().and_then(|a| a.connected_to_agent_timestamp);
                    let call = calls.entry(c.contact_id.clone()).or_default();
                    call.0 = call.0.or(connected);
                    call.1 = call.1.or(c.disconnect_timestamp);
                    (c.contact_id.clone(), c.last_update_timestamp.or(c.initiation_timestamp))
                }
                Ok(ConnectRecord::Segment(s)) => {
                    let at = s.earliest_time();
                    if at.is_none() {
                        voice.push(out.len());
                    }
                    (s.contact_id.clone(), at)
                }
                Err(_) => ("invalid".into(), None),
            };
            out.push((GenRecord { stream: stream_of_kind(kind), partition_key, data, at: DateTime::default() }, at));
        }
    }
    for i in voice {
        let (record, at) = &mut out[i];
        if let Ok(ConnectRecord::Segment(s)) = shared::classify(&record.data)
            && let Some((connected, disconnected)) = calls.get(&s.contact_id)
        {
            let end = s.segments.iter().filter_map(|p| p.transcript.as_ref()?.end_offset_millis).max();
            *at = match s.event_type {
                shared::model::segment::SegmentEventType::Completed => disconnected.or(*connected),
                _ => connected.map(|c| c + Duration::milliseconds(end.unwrap_or(0))),
            };
        }
    }
    // Records without a time of their own keep their place after the record before them.
    let mut last = DateTime::<Utc>::default();
    for (record, at) in &mut out {
        last = at.unwrap_or(last);
        record.at = last;
    }
    let mut out: Vec<GenRecord> = out.into_iter().map(|(r, _)| r).collect();
    out.sort_by_key(|r| r.at);
    Ok(out)
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
