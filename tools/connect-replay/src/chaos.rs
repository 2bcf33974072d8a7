//! Fault injection at scale: the same generated records through the three functions twice — once with every AWS
//! call failing at a chosen rate ([`Faulty`] around each port: the archive store, the quarantine store, both
//! tables and the publisher), once without faults — over the event-source-mapping simulator, then checks that
//! nothing was lost, nothing was duplicated except in the one documented case, and no shard was blocked.
//!
//! What the checks compare:
//! * the archive's NDJSON objects against the generated records: every valid record's bytes are in some object
//!   (records lost = those that are not), every line is a record that was sent, every object decompresses, and
//!   the (ContactId, LastUpdateTimestamp) versions equal [`Truth::ctr_versions`];
//! * the agent board (current items) of the faulty run against the fault-free run's;
//! * the alerts: the same alert ids as the fault-free run, each published once — a second copy is allowed only
//!   for an alert that was in a publish call that failed ambiguously (timeout, 5xx, response lost: SNS may have
//!   taken it), the documented at-least-once case; any other copy fails the check;
//! * the quarantine of each function against the invalid records of the streams it reads, with the reason
//!   [`shared::classify`] gives;
//! * the simulator: nothing sent to the on-failure destination, no shard blocked, no panic.
//!
//! Every invocation runs under `catch_unwind` (a panic counts, and the simulator sees a function error). Alert
//! leases are wall-clock in Lambda; here a [`VirtualClock`] advances a fixed step per invocation, standing in for
//! the time Lambda's retries take, so a claim whose write succeeded but whose answer was lost is taken over after
//! its lease as in production, not after 90 real seconds.
//!
//! The records go through the replay in one window, each stream in sequence-number order from start to end, so the
//! archive and quarantine keys (made of sequence numbers) are unique whatever the replay's windowing does.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_state::AgentStateHandler;
use agent_state::table::AgentView;
use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, TimeDelta, Utc};
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::Archiver;
use futures::FutureExt;
use shared::adapters::fault::{FaultPlan, Faulty};
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
use shared::kinesis::KinesisItem;
use shared::ports::{Condition, Item, ItemStore, Message, ObjectStore, PortResult, Publisher, Query, SK, WriteOutcome};
use shared::quarantine::{ObjectQuarantine, QuarantineEntry};
use shared::sim::{EsmConfig, Invoke};
use shared::{BatchReport, RecordKind};
use supervisor_alerts::delivery::Clock;
use supervisor_alerts::handler::Handler as AlertsHandler;
use supervisor_alerts::rules::Rules;

use crate::app::{self, AppResult};
use crate::generate::{DayConfig, DayGenerator, GenRecord, Stream, Truth, instance_arn};
use crate::replay::{Functions, Hosted, Named, ReplayOptions, ReplayStats, replay};

/// The name of the check on second copies of alerts.
pub const DUPLICATES_CHECK: &str = "alerts: no duplicate other than after an ambiguous publish";

/// Key prefix of quarantined records (the functions' default `QUARANTINE_PREFIX`).
pub const QUARANTINE_PREFIX: &str = "quarantine/";

// -- the records -------------------------------------------------------------------------------------------------

/// Whole generated days one after another (each with its own seed and date, as [`crate::sources::days`]) until at
/// least `target` records; the [`Truth`] of every finished day is added up. Whole days, so the truth is complete.
pub struct Days {
    base: DayConfig,
    target: usize,
    produced: usize,
    day: usize,
    day_records: usize,
    current: Option<DayGenerator>,
    truth: Truth,
}

impl Days {
    pub fn new(base: DayConfig, target: usize) -> Self {
        Self { base, target, produced: 0, day: 0, day_records: 0, current: None, truth: Truth::default() }
    }

    /// What the days imply (complete once the iterator is exhausted).
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Days finished so far.
    pub fn days(&self) -> usize {
        self.day
    }
}

impl Iterator for Days {
    type Item = GenRecord;

    fn next(&mut self) -> Option<GenRecord> {
        loop {
            if let Some(generator) = self.current.as_mut() {
                if let Some(r) = generator.next() {
                    self.produced += 1;
                    self.day_records += 1;
                    return Some(r);
                }
                self.truth += generator.truth();
                self.current = None;
                self.day += 1;
                if self.day_records == 0 {
                    return None; // a day without records (no agents): more days would not help
                }
            }
            if self.produced >= self.target {
                return None;
            }
            let mut cfg = self.base.clone();
            cfg.seed = self.base.seed.wrapping_add(self.day as u64);
            cfg.start = self.base.start + TimeDelta::days(self.day as i64);
            self.day_records = 0;
            self.current = Some(DayGenerator::new(cfg));
        }
    }
}

/// A digest of a record's bytes (to compare millions of records without keeping them).
pub fn digest(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// What the generated records must become, known before any run.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub truth: Truth,
    pub days: usize,
    pub records: usize,
    pub by_stream: BTreeMap<Stream, usize>,
    /// Digests of every valid record (the archive must hold each).
    pub valid: HashSet<u64>,
    /// Every invalid record, with its stream (the quarantine of each function reading that stream must hold it).
    pub invalid: Vec<(Stream, Vec<u8>)>,
}

