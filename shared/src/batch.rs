//! The Kinesis → Lambda batch contract, written once.
//!
//! A function implements [`Processor`]: it gets the batch's records and says, for each, what became of it
//! ([`Disposition`]). [`run_batch`] does the rest, identically for every function:
//!
//! * poison records (invalid input) and refused records (valid input a store refused for good) are quarantined
//!   (raw bytes, stream, shard, sequence number, reason) and count as done; if the quarantine write fails, the
//!   record counts as failed;
//! * the response reports exactly one item: the **lowest** sequence number whose effect is not durably done.
//!   Lambda restarts the shard from there, so everything after it is delivered again (every function is
//!   idempotent). All done → an empty list. Never a null or empty identifier: if a failed record has no
//!   usable sequence number, the whole invocation fails instead (Lambda then retries or bisects the batch).
//!
//! And the steps every function's `process` shares, so each reads as its own steps: [`classify_by_key`] (classify
//! each record, poison the invalid ones, group the valid ones by key in batch order), [`KeyRun`] (a key's records
//! in order: after one retries, the key's later records retry too), [`Outcomes`] (a batch's dispositions as they
//! are decided; a record nobody decided is retried), and `Disposition::from(PortError)` (transient → retry,
//! permanent → refused).

use std::collections::BTreeMap;
use std::future::Future;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use futures::StreamExt;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::classify::InvalidReason;
use crate::kinesis::{KinesisItem, SeqNo, items_from_event};
use crate::model::ConnectRecord;
use crate::ports::PortError;
use crate::quarantine::{Quarantine, QuarantineEntry};

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Its effect is durably done (or was already done by an earlier delivery).
    Done,
    /// Valid, but older than what the store holds: nothing to do. Success.
    Stale,
    /// A valid record for another consumer (e.g. an agent event on the contact-record stream). Counted, not stored.
    Skipped,
    /// Invalid input: quarantine it and move on, never retry it.
    Poison(InvalidReason),
    /// Valid input that a store refused for good (a permanent [`PortError`], e.g. an item over DynamoDB's size
    /// limit or a validation error): retrying cannot help, so it is quarantined like poison and counted apart.
    Refused(PortError),
    /// Not done because of a transient failure: report it so Lambda delivers it again.
    Retry(PortError),
}

/// The quarantine reason code of a [`Disposition::Refused`] record (the reason itself is the store's error).
pub const REFUSED_CODE: &str = "refused";

/// AWS calls one batch keeps in flight at once (agent-state's writes, supervisor-alerts' keys, a batch put's
/// chunks, quarantine writes). Each call in flight holds one HTTPS connection (DynamoDB, S3 and SNS speak HTTP/1.1;
/// the SDK's pool keeps them open between batches), and Lambda gives a process 1,024 file descriptors and 1,024
/// threads (a new connection's DNS lookup takes a blocking thread). 256 leaves three quarters of both for
/// everything else while a batch of up to 256 agents or keys waits one round trip per step; larger batches wait
/// ⌈n/256⌉ (BENCHMARKS.md, round trips per batch).
pub const MAX_IN_FLIGHT: usize = 256;

impl Disposition {
    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry(_))
    }
}

/// A port's failure as a record's disposition: transient or ambiguous → retry, permanent → refused.
impl From<PortError> for Disposition {
    fn from(error: PortError) -> Self {
        if error.is_transient() { Self::Retry(error) } else { Self::Refused(error) }
    }
}

/// A function's processing of one batch: one disposition per record, in batch order.
/// It may group records (per agent, per partition) and work concurrently; only the dispositions matter here.
pub trait Processor: Send + Sync {
    fn process(&self, items: &[KinesisItem]) -> impl Future<Output = Vec<Disposition>> + Send;
}

/// Counts of one batch, logged once; `shared::lambda` records them as metrics where the report is returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub records_in: usize,
    pub done: usize,
    pub stale: usize,
    pub skipped: usize,
    /// Records written to quarantine: the poison ones and the refused ones.
    pub quarantined: usize,
    /// Of the quarantined records, those a store refused for good although they are valid input.
    pub refused: usize,
    /// Records that failed transiently (including failed quarantine writes).
    pub failed: usize,
    /// Records Lambda will deliver again: the failed ones and every record after the reported sequence number.
    pub redelivered: usize,
    /// The reported sequence number, if any.
    pub reported: Option<String>,
}

/// Totals over several batches (the replay sums per function). `reported` is per batch: a total keeps its own.
impl std::ops::AddAssign<&BatchReport> for BatchReport {
    fn add_assign(&mut self, other: &BatchReport) {
        self.records_in += other.records_in;
        self.done += other.done;
        self.stale += other.stale;
        self.skipped += other.skipped;
        self.quarantined += other.quarantined;
        self.refused += other.refused;
        self.failed += other.failed;
        self.redelivered += other.redelivered;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("a record at batch index {index} failed but has no sequence number; failing the whole batch")]
    UnidentifiableFailure { index: usize },
}

