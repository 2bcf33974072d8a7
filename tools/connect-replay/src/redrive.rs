//! `connect-replay redrive`: records sent through the functions again — from the archive (to rebuild the board or
//! re-evaluate alerts), the quarantine (after a fix) or Lambda's on-failure records (after an outage) — each read
//! from a local directory or an S3 bucket, selected by day, kind and key prefix.
//!
//! Quarantine and on-failure records are all read and decoded before anything is sent: an unreadable source
//! (missing bucket, refused credentials, a corrupt object) stops the command with the object's name and nothing
//! written. The archive (a month may not fit in memory) is listed first and read a day at a time, each day whole
//! before any of it is sent; an unreadable object stops it at its day and the error names the days already sent.
//! Quarantined and
//! on-failure records keep their stream, shard and sequence number, so what they write lands under the keys the
//! first delivery would have used: a second re-drive finds everything done (the functions' own idempotence) and
//! changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use shared::RecordKind;
use shared::batch::BatchReport;
use shared::kinesis::KinesisItem;
use shared::ports::{ObjectStore, PortResult, PutObject, PutOutcome};
use shared::quarantine::QuarantineEntry;
use shared::sim::Invoke;

use crate::app::AppResult;
use crate::generate::GenRecord;
use crate::replay::Named;
use crate::sources;

/// Where a source's objects are: a local directory or `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl std::str::FromStr for Location {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("{s}: no bucket (s3://bucket/prefix)"));
                }
                // A prefix is a folder: `s3://b/archive` means `archive/`, not every key starting `archive`.
                let prefix = match prefix {
                    "" => String::new(),
                    p if p.ends_with('/') => p.to_owned(),
                    p => format!("{p}/"),
                };
                Ok(Self::S3 { bucket: bucket.to_owned(), prefix })
            }
            None if s.is_empty() => Err("an empty location".into()),
            None => Ok(Self::Dir(PathBuf::from(s))),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(p) => write!(f, "{}", p.display()),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The objects of a [`Location`], through the same object-store ports the functions write with.
#[derive(Clone)]
pub enum Bucket {
    Dir(shared::adapters::fs::FsObjectStore),
    S3(shared::adapters::aws::s3::S3ObjectStore),
}

impl Bucket {
    /// The store and the key prefix inside it. S3 takes credentials, region and `AWS_ENDPOINT_URL` from the
    /// environment.
    pub async fn open(location: &Location) -> AppResult<(Self, String)> {
        Ok(match location {
            Location::Dir(dir) => {
                if !dir.is_dir() {
                    return Err(format!("{}: no such directory", dir.display()).into());
                }
                (Self::Dir(shared::adapters::fs::FsObjectStore::new(dir.clone())), String::new())
            }
            Location::S3 { bucket, prefix } => {
                let cfg = shared::adapters::aws::sdk_config().await;
                let client = shared::adapters::aws::s3::S3ObjectStore::client(&cfg);
                (Self::S3(shared::adapters::aws::s3::S3ObjectStore::new(client, bucket.clone())), prefix.clone())
            }
        })
    }

    /// The keys under `prefix`; an error names the source and the prefix.
    pub async fn list(&self, prefix: &str) -> AppResult<Vec<String>> {
        let (listed, source) = match self {
            Self::Dir(s) => (s.list(prefix).await, s.root().display().to_string()),
            Self::S3(s) => (s.list(prefix).await, format!("s3://{}", s.bucket())),
        };
        listed.map_err(|e| format!("listing the source {source}, prefix {prefix:?}: {e}").into())
    }

    /// The object's bytes; a missing object is an error here (it was listed a moment ago).
    pub async fn read(&self, key: &str) -> AppResult<Vec<u8>> {
        let got = match self {
            Self::Dir(s) => s.get(key).await,
            Self::S3(s) => s.get(key).await,
        };
        match got {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err(format!("{key}: listed but gone").into()),
            Err(e) => Err(format!("{key}: {e}").into()),
        }
    }
}