impl Expected {
    /// Generates at least `target` records (whole days) and what they imply.
    pub fn generate(base: &DayConfig, target: usize) -> (Self, Vec<GenRecord>) {
        let mut days = Days::new(base.clone(), target);
        let mut out = Expected::default();
        let mut records = Vec::with_capacity(target);
        for r in days.by_ref() {
            out.records += 1;
            *out.by_stream.entry(r.stream).or_default() += 1;
            if shared::classify(&r.data).is_ok() {
                out.valid.insert(digest(&r.data));
            } else {
                out.invalid.push((r.stream, r.data.clone()));
            }
            records.push(r);
        }
        out.truth = days.truth().clone();
        out.days = days.days();
        (out, records)
    }

    /// The invalid records a function must have quarantined: (stream ARN, digest) → copies.
    pub fn quarantine_of(&self, function: &str) -> BTreeMap<(String, u64), usize> {
        let mut out = BTreeMap::new();
        for (stream, data) in &self.invalid {
            if reads(function, *stream) {
                *out.entry((stream.arn(), digest(data))).or_default() += 1;
            }
        }
        out
    }
}

/// Whether `function` is attached to `stream` in the replay (the archiver archives every stream).
pub fn reads(function: &str, stream: Stream) -> bool {
    function != agent_state::NAME || stream == Stream::AgentEvents
}

// -- the faults --------------------------------------------------------------------------------------------------

/// One fault plan per port, each with its own seed and counters.
#[derive(Debug, Clone)]
pub struct Plans {
    pub archive: Arc<FaultPlan>,
    pub quarantine: Arc<FaultPlan>,
    pub agent_table: Arc<FaultPlan>,
    pub alert_table: Arc<FaultPlan>,
    pub publisher: Arc<FaultPlan>,
}

impl Plans {
    pub fn new(rate: f64, seed: u64) -> Self {
        let plan = |i: u64| FaultPlan::new(rate, seed.wrapping_mul(31).wrapping_add(i));
        Self { archive: plan(1), quarantine: plan(2), agent_table: plan(3), alert_table: plan(4), publisher: plan(5) }
    }

    pub fn named(&self) -> [(&'static str, &Arc<FaultPlan>); 5] {
        [
            ("archive store (S3)", &self.archive),
            ("quarantine store (S3)", &self.quarantine),
            ("agent-state table (DynamoDB)", &self.agent_table),
            ("alert-state table (DynamoDB)", &self.alert_table),
            ("alert publisher (SNS)", &self.publisher),
        ]
    }

    pub fn calls(&self) -> usize {
        self.named().iter().map(|(_, p)| p.calls.load(Ordering::Relaxed)).sum()
    }

    pub fn injected(&self) -> usize {
        self.named().iter().map(|(_, p)| p.injected()).sum()
    }

    pub fn responses_lost(&self) -> usize {
        self.named().iter().map(|(_, p)| p.responses_lost.load(Ordering::Relaxed)).sum()
    }
}

/// Wall-clock time for alert leases and TTLs, advanced by the simulator instead of by the wall.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    start: DateTime<Utc>,
    seconds: Arc<AtomicI64>,
}

impl VirtualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { start, seconds: Arc::new(AtomicI64::new(0)) }
    }

    pub fn advance(&self, by: TimeDelta) {
        self.seconds.fetch_add(by.num_seconds(), Ordering::Relaxed);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + TimeDelta::seconds(self.seconds.load(Ordering::Relaxed))
    }
}

/// The alert id a published message carries in its body.
pub fn alert_id(message: &Message) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(&message.body).ok()?;
    body["alertId"].as_str().map(str::to_owned)
}

/// Inside the fault wrapper: records every message the real publisher accepted (what subscribers received).
#[derive(Debug, Clone)]
pub struct Accepted<P> {
    inner: P,
    log: Arc<Mutex<Vec<Message>>>,
}

impl<P> Accepted<P> {
    pub fn new(inner: P) -> Self {
        Self { inner, log: Arc::default() }
    }

    pub fn messages(&self) -> Vec<Message> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<P: Publisher> Publisher for Accepted<P> {
    async fn publish_batch(&self, messages: &[Message]) -> PortResult<Vec<PortResult<()>>> {
        let results = self.inner.publish_batch(messages).await?;
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.extend(messages.iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(m, _)| m.clone()));
        Ok(results)
    }
}

/// Outside the fault wrapper: which alerts were in a publish call that failed ambiguously (the function could not
/// know whether SNS took them), and how often.
#[derive(Debug, Clone)]
pub struct Ambiguity<P> {
    inner: P,
    log: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl<P> Ambiguity<P> {
    pub fn new(inner: P) -> Self {
        Self { inner, log: Arc::default() }
    }

    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<P: Publisher> Publisher for Ambiguity<P> {
    async fn publish_batch(&self, messages: &[Message]) -> PortResult<Vec<PortResult<()>>> {
        let result = self.inner.publish_batch(messages).await;
        if let Err(e) = &result
            && !e.is_definite()
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            for id in messages.iter().filter_map(alert_id) {
                *log.entry(id).or_default() += 1;
            }
        }
        result
    }
}

/// Outside the fault wrapper of the alert table: alerts whose SENT confirmation (the write after SNS took the
/// message) failed, and how often. The function tries three times; when all three fail the claim stays pending and
/// a later delivery publishes again — the second at-least-once case `supervisor_alerts::delivery` documents.
#[derive(Debug, Clone)]
pub struct ConfirmWatch<S> {
    inner: S,
    log: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl<S> ConfirmWatch<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, log: Arc::default() }
    }

    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The alert id of a claim item's key (`alert#<rule>#<subject>`, episode or `-`), as `AlertKey::id` spells it.