/// Runs one Lambda Kinesis event through `processor` and returns the partial-batch response.
pub async fn run_batch<P: Processor, Q: Quarantine>(
    function: &str,
    event: KinesisEvent,
    processor: &P,
    quarantine: &Q,
) -> Result<(KinesisEventResponse, BatchReport), BatchError> {
    let items = items_from_event(event);
    run_items(function, &items, processor, quarantine).await
}

/// [`run_batch`] on records already split into items (the simulator and the replay tool call this).
pub async fn run_items<P: Processor, Q: Quarantine>(
    function: &str,
    items: &[KinesisItem],
    processor: &P,
    quarantine: &Q,
) -> Result<(KinesisEventResponse, BatchReport), BatchError> {
    let span = info_span!(
        "batch",
        function,
        shard = items.first().map(|i| i.shard_id.as_str()).unwrap_or(""),
        first_seq = items.first().map(KinesisItem::seq_str).unwrap_or(""),
        last_seq = items.last().map(KinesisItem::seq_str).unwrap_or(""),
        records = items.len(),
    );
    async move {
        // Boxed once, here: a function's future nests its store's SDK futures deeply, and inside the runtime's
        // own futures the whole type would exceed rustc's query depth when `main` is compiled. One allocation per
        // batch spares every function a boxing workaround of its own.
        let mut dispositions = Box::pin(processor.process(items)).await;
        if dispositions.len() != items.len() {
            warn!(
                expected = items.len(),
                got = dispositions.len(),
                "processor returned a wrong number of dispositions"
            );
            dispositions.resize(items.len(), not_processed());
        }
        quarantine_poison(function, items, &mut dispositions, quarantine).await;
        respond(items, &dispositions)
    }
    .instrument(span)
    .await
}

/// Writes every poison and refused record to quarantine; a failed write turns the record into a retry.
async fn quarantine_poison<Q: Quarantine>(
    function: &str,
    items: &[KinesisItem],
    dispositions: &mut [Disposition],
    quarantine: &Q,
) {
    let poison: Vec<(usize, QuarantineEntry)> = dispositions
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match d {
            Disposition::Poison(reason) => {
                warn!(
                    seq = items[i].seq_str(),
                    reason = reason.code(),
                    path = reason.path(),
                    "quarantining invalid record"
                );
                Some((i, QuarantineEntry::new(function, &items[i], reason.code(), reason.to_string())))
            }
            Disposition::Refused(error) => {
                warn!(seq = items[i].seq_str(), error = %error, "quarantining a record the store refused for good");
                Some((i, QuarantineEntry::new(function, &items[i], REFUSED_CODE, error.to_string())))
            }
            _ => None,
        })
        .collect();
    let results: Vec<(usize, Result<(), PortError>)> = futures::stream::iter(poison)
        .map(|(i, entry)| async move { (i, quarantine.quarantine(&entry).await) })
        .buffer_unordered(MAX_IN_FLIGHT)
        .collect()
        .await;
    for (i, result) in results {
        if let Err(e) = result {
            warn!(seq = items[i].seq_str(), error = %e, "quarantine write failed; reporting the record");
            dispositions[i] = Disposition::Retry(e);
        }
    }
}

fn respond(
    items: &[KinesisItem],
    dispositions: &[Disposition],
) -> Result<(KinesisEventResponse, BatchReport), BatchError> {
    let mut report = BatchReport { records_in: items.len(), ..BatchReport::default() };
    let mut lowest: Option<&SeqNo> = None;
    for (item, d) in items.iter().zip(dispositions) {
        match d {
            Disposition::Done => report.done += 1,
            Disposition::Stale => report.stale += 1,
            Disposition::Skipped => report.skipped += 1,
            Disposition::Poison(_) => report.quarantined += 1,
            Disposition::Refused(_) => {
                report.quarantined += 1;
                report.refused += 1;
            }
            Disposition::Retry(e) => {
                report.failed += 1;
                debug!(seq = item.seq_str(), error = %e, "record failed transiently");
                let Some(seq) = item.seq.as_ref() else {
                    return Err(BatchError::UnidentifiableFailure { index: item.index });
                };
                if lowest.is_none_or(|l| seq < l) {
                    lowest = Some(seq);
                }
            }
        }
    }
    let mut response = KinesisEventResponse::default();
    if let Some(seq) = lowest {
        report.redelivered = items.iter().filter(|i| i.seq.as_ref().is_some_and(|s| s >= seq)).count();
        report.reported = Some(seq.to_string());
        response.add_failure(seq.as_str());
    }
    info!(
        records_in = report.records_in,
        done = report.done,
        stale = report.stale,
        skipped = report.skipped,
        quarantined = report.quarantined,
        refused = report.refused,
        failed = report.failed,
        redelivered = report.redelivered,
        reported = report.reported.as_deref(),
        "batch processed"
    );
    Ok((response, report))
}

/// The disposition of a record nobody decided: retried, so it is never lost.
fn not_processed() -> Disposition {
    Disposition::Retry(PortError::transient("batch", "record not processed"))
}

// ---------------------------------------------------------------------------------------------------------------
// The steps every function's `process` shares.

