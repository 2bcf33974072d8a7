//! A faithful, in-process Kinesis event-source-mapping simulator, for tests and the local replay.
//!
//! What it reproduces of the Lambda ESM for Kinesis:
//! * shards by a stable hash of the partition key; strictly increasing sequence numbers per stream;
//! * batches of at most `batch_size` records and at most `max_batch_bytes` of data (Lambda's 6 MB payload);
//! * partial batch responses: restart from the **lowest** reported sequence number, redelivering everything after
//!   it; a null, empty or unknown identifier fails the whole batch, as a function error would;
//! * a function error retries the whole batch; with `bisect_on_function_error` the batch is split in halves;
//! * `maximum_retry_attempts`: after that many retries without progress the failed records go to the
//!   on-failure destination and the shard moves on (`None` = retry forever, Lambda's dangerous default, bounded
//!   here by `max_invocations` so a test can see the shard blocked);
//! * `parallelization_factor`: each shard is read by up to N concurrent batchers, partition keys hashed to them,
//!   so order is kept per partition key.

use std::future::Future;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};

use crate::kinesis::{KinesisItem, SeqNo};

/// Lambda's invoke payload limit for a batch.
pub const MAX_BATCH_BYTES: usize = 6 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct SimRecord {
    pub partition_key: String,
    pub data: Vec<u8>,
    pub seq: SeqNo,
    pub arrival: DateTime<Utc>,
}

/// A stream: records appended in order, spread over shards.
#[derive(Debug, Clone)]
pub struct SimStream {
    pub arn: String,
    shards: Vec<Vec<SimRecord>>,
    next_seq: u64,
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl SimStream {
    pub fn new(arn: impl Into<String>, shard_count: usize) -> Self {
        Self { arn: arn.into(), shards: vec![Vec::new(); shard_count.max(1)], next_seq: 0 }
    }

    pub fn shard_of(&self, partition_key: &str) -> usize {
        (fnv1a(partition_key) % self.shards.len() as u64) as usize
    }

    /// Appends a record; returns (shard index, sequence number).
    pub fn put(&mut self, partition_key: impl Into<String>, data: Vec<u8>, arrival: DateTime<Utc>) -> (usize, SeqNo) {
        let partition_key = partition_key.into();
        let shard = self.shard_of(&partition_key);
        self.next_seq += 1;
        // 56 digits, like real Kinesis sequence numbers, increasing with every put.
        let seq = SeqNo::parse(&format!("4959{:052}", self.next_seq)).unwrap_or_else(|| unreachable!("digits only"));
        self.shards[shard].push(SimRecord { partition_key, data, seq: seq.clone(), arrival });
        (shard, seq)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(Vec::len).sum()
    }
    /// Drops the records (they were delivered) but keeps numbering: later records get higher sequence numbers, as on
    /// a real stream that a consumer has read up to its tip.
    pub fn clear(&mut self) {
        self.shards.iter_mut().for_each(Vec::clear);
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn shards(&self) -> &[Vec<SimRecord>] {
        &self.shards
    }
    pub fn shard_id(index: usize) -> String {
        format!("shardId-{index:012}")
    }
}

#[derive(Debug, Clone)]
pub struct EsmConfig {
    pub batch_size: usize,
    pub max_batch_bytes: usize,
    pub maximum_retry_attempts: Option<u32>,
    pub bisect_on_function_error: bool,
    pub parallelization_factor: usize,
    /// Safety bound for the whole drain (per lane), so a blocked shard ends the run instead of hanging it.
    pub max_invocations: usize,
}

impl Default for EsmConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_batch_bytes: MAX_BATCH_BYTES,
            maximum_retry_attempts: Some(10),
            bisect_on_function_error: true,
            parallelization_factor: 1,
            max_invocations: 1_000_000,
        }
    }
}

/// The function under test, as the ESM sees it: a batch in, a partial batch response or a function error out.
pub trait Invoke: Sync {
    fn invoke(&self, batch: Vec<KinesisItem>) -> impl Future<Output = Result<KinesisEventResponse, String>> + Send;
}

