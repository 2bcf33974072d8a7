//! Growth: CPU per record and heap per invocation against records per invocation, for each function on its main
//! stream — 10,000 records of the synthetic day (500 agents, no payload limit) cut into invocations of 1 to 10,000
//! records, on fresh in-memory adapters, one core. CPU should stay flat per record from 100 records up and the heap an
//! invocation needs should grow linearly with its records. Prints Markdown.
//!
//! ```text
//! cargo run --profile replay -p bench --bin growth       # what scripts/bench-cost.sh runs
//! ```
//!
//! The heap is counted by [`bench::heap::Counting`] (bytes live at once during an invocation, above what was live
//! before it); the counter costs two relaxed atomics per allocation, so the CPU column reads a few percent above the
//! cost bin's.

use std::time::{Duration, Instant};

use bench::batches::Records;
use bench::heap;
use bench::rigs::{AgentStateRig, AlertsRig, ArchiverRig, demo_rules, runtime, warm_alert_table};
use contact_archiver::config::ArchiveFormat;
use shared::kinesis::KinesisItem;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

/// Records of each stream run per measurement.
const RECORDS: usize = 10_000;
/// Agents on shift in the generated day: enough that 10,000 records span minutes, not the whole day.
const AGENTS: usize = 500;
/// Records per invocation measured.
const SIZES: [usize; 5] = [1, 10, 100, 1_000, 10_000];
/// Invocations of one record are measured on the first records only (the per-invocation overhead dominates).
const SINGLE_RECORDS: usize = 1_000;

/// CPU time over all invocations and the largest heap one invocation needed.
struct Run {
    records: usize,
    cpu: Duration,
    peak_heap: usize,
}

/// Runs `items` in invocations of `k` through `run` (one invocation per call), timing them all and taking the
/// highest heap any one of them reached above what was live before it.
fn measure<F: AsyncFn(&[KinesisItem])>(rt: &tokio::runtime::Runtime, items: &[KinesisItem], k: usize, run: F) -> Run {
    let mut cpu = Duration::ZERO;
    let mut peak_heap = 0;
    for chunk in items.chunks(k) {
        heap::reset_peak();
        let before = heap::live();
        let started = Instant::now();
        rt.block_on(run(chunk));
        cpu += started.elapsed();
        peak_heap = peak_heap.max(heap::peak().saturating_sub(before));
    }
    Run { records: items.len(), cpu, peak_heap }
}

fn main() {
    let rt = runtime();
    let rules = demo_rules();
    let records = Records::build(AGENTS, RECORDS);
    let warm = rt.block_on(warm_alert_table(&records.preceding_agent_events, &rules));
    let streams: [(&str, &str, &[KinesisItem]); 3] = [
        ("agent-state", "agent events", &records.agent_events),
        ("supervisor-alerts", "segments (warm table)", &records.segments),
        ("contact-archiver (both formats)", "contact records", &records.contact_records),
    ];
    let mut cpu_rows = Vec::new();
    let mut heap_rows = Vec::new();
    for (function, stream, items) in streams {
        let bytes: usize = items.iter().map(|i| i.data.len()).sum();
        let mut cpu_cells = Vec::new();
        let mut heap_cells = Vec::new();
        for k in SIZES {
            let items = if k == 1 { &items[..items.len().min(SINGLE_RECORDS)] } else { items };
            // Fresh adapters for each size: every size starts from the same table.
            let run = match function {
                "agent-state" => {
                    let rig = AgentStateRig::new();
                    measure(&rt, items, k, async |chunk: &[KinesisItem]| {
                        rig.run(chunk).await;
                    })
                }
                "supervisor-alerts" => {
                    let rig = AlertsRig::new(&rules, warm.clone());
                    measure(&rt, items, k, async |chunk: &[KinesisItem]| {
                        rig.run(chunk).await;
                    })
                }
                _ => {
                    let rig = ArchiverRig::new(ArchiveFormat::Both);
                    measure(&rt, items, k, async |chunk: &[KinesisItem]| {
                        rig.run(chunk).await;
                    })
                }
            };
            cpu_cells.push(format!("{:.1}", run.cpu.as_secs_f64() * 1e6 / run.records.max(1) as f64));
            if k >= 100 {
                let per_record = run.peak_heap as f64 / k.min(run.records) as f64;
                heap_cells.push(format!(
                    "{:.1} MiB ({:.1} KB/record)",
                    run.peak_heap as f64 / 1048576.0,
                    per_record / 1e3
                ));
            }
        }
        let n = items.len();
        cpu_rows.push(format!(
            "| {function} | {stream} ({n} records, {:.1} KB each) | {} |",
            bytes as f64 / n.max(1) as f64 / 1e3,
            cpu_cells.join(" | ")
        ));
        heap_rows.push(format!("| {function} | {stream} | {} |", heap_cells.join(" | ")));
    }
    println!(
        "CPU µs per record against records per invocation (invocations of one record: the first {SINGLE_RECORDS} records):\n"
    );
    println!("| function | stream | 1 | 10 | 100 | 1,000 | 10,000 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for row in cpu_rows {
        println!("{row}");
    }
    println!(
        "\nHeap an invocation needs (the most bytes live at once above what was live before it; the largest over the invocations) against records per invocation:\n"
    );
    println!("| function | stream | 100 | 1,000 | 10,000 |");
    println!("|---|---|---:|---:|---:|");
    for row in heap_rows {
        println!("{row}");
    }
    println!();
}
