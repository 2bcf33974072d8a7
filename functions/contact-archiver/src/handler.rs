//! The archiver: every record of a batch kept in S3, losslessly, partitioned by day, idempotently.
//!
//! For one batch:
//! 1. each record is classified; an invalid one is [`Disposition::Poison`] (the batch driver quarantines it);
//!    a valid one is archived if its kind is enabled ([`ArchiveKinds`]: contact records always, agent events and
//!    analysis segments when configured) and is otherwise [`Disposition::Skipped`] — not written, not
//!    quarantined (a stream may carry several kinds);
//! 2. valid records are grouped by (kind, partition, format, shard) — the partition is the UTC day of the
//!    record's own time ([`partition_time`] documents the fallback order) — into **one object per group**;
//! 3. each object is encoded (gzip NDJSON of the original bytes, [`crate::ndjson`]; or Parquet,
//!    [`crate::tables`]) and written with `If-None-Match: *` under a key made of the shard and the lowest and
//!    highest sequence numbers it holds ([`crate::layout`]); objects are encoded and written concurrently (at
//!    most [`MAX_CONCURRENT_PUTS`] in flight), so encoding the next object overlaps the previous PUT;
//! 4. a record is [`Disposition::Done`] when every object holding it is `Created` or `AlreadyExists` (an
//!    identical earlier delivery wrote it). A failed PUT makes every record of that object
//!    [`Disposition::Retry`] (transient) or [`Disposition::Refused`] (permanent); the driver reports the lowest
//!    sequence number among them, and records of objects that succeeded stay `Done`.
//!
//! At least once, never lost: Lambda redelivers everything after the reported sequence number, so records after
//! it that were already archived in another object are archived again in a new object of the retried batch
//! (same bytes, different key). Readers deduplicate: the contact-record view and [`crate::versions`] pick one
//! version per contact, agent events carry a unique `EventId`. For the same reason the per-key ordering rule
//! holds without holding records back: the archive is an append-only set of immutable copies, and the order in
//! which copies land never changes what a reader computes (versions are ordered by `LastUpdateTimestamp`, not by
//! arrival).

use std::collections::BTreeMap;

use futures::StreamExt;
use shared::batch::{Disposition, Grouped, Processor, Route, classify_by_key};
use shared::kinesis::KinesisItem;
use shared::ports::{ObjectStore, PortError, PutObject, PutOutcome};
use shared::{ConnectRecord, RecordKind};
use tracing::{info, warn};

use crate::config::{ArchiveFormat, ArchiveKinds};
use crate::layout::{Format, Partition, Target, TimeSource, partition_time, seq_range};
use crate::ndjson;
use crate::tables::{self, AgentRow, ContactRow};

/// The function's name (binary, logs, metrics dimension, quarantine prefix).
pub const NAME: &str = "contact-archiver";

/// PUTs of one batch in flight at once. A batch rarely has more than a few objects (one per kind, day and
/// format); the bound keeps memory at a few encoded objects.
pub const MAX_CONCURRENT_PUTS: usize = 8;

/// Metric names of the archiver (EMF, namespace [`shared::telemetry::NAMESPACE`]).
pub mod metric {
    pub const OBJECTS_CREATED: &str = "ArchiveObjectsCreated";
    pub const OBJECTS_ALREADY_PRESENT: &str = "ArchiveObjectsAlreadyPresent";
    pub const OBJECTS_FAILED: &str = "ArchiveObjectsFailed";
    pub const BYTES_WRITTEN: &str = "ArchiveBytesWritten";
}

const NDJSON_CONTENT_TYPE: &str = "application/gzip";
const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// The archiver, generic over where objects go (S3 in Lambda, memory in tests).
#[derive(Debug, Clone)]
pub struct ContactArchiver<S> {
    store: S,
    prefix: String,
    format: ArchiveFormat,
    kinds: ArchiveKinds,
}

/// The records to archive grouped by (kind, partition, shard), each with its batch index, in batch order.
type Groups<'a> = BTreeMap<(RecordKind, Partition, &'a str), Vec<(usize, ConnectRecord)>>;

