//! CPU floor: each function's core on a payload-limited batch (6 MB of event JSON) against `serde_json` alone
//! parsing the same record payloads into `serde_json::Value`, in the same run — and, for the archiver, against the
//! parse plus compressing the same bytes with its codecs (`serde_json+gzip`, `serde_json+zstd`,
//! `serde_json+gzip+zstd`). Targets (scripts/bench_cpu.py): ≤ 2.0× the floor, ≤ 1.5× for NDJSON only.
//!
//! ```text
//! cargo bench -p bench --bench cpu_floor                 # all groups
//! cargo bench -p bench --bench cpu_floor -- segments     # one group
//! BENCH_AGENTS=500 cargo bench -p bench --bench cpu_floor   # a bigger contact centre (default 50 agents)
//! ```
//!
//! One group per batch (`agent-events`, `contact-records`, `segments`); in each, `serde_json` is the yardstick
//! and every function that consumes the stream is measured on fresh in-memory adapters built outside the timed
//! part (`iter_batched`): a fresh table means every agent-state write applies and every alert fires.
//! `redelivered` measures the same batch delivered a second time (the adapters already hold its effects);
//! `warm` means supervisor-alerts' table holds what the day's earlier agent events left (contact→agent joins).
//! No tracing subscriber or metrics recorder is installed: logging and EMF cost nothing here.
//! scripts/bench.sh turns the medians into ratios in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use bench::batches::{Batch, BenchDay, Codec};
use bench::rigs::{AgentStateRig, AlertsRig, ArchiverRig, demo_rules, runtime, warm_alert_table};
use contact_archiver::config::ArchiveFormat;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use shared::ports::Item;
use supervisor_alerts::rules::Rules;
use tokio::runtime::Runtime;

shared::use_mimalloc!();

fn agents() -> usize {
    std::env::var("BENCH_AGENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50)
}

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// The archiver's floors measured in a group: the parse plus each codec set (see `scripts/bench_cpu.py`).
fn group<'a>(c: &'a mut Criterion, batch: &Batch, floors: &[&[Codec]]) -> Group<'a> {
    let mut g = c.benchmark_group(batch.name);
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Bytes(batch.data_bytes() as u64));
    g.bench_function("serde_json", |b| b.iter(|| black_box(batch.parse_all())));
    for codecs in floors {
        let name = codecs.iter().fold("serde_json".to_owned(), |name, c| format!("{name}+{}", c.name()));
        g.bench_function(name, |b| b.iter(|| black_box(batch.parse_and_compress(codecs))));
    }
    g
}

/// Times `rig.run(batch)` on a rig made by `setup` (untimed); the rig is dropped untimed too.
fn measure<R>(
    g: &mut Group<'_>,
    id: BenchmarkId,
    rt: &Runtime,
    setup: impl Fn() -> R,
    run: impl AsyncFn(&R) -> shared::BatchReport,
) {
    g.bench_function(id, |b| {
        b.iter_batched(
            &setup,
            |rig| {
                black_box(rt.block_on(run(&rig)));
                rig
            },
            BatchSize::PerIteration,
        )
    });
}

fn archiver(g: &mut Group<'_>, rt: &Runtime, batch: &Batch, format: ArchiveFormat, redelivered: bool) {
    let label = if redelivered { format!("{format}-redelivered") } else { format.to_string() };
    let setup = || {
        let rig = ArchiverRig::new(format);
        if redelivered {
            rt.block_on(rig.run(&batch.items));
        }
        rig
    };
    measure(g, BenchmarkId::new("contact-archiver", label), rt, setup, async |rig: &ArchiverRig| {
        rig.run(&batch.items).await
    });
}

fn agent_state(g: &mut Group<'_>, rt: &Runtime, batch: &Batch, redelivered: bool) {
    let setup = || {
        let rig = AgentStateRig::new();
        if redelivered {
            rt.block_on(rig.run(&batch.items));
        }
        rig
    };
    let label = if redelivered { "redelivered" } else { "fresh" };
    measure(g, BenchmarkId::new("agent-state", label), rt, setup, async |rig: &AgentStateRig| {
        rig.run(&batch.items).await
    });
}

/// `state`: `fresh` (empty table), `redelivered` (the batch was processed once already), `warm` (the table
/// holds what the day's earlier agent events left).
fn alerts(g: &mut Group<'_>, rt: &Runtime, batch: &Batch, rules: &Rules, warm: &[Item], state: &str) {
    let setup = || {
        let rig = AlertsRig::new(rules, if state == "warm" { warm.to_vec() } else { Vec::new() });
        if state == "redelivered" {
            rt.block_on(rig.run(&batch.items));
        }
        rig
    };
    measure(g, BenchmarkId::new("supervisor-alerts", state), rt, setup, async |rig: &AlertsRig| {
        rig.run(&batch.items).await
    });
}

fn cpu_floor(c: &mut Criterion) {
    let day = BenchDay::build(agents());
    let rt = runtime();
    let rules = demo_rules();
    let warm = rt.block_on(warm_alert_table(&day.preceding_agent_events, &rules));
    for batch in day.batches() {
        eprintln!(
            "batch {}: {} records, {} bytes of data, {} bytes of event JSON, payload-limited: {}",
            batch.name,
            batch.records(),
            batch.data_bytes(),
            batch.event.len(),
            batch.payload_limited
        );
    }

    // Agent events: agent-state's stream; supervisor-alerts and (optionally) the archiver read it too.
    let batch = &day.agent_events;
    let mut g = group(c, batch, &[&[Codec::Gzip], &[Codec::Gzip, Codec::Zstd]]);
    agent_state(&mut g, &rt, batch, false);
    agent_state(&mut g, &rt, batch, true);
    alerts(&mut g, &rt, batch, &rules, &warm, "fresh");
    alerts(&mut g, &rt, batch, &rules, &warm, "redelivered");
    archiver(&mut g, &rt, batch, ArchiveFormat::Both, false);
    archiver(&mut g, &rt, batch, ArchiveFormat::Ndjson, false);
    g.finish();

    // Contact records: the archiver's main stream; supervisor-alerts' CSAT rule reads it.
    let batch = &day.contact_records;
    let mut g = group(c, batch, &[&[Codec::Gzip], &[Codec::Zstd], &[Codec::Gzip, Codec::Zstd]]);
    archiver(&mut g, &rt, batch, ArchiveFormat::Both, false);
    archiver(&mut g, &rt, batch, ArchiveFormat::Ndjson, false);
    archiver(&mut g, &rt, batch, ArchiveFormat::Parquet, false);
    archiver(&mut g, &rt, batch, ArchiveFormat::Both, true);
    alerts(&mut g, &rt, batch, &rules, &warm, "warm");
    g.finish();

    // Contact Lens segments: supervisor-alerts' sentiment and category rules; the archiver (NDJSON only).
    let batch = &day.segments;
    let mut g = group(c, batch, &[&[Codec::Gzip]]);
    alerts(&mut g, &rt, batch, &rules, &warm, "warm");
    alerts(&mut g, &rt, batch, &rules, &warm, "fresh");
    archiver(&mut g, &rt, batch, ArchiveFormat::Both, false);
    g.finish();
}

criterion_group!(benches, cpu_floor);
criterion_main!(benches);
