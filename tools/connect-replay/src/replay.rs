//! Replays records through the three functions with the shared event-source-mapping simulator.
//!
//! Records are taken in windows (default 20,000): each window is put on three simulated streams (agent events,
//! contact records, segments) and drained into every function attached to each stream — agent events first, so
//! the contact→agent join exists when that window's segments arrive, as it would in real time. Memory stays flat
//! whatever the number of records.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};

use aws_lambda_events::streams::KinesisEventResponse;
use shared::batch::{BatchReport, Processor, run_items};
use shared::clock::Clock;
use shared::kinesis::KinesisItem;
use shared::quarantine::Quarantine;
use shared::sim::{EsmConfig, Invoke, SimReport, SimStream, drain};

use crate::generate::{GenRecord, Stream};

/// One function as the simulator invokes it, adding up its batch reports.
pub struct Hosted<P, Q> {
    pub name: &'static str,
    processor: P,
    quarantine: Q,
    totals: Mutex<BatchReport>,
}

impl<P: Processor, Q: Quarantine> Hosted<P, Q> {
    pub fn new(name: &'static str, processor: P, quarantine: Q) -> Self {
        Self { name, processor, quarantine, totals: Mutex::new(BatchReport::default()) }
    }
}

impl<P, Q> Hosted<P, Q> {
    pub fn totals(&self) -> BatchReport {
        self.totals.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn processor(&self) -> &P {
        &self.processor
    }
}

impl<P: Processor, Q: Quarantine> Invoke for Hosted<P, Q> {
    async fn invoke(&self, batch: Vec<KinesisItem>) -> Result<KinesisEventResponse, String> {
        let (response, report) =
            run_items(self.name, &batch, &self.processor, &self.quarantine).await.map_err(|e| e.to_string())?;
        *self.totals.lock().unwrap_or_else(|p| p.into_inner()) += &report;
        Ok(response)
    }
}

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub window: usize,
    pub shards: usize,
    pub esm: EsmConfig,
    /// Whether the archiver is attached to the agent-event and segment streams too (not only contact records).
    pub archive_all_streams: bool,
    /// Replay in board time instead of as fast as possible (`demo --serve`): each window holds the records of one
    /// `tick` of board time and is delivered when the clock reaches its end, so nothing shows before it happened.
    pub pace: Option<Pace>,
}

#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub clock: ReplayClock,
    pub tick: TimeDelta,
}

/// Board time during a paced replay: `start` at the instant the replay began, then `speed` board seconds per real
/// second. Clones share the origin.
#[derive(Debug, Clone, Copy)]
pub struct ReplayClock {
    pub origin: Instant,
    pub start: DateTime<Utc>,
    pub speed: f64,
}

impl ReplayClock {
    pub fn new(start: DateTime<Utc>, speed: f64) -> Self {
        Self { origin: Instant::now(), start, speed }
    }

    /// The real instant at which board time reaches `at` (now, if it has already).
    pub fn instant_of(&self, at: DateTime<Utc>) -> Instant {
        let board = (at - self.start).to_std().unwrap_or_default();
        self.origin + board.div_f64(self.speed)
    }
}

impl Clock for ReplayClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.origin.elapsed().mul_f64(self.speed);
        self.start + TimeDelta::from_std(real).unwrap_or(TimeDelta::MAX)
    }
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            window: 20_000,
            shards: 2,
            esm: EsmConfig { batch_size: 500, ..EsmConfig::default() },
            archive_all_streams: true,
            pace: None,
        }
    }
}

/// What the replay saw, per stream and per (function, stream).
#[derive(Debug, Clone, Default)]
pub struct ReplayStats {
    pub records: BTreeMap<Stream, usize>,
    pub delivery: BTreeMap<(&'static str, Stream), SimReport>,
}

impl ReplayStats {
    pub fn total(&self) -> usize {
        self.records.values().sum()
    }
    pub fn on_failure(&self) -> usize {
        self.delivery.values().map(|r| r.on_failure.iter().map(|f| f.records).sum::<usize>()).sum()
    }
    pub fn blocked_lanes(&self) -> usize {
        self.delivery.values().map(|r| r.blocked_lanes).sum()
    }
    fn add(&mut self, function: &'static str, stream: Stream, report: SimReport) {
        *self.delivery.entry((function, stream)).or_default() += report;
    }
}

/// The three functions under replay.
pub struct Functions<'a, A, S, L> {
    pub archiver: &'a A,
    pub agent_state: &'a S,
    pub alerts: &'a L,
}