/// One object to write: where, and which records (indices into the batch, in batch order).
struct ObjectPlan {
    target: Target,
    shard: String,
    members: Vec<usize>,
}

impl<S: ObjectStore> ContactArchiver<S> {
    /// `prefix` is empty or ends in `/` ([`crate::config::Config`] guarantees it); `kinds` says which valid
    /// records are archived (the others are skipped).
    pub fn new(store: S, prefix: impl Into<String>, format: ArchiveFormat, kinds: ArchiveKinds) -> Self {
        Self { store, prefix: prefix.into(), format, kinds }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn formats(&self, kind: RecordKind) -> impl Iterator<Item = Format> + use<S> {
        let (ndjson, parquet) = (self.format.writes_ndjson(kind), self.format.writes_parquet(kind));
        [ndjson.then_some(Format::Ndjson), parquet.then_some(Format::Parquet)].into_iter().flatten()
    }

    /// Encodes and writes one object.
    async fn write_object(
        &self,
        plan: &ObjectPlan,
        items: &[KinesisItem],
        records: &[Option<ConnectRecord>],
    ) -> Result<PutOutcome, PortError> {
        let key = self.key(plan, items);
        let (body, content_type) = match plan.target.format {
            Format::Ndjson => {
                let size: usize = plan.members.iter().map(|&i| items[i].data.len() + 1).sum();
                let data = plan.members.iter().map(|&i| items[i].data.as_slice());
                let body = ndjson::encode(data, size).map_err(|e| PortError::permanent("gzip", e.to_string()))?;
                (body, NDJSON_CONTENT_TYPE)
            }
            Format::Parquet => (parquet_body(plan, items, records)?, PARQUET_CONTENT_TYPE),
        };
        let bytes = body.len();
        let object = PutObject { key, body, content_type, content_encoding: None };
        let key = object.key.clone();
        let outcome = self.store.put_if_absent(object).await;
        let (kind, format, records) = (plan.target.kind.slug(), plan.target.format.as_str(), plan.members.len());
        match &outcome {
            Ok(PutOutcome::Created) => {
                metrics::counter!(metric::OBJECTS_CREATED).increment(1);
                metrics::counter!(metric::BYTES_WRITTEN).increment(bytes as u64);
                info!(kind, format, key, records, bytes, "archive object created");
            }
            Ok(PutOutcome::AlreadyExists) => {
                metrics::counter!(metric::OBJECTS_ALREADY_PRESENT).increment(1);
                info!(kind, format, key, records, "archive object already present");
            }
            Err(e) => {
                metrics::counter!(metric::OBJECTS_FAILED).increment(1);
                warn!(kind, format, key, records, error = %e, "archive object write failed; its records are reported");
            }
        }
        outcome
    }

    fn key(&self, plan: &ObjectPlan, items: &[KinesisItem]) -> String {
        let seqs = plan.members.iter().filter_map(|&i| items[i].seq.as_ref());
        match seq_range(seqs) {
            Some((first, last)) => plan.target.key(&self.prefix, &plan.shard, first.as_str(), last.as_str()),
            // Never seen from Lambda; such records cannot be reported alone, so a failure fails the whole batch.
            None => {
                let first = plan.members.first().map_or(0, |&i| items[i].index);
                let last = plan.members.last().map_or(0, |&i| items[i].index);
                plan.target.key(&self.prefix, &plan.shard, &format!("index{first}"), &format!("index{last}"))
            }
        }
    }
}

impl<S: ObjectStore> Processor for ContactArchiver<S> {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        // 1. Classify; group the records to archive by (kind, partition, shard).
        let (mut arrival_fallbacks, mut skipped) = (0usize, 0usize);
        let Grouped { groups, mut outcomes } = classify_by_key(items, |item, record| {
            let kind = record.kind();
            if !self.kinds.includes(kind) {
                skipped += 1;
                return Route::Now(Disposition::Skipped);
            }
            let (time, source) = partition_time(&record, item.arrival);
            arrival_fallbacks += usize::from(source == TimeSource::Arrival);
            Route::Group((kind, Partition::of(time), item.shard_id.as_str()), record)
        });
        // 2. One object per group and format.
        let (plans, records) = self.plan(groups, items.len());
        let objects = plans.len();
        // 3. Encode and write the objects.
        let records = &records;
        let results: Vec<(ObjectPlan, Result<PutOutcome, PortError>)> = futures::stream::iter(plans)
            .map(|plan| async move {
                let result = self.write_object(&plan, items, records).await;
                (plan, result)
            })
            .buffer_unordered(MAX_CONCURRENT_PUTS)
            .collect()
            .await;
        // 4. A record is done when every object holding it is written.
        let failed_objects = results.iter().filter(|(_, r)| r.is_err()).count();
        for (index, error) in failures(&results, items.len()).into_iter().enumerate() {
            if records[index].is_some() {
                outcomes.set(index, error.map_or(Disposition::Done, Disposition::from));
            }
        }
        info!(
            records = items.len(),
            skipped,
            objects,
            failed_objects,
            arrival_fallbacks,
            format = %self.format,
            "batch archived"
        );
        outcomes.finish()
    }
}

