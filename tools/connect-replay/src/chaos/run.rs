//! One run: the three functions wired as the replay wires them ([`app::host`]), every port wrapped in [`Faulty`]
//! with its plan and watched by the probes, each invocation under `catch_unwind` on the virtual clock.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::streams::KinesisEventResponse;
use chrono::{DateTime, TimeDelta, Utc};
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use futures::FutureExt;
use shared::BatchReport;
use shared::adapters::fault::Faulty;
use shared::adapters::intercept::Intercepted;
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
use shared::kinesis::KinesisItem;
use shared::ports::{ItemStore, Message, ObjectStore, Publisher};
use shared::sim::{EsmConfig, Invoke};
use supervisor_alerts::rules::Rules;

use super::plans::Plans;
use super::probes::{Accepted, Ambiguity, ConfirmWatch};
use crate::app::{self, Stores};
use crate::generate::{DayConfig, GenRecord};
use crate::replay::{Functions, Named, ReplayOptions, ReplayStats, replay};
use shared::clock::ManualClock;

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
    let (accepted, ambiguity, unconfirmed) = (Accepted::default(), Ambiguity::default(), ConfirmWatch::default());
    let alert_table = Faulty::new(stores.alert_table.clone(), plans.alert_table.clone());
    let publisher = Faulty::new(Intercepted::new(stores.publisher.clone(), accepted.clone()), plans.publisher.clone());
    let faulty = Stores {
        archive: Faulty::new(stores.archive.clone(), plans.archive.clone()),
        quarantine: Faulty::new(stores.quarantine.clone(), plans.quarantine.clone()),
        agent_table: Faulty::new(stores.agent_table.clone(), plans.agent_table.clone()),
        alert_table: Intercepted::new(alert_table, unconfirmed.clone()),
        publisher: Intercepted::new(publisher, ambiguity.clone()),
    };
    let clock = ManualClock::new(options.start);
    let lateness = supervisor_alerts::config::Lateness::EventTime;
    let hosts = app::host(faulty, options.format, options.kinds, (rules, lateness), clock.clone());
    let panics = Arc::new(AtomicUsize::new(0));
    let step = options.clock_step;
    let archiver = Guarded::new(&hosts.archiver, &clock, step, &panics);
    let agent_state = Guarded::new(&hosts.agent_state, &clock, step, &panics);
    let alerts = Guarded::new(&hosts.alerts, &clock, step, &panics);
    let replay_options = ReplayOptions {
        window: window.max(1),
        shards: options.shards,
        esm: options.esm.clone(),
        archive_all_streams: true,
        pace: None,
    };
    let started = Instant::now();
    let functions = Functions { archiver: &archiver, agent_state: &agent_state, alerts: &alerts };
    let stats = replay(records, functions, &replay_options, |_| {}).await;
    let elapsed = started.elapsed();
    Run {
        stats,
        functions: hosts.totals(),
        panics: panics.load(Ordering::Relaxed),
        elapsed,
        published: accepted.messages(),
        ambiguous: ambiguity.counts(),
        unconfirmed: unconfirmed.counts(),
    }
}

/// A function as the simulator invokes it, under `catch_unwind`, advancing the virtual clock per invocation.
struct Guarded<'a, H> {
    inner: &'a H,
    clock: ManualClock,
    step: TimeDelta,
    panics: Arc<AtomicUsize>,
}

impl<'a, H> Guarded<'a, H> {
    fn new(inner: &'a H, clock: &ManualClock, step: TimeDelta, panics: &Arc<AtomicUsize>) -> Self {
        Self { inner, clock: clock.clone(), step, panics: Arc::clone(panics) }
    }
}

impl<H: Invoke> Invoke for Guarded<'_, H> {
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

impl<H: Named> Named for Guarded<'_, H> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}