/// Replays `records` and returns what was delivered. `progress` is told how many records each window held.
pub async fn replay<A, S, L>(
    records: impl Iterator<Item = GenRecord>,
    functions: Functions<'_, A, S, L>,
    options: &ReplayOptions,
    mut progress: impl FnMut(&[GenRecord]),
) -> ReplayStats
where
    A: Invoke + Named,
    S: Invoke + Named,
    L: Invoke + Named,
{
    let mut stats = ReplayStats::default();
    let mut records = records.peekable();
    let size = options.window.max(1);
    // One simulated stream per Connect stream for the whole replay: sequence numbers keep increasing across windows
    // (archive and quarantine keys are made of them).
    let mut streams: BTreeMap<Stream, SimStream> =
        Stream::ALL.iter().map(|s| (*s, SimStream::new(s.arn(), options.shards))).collect();
    let mut window = match &options.pace {
        None => records.by_ref().take(size).collect(),
        Some(pace) => paced_window(&mut records, pace, size).await,
    };
    while !window.is_empty() {
        progress(&window);
        streams.values_mut().for_each(SimStream::clear);
        for r in &window {
            *stats.records.entry(r.stream).or_default() += 1;
            if let Some(stream) = streams.get_mut(&r.stream) {
                stream.put(r.partition_key.clone(), r.data.clone(), r.at);
            }
        }
        let esm = &options.esm;
        let agent_events = &streams[&Stream::AgentEvents];
        let segments = &streams[&Stream::Segments];
        let ctrs = &streams[&Stream::ContactRecords];
        // Each function reads its streams in its own order, as its own event source mappings would: agent events
        // first (the contact→agent joins exist when the window's segments reach supervisor-alerts).
        let every = [(Stream::AgentEvents, agent_events), (Stream::Segments, segments), (Stream::ContactRecords, ctrs)];
        let archived = if options.archive_all_streams { &every[..] } else { &every[2..] };
        let consumers = (
            consume(&every[..1], esm, functions.agent_state),
            consume(&every, esm, functions.alerts),
            consume(archived, esm, functions.archiver),
        );
        // The next window is read (generated, decoded) while the functions consume this one; a paced replay waits
        // for board time instead.
        let unpaced = options.pace.is_none();
        let ahead = || if unpaced { records.by_ref().take(size).collect() } else { Vec::new() };
        let ((a, b, c), next) = run_consumers(consumers, ahead).await;
        for (function, reports) in
            [(functions.agent_state.name(), a), (functions.alerts.name(), b), (functions.archiver.name(), c)]
        {
            for (stream, report) in reports {
                stats.add(function, stream, report);
            }
        }
        window = match &options.pace {
            None => next,
            Some(pace) => paced_window(&mut records, pace, size).await,
        };
    }
    stats
}

/// The records of one `tick` of board time (at most `size`), delivered when the clock reaches the tick's end.
async fn paced_window(
    records: &mut std::iter::Peekable<impl Iterator<Item = GenRecord>>,
    pace: &Pace,
    size: usize,
) -> Vec<GenRecord> {
    let mut window = Vec::new();
    let Some(first) = records.peek().map(|r| r.at) else { return window };
    let end = first.max(pace.clock.now()) + pace.tick;
    while window.len() < size
        && let Some(r) = records.next_if(|r| r.at < end)
    {
        window.push(r);
    }
    tokio::time::sleep_until(pace.clock.instant_of(end).into()).await;
    window
}

/// One function's consumers of one window: its streams drained in order. What each stream delivered, by stream.
async fn consume<F: Invoke>(
    streams: &[(Stream, &SimStream)],
    esm: &EsmConfig,
    function: &F,
) -> Vec<(Stream, SimReport)> {
    let mut out = Vec::with_capacity(streams.len());
    for (kind, stream) in streams {
        out.push((*kind, drain(stream, esm, function).await));
    }
    out
}

/// Runs the three functions' consumers of a window side by side, and `meanwhile` on this thread: on a
/// multi-threaded runtime (the tool's) each consumer on a thread of its own, so the functions use every core — they
/// are independent, as their event source mappings are; on a current-thread runtime (most tests) `meanwhile`
/// first, then the consumers interleaved on this thread. The functions' code paths are the same either way.
async fn run_consumers<A, B, C, W>(
    consumers: (A, B, C),
    meanwhile: impl FnOnce() -> W,
) -> ((A::Output, B::Output, C::Output), W)
where
    A: Future + Send,
    B: Future + Send,
    C: Future + Send,
    A::Output: Send,
    B::Output: Send,
    C::Output: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    let (a, b, c) = consumers;
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let a = scope.spawn(|| handle.block_on(a));
                let b = scope.spawn(|| handle.block_on(b));
                let c = scope.spawn(|| handle.block_on(c));
                let w = meanwhile();
                ((joined(a), joined(b), joined(c)), w)
            })
        }),
        _ => {
            let w = meanwhile();
            (tokio::join!(a, b, c), w)
        }
    }
}

/// A scoped thread's result; its panic goes on in this thread.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// A function's name, for the statistics.
pub trait Named {
    fn name(&self) -> &'static str;
}

impl<P, Q> Named for Hosted<P, Q> {
    fn name(&self) -> &'static str {
        self.name
    }
}