impl<S: ObjectStore> ContactArchiver<S> {
    /// The objects to write — one per group and format, in (target, shard) order — and the records by batch index.
    fn plan(&self, groups: Groups<'_>, records: usize) -> (Vec<ObjectPlan>, Vec<Option<ConnectRecord>>) {
        let mut by_index: Vec<Option<ConnectRecord>> = vec![None; records];
        let mut plans = Vec::new();
        for ((kind, partition, shard), group) in groups {
            let mut members = Vec::with_capacity(group.len());
            for (i, record) in group {
                members.push(i);
                by_index[i] = Some(record);
            }
            for format in self.formats(kind) {
                plans.push(ObjectPlan {
                    target: Target { kind, partition, format },
                    shard: shard.to_owned(),
                    members: members.clone(),
                });
            }
        }
        plans.sort_by(|a, b| (a.target, &a.shard).cmp(&(b.target, &b.shard)));
        (plans, by_index)
    }
}

/// Per batch index, the error of a failed object holding the record, if any. A transient failure wins: retrying
/// may still succeed for the object that failed for good.
fn failures(results: &[(ObjectPlan, Result<PutOutcome, PortError>)], records: usize) -> Vec<Option<PortError>> {
    let mut failures: Vec<Option<PortError>> = vec![None; records];
    for (plan, result) in results {
        let Err(error) = result else { continue };
        for &i in &plan.members {
            if failures[i].as_ref().is_none_or(|held| !held.is_transient()) {
                failures[i] = Some(error.clone());
            }
        }
    }
    failures
}

/// The Parquet body of an object (contact records or agent events; other kinds have no Parquet table).
fn parquet_body(
    plan: &ObjectPlan,
    items: &[KinesisItem],
    records: &[Option<ConnectRecord>],
) -> Result<Vec<u8>, PortError> {
    let bug = |detail: &str| PortError::permanent("parquet", detail.to_owned());
    let raw = |i: usize| {
        std::str::from_utf8(ndjson::strip_bom(&items[i].data))
            .map_err(|_| bug("record is not UTF-8 after classification"))
    };
    let encoded = match plan.target.kind {
        RecordKind::ContactRecord => {
            let rows = plan
                .members
                .iter()
                .map(|&i| match &records[i] {
                    Some(ConnectRecord::Contact(record)) => Ok(ContactRow { record, raw: raw(i)? }),
                    _ => Err(bug("a non-contact record in a contact-record object")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            tables::contact_records_parquet(&rows)
        }
        RecordKind::AgentEvent => {
            let rows = plan
                .members
                .iter()
                .map(|&i| match &records[i] {
                    Some(ConnectRecord::Agent(event)) => Ok(AgentRow { event, raw: raw(i)? }),
                    _ => Err(bug("a non-agent record in an agent-event object")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            tables::agent_events_parquet(&rows)
        }
        RecordKind::AnalysisSegment => return Err(bug("analysis segments have no Parquet table")),
    };
    encoded.map_err(|e| PortError::permanent("parquet", e.to_string()))
}
