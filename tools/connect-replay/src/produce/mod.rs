//! `connect-replay produce`: records (a generated day, record files, an archive) put into real Kinesis streams
//! with PutRecords, as Amazon Connect would publish them.
//!
//! * **Routing.** Each record goes to the stream given for its kind; the shared classifier decides the kind. A
//!   record it cannot classify (not JSON, truncated, unknown shape) goes to the stream its source names: the
//!   generator and `generate`'s files carry it, envelopes name it by their stream ARN, and everything else counts
//!   as a contact record. One stream may be given for several kinds: their records then share its calls, in their
//!   original order (records of other keys may pass one that waits behind its own key's earlier records: see
//!   [`ProduceOptions::lookahead`]).
//! * **Partition keys** as Connect's: the agent ARN for agent events, the contact id for contact records and
//!   segments; a record that cannot be classified gets a stable hash of its bytes ([`hashed_key`]).
//! * **Limits of PutRecords**: at most [`MAX_CALL_RECORDS`] records and [`MAX_CALL_BYTES`] (data plus partition
//!   keys) per call; a record over [`MAX_RECORD_BYTES`] (data plus key) is refused: counted, never sent.
//! * **Order per partition key survives retries.** The calls of one stream go one after the other; a call holds at
//!   most one record per partition key ([`next_call`]: a key's later records wait for a later call); a record that
//!   failed stays first in its key's queue, so no later record of its key is sent before it is in the stream or
//!   given up. One record per key and call is the price of that: PutRecords reports failures per entry, so with
//!   two records of one key in a call, the first could fail while the second is written — too late to hold the
//!   second back. A stream whose records have few keys (50 agents) gets calls of at most that many records.
//! * **Retries.** Entries a call reports as failed (throttling, internal failures, KMS errors) and calls that fail
//!   as a whole in a retryable way (throttling, 5xx, timeouts, connection errors) are retried after an exponential
//!   backoff with full jitter, at most [`ProduceOptions::max_attempts`] times per record; a record still failing is
//!   given up and reported. Any other error of a call (no such stream, access denied) stops the run.
//!
//! [`PutRecords`] is the seam: implemented once on the SDK's Kinesis client ([`KinesisPutter`]) and, in the tests,
//! on an in-memory fake that fails chosen entries.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use sha2::{Digest, Sha256};
use shared::ConnectRecord;
use tokio::time::Instant;

use crate::generate::{GenRecord, Stream};

mod kinesis;
pub use kinesis::KinesisPutter;

/// Records per PutRecords call.
pub const MAX_CALL_RECORDS: usize = 500;
/// Bytes per PutRecords call: data and partition keys of all its records.
pub const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;
/// Bytes of one record: its data and its partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest partition key Kinesis accepts (Unicode characters).
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// The stream (name or ARN) each kind goes to. Without a Contact Lens stream, segments are not sent (counted).
#[derive(Debug, Clone)]
pub struct Targets {
    pub contact_records: String,
    pub agent_events: String,
    pub segments: Option<String>,
}

impl Targets {
    pub fn of(&self, kind: Stream) -> Option<&str> {
        match kind {
            Stream::ContactRecords => Some(&self.contact_records),
            Stream::AgentEvents => Some(&self.agent_events),
            Stream::Segments => self.segments.as_deref(),
        }
    }
}

/// The same stream whether given by name or by ARN.
fn stream_identity(name_or_arn: &str) -> &str {
    shared::kinesis::stream_name(name_or_arn)
}

#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Records per second over all streams (`None`: as fast as the streams take them).
    pub rate: Option<f64>,
    /// Attempts per record (the first one included) before it is given up.
    pub max_attempts: u32,
    /// The backoff after the n-th failing call in a row is uniform in `[0, min(cap, base × 2ⁿ⁻¹)]`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A stream's call is made once this many of its records are queued (or the input has ended); a call picks
    /// distinct partition keys among them, so records of other keys may pass a record waiting behind its own
    /// key's earlier ones — by about this many records, more behind a key with long runs. Default: a full call.
    pub lookahead: usize,
}

impl Default for ProduceOptions {
    fn default() -> Self {
        Self {
            rate: None,
            max_attempts: 10,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(10),
            lookahead: MAX_CALL_RECORDS,
        }
    }
}

/// One record on its way into a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in the input (0-based).
    pub index: u64,
    pub kind: Stream,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// Calls that carried it so far.
    pub attempts: u32,
}