/// A stream's name, from its ARN, for the output.
pub fn stream_label(arn: &str) -> &str {
    let name = shared::kinesis::stream_name(arn);
    if name.is_empty() { "unknown-stream" } else { name }
}

/// Which records: a day range (inclusive, UTC), kinds, and a key prefix under the location.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    /// Empty: every kind.
    pub kinds: Vec<RecordKind>,
    pub prefix: String,
}

impl Selection {
    fn day(&self, day: NaiveDate) -> bool {
        self.since.is_none_or(|s| day >= s) && self.until.is_none_or(|u| day <= u)
    }
    fn kind(&self, kind: RecordKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
    /// A record of unknown kind (invalid bytes) is selected only when no kind was asked for.
    fn data(&self, data: &[u8]) -> bool {
        match shared::classify(data) {
            Ok(r) => self.kind(r.kind()),
            Err(_) => self.kinds.is_empty(),
        }
    }
}

/// The three functions, as `--functions` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Function {
    #[value(name = "agent-state")]
    AgentState,
    #[value(name = "supervisor-alerts")]
    Alerts,
    #[value(name = "contact-archiver")]
    Archiver,
}

impl Function {
    /// In the order a re-drive runs them: agent-state, then supervisor-alerts, then the archiver.
    pub const ALL: [Function; 3] = [Function::AgentState, Function::Alerts, Function::Archiver];

    pub fn name(self) -> &'static str {
        match self {
            Self::AgentState => agent_state::NAME,
            Self::Alerts => supervisor_alerts::NAME,
            Self::Archiver => contact_archiver::handler::NAME,
        }
    }

    /// The function a quarantine entry or a deployed function's name or ARN belongs to (the template names them
    /// `…ContactArchiver…`, `…AgentState…`, `…SupervisorAlerts…`).
    pub fn recognise(name: &str) -> Option<Self> {
        let flat: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
        if flat.contains("archiver") {
            Some(Self::Archiver)
        } else if flat.contains("agentstate") {
            Some(Self::AgentState)
        } else if flat.contains("alerts") {
            Some(Self::Alerts)
        } else {
            None
        }
    }
}

/// One record to send again, where it came from, and which function it is for (`None`: every selected one).
#[derive(Debug, Clone)]
pub struct Pending {
    pub item: KinesisItem,
    pub function: Option<Function>,
    /// The object it was read from.
    pub origin: String,
}

/// What a source gave: its records, how many objects, and what could not be sent and why (expired records).
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<Pending>,
    pub objects: usize,
    pub notes: Vec<String>,
}

/// The quarantine objects under the selection's prefix: each gives back its record's bytes exactly as received,
/// with its stream, shard, sequence number and the function that quarantined it.
pub async fn quarantined(bucket: &Bucket, base: &str, select: &Selection, progress: &dyn Fn(u64)) -> AppResult<Loaded> {
    let mut loaded = Loaded::default();
    for key in bucket.list(&format!("{base}{}", select.prefix)).await? {
        if !key.ends_with(".json") {
            continue;
        }
        let body = bucket.read(&key).await?;
        let entry: QuarantineEntry =
            serde_json::from_slice(&body).map_err(|e| format!("{key}: not a quarantine entry: {e}"))?;
        let data = entry.data().ok_or_else(|| format!("{key}: dataBase64 is not base64"))?;
        progress(1);
        loaded.objects += 1;
        if !select.day(entry.approximate_arrival_timestamp.date_naive()) || !select.data(&data) {
            continue;
        }
        let function = Function::recognise(&entry.function);
        if function.is_none() {
            loaded.notes.push(format!("{key}: quarantined by {:?}, not one of the three functions", entry.function));
        }
        let item = KinesisItem {
            index: 0,
            seq: shared::kinesis::SeqNo::parse(&entry.sequence_number),
            shard_id: entry.shard_id,
            partition_key: entry.partition_key,
            arrival: entry.approximate_arrival_timestamp,
            stream_arn: entry.stream_arn,
            data,
        };
        loaded.records.push(Pending { item, function, origin: key });
    }
    Ok(loaded)
}