/// Records given up on after `maximum_retry_attempts` (what an on-failure destination receives).
#[derive(Debug, Clone, PartialEq)]
pub struct OnFailure {
    pub shard_id: String,
    pub first_seq: SeqNo,
    pub last_seq: SeqNo,
    pub records: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimReport {
    pub invocations: usize,
    pub records_delivered: usize,
    pub function_errors: usize,
    pub partial_failures: usize,
    pub on_failure: Vec<OnFailure>,
    /// Lanes that hit `max_invocations` without reaching the end: a blocked shard.
    pub blocked_lanes: usize,
}

impl std::ops::AddAssign for SimReport {
    fn add_assign(&mut self, o: SimReport) {
        self.invocations += o.invocations;
        self.records_delivered += o.records_delivered;
        self.function_errors += o.function_errors;
        self.partial_failures += o.partial_failures;
        self.on_failure.extend(o.on_failure);
        self.blocked_lanes += o.blocked_lanes;
    }
}

/// Delivers every record of the stream to `function` as Lambda would, until all shards are drained.
pub async fn drain<F: Invoke>(stream: &SimStream, config: &EsmConfig, function: &F) -> SimReport {
    let factor = config.parallelization_factor.clamp(1, 10);
    let mut lanes = Vec::new();
    for (shard_index, shard) in stream.shards.iter().enumerate() {
        for lane in 0..factor {
            let records: Vec<&SimRecord> =
                shard.iter().filter(|r| ((fnv1a(&r.partition_key) >> 32) % factor as u64) as usize == lane).collect();
            if !records.is_empty() {
                lanes.push(drain_lane(&stream.arn, shard_index, records, config, function));
            }
        }
    }
    let mut report = SimReport::default();
    for r in futures::future::join_all(lanes).await {
        report += r;
    }
    report
}

fn to_item(arn: &str, shard_id: &str, index: usize, r: &SimRecord) -> KinesisItem {
    KinesisItem {
        index,
        seq: Some(r.seq.clone()),
        shard_id: shard_id.to_owned(),
        partition_key: r.partition_key.clone(),
        arrival: r.arrival,
        stream_arn: arn.to_owned(),
        data: r.data.clone(),
    }
}

async fn drain_lane<F: Invoke>(
    arn: &str,
    shard_index: usize,
    records: Vec<&SimRecord>,
    config: &EsmConfig,
    function: &F,
) -> SimReport {
    let shard_id = SimStream::shard_id(shard_index);
    let mut report = SimReport::default();
    let mut pos = 0;
    let mut attempts = 0u32;
    let mut limit = config.batch_size.max(1);
    let mut bisect_until = 0;
    while pos < records.len() {
        if report.invocations >= config.max_invocations {
            report.blocked_lanes += 1;
            break;
        }
        let end = batch_end(&records, pos, limit, config.max_batch_bytes);
        let batch: Vec<KinesisItem> =
            records[pos..end].iter().enumerate().map(|(i, r)| to_item(arn, &shard_id, i, r)).collect();
        report.invocations += 1;
        report.records_delivered += batch.len();
        let outcome = function.invoke(batch).await;
        match failure_of(outcome, &records[pos..end], pos, &mut report) {
            None => {
                pos = end;
                attempts = 0;
            }
            Some((at, whole_batch)) => {
                if at > pos {
                    attempts = 0;
                }
                pos = at;
                if whole_batch && config.bisect_on_function_error && end - pos > 1 {
                    // Splitting is not a retry of the same records: narrow down first, count attempts after.
                    limit = (end - pos).div_ceil(2);
                    bisect_until = bisect_until.max(end);
                } else {
                    attempts += 1;
                    if config.maximum_retry_attempts.is_some_and(|max| attempts > max) {
                        report.on_failure.push(OnFailure {
                            shard_id: shard_id.clone(),
                            first_seq: records[at].seq.clone(),
                            last_seq: records[end - 1].seq.clone(),
                            records: end - at,
                            reason: if whole_batch { "function error" } else { "partial batch failure" }.into(),
                        });
                        pos = end;
                        attempts = 0;
                    }
                }
            }
        }
        if pos >= bisect_until {
            limit = config.batch_size.max(1);
        }
    }
    report
}

/// The end of the next batch from `pos`: up to `limit` records and at most `max_bytes` (always at least one record).
fn batch_end(records: &[&SimRecord], pos: usize, limit: usize, max_bytes: usize) -> usize {
    let mut end = pos;
    let mut bytes = 0;
    while end < records.len() && end - pos < limit {
        let size = records[end].data.len() + records[end].partition_key.len();
        if end > pos && bytes + size > max_bytes {
            break;
        }
        bytes += size;
        end += 1;
    }
    end
}

/// Where an invocation of `batch` (starting at `pos`) failed, as Lambda reads its answer: `None` when it succeeded,
/// else the position to restart from and whether the whole batch failed (a function error or an identifier Lambda
/// refuses). Counts partial failures and function errors in `report`.
fn failure_of<E>(
    outcome: Result<KinesisEventResponse, E>,
    batch: &[&SimRecord],
    pos: usize,
    report: &mut SimReport,
) -> Option<(usize, bool)> {
    match outcome.map(|resp| lowest_reported(&resp, batch)) {
        Ok(Ok(None)) => None,
        Ok(Ok(Some(offset))) => {
            report.partial_failures += 1;
            Some((pos + offset, false))
        }
        Ok(Err(())) | Err(_) => {
            report.function_errors += 1;
            Some((pos, true))
        }
    }
}

/// The offset (in the batch) of the lowest reported sequence number; `Err` where Lambda would fail the batch
/// (a null, empty or unknown identifier).
fn lowest_reported(resp: &KinesisEventResponse, batch: &[&SimRecord]) -> Result<Option<usize>, ()> {
    let mut lowest: Option<usize> = None;
    for f in &resp.batch_item_failures {
        let id = f.item_identifier.as_deref().filter(|s| !s.is_empty()).ok_or(())?;
        let offset = batch.iter().position(|r| r.seq.as_str() == id).ok_or(())?;
        lowest = Some(lowest.map_or(offset, |l| l.min(offset)));
    }
    Ok(lowest)
}

/// Builds the Lambda event for a batch (for invoking a handler through its real entry point).
pub fn to_event(batch: &[KinesisItem]) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = batch
        .iter()
        .map(|i| {
            let mut k = KinesisRecord::default();
            k.approximate_arrival_timestamp = aws_lambda_events::encodings::SecondTimestamp(i.arrival);
            k.data.extend_from_slice(&i.data);
            k.partition_key = i.partition_key.clone();
            k.sequence_number = i.seq_str().to_owned();
            k.kinesis_schema_version = Some("1.0".into());
            let mut r = KinesisEventRecord::default();
            r.kinesis = k;
            r.event_id = Some(format!("{}:{}", i.shard_id, i.seq_str()));
            r.event_source = Some("aws:kinesis".into());
            r.event_source_arn = Some(i.stream_arn.clone());
            r.event_name = Some("aws:kinesis:record".into());
            r.event_version = Some("1.0".into());
            r.aws_region = Some("us-east-1".into());
            r
        })
        .collect();
    event
}
