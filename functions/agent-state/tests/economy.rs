//! What a realistic, payload-limited batch costs in DynamoDB calls, measured with the memory store's counters.

mod common;

use common::generator::AgentSim;
use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Lambda's invoke payload limit for one batch.
const MAX_BATCH_BYTES: usize = 6 * 1024 * 1024;

/// ~200 agents working concurrently, their events interleaved by time as on the stream, cut at 6 MB like a real
/// Kinesis batch. Returns the batch and the number of distinct agents in it.
fn payload_limited_batch(agents: usize, events_per_agent: usize) -> (Vec<Vec<u8>>, usize) {
    let mut streams: Vec<Vec<Vec<u8>>> = (0..agents)
        .map(|n| {
            let choices: Vec<u8> = (0..events_per_agent).map(|i| ((n * 31 + i * 57 + 7) % 256) as u8).collect();
            AgentSim::new(n).day(&choices)
        })
        .collect();
    // Round-robin interleaving: every agent's events stay in order.
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut round = 0;
    'fill: loop {
        let mut any = false;
        for stream in &mut streams {
            if let Some(event) = stream.get(round) {
                any = true;
                if bytes + event.len() > MAX_BATCH_BYTES {
                    break 'fill;
                }
                bytes += event.len();
                batch.push(event.clone());
            }
        }
        if !any {
            break;
        }
        round += 1;
    }
    let distinct = batch
        .iter()
        .filter_map(|e| serde_json::from_slice::<serde_json::Value>(e).ok())
        .filter_map(|v| v["AgentARN"].as_str().map(str::to_owned))
        .collect::<std::collections::HashSet<_>>()
        .len();
    (batch, distinct)
}

#[tokio::test]
async fn a_payload_limited_batch_costs_at_most_one_conditional_write_per_agent() {
    let (events, agents) = payload_limited_batch(200, 14);
    let bytes: usize = events.iter().map(Vec::len).sum();
    assert!((1_100..=2_800).contains(&events.len()), "a realistic batch: {} events", events.len());
    assert!(bytes <= MAX_BATCH_BYTES);

    let store = memory_store();
    let h = handler(store.clone());
    let report = run(&h, &batch(&events)).await;
    assert_eq!((report.done, report.failed), (events.len(), 0));
    let history_items = store.all().iter().filter(|i| i["sk"].as_str().is_some_and(|s| s.starts_with("HIST#"))).count();
    println!(
        "payload-limited batch: {} events ({:.1} MB, {:.1} KB/event avg) from {agents} agents -> {} conditional writes, \
         {} BatchWriteItem calls ({history_items} history items), {} reads; {:.3} DynamoDB calls per event \
         (one call per event would be {})",
        events.len(),
        bytes as f64 / 1_048_576.0,
        bytes as f64 / events.len() as f64 / 1024.0,
        store.writes.get(),
        store.batch_writes.get(),
        store.reads.get(),
        (store.writes.get() + store.batch_writes.get() + store.reads.get()) as f64 / events.len() as f64,
        events.len(),
    );
    assert!(store.writes.get() <= agents, "no overlap: at most one conditional write per distinct agent");
    assert_eq!(store.reads.get(), 0, "no read, no scan");
    assert!(
        store.batch_writes.get() <= history_items.div_ceil(25),
        "history in groups of 25 (the bridged history goes with the current items)"
    );

    // The same batch delivered again (Lambda redelivers after a failure): one failed fold and one read per agent,
    // nothing rewritten.
    let (writes, reads, batch_writes) = (store.writes.get(), store.reads.get(), store.batch_writes.get());
    let report = run(&h, &batch(&events)).await;
    assert_eq!(report.stale, events.len());
    println!(
        "redelivered batch: {} conditional writes (all rejected), {} reads, {} BatchWriteItem calls (history rewritten, \
         idempotent) for {} stale events",
        store.writes.get() - writes,
        store.reads.get() - reads,
        store.batch_writes.get() - batch_writes,
        events.len()
    );
    assert_eq!(store.writes.get() - writes, agents);
    assert_eq!(store.reads.get() - reads, agents);
}

/// Delays every call by [`LATENCY`] on Tokio's paused clock (virtual time: only waiting advances it, so the elapsed
/// time counts round trips exactly, whatever the machine), records the most calls in flight at once, and counts
/// updates that carry companion items (the bridged history, atomically with the current item) and history writes
/// that start after a current item's (a third wave).
#[derive(Debug, Default)]
struct Latency {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    updates: AtomicUsize,
    atomic_updates: AtomicUsize,
    puts_after_updates: AtomicUsize,
}

const LATENCY: std::time::Duration = std::time::Duration::from_millis(10);

impl shared::adapters::intercept::Hook for Latency {
    async fn before(&self, call: &shared::adapters::intercept::Call<'_>) -> shared::adapters::intercept::Verdict {
        match call {
            shared::adapters::intercept::Call::UpdateItem { puts, .. } => {
                self.updates.fetch_add(1, Ordering::SeqCst);
                if !puts.is_empty() {
                    self.atomic_updates.fetch_add(1, Ordering::SeqCst);
                }
            }
            shared::adapters::intercept::Call::BatchPut { .. } if self.updates.load(Ordering::SeqCst) > 0 => {
                self.puts_after_updates.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(LATENCY).await;
        shared::adapters::intercept::Verdict::Pass
    }

    fn after(
        &self,
        _: &shared::adapters::intercept::Call<'_>,
        _: Result<shared::adapters::intercept::Answer<'_>, &shared::ports::PortError>,
    ) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_200_agents_waits_two_round_trips_history_then_current_items() {
    let (events, agents) = payload_limited_batch(200, 14);
    assert!(agents >= 190, "{agents} distinct agents");
    let hook = std::sync::Arc::new(Latency::default());
    let h = handler(shared::adapters::intercept::Intercepted::new(memory_store(), hook.clone()));
    let started = tokio::time::Instant::now();
    let report = run(&h, &batch(&events)).await;
    let round_trips = started.elapsed().as_millis() / LATENCY.as_millis();
    assert_eq!((report.done, report.failed), (events.len(), 0));
    assert!(hook.peak.load(Ordering::SeqCst) >= agents, "every agent's current item in flight at once");
    // History, then the current items. Agents that log in or out after another of their events in the batch write
    // that bridged history in the same atomic write as their current item, not in a third wave.
    assert!(hook.atomic_updates.load(Ordering::SeqCst) > 0, "the batch has bridged history (else this proves less)");
    assert_eq!(hook.puts_after_updates.load(Ordering::SeqCst), 0, "no history write after the current items");
    assert_eq!(round_trips, 2, "history, then current items");
}