impl Entry {
    /// Its size as PutRecords counts it.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// The kind (its stream) and the partition key of a record, as Connect would publish it.
pub fn route(record: &GenRecord) -> (Stream, String) {
    let (kind, key) = match shared::classify(&record.data) {
        Ok(ConnectRecord::Agent(e)) => (Stream::AgentEvents, e.agent_arn),
        Ok(ConnectRecord::Contact(c)) => (Stream::ContactRecords, c.contact_id),
        Ok(ConnectRecord::Segment(s)) => (Stream::Segments, s.contact_id),
        Err(_) => return (record.stream, hashed_key(&record.data)),
    };
    if key.is_empty() || key.chars().count() > MAX_PARTITION_KEY_CHARS {
        return (kind, hashed_key(&record.data));
    }
    (kind, key)
}

/// The partition key of a record without a usable id: the first 128 bits of its SHA-256, in hex.
pub fn hashed_key(data: &[u8]) -> String {
    Sha256::digest(data)[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The entries of the next call, as positions in `queue` (ascending): queue order, at most one entry per
/// partition key — the first of its key still queued; a key whose first entry is not taken (the call is full)
/// has none taken — within [`MAX_CALL_RECORDS`] and [`MAX_CALL_BYTES`]. Never empty for a non-empty queue of
/// entries within [`MAX_RECORD_BYTES`].
pub fn next_call(queue: &VecDeque<Entry>) -> Vec<usize> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut picked = Vec::new();
    let mut bytes = 0usize;
    for (i, entry) in queue.iter().enumerate() {
        if picked.len() == MAX_CALL_RECORDS {
            break;
        }
        if !seen.insert(entry.partition_key.as_str()) {
            continue;
        }
        if bytes + entry.size() <= MAX_CALL_BYTES {
            bytes += entry.size();
            picked.push(i);
        }
    }
    picked
}

/// Why a whole call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct CallError {
    /// Throttling, 5xx, timeouts, connection errors: the call is retried.
    pub retryable: bool,
    pub detail: String,
}

/// One PutRecords call: the outcome of each entry, in order (`None`: written; `Some(code)`: failed).
pub trait PutRecords {
    fn put_records(
        &self,
        stream: &str,
        entries: &[&Entry],
    ) -> impl Future<Output = Result<Vec<Option<String>>, CallError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("PutRecords on {stream} failed: {detail}")]
    Call { stream: String, detail: String },
    #[error("PutRecords on {stream} answered {got} results for {sent} records")]
    Results { stream: String, sent: usize, got: usize },
}

/// A record given up after [`ProduceOptions::max_attempts`] attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub index: u64,
    pub kind: Stream,
    pub stream: String,
    pub partition_key: String,
    pub error: String,
}