fn claim_id(pk: &str, sk: &str) -> Option<String> {
    let (rule, subject) = pk.strip_prefix("alert#")?.split_once('#')?;
    Some(format!("{rule}/{subject}/{}", if sk == "-" { "" } else { sk }))
}

impl<S: ItemStore> ItemStore for ConfirmWatch<S> {
    async fn put(&self, item: Item, condition: Condition) -> PortResult<WriteOutcome> {
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        pk: &str,
        sk: &str,
        set: Item,
        remove: &[&'static str],
        condition: Condition,
    ) -> PortResult<WriteOutcome> {
        let confirms = set.get("status").and_then(|v| v.as_str()) == Some(supervisor_alerts::state::STATUS_SENT);
        let result = self.inner.update(pk, sk, set, remove, condition).await;
        if confirms
            && result.is_err()
            && let Some(id) = claim_id(pk, sk)
        {
            *self.log.lock().unwrap_or_else(|p| p.into_inner()).entry(id).or_default() += 1;
        }
        result
    }
    async fn get(&self, pk: &str, sk: &str) -> PortResult<Option<Item>> {
        self.inner.get(pk, sk).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> PortResult<WriteOutcome> {
        self.inner.delete(pk, sk, condition).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        self.inner.batch_put(items).await
    }
    async fn query(&self, query: Query) -> PortResult<Vec<Item>> {
        self.inner.query(query).await
    }
}

/// A function as the simulator invokes it, under `catch_unwind`, advancing the virtual clock per invocation.
struct Guarded<H> {
    inner: H,
    clock: VirtualClock,
    step: TimeDelta,
    panics: Arc<AtomicUsize>,
}

impl<H: Invoke + Send> Invoke for Guarded<H> {
    async fn invoke(&self, batch: Vec<KinesisItem>) -> Result<KinesisEventResponse, String> {
        self.clock.advance(self.step);
        match AssertUnwindSafe(self.inner.invoke(batch)).catch_unwind().await {
            Ok(result) => result,
            Err(_) => {
                self.panics.fetch_add(1, Ordering::Relaxed);
                Err("the function panicked".into())
            }
        }
    }
}

fn guarded<H>(inner: H, clock: &VirtualClock, options: &RunOptions, panics: &Arc<AtomicUsize>) -> Guarded<H> {
    Guarded { inner, clock: clock.clone(), step: options.clock_step, panics: Arc::clone(panics) }
}

impl<H: Named> Named for Guarded<H> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

// -- one run -----------------------------------------------------------------------------------------------------

/// The ports of one run, unwrapped (the run wraps each in [`Faulty`]).
#[derive(Debug, Clone)]
pub struct Stores<O, Q, A, L, P> {
    pub archive: O,
    pub quarantine: Q,
    pub agent_table: A,
    pub alert_table: L,
    pub publisher: P,
}

pub type MemoryStores = Stores<MemoryObjectStore, MemoryObjectStore, MemoryItemStore, MemoryItemStore, MemoryPublisher>;

impl MemoryStores {
    pub fn memory() -> Self {
        Stores {
            archive: MemoryObjectStore::new(),
            quarantine: MemoryObjectStore::new(),
            agent_table: MemoryItemStore::new(&agent_state::INDEXES),
            alert_table: MemoryItemStore::new(&[]),
            publisher: MemoryPublisher::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub esm: EsmConfig,
    pub shards: usize,
    /// Virtual time each invocation takes (retries included), for alert leases.
    pub clock_step: TimeDelta,
    pub start: DateTime<Utc>,
    pub format: ArchiveFormat,
    /// What the archiver archives: every kind, so that the archive check covers every valid record.
    pub kinds: ArchiveKinds,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            esm: EsmConfig {
                batch_size: 100,
                maximum_retry_attempts: Some(50),
                max_invocations: 50_000_000,
                ..EsmConfig::default()
            },
            shards: 2,
            clock_step: TimeDelta::seconds(10),
            start: DayConfig::default().start,
            format: ArchiveFormat::Both,
            kinds: ArchiveKinds::ALL,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct Run {
    pub stats: ReplayStats,
    pub functions: Vec<(&'static str, BatchReport)>,
    pub panics: usize,
    pub elapsed: Duration,
    /// Every message the publisher accepted, in order (duplicates included).
    pub published: Vec<Message>,
    /// Alert id → publish calls carrying it that failed ambiguously.
    pub ambiguous: BTreeMap<String, usize>,
    /// Alert id → failed SENT confirmations of it (three in a row leave a published alert unconfirmed).
    pub unconfirmed: BTreeMap<String, usize>,
}

impl Run {
    pub fn invocations(&self) -> usize {
        self.stats.delivery.values().map(|r| r.invocations).sum()
    }
    pub fn delivered(&self) -> usize {
        self.stats.delivery.values().map(|r| r.records_delivered).sum()
    }
    pub fn partial_failures(&self) -> usize {
        self.stats.delivery.values().map(|r| r.partial_failures).sum()
    }
    pub fn function_errors(&self) -> usize {
        self.stats.delivery.values().map(|r| r.function_errors).sum()
    }
}

/// Replays `records` (in one window of `window` records) through the three functions on `stores`, each port
/// wrapped in [`Faulty`] with its plan.
pub async fn run<O, Q, A, L, P>(
    records: impl Iterator<Item = GenRecord>,
    window: usize,
    stores: &Stores<O, Q, A, L, P>,
    plans: &Plans,
    rules: Rules,
    options: &RunOptions,
) -> Run
where
    O: ObjectStore + Clone,
    Q: ObjectStore + Clone,
    A: ItemStore + Clone,
    L: ItemStore + Clone,
    P: Publisher + Clone,
{
    let quarantine =
        ObjectQuarantine::new(Faulty::new(stores.quarantine.clone(), plans.quarantine.clone()), QUARANTINE_PREFIX);
    let archive = Faulty::new(stores.archive.clone(), plans.archive.clone());
    let agent_table = Faulty::new(stores.agent_table.clone(), plans.agent_table.clone());
    let alert_table = ConfirmWatch::new(Faulty::new(stores.alert_table.clone(), plans.alert_table.clone()));
    let accepted = Accepted::new(stores.publisher.clone());
    let publisher = Ambiguity::new(Faulty::new(accepted.clone(), plans.publisher.clone()));
    let clock = VirtualClock::new(options.start);
    let panics = Arc::new(AtomicUsize::new(0));
    let settings = supervisor_alerts::config::Settings::for_rules(&rules);
    let archiver = guarded(
        Hosted::new(
            contact_archiver::handler::NAME,
            Archiver::new(archive, "", options.format, options.kinds),
            quarantine.clone(),
        ),
        &clock,
        options,
        &panics,
    );
    let agent_state = guarded(
        Hosted::new(
            agent_state::NAME,
            AgentStateHandler::new(agent_table, agent_state::config::Settings::default()),
            quarantine.clone(),
        ),
        &clock,
        options,
        &panics,
    );
    let alerts = guarded(
        Hosted::new(
            supervisor_alerts::NAME,
            AlertsHandler::with_clock(rules, alert_table.clone(), publisher.clone(), settings, clock.clone()),
            quarantine,
        ),
        &clock,
        options,
        &panics,
    );
    let replay_options = ReplayOptions {
        window: window.max(1),
        shards: options.shards,
        esm: options.esm.clone(),
        archive_all_streams: true,
    };
    let started = Instant::now();
    let functions = Functions { archiver: &archiver, agent_state: &agent_state, alerts: &alerts };
    let stats = replay(records, functions, &replay_options, |_| {}).await;
    let elapsed = started.elapsed();
    Run {
        stats,
        functions: vec![
            (archiver.inner.name, archiver.inner.totals()),
            (agent_state.inner.name, agent_state.inner.totals()),
            (alerts.inner.name, alerts.inner.totals()),
        ],
        panics: panics.load(Ordering::Relaxed),
        elapsed,
        published: accepted.messages(),
        ambiguous: publisher.counts(),
        unconfirmed: alert_table.counts(),
    }
}

// -- what a run left behind --------------------------------------------------------------------------------------

/// The archive's NDJSON objects, read back.
#[derive(Debug, Clone, Default)]
pub struct ArchiveView {
    pub objects: usize,
    pub ndjson_objects: usize,
    pub lines: usize,
    /// Keys of objects that do not decompress.
    pub undecodable: Vec<String>,
    /// Digests of the archived records (original bytes).
    pub records: HashSet<u64>,
    /// (ContactId, LastUpdateTimestamp) of every archived contact record.
    pub ctr_versions: BTreeSet<(String, String)>,
}

/// Reads every NDJSON object back with the archiver's own [`contact_archiver::ndjson::decode`] (envelope lines
/// come back as the original bytes); an object it cannot decode is counted as undecodable.
pub async fn read_archive(store: &impl ObjectStore) -> AppResult<ArchiveView> {
    let mut view = ArchiveView::default();
    for key in store.list("").await? {
        view.objects += 1;
        let Some(kind) = RecordKind::ALL.into_iter().find(|k| key.starts_with(&format!("{}/", k.slug()))) else {
            continue;
        };
        if !key.ends_with(".ndjson.gz") {
            continue;
        }
        view.ndjson_objects += 1;
        let body = store.get(&key).await?.ok_or_else(|| format!("{key}: listed but not found"))?;
        let Ok(records) = contact_archiver::ndjson::decode(&body) else {
            view.undecodable.push(key);
            continue;
        };
        for data in records {
            view.lines += 1;
            view.records.insert(digest(&data));
            if kind == RecordKind::ContactRecord
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(contact_archiver::ndjson::strip_bom(&data))
                && let (Some(id), Some(ts)) = (v["ContactId"].as_str(), v["LastUpdateTimestamp"].as_str())
            {
                view.ctr_versions.insert((id.to_owned(), ts.to_owned()));
            }
        }
    }
    Ok(view)
}

/// What one run left in its stores.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub archive: ArchiveView,
    pub quarantine: Vec<QuarantineEntry>,
    /// The board as the agent-state queries read it, ordered by agent ARN.
    pub board: Vec<AgentView>,
    /// The current items themselves, when the table can list them (memory).
    pub current_items: Option<Vec<Item>>,
}

pub async fn observe(
    archive: &impl ObjectStore,
    quarantine: &(impl ObjectStore + Clone),
    agent_table: &impl ItemStore,
) -> AppResult<Observed> {
    let mut board = agent_state::table::agents_of_instance(agent_table, &instance_arn()).await?;
    board.sort_by(|a, b| a.agent_arn.cmp(&b.agent_arn));
    Ok(Observed {
        archive: read_archive(archive).await?,
        quarantine: ObjectQuarantine::new(quarantine.clone(), QUARANTINE_PREFIX).entries().await?,
        board,
        current_items: None,
    })
}

/// The current items of a memory table (every attribute, not only what the board reads).
pub fn current_items(table: &MemoryItemStore) -> Vec<Item> {
    table.all().into_iter().filter(|i| i.get(SK).and_then(|v| v.as_str()) == Some("CURRENT")).collect()
}

// -- the verdict -------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The alerts of a run: copies per id, and what explains each second copy.
#[derive(Debug, Clone, Default)]
pub struct AlertTally {
    pub copies: BTreeMap<String, usize>,
    pub by_rule: BTreeMap<String, usize>,
    /// Extra copies of alerts that were in a publish call that failed ambiguously (SNS may have taken them): the
    /// documented at-least-once case, allowed and counted.
    pub after_ambiguous_publish: usize,
    /// Extra copies (not explained by an ambiguous publish) of alerts whose SENT confirmation failed three times
    /// after SNS took them: documented in `supervisor_alerts::delivery`, but not allowed by the check.
    pub after_unconfirmed_publish: Vec<String>,
    /// Alert ids with a second copy that neither explains.
    pub unexplained: Vec<String>,
    pub unreadable: usize,
}

impl AlertTally {
    pub fn of(run: &Run) -> Self {
        let mut tally = AlertTally::default();
        for m in &run.published {
            let Ok(body) = serde_json::from_str::<serde_json::Value>(&m.body) else {
                tally.unreadable += 1;
                continue;
            };
            let Some(id) = body["alertId"].as_str() else {
                tally.unreadable += 1;
                continue;
            };
            let n = tally.copies.entry(id.to_owned()).or_default();
            *n += 1;
            if *n == 1 {
                *tally.by_rule.entry(body["rule"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
            }
        }
        for (id, copies) in &tally.copies {
            let extra = copies - 1;
            let ambiguous = extra.min(run.ambiguous.get(id).copied().unwrap_or(0));
            tally.after_ambiguous_publish += ambiguous;
            let rest = extra - ambiguous;
            let unconfirmed = rest.min(run.unconfirmed.get(id).copied().unwrap_or(0) / 3);
            tally.after_unconfirmed_publish.extend(std::iter::repeat_n(id.clone(), unconfirmed));
            if rest > unconfirmed {
                tally.unexplained.push(id.clone());
            }
        }
        tally
    }

    pub fn ids(&self) -> BTreeSet<&str> {
        self.copies.keys().map(String::as_str).collect()
    }

    pub fn duplicates(&self) -> usize {
        self.copies.values().map(|n| n - 1).sum()
    }
}

/// The checks and figures of a faulty run against the fault-free run and the generated truth.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub checks: Vec<Check>,
    pub figures: Vec<(String, String)>,
    pub records_lost: usize,
    pub duplicates_ambiguous: usize,
    /// Second copies after three failed SENT confirmations (documented in `supervisor_alerts::delivery`).
    pub duplicates_unconfirmed: usize,
    pub duplicates_unexplained: usize,
    pub panics: usize,
    pub faults_injected: usize,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check { name: name.to_owned(), ok, detail: detail.into() });
    }
}

fn sample<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().take(3).map(|i| format!("{i:?}")).collect();
    if v.is_empty() { String::new() } else { format!(" e.g. {}", v.join(", ")) }
}

/// Quarantine entries of one function: (stream ARN, digest) → copies, and entries whose reason is not the one
/// [`shared::classify`] gives for their bytes.
fn quarantined(entries: &[QuarantineEntry], function: &str) -> (BTreeMap<(String, u64), usize>, Vec<String>) {
    let mut found = BTreeMap::new();
    let mut wrong_reason = Vec::new();
    for e in entries.iter().filter(|e| e.function == function) {
        let data = e.data().unwrap_or_default();
        *found.entry((e.stream_arn.clone(), digest(&data))).or_default() += 1;
        match shared::classify(&data) {
            Err(reason) if reason.code() == e.reason_code && reason.to_string() == e.reason => {}
            _ => wrong_reason.push(format!("{}/{}: {}", e.shard_id, e.sequence_number, e.reason_code)),
        }
    }
    (found, wrong_reason)
}

/// Judges the faulty run against the fault-free one. `truth_alerts`: the rules are the demo rules, so the figures
/// also set the alerts per rule beside what the generated days contain.
pub fn judge(
    expected: &Expected,
    plans: &Plans,
    (faulty, seen): (&Run, &Observed),
    (clean, clean_seen): (&Run, &Observed),
    truth_alerts: bool,
) -> Verdict {
    let mut v = Verdict::default();
    let truth = &expected.truth;

    // Delivery: everything reached every function, nothing given up, nothing blocked, no panic.
    for (label, run) in [("faulty", faulty), ("fault-free", clean)] {
        v.check(
            &format!("{label} run: every record delivered"),
            run.stats.total() == expected.records,
            format!("{} of {}", run.stats.total(), expected.records),
        );
        v.check(
            &format!("{label} run: nothing sent to the on-failure destination"),
            run.stats.on_failure() == 0,
            format!("{} records given up", run.stats.on_failure()),
        );
        v.check(
            &format!("{label} run: no shard blocked"),
            run.stats.blocked_lanes() == 0,
            format!("{} blocked lanes", run.stats.blocked_lanes()),
        );
        v.check(&format!("{label} run: no panic"), run.panics == 0, format!("{} panics", run.panics));
    }
    v.panics = faulty.panics + clean.panics;
    v.faults_injected = plans.injected();
    v.check("faults were injected", plans.injected() > 0, format!("{} faults", plans.injected()));

    // The archive.
    let lost: Vec<&u64> = expected.valid.iter().filter(|d| !seen.archive.records.contains(d)).collect();
    v.records_lost = lost.len();
    v.check(
        "archive: every valid record archived (records lost = 0)",
        lost.is_empty(),
        format!("{} of {} valid records missing", lost.len(), expected.valid.len()),
    );
    let foreign = seen.archive.records.iter().filter(|d| !expected.valid.contains(d)).count();
    v.check(
        "archive: every archived line is a record that was sent",
        foreign == 0,
        format!("{foreign} unknown lines of {}", seen.archive.lines),
    );
    v.check(
        "archive: every object decompresses",
        seen.archive.undecodable.is_empty(),
        format!(
            "{} of {} NDJSON objects undecodable{}",
            seen.archive.undecodable.len(),
            seen.archive.ndjson_objects,
            sample(&seen.archive.undecodable)
        ),
    );
    let missing: Vec<_> = truth.ctr_versions.difference(&seen.archive.ctr_versions).collect();
    let extra: Vec<_> = seen.archive.ctr_versions.difference(&truth.ctr_versions).collect();
    v.check(
        "archive: contact-record versions == Truth.ctr_versions",
        missing.is_empty() && extra.is_empty() && !truth.ctr_versions.is_empty(),
        format!(
            "{} of {} versions archived, {} missing, {} unexpected{}",
            truth.ctr_versions.len() - missing.len(),
            truth.ctr_versions.len(),
            missing.len(),
            extra.len(),
            sample(missing.iter().chain(extra.iter()))
        ),
    );

    // The board.
    let differing = seen.board.iter().zip(&clean_seen.board).filter(|(a, b)| a != b).count();
    v.check(
        "board: the agent views equal the fault-free run's",
        seen.board.len() == clean_seen.board.len() && differing == 0 && !seen.board.is_empty(),
        format!("{} agents (fault-free {}), {differing} differ", seen.board.len(), clean_seen.board.len()),
    );
    if let (Some(a), Some(b)) = (&seen.current_items, &clean_seen.current_items) {
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
        v.check(
            "board: the current items equal the fault-free run's, attribute for attribute",
            a.len() == b.len() && differing == 0,
            format!("{} items (fault-free {}), {differing} differ", a.len(), b.len()),
        );
    }
    let logged_in = seen.board.iter().filter(|a| a.is_logged_in()).count();
    v.check(
        "board: every agent of every day on it, all logged out",
        seen.board.len() == truth.agents.len() && logged_in == 0,
        format!("{} of {} agents, {logged_in} logged in", seen.board.len(), truth.agents.len()),
    );

    // The alerts.
    let (f, c) = (AlertTally::of(faulty), AlertTally::of(clean));
    v.duplicates_ambiguous = f.after_ambiguous_publish;
    v.duplicates_unconfirmed = f.after_unconfirmed_publish.len();
    v.duplicates_unexplained = f.unexplained.len();
    let (fi, ci) = (f.ids(), c.ids());
    v.check(
        "alerts: the same alert ids as the fault-free run",
        fi == ci && !ci.is_empty(),
        format!(
            "{} ids (fault-free {}), {} missing, {} extra{}",
            fi.len(),
            ci.len(),
            ci.difference(&fi).count(),
            fi.difference(&ci).count(),
            sample(ci.symmetric_difference(&fi))
        ),
    );
    v.check(
        DUPLICATES_CHECK,
        f.after_unconfirmed_publish.is_empty() && f.unexplained.is_empty() && f.unreadable == 0,
        format!(
            "{} second copies after an ambiguous publish (allowed); {} after three failed SENT confirmations{}; {} \
             unexplained{}",
            f.after_ambiguous_publish,
            f.after_unconfirmed_publish.len(),
            sample(&f.after_unconfirmed_publish),
            f.unexplained.len(),
            sample(&f.unexplained)
        ),
    );
    v.check(
        "alerts: the fault-free run published each alert once",
        c.duplicates() == 0 && c.unreadable == 0,
        format!("{} duplicates", c.duplicates()),
    );
    // Quarantine.
    let invalid_total = expected.invalid.len();
    v.check(
        "bad input: the generator's invalid records are the ones classify rejects",
        invalid_total == truth.invalid,
        format!("{invalid_total} rejected, Truth.invalid {}", truth.invalid),
    );
    for function in [contact_archiver::handler::NAME, agent_state::NAME, supervisor_alerts::NAME] {
        let want = expected.quarantine_of(function);
        let (found, wrong_reason) = quarantined(&seen.quarantine, function);
        let want_n: usize = want.values().sum();
        let found_n: usize = found.values().sum();
        v.check(
            &format!("quarantine: {function} holds every invalid record it read, with its reason"),
            want == found && wrong_reason.is_empty(),
            format!(
                "{found_n} entries, {want_n} expected, {} with a wrong reason{}",
                wrong_reason.len(),
                sample(&wrong_reason)
            ),
        );
    }

    figures(&mut v, expected, plans, (faulty, clean), seen, &f, truth_alerts);
    v
}

fn figures(
    v: &mut Verdict,
    expected: &Expected,
    plans: &Plans,
    (faulty, clean): (&Run, &Run),
    seen: &Observed,
    alerts: &AlertTally,
    truth_alerts: bool,
) {
    let truth = &expected.truth;
    let mut rows: Vec<(String, String)> = Vec::new();
    let by_stream: Vec<String> =
        expected.by_stream.iter().map(|(s, n)| format!("{} {n}", app::stream_name(*s))).collect();
    rows.push((
        "records in".into(),
        format!("{} ({}), {} generated days", expected.records, by_stream.join(", "), expected.days),
    ));
    rows.push(("records lost".into(), v.records_lost.to_string()));
    rows.push((
        "bad inputs (invalid records)".into(),
        format!(
            "{} (plus {} duplicated and {} delayed records)",
            expected.invalid.len(),
            truth.duplicates,
            truth.delayed
        ),
    ));
    rows.push((
        "faults injected".into(),
        format!(
            "{} of {} calls ({} responses lost after the write)",
            plans.injected(),
            plans.calls(),
            plans.responses_lost()
        ),
    ));
    for (name, plan) in plans.named() {
        rows.push((
            format!("  {name}"),
            format!(
                "{} of {} calls, {} responses lost",
                plan.injected(),
                plan.calls.load(Ordering::Relaxed),
                plan.responses_lost.load(Ordering::Relaxed)
            ),
        ));
    }
    rows.push(("panics".into(), v.panics.to_string()));
    rows.push((
        "records given up / blocked shards".into(),
        format!("{} / {}", faulty.stats.on_failure(), faulty.stats.blocked_lanes()),
    ));
    rows.push((
        "alerts".into(),
        format!(
            "{} distinct, {} published; second copies: {} after an ambiguous publish, {} after three failed SENT \
             confirmations, {} unexplained",
            alerts.copies.len(),
            faulty.published.len(),
            v.duplicates_ambiguous,
            v.duplicates_unconfirmed,
            v.duplicates_unexplained
        ),
    ));
    rows.push((
        "alerts in publish calls with an unknown outcome".into(),
        format!("{} alerts, {} times", faulty.ambiguous.len(), faulty.ambiguous.values().sum::<usize>()),
    ));
    rows.push((
        "failed SENT confirmations".into(),
        format!(
            "{} alerts, {} times, {} alerts three times or more",
            faulty.unconfirmed.len(),
            faulty.unconfirmed.values().sum::<usize>(),
            faulty.unconfirmed.values().filter(|n| **n >= 3).count()
        ),
    ));
    if truth_alerts {
        // What the generator says the days contain; the rules see an episode only through an event inside it (an
        // ACW over 6 minutes with no event after minute 6 raises nothing), so these are figures, not checks.
        let pairs = [
            ("break-too-long", truth.long_breaks.len(), "breaks over 16 min"),
            ("acw-too-long", truth.long_acw.len(), "ACW periods over 6 min"),
            ("angry-customer", truth.angry_contacts.len(), "contacts with 3 negative turns in a row"),
            ("escalation-requested", truth.escalation_contacts.len(), "escalation requests"),
        ];
        for (rule, n, what) in pairs {
            rows.push((
                format!("  alerts {rule}"),
                format!("{} for {n} {what} in the generated days", alerts.by_rule.get(rule).copied().unwrap_or(0)),
            ));
        }
    }
    let quarantined: usize = seen.quarantine.len();
    rows.push(("quarantine entries (all functions)".into(), quarantined.to_string()));
    rows.push((
        "archive".into(),
        format!(
            "{} objects ({} NDJSON), {} lines for {} valid records",
            seen.archive.objects,
            seen.archive.ndjson_objects,
            seen.archive.lines,
            expected.valid.len()
        ),
    ));
    for (label, run) in [("faulty run", faulty), ("fault-free run", clean)] {
        rows.push((
            label.into(),
            format!(
                "{:.1} s, {} invocations, {} records delivered ({:.2}× the fault-free run), {} partial failures, {} function errors",
                run.elapsed.as_secs_f64(),
                run.invocations(),
                run.delivered(),
                run.delivered() as f64 / clean.delivered().max(1) as f64,
                run.partial_failures(),
                run.function_errors()
            ),
        ));
        for (name, t) in &run.functions {
            rows.push((
                format!("  {name}"),
                format!(
                    "in {} · done {} · stale {} · skipped {} · quarantined {} · failed {}",
                    t.records_in, t.done, t.stale, t.skipped, t.quarantined, t.failed
                ),
            ));
        }
    }
    v.figures = rows;
}

// -- the command -------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub records: usize,
    pub fault_rate: f64,
    pub seed: u64,
    pub agents: usize,
    pub run: RunOptions,
    pub quiet: bool,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self { records: 1_000_000, fault_rate: 0.05, seed: 42, agents: 50, run: RunOptions::default(), quiet: false }
    }
}

/// Everything a chaos run produced.
pub struct Outcome {
    pub expected: Expected,
    pub verdict: Verdict,
    pub faulty: Run,
    pub clean: Run,
    pub generation: Duration,
    pub elapsed: Duration,
}

/// One run on fresh memory stores (each port wrapped in [`Faulty`] with its plan), and what it left in them.
pub async fn memory_run(
    records: &[GenRecord],
    plans: &Plans,
    rules: Rules,
    options: &RunOptions,
) -> AppResult<(Run, Observed)> {
    let stores = MemoryStores::memory();
    let run = run(records.iter().cloned(), records.len(), &stores, plans, rules, options).await;
    let mut seen = observe(&stores.archive, &stores.quarantine, &stores.agent_table).await?;
    seen.current_items = Some(current_items(&stores.agent_table));
    Ok((run, seen))
}

/// Runs `f` on a fresh single-threaded runtime (the functions run on one core in Lambda too).
fn on_own_runtime<T>(f: impl std::future::Future<Output = AppResult<T>>) -> AppResult<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

/// The whole chaos run on memory stores: generate; the faulty run, then the fault-free run, each on a
/// single-threaded runtime of its own; observe; judge. Blocking (it runs its own runtimes): call it from a plain
/// thread, a `#[test]`, or a command that has nothing else to do meanwhile.
pub fn chaos_in_memory(options: &ChaosOptions, rules: Rules, demo_rules: bool) -> AppResult<Outcome> {
    let started = Instant::now();
    let say = |s: String| {
        if !options.quiet {
            eprintln!("{s}");
        }
    };
    let day = DayConfig { seed: options.seed, agents: options.agents, ..DayConfig::default() };
    let (expected, records) = Expected::generate(&day, options.records);
    let generation = started.elapsed();
    say(format!(
        "generated {} records ({} days of {} agents) in {:.1} s; the faulty run (every call fails with probability \
         {})…",
        expected.records,
        expected.days,
        options.agents,
        generation.as_secs_f64(),
        options.fault_rate
    ));

    let plans = Plans::new(options.fault_rate, options.seed);
    let (faulty, seen) = on_own_runtime(memory_run(&records, &plans, rules.clone(), &options.run))?;
    say(format!("faulty run done in {:.1} s; the fault-free run…", faulty.elapsed.as_secs_f64()));
    let (clean, clean_seen) = on_own_runtime(memory_run(&records, &Plans::new(0.0, 0), rules, &options.run))?;
    drop(records);
    say(format!("fault-free run done in {:.1} s", clean.elapsed.as_secs_f64()));

    let mut verdict = judge(&expected, &plans, (&faulty, &seen), (&clean, &clean_seen), demo_rules);
    let elapsed = started.elapsed();
    verdict.figures.push((
        "wall time".into(),
        format!(
            "{:.1} s: generation {:.1} s, faulty run {:.1} s, fault-free run {:.1} s (each on one core), reading \
             back and checking the rest",
            elapsed.as_secs_f64(),
            generation.as_secs_f64(),
            faulty.elapsed.as_secs_f64(),
            clean.elapsed.as_secs_f64(),
        ),
    ));
    Ok(Outcome { expected, verdict, faulty, clean, generation, elapsed })
}

/// Prints the figures and the checks.
pub fn print(verdict: &Verdict) {
    println!("\nfigures");
    for (k, v) in &verdict.figures {
        println!("  {k:<50} {v}");
    }
    println!("\nchecks");
    for c in &verdict.checks {
        println!("  {} {:<78} {}", if c.ok { "PASS" } else { "FAIL" }, c.name, c.detail);
    }
    let failed = verdict.failed().len();
    println!("\n{} of {} checks passed", verdict.checks.len() - failed, verdict.checks.len());
}

/// `connect-replay chaos`: runs, prints, and fails if any check failed.
pub async fn command(options: ChaosOptions, rules_path: Option<&std::path::Path>) -> AppResult<()> {
    let rules = app::load_rules(rules_path)?;
    if !(0.0..=1.0).contains(&options.fault_rate) {
        return Err(format!("--fault-rate {} is not a probability", options.fault_rate).into());
    }
    println!(
        "chaos: {} records, fault rate {}, seed {}, batch size {}, maximum retry attempts {:?}",
        options.records,
        options.fault_rate,
        options.seed,
        options.run.esm.batch_size,
        options.run.esm.maximum_retry_attempts
    );
    // Its own thread: the runs start runtimes of their own, which cannot nest in the caller's.
    let demo_rules = rules_path.is_none();
    let outcome = std::thread::scope(|scope| scope.spawn(|| chaos_in_memory(&options, rules, demo_rules)).join())
        .map_err(|_| "the chaos run panicked")??;
    print(&outcome.verdict);
    let failed = outcome.verdict.failed();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} check(s) failed: {}",
            failed.len(),
            failed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("; ")
        )
        .into())
    }
}
