//! Payload-limited Kinesis batches, cut from the replay tool's synthetic contact-centre day.
//!
//! A batch is what one Lambda invocation of an event source mapping receives when the shard has a backlog and
//! `BatchSize` does not stop it first: records of one stream and shard, in order, until the next record would
//! make the invoke payload (the Kinesis event JSON with base64 data) exceed Lambda's 6 MB limit. Each batch
//! starts [`START_OFFSET_HOURS`] into the day, when every agent is logged in and working, and holds the day's
//! realistic mix (heartbeats, state changes with contacts, a few duplicates, delayed and invalid records).
//!
//! The event JSON is built exactly as Lambda sends it and read back through `aws_lambda_events` and
//! [`shared::kinesis::items_from_event`], so the items are what the functions get in production.

use aws_lambda_events::event::kinesis::KinesisEvent;
use chrono::{DateTime, Duration, Utc};
use connect_replay::generate::{DayConfig, DayGenerator, GenRecord, Stream};
use serde_json::{Value, json};
use shared::kinesis::{KinesisItem, items_from_event};

/// Lambda's synchronous invoke payload limit (6 MB = 6,291,456 bytes): the whole Kinesis event must fit.
pub const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// The batches come from one shard, as every Lambda batch does.
pub const SHARD_ID: &str = connect_replay::io::ENVELOPE_SHARD_ID;
/// Where the batches start in the day.
pub const START_OFFSET_HOURS: i64 = 3;
/// Size of the warm-up batches (supervisor-alerts' `BatchSize` in template.yaml).
pub const WARMUP_BATCH: usize = 500;

/// `{"Records":[` … `]}` around the records.
const EVENT_OVERHEAD: usize = r#"{"Records":[]}"#.len();

/// One Lambda invocation's worth of one stream.
pub struct Batch {
    /// `agent-events`, `contact-records` or `segments`.
    pub name: &'static str,
    pub stream: Stream,
    /// The Kinesis event exactly as Lambda sends it (at most [`PAYLOAD_LIMIT`] bytes).
    pub event: Vec<u8>,
    pub items: Vec<KinesisItem>,
    /// Whether the payload limit stopped the batch (false: the day ran out of records of this stream first).
    pub payload_limited: bool,
}

impl Batch {
    pub fn records(&self) -> usize {
        self.items.len()
    }

    /// Bytes of record data (decoded), what the functions and the yardstick parse.
    pub fn data_bytes(&self) -> usize {
        self.items.iter().map(|i| i.data.len()).sum()
    }

    /// Earliest and latest arrival of the batch's records.
    pub fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let min = self.items.iter().map(|i| i.arrival).min().unwrap_or_default();
        let max = self.items.iter().map(|i| i.arrival).max().unwrap_or_default();
        (min, max)
    }

    /// The yardstick: `serde_json` alone parsing every record's data into a `Value`. Returns how many parsed.
    pub fn parse_all(&self) -> usize {
        self.items.iter().filter(|i| serde_json::from_slice::<Value>(&i.data).is_ok()).count()
    }

    /// The archiver's floor: the parse plus compressing the same bytes (one stream of the records, each followed by
    /// a newline) with each of `codecs` at the archiver's own level — compression is work an archive cannot skip.
    /// Returns how many parsed and the compressed sizes.
    pub fn parse_and_compress(&self, codecs: &[Codec]) -> (usize, Vec<usize>) {
        let parsed = self.parse_all();
        let sizes = codecs.iter().map(|codec| codec.compress(&self.items).expect("compressing into memory")).collect();
        (parsed, sizes)
    }
}

/// A codec the archiver writes with, at its level.
#[derive(Debug, Clone, Copy)]
pub enum Codec {
    /// gzip at [`contact_archiver::ndjson::GZIP_LEVEL`]: the NDJSON object.
    Gzip,
    /// zstd at [`contact_archiver::tables::ZSTD_LEVEL`]: Parquet's page codec.
    Zstd,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
        }
    }

    fn compress(self, items: &[KinesisItem]) -> std::io::Result<usize> {
        use std::io::Write;
        fn feed(w: &mut impl Write, items: &[KinesisItem]) -> std::io::Result<()> {
            for item in items {
                w.write_all(&item.data)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        }
        let capacity = items.iter().map(|i| i.data.len() + 1).sum::<usize>() / 4 + 64;
        Ok(match self {
            Codec::Gzip => {
                let level = flate2::Compression::new(contact_archiver::ndjson::GZIP_LEVEL);
                let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(capacity), level);
                feed(&mut gz, items)?;
                gz.finish()?.len()
            }
            Codec::Zstd => {
                let mut z =
                    zstd::stream::Encoder::new(Vec::with_capacity(capacity), contact_archiver::tables::ZSTD_LEVEL)?;
                feed(&mut z, items)?;
                z.finish()?.len()
            }
        })
    }
}

/// Numbers Kinesis-style sequence numbers (56 digits) and wraps records in Lambda's Kinesis event shape.
#[derive(Default)]
struct Envelopes {
    seq: u64,
}

impl Envelopes {
    fn record(&mut self, stream: Stream, r: &GenRecord) -> Value {
        self.seq += 1;
        connect_replay::io::kinesis_event_record(stream, self.seq, r)
    }
}

/// The event JSON and its items, read back the way Lambda's payload reaches a function.
fn event_of(records: Vec<Value>) -> (Vec<u8>, Vec<KinesisItem>) {
    let event = serde_json::to_vec(&json!({ "Records": records })).expect("a JSON value serializes");
    let parsed: KinesisEvent = serde_json::from_slice(&event).expect("the event has Lambda's Kinesis shape");
    (event, items_from_event(parsed))
}