/// An on-failure invocation record, as Lambda writes it to an S3 on-failure destination
/// (`aws/lambda/<ESM-UUID>/<shardId>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>`; docs: "Retain discarded batch records
/// for a Kinesis Data Streams event source in Lambda").
#[derive(Debug, Clone, Deserialize)]
pub struct OnFailureRecord {
    #[serde(rename = "requestContext")]
    pub request_context: RequestContext,
    pub timestamp: Option<String>,
    #[serde(rename = "KinesisBatchInfo")]
    pub batch: KinesisBatchInfo,
    /// The invocation's event (`{"Records":[…]}`) as an escaped JSON string (an object is accepted too). Only S3
    /// destinations carry it; SQS and SNS ones leave the records in the stream.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    pub function_arn: String,
    pub condition: String,
    #[serde(default)]
    pub approximate_invoke_count: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub approximate_arrival_of_first_record: DateTime<Utc>,
    pub approximate_arrival_of_last_record: DateTime<Utc>,
    pub batch_size: usize,
    pub stream_arn: String,
}

impl OnFailureRecord {
    /// The records of the payload; `None` when the invocation record has none (SQS / SNS destinations).
    pub fn records(&self) -> Result<Option<Vec<KinesisItem>>, String> {
        let event: KinesisEvent = match &self.payload {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::String(s)) => serde_json::from_str(s),
            Some(v) => serde_json::from_value(v.clone()),
        }
        .map_err(|e| format!("payload is not a Kinesis event: {e}"))?;
        Ok(Some(shared::kinesis::items_from_event(event)))
    }
}

/// Reads records the event source mapping gave up on when the payload is not in the invocation record: from the
/// stream itself, unless they are past its retention.
pub trait StreamReader {
    /// The stream's retention, or an error saying why it cannot be read.
    fn retention(&self, stream_arn: &str) -> impl std::future::Future<Output = AppResult<chrono::TimeDelta>>;
    /// The shard's records from `start` to `end` (inclusive), at most `limit`.
    fn read(&self, batch: &KinesisBatchInfo) -> impl std::future::Future<Output = AppResult<Vec<KinesisItem>>>;
}

/// Lambda's on-failure records under the selection's prefix (`aws/lambda/` by default): the payload's records,
/// each for the function the mapping invoked. Without a payload the records are read from the stream through
/// `reader`, unless the batch's first record is older than the stream's retention: then nothing is fetched and
/// the output says which range is lost.
pub async fn on_failure(
    bucket: &Bucket,
    base: &str,
    select: &Selection,
    reader: Option<&impl StreamReader>,
    now: DateTime<Utc>,
    progress: &dyn Fn(u64),
) -> AppResult<Loaded> {
    let prefix = if select.prefix.is_empty() { "aws/lambda/" } else { select.prefix.as_str() };
    let mut loaded = Loaded::default();
    for key in bucket.list(&format!("{base}{prefix}")).await? {
        let body = bucket.read(&key).await?;
        let record: OnFailureRecord =
            serde_json::from_slice(&body).map_err(|e| format!("{key}: not an on-failure invocation record: {e}"))?;
        progress(1);
        loaded.objects += 1;
        let b = &record.batch;
        if !select.day(b.approximate_arrival_of_first_record.date_naive()) {
            continue;
        }
        let function = Function::recognise(&record.request_context.function_arn);
        if function.is_none() {
            loaded.notes.push(format!(
                "{key}: function {} is not recognised; its records go to every selected function",
                record.request_context.function_arn
            ));
        }
        let items = match record.records().map_err(|e| format!("{key}: {e}"))? {
            Some(items) => items,
            None => {
                let range = format!(
                    "{} shard {} sequence {}..{} ({} records, {})",
                    shared::kinesis::stream_name(&b.stream_arn),
                    b.shard_id,
                    b.start_sequence_number,
                    b.end_sequence_number,
                    b.batch_size,
                    record.request_context.condition
                );
                let Some(reader) = reader else {
                    loaded
                        .notes
                        .push(format!("{key}: no payload; {range} must be read from the stream (--backend aws)"));
                    continue;
                };
                let retention = reader.retention(&b.stream_arn).await.map_err(|e| format!("{key}: {e}"))?;
                let expired_at = b.approximate_arrival_of_first_record + retention;
                if expired_at <= now {
                    loaded.notes.push(format!(
                        "{key}: no payload, and {range} left the stream's {}-hour retention at {expired_at}: nothing \
                         fetched, these records are lost",
                        retention.num_hours()
                    ));
                    continue;
                }
                reader.read(b).await.map_err(|e| format!("{key}: reading {range}: {e}"))?
            }
        };
        for item in items {
            if select.data(&item.data) {
                loaded.records.push(Pending { item, function, origin: key.clone() });
            }
        }
    }
    Ok(loaded)
}

