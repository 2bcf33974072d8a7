//! Record files: JSON lines (`{"stream","partitionKey","at","data"}` with base64 data, so invalid bytes survive)
//! and Kinesis event envelopes for `cargo lambda invoke --data-file`. Both are written and read streaming.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::generate::{GenRecord, Stream};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    stream: Stream,
    partition_key: String,
    at: DateTime<Utc>,
    data: String,
}

pub fn write_jsonl(w: &mut impl Write, r: &GenRecord) -> std::io::Result<()> {
    let line = Line { stream: r.stream, partition_key: r.partition_key.clone(), at: r.at, data: B64.encode(&r.data) };
    serde_json::to_writer(&mut *w, &line)?;
    w.write_all(b"\n")
}

/// Reads a JSON-lines record file lazily; a bad line is an error naming the file and line.
pub fn read_jsonl(path: &Path) -> std::io::Result<impl Iterator<Item = std::io::Result<GenRecord>> + use<>> {
    let name = path.display().to_string();
    let reader = BufReader::new(File::open(path)?);
    Ok(reader.lines().enumerate().filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty())).map(
        move |(n, line)| {
            let line = line?;
            let parsed: Line =
                serde_json::from_str(&line).map_err(|e| std::io::Error::other(format!("{name}:{}: {e}", n + 1)))?;
            let data =
                B64.decode(parsed.data).map_err(|e| std::io::Error::other(format!("{name}:{}: data: {e}", n + 1)))?;
            Ok(GenRecord { stream: parsed.stream, partition_key: parsed.partition_key, at: parsed.at, data })
        },
    ))
}

/// The shard every written Kinesis event names.
pub const ENVELOPE_SHARD_ID: &str = "shardId-000000000000";

/// One record of a Lambda Kinesis event, as Lambda delivers it, on [`ENVELOPE_SHARD_ID`] of `stream`: base64
/// data, the 56-digit sequence number made of `seq`, the arrival time in fractional epoch seconds.
pub fn kinesis_event_record(stream: Stream, seq: u64, r: &GenRecord) -> serde_json::Value {
    let seq = format!("4959{seq:052}");
    serde_json::json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0", "partitionKey": r.partition_key, "sequenceNumber": seq,
            "data": B64.encode(&r.data), "approximateArrivalTimestamp": r.at.timestamp_millis() as f64 / 1000.0
        },
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": format!("{ENVELOPE_SHARD_ID}:{seq}"),
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
        "awsRegion": "us-east-1", "eventSourceARN": stream.arn(),
    })
}

/// Writes Kinesis envelopes, `batch` records per file per stream, into `dir/<stream>-NNNNN.json`.
pub struct EnvelopeWriter {
    dir: PathBuf,
    batch: usize,
    pending: std::collections::BTreeMap<Stream, (Vec<GenRecord>, usize)>,
    seq: u64,
}

impl EnvelopeWriter {
    pub fn new(dir: &Path, batch: usize) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self { dir: dir.to_owned(), batch: batch.max(1), pending: Default::default(), seq: 0 })
    }

    pub fn push(&mut self, r: GenRecord) -> std::io::Result<()> {
        let stream = r.stream;
        let entry = self.pending.entry(stream).or_default();
        entry.0.push(r);
        if entry.0.len() >= self.batch {
            self.flush_stream(stream)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        let streams: Vec<Stream> = self.pending.keys().copied().collect();
        for s in streams {
            self.flush_stream(s)?;
        }
        Ok(())
    }

    fn flush_stream(&mut self, stream: Stream) -> std::io::Result<()> {
        let Some((records, files)) = self.pending.get_mut(&stream) else { return Ok(()) };
        if records.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(records);
        *files += 1;
        let name = format!("{}-{:05}.json", serde_json::to_value(stream)?.as_str().unwrap_or("stream"), files);
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            self.seq += 1;
            out.push(kinesis_event_record(stream, self.seq, &r));
        }
        let mut w = BufWriter::new(File::create(self.dir.join(name))?);
        serde_json::to_writer(&mut w, &serde_json::json!({ "Records": out }))?;
        w.flush()
    }
}