/// A batch's dispositions as they are decided, by batch index. A record left undecided is retried.
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    slots: Vec<Option<Disposition>>,
}

impl Outcomes {
    pub fn new(records: usize) -> Self {
        Self { slots: vec![None; records] }
    }

    /// Decides the record at batch index `index` (a later decision replaces an earlier one).
    pub fn set(&mut self, index: usize, disposition: Disposition) {
        self.slots[index] = Some(disposition);
    }

    /// Decides every (batch index, disposition) pair.
    pub fn extend(&mut self, decided: impl IntoIterator<Item = (usize, Disposition)>) {
        for (index, disposition) in decided {
            self.set(index, disposition);
        }
    }

    /// One disposition per record, in batch order; an undecided record is retried.
    pub fn finish(self) -> Vec<Disposition> {
        let undecided = self.slots.iter().filter(|d| d.is_none()).count();
        if undecided > 0 {
            warn!(undecided, "records without a disposition are retried");
        }
        self.slots.into_iter().map(|d| d.unwrap_or_else(not_processed)).collect()
    }
}

/// What a function does with one valid record: put it in a group, or decide it now (e.g. [`Disposition::Skipped`]).
#[derive(Debug)]
pub enum Route<K, T> {
    Group(K, T),
    Now(Disposition),
}

/// A batch after [`classify_by_key`]: the valid records grouped by key (batch order inside each group, groups in
/// key order), and the records decided already (poison, skipped, …).
#[derive(Debug)]
pub struct Grouped<K, T> {
    pub groups: BTreeMap<K, Vec<(usize, T)>>,
    pub outcomes: Outcomes,
}

/// Classifies every record: an invalid one is [`Disposition::Poison`]; a valid one goes where `route` says.
pub fn classify_by_key<'a, K: Ord, T>(
    items: &'a [KinesisItem],
    mut route: impl FnMut(&'a KinesisItem, ConnectRecord) -> Route<K, T>,
) -> Grouped<K, T> {
    let mut grouped = Grouped { groups: BTreeMap::new(), outcomes: Outcomes::new(items.len()) };
    for (i, item) in items.iter().enumerate() {
        let record = match crate::classify::classify(&item.data) {
            Ok(record) => record,
            Err(reason) => {
                grouped.outcomes.set(i, Disposition::Poison(reason));
                continue;
            }
        };
        match route(item, record) {
            Route::Group(key, value) => grouped.groups.entry(key).or_default().push((i, value)),
            Route::Now(disposition) => grouped.outcomes.set(i, disposition),
        }
    }
    grouped
}

/// One key's dispositions, in the key's order, under the ordering rule: once a record of a key is to be retried,
/// the key's later records must not be applied (they would overtake it); they retry too, and Lambda delivers them
/// again after it, in order.
#[derive(Debug, Clone)]
pub struct KeyRun {
    dispositions: Vec<Disposition>,
    records: usize,
    stopped: Option<PortError>,
}

impl KeyRun {
    /// A key with `records` records.
    pub fn new(records: usize) -> Self {
        Self { dispositions: Vec::with_capacity(records), records, stopped: None }
    }

    /// Every one of a key's `records` records retries with `error` (the key failed before its first record).
    pub fn retry_all(records: usize, error: PortError) -> Vec<Disposition> {
        let mut key = Self::new(records);
        key.stop(error);
        key.finish()
    }

    /// Whether the key's next record may be applied (no record of the key is to be retried).
    pub fn going(&self) -> bool {
        self.stopped.is_none()
    }

    /// The next record's disposition; a retry stops the key, and once it has stopped every later record of the key
    /// retries too (whatever the caller says, but for invalid input, which is quarantined wherever it stands).
    /// Returns whether the key goes on.
    pub fn push(&mut self, disposition: Disposition) -> bool {
        let disposition = match (&self.stopped, disposition) {
            (Some(error), d) if !matches!(d, Disposition::Poison(_) | Disposition::Retry(_)) => {
                Disposition::Retry(error.clone())
            }
            (_, d) => d,
        };
        if let Disposition::Retry(error) = &disposition {
            self.stop(error.clone());
        }
        self.dispositions.push(disposition);
        self.going()
    }

    /// The next records' dispositions, in order. Returns whether the key goes on.
    pub fn extend(&mut self, dispositions: impl IntoIterator<Item = Disposition>) -> bool {
        for disposition in dispositions {
            self.push(disposition);
        }
        self.going()
    }

    /// This key's later records retry: every record not pushed yet is retried with `error` (the first stop wins).
    pub fn stop(&mut self, error: PortError) {
        self.stopped.get_or_insert(error);
    }

    /// One disposition per record of the key: those pushed, then a retry for each record after the stop.
    pub fn finish(mut self) -> Vec<Disposition> {
        let rest = self.records.saturating_sub(self.dispositions.len());
        let retry = self.stopped.map_or_else(not_processed, Disposition::Retry);
        self.dispositions.extend(std::iter::repeat_n(retry, rest));
        self.dispositions
    }
}