/// The archive's NDJSON object keys under the selection, by day (`<kind>/year=YYYY/month=MM/day=DD/…`).
pub async fn archive_days(
    bucket: &Bucket,
    base: &str,
    select: &Selection,
) -> AppResult<BTreeMap<NaiveDate, Vec<(RecordKind, String)>>> {
    let mut days: BTreeMap<NaiveDate, Vec<(RecordKind, String)>> = BTreeMap::new();
    for kind in RecordKind::ALL.into_iter().filter(|k| select.kind(*k)) {
        let prefix = format!("{base}{}{}/", select.prefix, kind.slug());
        for key in bucket.list(&prefix).await? {
            if !key.ends_with(sources::ARCHIVE_SUFFIX) {
                continue;
            }
            let Some(day) = partition_day(&key[prefix.len()..]) else { continue };
            if select.day(day) {
                days.entry(day).or_default().push((kind, key));
            }
        }
    }
    Ok(days)
}

/// One day of the archive, decoded with the archiver's own decoder, each record at its own time, in time order.
pub async fn archive_day(bucket: &Bucket, keys: &[(RecordKind, String)]) -> AppResult<Vec<GenRecord>> {
    let mut bodies = Vec::with_capacity(keys.len());
    for (kind, key) in keys {
        bodies.push((*kind, key.as_str(), bucket.read(key).await?));
    }
    Ok(sources::archived(bodies.iter().map(|(k, n, b)| (*k, *n, b.as_slice())))?)
}

/// `year=YYYY/month=MM/day=DD/…` → the day.
fn partition_day(path: &str) -> Option<NaiveDate> {
    let mut parts = path.split('/');
    let mut field = |name: &str| parts.next()?.strip_prefix(name)?.parse::<u32>().ok();
    let (y, m, d) = (field("year=")?, field("month=")?, field("day=")?);
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

/// A function a re-drive may leave out: invoked only when selected; otherwise every record is left as done.
pub struct Only<'a, H> {
    pub host: Option<&'a H>,
    pub name: &'static str,
}

impl<H: Invoke> Invoke for Only<'_, H> {
    async fn invoke(&self, batch: Vec<KinesisItem>) -> Result<KinesisEventResponse, String> {
        match self.host {
            Some(h) => h.invoke(batch).await,
            None => Ok(KinesisEventResponse::default()),
        }
    }
}

impl<H> Named for Only<'_, H> {
    fn name(&self) -> &'static str {
        self.name
    }
}