/// What one stream received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamReport {
    /// As given (name or ARN).
    pub stream: String,
    pub calls: usize,
    /// Records written, per kind.
    pub put: BTreeMap<Stream, usize>,
    /// Entries sent again after a failure (each retry counted).
    pub retried: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub read: usize,
    pub streams: Vec<StreamReport>,
    /// Records over [`MAX_RECORD_BYTES`], per kind: not sent.
    pub refused: BTreeMap<Stream, usize>,
    /// Records of a kind no stream was given for (segments without `--contact-lens-stream`): not sent.
    pub no_stream: BTreeMap<Stream, usize>,
    pub failed: Vec<Failed>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn put(&self) -> usize {
        self.streams.iter().flat_map(|s| s.put.values()).sum()
    }
    pub fn retried(&self) -> usize {
        self.streams.iter().map(|s| s.retried).sum()
    }
    pub fn calls(&self) -> usize {
        self.streams.iter().map(|s| s.calls).sum()
    }
    pub fn records_per_second(&self) -> f64 {
        self.put() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// At most `rate` records per second over all calls: each call waits for the slot its records' share of time
/// begins at.
struct RateLimiter {
    per_record: Option<Duration>,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    fn new(rate: Option<f64>) -> Self {
        let per_record = rate.filter(|r| r.is_finite() && *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r));
        Self { per_record, next: Mutex::new(None) }
    }

    async fn acquire(&self, records: usize) {
        let Some(per_record) = self.per_record else { return };
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let start = next.map_or(now, |n| n.max(now));
            *next = Some(start + per_record * records as u32);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// One destination stream: its queue in input order, its backoff, what it received.
struct Destination {
    queue: VecDeque<Entry>,
    failing_calls: u32,
    not_before: Option<Instant>,
    report: StreamReport,
    failed: Vec<Failed>,
}

impl Destination {
    /// Makes one call and applies its outcome; returns how many records were settled (written or given up).
    async fn call<P: PutRecords>(
        &mut self,
        client: &P,
        options: &ProduceOptions,
        limiter: &RateLimiter,
    ) -> Result<usize, ProduceError> {
        if let Some(at) = self.not_before.take() {
            tokio::time::sleep_until(at).await;
        }
        let picked = next_call(&self.queue);
        limiter.acquire(picked.len()).await;
        let entries: Vec<&Entry> = picked.iter().map(|&i| &self.queue[i]).collect();
        self.report.calls += 1;
        let stream = self.report.stream.clone();
        let outcomes = match client.put_records(&stream, &entries).await {
            Ok(outcomes) if outcomes.len() == picked.len() => outcomes,
            Ok(outcomes) => {
                return Err(ProduceError::Results { stream, sent: picked.len(), got: outcomes.len() });
            }
            Err(e) if e.retryable => vec![Some(e.detail); picked.len()],
            Err(e) => return Err(ProduceError::Call { stream, detail: e.detail }),
        };

        let mut settled = vec![false; self.queue.len()];
        let mut any_failed = false;
        for (&i, outcome) in picked.iter().zip(outcomes) {
            let entry = &mut self.queue[i];
            entry.attempts += 1;
            match outcome {
                None => {
                    *self.report.put.entry(entry.kind).or_default() += 1;
                    settled[i] = true;
                }
                Some(error) => {
                    any_failed = true;
                    if entry.attempts >= options.max_attempts {
                        self.failed.push(Failed {
                            index: entry.index,
                            kind: entry.kind,
                            stream: stream.clone(),
                            partition_key: entry.partition_key.clone(),
                            error,
                        });
                        settled[i] = true;
                    } else {
                        self.report.retried += 1;
                    }
                }
            }
        }
        let count = settled.iter().filter(|s| **s).count();
        let mut keep = settled.into_iter();
        self.queue.retain(|_| !keep.next().unwrap_or(false));

        if any_failed {
            self.failing_calls += 1;
            self.not_before = Some(Instant::now() + backoff(options, self.failing_calls));
        } else {
            self.failing_calls = 0;
        }
        Ok(count)
    }
}

/// Full jitter: uniform in `[0, min(cap, base × 2ⁿ⁻¹)]` after the n-th failing call in a row.
fn backoff(options: &ProduceOptions, failing_calls: u32) -> Duration {
    let exp = options.backoff_base.saturating_mul(1u32 << failing_calls.saturating_sub(1).min(20));
    let ceiling = exp.min(options.backoff_cap);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

/// Puts `records` into the streams of `targets` through `client`. `progress` is told how many records were
/// settled (written, refused, given up, or without a stream) as it goes.
pub async fn produce<P: PutRecords>(
    records: impl Iterator<Item = GenRecord>,
    targets: &Targets,
    client: &P,
    options: &ProduceOptions,
    mut progress: impl FnMut(u64),
) -> Result<Summary, ProduceError> {
    let started = std::time::Instant::now();
    let limiter = RateLimiter::new(options.rate);
    let lookahead = options.lookahead.max(1);

    // One destination per distinct stream; each kind points at one.
    let mut destinations: Vec<Destination> = Vec::new();
    let mut kind_to_destination: BTreeMap<Stream, usize> = BTreeMap::new();
    for kind in [Stream::ContactRecords, Stream::AgentEvents, Stream::Segments] {
        let Some(stream) = targets.of(kind) else { continue };
        let found = destinations.iter().position(|d| stream_identity(&d.report.stream) == stream_identity(stream));
        let index = found.unwrap_or_else(|| {
            destinations.push(Destination {
                queue: VecDeque::new(),
                failing_calls: 0,
                not_before: None,
                report: StreamReport { stream: stream.to_owned(), ..StreamReport::default() },
                failed: Vec::new(),
            });
            destinations.len() - 1
        });
        kind_to_destination.insert(kind, index);
    }

    let mut summary = Summary::default();
    let mut records = records.enumerate();
    let mut exhausted = false;
    loop {
        // Read until some stream has a call's worth of choice, or the input ends.
        while !exhausted && destinations.iter().all(|d| d.queue.len() < lookahead) {
            let Some((index, record)) = records.next() else {
                exhausted = true;
                break;
            };
            summary.read += 1;
            let (kind, partition_key) = route(&record);
            let entry = Entry { index: index as u64, kind, partition_key, data: record.data, attempts: 0 };
            if entry.size() > MAX_RECORD_BYTES {
                *summary.refused.entry(kind).or_default() += 1;
                progress(1);
            } else if let Some(&d) = kind_to_destination.get(&kind) {
                destinations[d].queue.push_back(entry);
            } else {
                *summary.no_stream.entry(kind).or_default() += 1;
                progress(1);
            }
        }
        let ready: Vec<&mut Destination> = destinations
            .iter_mut()
            .filter(|d| !d.queue.is_empty() && (exhausted || d.queue.len() >= lookahead))
            .collect();
        if ready.is_empty() {
            break;
        }
        let settled = futures::future::join_all(ready.into_iter().map(|d| d.call(client, options, &limiter))).await;
        for n in settled {
            progress(n? as u64);
        }
    }
    for d in destinations {
        summary.failed.extend(d.failed);
        summary.streams.push(d.report);
    }
    summary.failed.sort_by_key(|f| f.index);
    summary.elapsed = started.elapsed();
    Ok(summary)
}
