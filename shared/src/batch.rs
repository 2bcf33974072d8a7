//! The Kinesis → Lambda batch contract, written once.
//!
//! A function implements [`Processor`]: it gets the batch's records and says, for each, what became of it
//! ([`Disposition`]). [`run_batch`] does the rest, identically for every function:
//!
//! * poison records are quarantined (raw bytes, stream, shard, sequence number, reason) and count as done;
//!   if the quarantine write fails, the record counts as failed;
//! * the response reports exactly one item: the **lowest** sequence number whose effect is not durably done.
//!   Lambda restarts the shard from there, so everything after it is delivered again (every function is
//!   idempotent). All done → an empty list. Never a null or empty identifier: if a failed record has no
//!   usable sequence number, the whole invocation fails instead (Lambda then retries or bisects the batch).

use std::future::Future;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use futures::StreamExt;
use serde::Serialize;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::classify::InvalidReason;
use crate::kinesis::{KinesisItem, SeqNo, items_from_event};
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
    /// Not done because of a transient failure: report it so Lambda delivers it again.
    Retry(PortError),
}

/// A function's processing of one batch: one disposition per record, in batch order.
/// It may group records (per agent, per partition) and work concurrently; only the dispositions matter here.
pub trait Processor: Send + Sync {
    fn process(&self, items: &[KinesisItem]) -> impl Future<Output = Vec<Disposition>> + Send;
}

/// Counts of one batch, logged once and emitted as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub records_in: usize,
    pub done: usize,
    pub stale: usize,
    pub skipped: usize,
    pub quarantined: usize,
    /// Records that failed transiently (including failed quarantine writes).
    pub failed: usize,
    /// Records Lambda will deliver again: the failed ones and every record after the reported sequence number.
    pub redelivered: usize,
    /// The reported sequence number, if any.
    pub reported: Option<String>,
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
        let mut dispositions = processor.process(items).await;
        if dispositions.len() != items.len() {
            warn!(
                expected = items.len(),
                got = dispositions.len(),
                "processor returned a wrong number of dispositions"
            );
            dispositions.resize(items.len(), Disposition::Retry(PortError::transient("driver", "no disposition")));
        }
        quarantine_poison(function, items, &mut dispositions, quarantine).await;
        respond(items, &dispositions)
    }
    .instrument(span)
    .await
}

/// Writes every poison record to quarantine; a failed write turns the record into a retry.
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
            _ => None,
        })
        .collect();
    let results: Vec<(usize, Result<(), PortError>)> = futures::stream::iter(poison)
        .map(|(i, entry)| async move { (i, quarantine.quarantine(&entry).await) })
        .buffer_unordered(16)
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
    crate::telemetry::record_batch(&report);
    info!(
        records_in = report.records_in,
        done = report.done,
        stale = report.stale,
        skipped = report.skipped,
        quarantined = report.quarantined,
        failed = report.failed,
        redelivered = report.redelivered,
        reported = report.reported.as_deref(),
        "batch processed"
    );
    Ok((response, report))
}

/// Groups record indices by a key, keeping batch order inside each group (per agent, per contact, …).
pub fn group_indices<K: Ord>(keys: impl IntoIterator<Item = K>) -> std::collections::BTreeMap<K, Vec<usize>> {
    let mut groups = std::collections::BTreeMap::<K, Vec<usize>>::new();
    for (i, k) in keys.into_iter().enumerate() {
        groups.entry(k).or_default().push(i);
    }
    groups
}