/// Sends `records` (each with its own stream, shard and sequence number) through `function`, shard by shard in
/// sequence order, `batch_size` at a time, as the event source mapping would; a batch that reports failures is
/// delivered again from the reported record, at most `retries` times. What was not done in the end is counted
/// as failed by the function's report.
pub async fn send(
    function: &impl Invoke,
    records: impl IntoIterator<Item = KinesisItem>,
    batch_size: usize,
    retries: u32,
) -> usize {
    let mut shards: BTreeMap<(String, String), Vec<KinesisItem>> = BTreeMap::new();
    for item in records {
        shards.entry((item.stream_arn.clone(), item.shard_id.clone())).or_default().push(item);
    }
    let mut given_up = 0;
    for (_, mut items) in shards {
        items.sort_by(|a, b| a.seq.cmp(&b.seq));
        let mut rest = &items[..];
        let mut attempts = 0;
        while !rest.is_empty() {
            let batch: Vec<KinesisItem> = rest
                .iter()
                .take(batch_size.max(1))
                .enumerate()
                .map(|(index, i)| KinesisItem { index, ..i.clone() })
                .collect();
            let n = batch.len();
            let failed_from = match function.invoke(batch).await {
                Ok(response) => response
                    .batch_item_failures
                    .iter()
                    .filter_map(|f| f.item_identifier.as_deref())
                    .filter_map(|id| rest[..n].iter().position(|i| i.seq_str() == id))
                    .min(),
                Err(_) => Some(0),
            };
            match failed_from {
                None => {
                    rest = &rest[n..];
                    attempts = 0;
                }
                Some(at) if attempts < retries => {
                    rest = &rest[at..];
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempts.min(6))).await;
                }
                Some(at) => {
                    // Given up: the rest of the shard stays unsent, in order (as a blocked shard would).
                    given_up += rest.len() - at;
                    break;
                }
            }
        }
    }
    given_up
}

/// A quarantine store that remembers what it is asked to write (the re-drive's "quarantined again, because…").
#[derive(Clone)]
pub struct Recording<S> {
    pub inner: S,
    pub written: Arc<Mutex<Vec<QuarantineEntry>>>,
}