/// Fills one batch record by record until the payload limit.
struct Filling {
    name: &'static str,
    stream: Stream,
    records: Vec<Value>,
    bytes: usize,
    full: bool,
}

impl Filling {
    fn new(name: &'static str, stream: Stream) -> Self {
        Self { name, stream, records: Vec::new(), bytes: EVENT_OVERHEAD, full: false }
    }

    fn offer(&mut self, envelopes: &mut Envelopes, r: &GenRecord) {
        if self.full {
            return;
        }
        let record = envelopes.record(self.stream, r);
        let size = serde_json::to_vec(&record).map_or(0, |v| v.len()) + usize::from(!self.records.is_empty());
        if self.bytes + size > PAYLOAD_LIMIT {
            self.full = true;
            return;
        }
        self.bytes += size;
        self.records.push(record);
    }

    fn finish(self) -> Batch {
        let (event, items) = event_of(self.records);
        debug_assert!(event.len() <= PAYLOAD_LIMIT);
        Batch { name: self.name, stream: self.stream, event, items, payload_limited: self.full }
    }
}

/// The three payload-limited batches of one synthetic day, and what came before them.
pub struct BenchDay {
    pub config: DayConfig,
    pub agent_events: Batch,
    pub contact_records: Batch,
    pub segments: Batch,
    /// Every agent event of the day up to the end of the segment batch, in batches of [`WARMUP_BATCH`]: what
    /// supervisor-alerts has seen by the time the segment and contact-record batches arrive (the contact→agent
    /// joins that segment rules are scoped through).
    pub preceding_agent_events: Vec<Vec<KinesisItem>>,
}

impl BenchDay {
    /// The replay tool's default day (seed 42) with `agents` agents on shift.
    pub fn build(agents: usize) -> Self {
        let config = DayConfig { agents, ..DayConfig::default() };
        let from = config.start + Duration::hours(START_OFFSET_HOURS);
        let mut envelopes = Envelopes::default();
        let mut agent = Filling::new("agent-events", Stream::AgentEvents);
        let mut ctr = Filling::new("contact-records", Stream::ContactRecords);
        let mut seg = Filling::new("segments", Stream::Segments);
        let mut all_agent_events: Vec<GenRecord> = Vec::new();
        for r in DayGenerator::new(config.clone()) {
            if r.stream == Stream::AgentEvents {
                all_agent_events.push(r.clone());
            }
            if r.at >= from {
                match r.stream {
                    Stream::AgentEvents => agent.offer(&mut envelopes, &r),
                    Stream::ContactRecords => ctr.offer(&mut envelopes, &r),
                    Stream::Segments => seg.offer(&mut envelopes, &r),
                }
            }
            if agent.full && ctr.full && seg.full {
                break;
            }
        }
        let segments = seg.finish();
        let until = segments.span().1;
        let mut warm = Envelopes { seq: 1_000_000_000 };
        let preceding_agent_events = all_agent_events
            .iter()
            .filter(|r| r.at <= until)
            .collect::<Vec<_>>()
            .chunks(WARMUP_BATCH)
            .map(|chunk| event_of(chunk.iter().map(|r| warm.record(Stream::AgentEvents, r)).collect()).1)
            .collect();
        Self { config, agent_events: agent.finish(), contact_records: ctr.finish(), segments, preceding_agent_events }
    }

    pub fn batches(&self) -> [&Batch; 3] {
        [&self.agent_events, &self.contact_records, &self.segments]
    }
}

/// The first `n` records of each stream from [`START_OFFSET_HOURS`] into the day of `agents` agents, without a
/// payload limit (for growth against records per invocation), and every agent event before the last of them
/// (what supervisor-alerts has seen by then), as items.
pub struct Records {
    pub agent_events: Vec<KinesisItem>,
    pub contact_records: Vec<KinesisItem>,
    pub segments: Vec<KinesisItem>,
    pub preceding_agent_events: Vec<Vec<KinesisItem>>,
}

impl Records {
    pub fn build(agents: usize, n: usize) -> Self {
        let config = DayConfig { agents, ..DayConfig::default() };
        let from = config.start + Duration::hours(START_OFFSET_HOURS);
        let mut envelopes = Envelopes::default();
        let (mut agent, mut ctr, mut seg): (Vec<Value>, Vec<Value>, Vec<Value>) = Default::default();
        let mut before: Vec<GenRecord> = Vec::new();
        for r in DayGenerator::new(config) {
            if r.stream == Stream::AgentEvents && seg.len() < n {
                before.push(r.clone());
            }
            if r.at >= from {
                let out = match r.stream {
                    Stream::AgentEvents => &mut agent,
                    Stream::ContactRecords => &mut ctr,
                    Stream::Segments => &mut seg,
                };
                if out.len() < n {
                    out.push(envelopes.record(r.stream, &r));
                }
            }
            if agent.len() >= n && ctr.len() >= n && seg.len() >= n {
                break;
            }
        }
        let mut warm = Envelopes { seq: 1_000_000_000 };
        let preceding_agent_events = before
            .chunks(WARMUP_BATCH)
            .map(|chunk| event_of(chunk.iter().map(|r| warm.record(Stream::AgentEvents, r)).collect()).1)
            .collect();
        Self {
            agent_events: event_of(agent).1,
            contact_records: event_of(ctr).1,
            segments: event_of(seg).1,
            preceding_agent_events,
        }
    }
}