impl<S> Recording<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, written: Arc::default() }
    }
    pub fn entries(&self) -> Vec<QuarantineEntry> {
        self.written.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<S: ObjectStore> ObjectStore for Recording<S> {
    async fn put_if_absent(&self, object: PutObject) -> PortResult<PutOutcome> {
        if let Ok(entry) = serde_json::from_slice::<QuarantineEntry>(&object.body) {
            self.written.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
        }
        self.inner.put_if_absent(object).await
    }
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> PortResult<()> {
        self.inner.delete(key).await
    }
}

/// What a re-drive did, per function.
#[derive(Debug, Default)]
pub struct Summary {
    pub objects: usize,
    pub records: usize,
    pub by_function: Vec<(&'static str, BatchReport)>,
    /// Records a function could not finish within the retries (they stay where they came from).
    pub given_up: usize,
    pub quarantined: Vec<QuarantineEntry>,
    pub notes: Vec<String>,
}

impl Summary {
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![
            ("objects read".into(), self.objects.to_string()),
            ("records selected".into(), self.records.to_string()),
        ];
        for (name, r) in &self.by_function {
            rows.push((
                name.to_string(),
                format!(
                    "{} sent: {} done, {} stale, {} skipped, {} quarantined again, {} failed",
                    r.records_in, r.done, r.stale, r.skipped, r.quarantined, r.failed
                ),
            ));
        }
        rows.push(("records given up after retries".into(), self.given_up.to_string()));
        rows
    }

    /// Quarantined again, by function and reason code: how many, and one reason in words.
    pub fn reasons(&self) -> BTreeMap<(String, String), (usize, String)> {
        let mut out: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
        for e in &self.quarantined {
            let slot = out.entry((e.function.clone(), e.reason_code.clone())).or_insert((0, e.reason.clone()));
            slot.0 += 1;
        }
        out
    }
}

/// What to send: records with their provenance (quarantine, on-failure), or archive days (replayed through the
/// simulator in time order, agent events first in each window, as the live replay does).
pub enum Work {
    Records(Vec<Pending>),
    Archive { bucket: Bucket, days: BTreeMap<NaiveDate, Vec<(RecordKind, String)>> },
}

/// What the selection will not do, said before anything is sent: records given up by a function left out of
/// `--functions` (they stay where they are), and an archive without the kinds a selected function needs (the
/// archiver keeps agent events and segments only when asked to: `ARCHIVE_AGENT_EVENTS`, `ARCHIVE_SEGMENTS`).
pub fn unsent_notes(work: &Work, selected: &[Function]) -> Vec<String> {
    let mut notes = Vec::new();
    match work {
        Work::Records(records) => {
            let mut left: BTreeMap<&'static str, usize> = BTreeMap::new();
            for p in records {
                if let Some(f) = p.function.filter(|f| !selected.contains(f)) {
                    *left.entry(f.name()).or_default() += 1;
                }
            }
            for (name, n) in left {
                notes.push(format!("{n} records given up by {name}: not sent ({name} is not in --functions)"));
            }
        }
        Work::Archive { days, .. } => {
            let has = |kind: RecordKind| days.values().flatten().any(|(k, _)| *k == kind);
            let needs = [
                (RecordKind::AgentEvent, "ARCHIVE_AGENT_EVENTS", [Function::AgentState, Function::Alerts].as_slice()),
                (RecordKind::AnalysisSegment, "ARCHIVE_SEGMENTS", [Function::Alerts].as_slice()),
            ];
            for (kind, variable, users) in needs {
                if !has(kind) && users.iter().any(|f| selected.contains(f)) {
                    notes.push(format!(
                        "no {} in the selected archive: the archiver keeps them only with {variable}=true, so \
                         what depends on them ({}) has nothing of theirs to go on",
                        kind.slug(),
                        users.iter().filter(|f| selected.contains(f)).map(|f| f.name()).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    notes
}

/// Sends the work through the selected functions on `stores` and says what happened. The functions are wired as
/// in every replay ([`crate::app::host`]); supervisor-alerts judges lateness as `rules.1` says (against the wall
/// clock when the alerts go to a real topic: a re-drive must not page about what is over; on event time to rebuild
/// or backtest). Quarantine writes go through `stores.quarantine` and are remembered for the summary.
#[allow(clippy::too_many_arguments)]
pub async fn drive<O, Q, A, L, P>(
    stores: crate::app::Stores<O, Recording<Q>, A, L, P>,
    kinds: contact_archiver::config::ArchiveKinds,
    rules: (supervisor_alerts::rules::Rules, supervisor_alerts::config::Lateness),
    work: Work,
    selected: &[Function],
    options: &crate::replay::ReplayOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> AppResult<Summary>
where
    O: ObjectStore,
    Q: ObjectStore + Clone,
    A: shared::ports::ItemStore,
    L: shared::ports::ItemStore,
    P: shared::ports::Publisher,
{
    let recording = stores.quarantine.clone();
    let format = contact_archiver::config::ArchiveFormat::Both;
    let hosts = crate::app::host(stores, format, kinds, rules, supervisor_alerts::delivery::SystemClock);
    let on = |f: Function| selected.contains(&f);
    let mut summary = Summary::default();
    match work {
        Work::Records(pending) => {
            summary.records = pending.len();
            for f in Function::ALL.into_iter().filter(|f| on(*f)) {
                let items: Vec<KinesisItem> =
                    pending.iter().filter(|p| p.function.is_none_or(|g| g == f)).map(|p| p.item.clone()).collect();
                let n = items.len() as u64;
                let batch = options.esm.batch_size;
                let retries = options.esm.maximum_retry_attempts.unwrap_or(3).min(5);
                summary.given_up += match f {
                    Function::AgentState => send(&hosts.agent_state, items, batch, retries).await,
                    Function::Alerts => send(&hosts.alerts, items, batch, retries).await,
                    Function::Archiver => send(&hosts.archiver, items, batch, retries).await,
                };
                progress(n);
            }
        }
        Work::Archive { bucket, days } => {
            let functions = crate::replay::Functions {
                archiver: &Only {
                    host: on(Function::Archiver).then_some(&hosts.archiver),
                    name: Function::Archiver.name(),
                },
                agent_state: &Only {
                    host: on(Function::AgentState).then_some(&hosts.agent_state),
                    name: Function::AgentState.name(),
                },
                alerts: &Only { host: on(Function::Alerts).then_some(&hosts.alerts), name: Function::Alerts.name() },
            };
            let mut done: Vec<NaiveDate> = Vec::new();
            for (day, keys) in &days {
                // A day is read and decoded whole before any of it is sent; an unreadable object stops the
                // re-drive there, and the error says which days went through before it.
                let records = archive_day(&bucket, keys).await.map_err(|e| match (done.first(), done.last()) {
                    (Some(first), Some(last)) => format!(
                        "{day}: {e}; the days {first} to {last} were re-driven before it (nothing of {day} or \
                         later was sent; re-driving is idempotent: run again with --since {day} once it is readable)"
                    ),
                    _ => format!("{day}: {e}; nothing was sent"),
                })?;
                done.push(*day);
                summary.records += records.len();
                summary.objects += keys.len();
                let functions = crate::replay::Functions { ..functions };
                let stats =
                    crate::replay::replay(records.into_iter(), functions, options, |w| progress(w.len() as u64)).await;
                summary.given_up += stats.on_failure();
            }
        }
    }
    summary.by_function =
        hosts.totals().into_iter().filter(|(name, _)| selected.iter().any(|f| f.name() == *name)).collect();
    summary.quarantined = recording.entries();
    Ok(summary)
}

/// [`StreamReader`] on Kinesis (credentials, region and `AWS_ENDPOINT_URL` from the environment).
pub struct KinesisReader {
    pub client: aws_sdk_kinesis::Client,
}

impl KinesisReader {
    pub async fn from_env() -> Self {
        Self { client: aws_sdk_kinesis::Client::new(&shared::adapters::aws::sdk_config().await) }
    }
}

impl StreamReader for KinesisReader {
    async fn retention(&self, stream_arn: &str) -> AppResult<chrono::TimeDelta> {
        let summary = self.client.describe_stream_summary().stream_arn(stream_arn).send().await.map_err(|e| {
            format!("{}: {}", shared::kinesis::stream_name(stream_arn), aws_sdk_kinesis::error::DisplayErrorContext(e))
        })?;
        let hours = summary.stream_description_summary().map_or(24, |s| s.retention_period_hours());
        Ok(chrono::TimeDelta::hours(i64::from(hours)))
    }

    async fn read(&self, batch: &KinesisBatchInfo) -> AppResult<Vec<KinesisItem>> {
        use aws_sdk_kinesis::types::ShardIteratorType;
        fn context<E: std::error::Error>(e: E) -> String {
            format!("{}", aws_sdk_kinesis::error::DisplayErrorContext(e))
        }
        let end = shared::kinesis::SeqNo::parse(&batch.end_sequence_number);
        let mut iterator = self
            .client
            .get_shard_iterator()
            .stream_arn(&batch.stream_arn)
            .shard_id(&batch.shard_id)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(&batch.start_sequence_number)
            .send()
            .await
            .map_err(context)?
            .shard_iterator
            .ok_or("no shard iterator")?;
        let mut out = Vec::new();
        loop {
            // The stream's ARN with the iterator, as AWS accepts it (moto finds the stream only by it when the
            // iterator was asked for by ARN).
            let got = self
                .client
                .get_records()
                .stream_arn(&batch.stream_arn)
                .shard_iterator(&iterator)
                .send()
                .await
                .map_err(context)?;
            let empty = got.records().is_empty();
            for r in got.records() {
                let seq = shared::kinesis::SeqNo::parse(r.sequence_number());
                if seq.is_some() && end.is_some() && seq > end {
                    return Ok(out);
                }
                let arrival = r
                    .approximate_arrival_timestamp()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                    .unwrap_or(batch.approximate_arrival_of_first_record);
                out.push(KinesisItem {
                    index: out.len(),
                    seq,
                    shard_id: batch.shard_id.clone(),
                    partition_key: r.partition_key().unwrap_or_default().to_owned(),
                    arrival,
                    stream_arn: batch.stream_arn.clone(),
                    data: r.data().as_ref().to_vec(),
                });
                if out.len() >= batch.batch_size.max(1) {
                    return Ok(out);
                }
            }
            match got.next_shard_iterator {
                Some(next) if !empty || got.millis_behind_latest.unwrap_or(0) > 0 => iterator = next,
                _ => return Ok(out),
            }
        }
    }
}
