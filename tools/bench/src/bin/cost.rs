//! Cost at list prices, from measured work: each function on the bench day's batches cut into invocations of the
//! size a centre's traffic gives it (records per shard per second × the mapping's batching window, capped by its
//! `BatchSize`), with its AWS calls metered ([`bench::meter`]) and timed without and with a fixed latency per call.
//! Prints Markdown. (CPU and heap against records per invocation: `bench --bin growth`.)
//!
//! ```text
//! cargo run --profile replay -p bench --bin cost        # what scripts/bench-cost.sh runs
//! ```

use std::time::{Duration, Instant};

use agent_state::AgentState;
use bench::batches::{Batch, BenchDay};
use bench::meter::{Meter, Metered};
use bench::rigs::{demo_rules, runtime, warm_alert_table};
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::ContactArchiver;
use shared::adapters::intercept::Intercepted;
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
use shared::batch::{Processor, run_items};
use shared::kinesis::KinesisItem;
use shared::ports::Item;
use shared::quarantine::ObjectQuarantine;
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;
use tokio::runtime::Runtime;

/// List prices, US East (N. Virginia), as read on 2026-12-05 (sources in BENCHMARKS.md, section 9).
mod price {
    /// Lambda arm64 duration, first tier, per GB-second.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// Lambda requests, per request ($0.20 per million).
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// DynamoDB on-demand, per write request unit ($0.625 per million since 1 Nov 2024).
    pub const DYNAMODB_WRU: f64 = 0.625 / 1e6;
    /// DynamoDB on-demand, per read request unit ($0.125 per million).
    pub const DYNAMODB_RRU: f64 = 0.125 / 1e6;
    /// S3 Standard PUT, per request ($0.005 per 1,000).
    pub const S3_PUT: f64 = 0.005 / 1e3;
    /// SNS standard topic publish, per publish ($0.50 per million; deliveries are the subscribers' side).
    pub const SNS_PUBLISH: f64 = 0.50 / 1e6;
    /// Kinesis enhanced fan-out, per consumer-shard hour.
    pub const EFO_CONSUMER_SHARD_HOUR: f64 = 0.015;
    /// Kinesis enhanced fan-out data retrieval, per GB.
    pub const EFO_GB: f64 = 0.013;
    /// Firehose ingestion (Kinesis Data Streams as source), first tier, per GB, records rounded up to 5 KB.
    pub const FIREHOSE_GB: f64 = 0.029;
    /// Firehose JSON → Parquet conversion, per GB ingested (same 5 KB rounding).
    pub const FIREHOSE_CONVERSION_GB: f64 = 0.018;
    /// Firehose dynamic partitioning, per GB delivered.
    pub const FIREHOSE_PARTITIONING_GB: f64 = 0.020;
    /// Firehose dynamic partitioning, per S3 object delivered ($0.005 per 1,000).
    pub const FIREHOSE_OBJECT: f64 = 0.005 / 1e3;
}

/// Hours in a month of enhanced fan-out (it is billed while the consumer is registered: all month).
const MONTH_HOURS: f64 = 730.0;
/// Hours a month a centre's agents work (10 h a day, 30 days): the records come from these hours.
const WORK_HOURS: f64 = 300.0;
/// The latency each AWS call waits in the model (in-region DynamoDB, S3, SNS: a fixed 5 ms each).
const CALL_LATENCY: Duration = Duration::from_millis(5);
/// Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion to memory below that.
const MB_PER_VCPU: f64 = 1769.0;
/// Records of each batch run per measurement (the first ones, in order).
const MEASURED_RECORDS: usize = 600;
/// GSIs on the agent-state table (all projecting everything): each current-item write is written to each again.
const AGENT_STATE_GSIS: usize = agent_state::INDEXES.len();

struct Centre {
    name: &'static str,
    shards: usize,
    agents_per_shard: usize,
}

const CENTRES: [Centre; 2] = [
    Centre { name: "small (1 shard, 100 agents)", shards: 1, agents_per_shard: 100 },
    Centre { name: "large (20 shards, 5,000 agents)", shards: 20, agents_per_shard: 250 },
];

/// A function as template.yaml deploys it.
#[derive(Clone, Copy)]
struct Function {
    name: &'static str,
    memory_mb: f64,
    window_s: f64,
    batch_size: usize,
}

const ARCHIVER: Function = Function { name: "contact-archiver", memory_mb: 256.0, window_s: 30.0, batch_size: 1000 };
const AGENT_STATE: Function = Function { name: "agent-state", memory_mb: 128.0, window_s: 1.0, batch_size: 1000 };
const ALERTS: Function = Function { name: "supervisor-alerts", memory_mb: 128.0, window_s: 1.0, batch_size: 500 };

/// What one function did with `records` records cut into invocations of `per_invocation`.
#[derive(Default, Clone)]
struct Work {
    records: usize,
    invocations: usize,
    record_bytes: usize,
    cpu: Duration,
    round_trips: f64,
    write_units: f64,
    reads: usize,
    s3_puts: usize,
    sns: usize,
}

impl Work {
    fn per_record(&self, x: f64) -> f64 {
        x / self.records.max(1) as f64
    }

    /// Dollars per million records, by part: duration, requests, DynamoDB, S3, SNS, EFO retrieval.
    fn dollars_per_million(&self, f: Function) -> [f64; 6] {
        let per_invocation_cpu_s = self.cpu.as_secs_f64() / self.invocations.max(1) as f64;
        let rt_s = self.round_trips / self.invocations.max(1) as f64 * CALL_LATENCY.as_secs_f64();
        // Billed duration: the CPU stretched by the memory's share of a vCPU, plus the waits, rounded up to 1 ms.
        let billed_s = ((per_invocation_cpu_s * (MB_PER_VCPU / f.memory_mb).max(1.0) + rt_s) * 1e3).ceil() / 1e3;
        let m = 1e6;
        let invocations = self.per_record(self.invocations as f64) * m;
        [
            invocations * billed_s * f.memory_mb / 1024.0 * price::LAMBDA_GB_SECOND,
            invocations * price::LAMBDA_REQUEST,
            self.per_record(self.write_units) * m * price::DYNAMODB_WRU
                + self.per_record(self.reads as f64) * m * price::DYNAMODB_RRU,
            self.per_record(self.s3_puts as f64) * m * price::S3_PUT,
            self.per_record(self.sns as f64) * m * price::SNS_PUBLISH,
            self.per_record(self.record_bytes as f64) * m / 1e9 * price::EFO_GB,
        ]
    }
}

async fn invoke<P: Processor>(name: &str, items: &[KinesisItem], k: usize, processor: &P) -> usize {
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let mut invocations = 0;
    for chunk in items.chunks(k.max(1)) {
        run_items(name, chunk, processor, &quarantine).await.expect("bench batches have sequence numbers");
        invocations += 1;
    }
    invocations
}

/// Runs `make()`'s processor over `items` in invocations of `k`, without and with [`CALL_LATENCY`].
fn measure<P: Processor>(
    rt: &Runtime,
    name: &str,
    items: &[KinesisItem],
    k: usize,
    make: impl Fn(&std::sync::Arc<Meter>) -> P,
    gsi_writes: bool,
) -> Work {
    let run = |meter: std::sync::Arc<Meter>| {
        let processor = make(&meter);
        let started = Instant::now();
        let invocations = rt.block_on(invoke(name, items, k, &processor));
        (started.elapsed(), invocations, meter)
    };
    let (cpu, invocations, _) = run(Meter::new(Duration::ZERO));
    let (slow, _, _) = run(Meter::new(CALL_LATENCY));
    let (_, _, meter) = run(Meter::sizing());
    let units = Meter::get(&meter.write_units) as f64;
    let gsi = if gsi_writes { (AGENT_STATE_GSIS * Meter::get(&meter.update_units)) as f64 } else { 0.0 };
    Work {
        records: items.len(),
        invocations,
        record_bytes: items.iter().map(|i| i.data.len()).sum(),
        cpu,
        round_trips: slow.saturating_sub(cpu).as_secs_f64() / CALL_LATENCY.as_secs_f64(),
        write_units: units + gsi,
        reads: Meter::get(&meter.reads),
        s3_puts: Meter::get(&meter.s3_puts),
        sns: Meter::get(&meter.sns_publishes),
    }
}

fn first(batch: &Batch) -> &[KinesisItem] {
    &batch.items[..batch.items.len().min(MEASURED_RECORDS)]
}

/// Records per second per agent of a stream, from the batch's time span.
fn rate_per_agent(batch: &Batch, agents: usize) -> f64 {
    let (from, to) = batch.span();
    let seconds = (to - from).num_milliseconds().max(1) as f64 / 1e3;
    batch.records() as f64 / seconds / agents as f64
}

fn per_invocation(f: Function, rate_per_shard: f64) -> usize {
    ((rate_per_shard * f.window_s).round() as usize).clamp(1, f.batch_size)
}

struct Row {
    function: Function,
    stream: &'static str,
    k: usize,
    work: Work,
    dollars: [f64; 6],
    records_per_month: f64,
}

fn agent_state_work(rt: &Runtime, items: &[KinesisItem], k: usize) -> Work {
    measure(
        rt,
        agent_state::NAME,
        items,
        k,
        |m| {
            let table: Metered<_> = Intercepted::new(MemoryItemStore::new(&agent_state::INDEXES), m.clone());
            AgentState::new(table, agent_state::config::Settings::default())
        },
        true,
    )
}

fn alerts_work(rt: &Runtime, items: &[KinesisItem], k: usize, rules: &Rules, warm: &[Item]) -> Work {
    measure(
        rt,
        supervisor_alerts::NAME,
        items,
        k,
        |m| {
            let memory = MemoryItemStore::new(&[]);
            memory.load(warm.to_vec()).expect("items taken from a memory table have their keys");
            let table: Metered<_> = Intercepted::new(memory, m.clone());
            let publisher: Metered<_> = Intercepted::new(MemoryPublisher::new(), m.clone());
            SupervisorAlerts::new(rules.clone(), table, publisher, supervisor_alerts::config::Settings::replay())
        },
        false,
    )
}

fn archiver_work(rt: &Runtime, items: &[KinesisItem], k: usize) -> Work {
    measure(
        rt,
        contact_archiver::handler::NAME,
        items,
        k,
        |m| {
            let objects: Metered<_> = Intercepted::new(MemoryObjectStore::new(), m.clone());
            ContactArchiver::new(objects, "", ArchiveFormat::Both, ArchiveKinds::ALL)
        },
        false,
    )
}

fn usd(x: f64) -> String {
    if x >= 100.0 {
        format!("${x:.0}")
    } else if x >= 1.0 {
        format!("${x:.2}")
    } else {
        format!("${x:.4}")
    }
}

fn main() {
    let rt = runtime();
    let rules = demo_rules();
    println!(
        "Model: each call waits {} ms; billed duration = CPU measured here × (1,769 MB ÷ memory) + the waits, rounded \
         up to 1 ms; agent-state's current-item writes also pay its {AGENT_STATE_GSIS} GSIs (projection ALL); the first \
         {MEASURED_RECORDS} records of each bench batch, cut into invocations of the size each centre's traffic gives.\n",
        CALL_LATENCY.as_millis()
    );
    for centre in CENTRES {
        let day = BenchDay::build(centre.agents_per_shard);
        let warm = rt.block_on(warm_alert_table(&day.preceding_agent_events, &rules));
        let agents = centre.agents_per_shard;
        let mut rows: Vec<Row> = Vec::new();
        for (batch, stream) in [
            (&day.agent_events, "agent events"),
            (&day.contact_records, "contact records"),
            (&day.segments, "segments"),
        ] {
            let rate = rate_per_agent(batch, agents) * agents as f64;
            let records_per_month = rate * centre.shards as f64 * WORK_HOURS * 3600.0;
            let items = first(batch);
            let mut functions = vec![ALERTS];
            if stream == "agent events" {
                functions.insert(0, AGENT_STATE);
            }
            if stream == "contact records" {
                functions.insert(0, ARCHIVER);
            }
            for f in functions {
                let k = per_invocation(f, rate);
                let work = match f.name {
                    "agent-state" => agent_state_work(&rt, items, k),
                    "supervisor-alerts" => alerts_work(&rt, items, k, &rules, &warm),
                    _ => archiver_work(&rt, items, k),
                };
                let dollars = work.dollars_per_million(f);
                rows.push(Row { function: f, stream, k, work, dollars, records_per_month });
            }
        }
        println!("#### {}\n", centre.name);
        println!(
            "| function | stream | records/s per shard → per invocation | CPU ms per invocation | round trips per invocation | WRU / RRU / S3 PUT / SNS per 1,000 records | $ per million records: duration + requests + DynamoDB + S3 + SNS + EFO retrieval | total $/M | records a month | $ a month (records) | EFO $ a month ({} shard{}) |",
            centre.shards,
            if centre.shards == 1 { "" } else { "s" }
        );
        println!("|---|---|---|---:|---:|---|---|---:|---:|---:|---:|");
        let mut month_total = 0.0;
        let efo_per_stream = price::EFO_CONSUMER_SHARD_HOUR * MONTH_HOURS * centre.shards as f64;
        for row in &rows {
            let w = &row.work;
            let total: f64 = row.dollars.iter().sum();
            let monthly = total * row.records_per_month / 1e6;
            month_total += monthly + efo_per_stream;
            let rate = row.records_per_month / (WORK_HOURS * 3600.0) / centre.shards as f64;
            println!(
                "| {} | {} | {rate:.2} → {} | {:.2} | {:.1} | {:.0} / {:.0} / {:.0} / {:.0} | {} | **{}** | {:.1} M | {} | {} |",
                row.function.name,
                row.stream,
                row.k,
                w.cpu.as_secs_f64() * 1e3 / w.invocations.max(1) as f64,
                w.round_trips / w.invocations.max(1) as f64,
                w.per_record(w.write_units) * 1e3,
                w.per_record(w.reads as f64) * 1e3,
                w.per_record(w.s3_puts as f64) * 1e3,
                w.per_record(w.sns as f64) * 1e3,
                row.dollars.iter().map(|d| format!("{d:.3}")).collect::<Vec<_>>().join(" + "),
                usd(total),
                row.records_per_month / 1e6,
                usd(monthly),
                usd(efo_per_stream),
            );
        }
        println!(
            "\nAll of it, a month: **{}** (the records' cost plus one enhanced fan-out consumer per function and stream).\n",
            usd(month_total)
        );

        // Firehose doing the archive's job for the contact records (JSON → Parquet, partitioned by day).
        if let Some(row) = rows.iter().find(|r| r.function.name == "contact-archiver") {
            let w = &row.work;
            let records = row.records_per_month;
            let avg = w.per_record(w.record_bytes as f64);
            let billed_gb = records * (avg / 5120.0).ceil() * 5120.0 / 1e9;
            let delivered_gb = records * avg / 1e9;
            // One object per partition (day) per buffer flush (15 min, the largest buffer interval) per shard.
            let objects = centre.shards as f64 * WORK_HOURS * 4.0;
            let firehose = billed_gb * (price::FIREHOSE_GB + price::FIREHOSE_CONVERSION_GB)
                + delivered_gb * price::FIREHOSE_PARTITIONING_GB
                + objects * price::FIREHOSE_OBJECT;
            let ours: f64 = row.dollars.iter().sum::<f64>() * records / 1e6 + efo_per_stream;
            println!(
                "Archive of the contact records ({:.2} M a month, {:.1} KB each): contact-archiver **{}** a month (with its \
                 EFO consumer) against Firehose with dynamic partitioning and JSON→Parquet **{}** (billed on {:.1} GB: \
                 5 KB per record; {:.0} objects at 15-minute buffers; the stream read on shared throughput, no EFO).\n",
                records / 1e6,
                avg / 1024.0,
                usd(ours),
                usd(firehose),
                billed_gb,
                objects
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The top-level resource blocks of template.yaml (`  Name:` at two spaces under `Resources:`), by name.
    fn resources(template: &str) -> Vec<(&str, String)> {
        let body = template.split("\nResources:\n").nth(1).expect("a Resources section");
        let mut out: Vec<(&str, String)> = Vec::new();
        for line in body.lines() {
            if !line.starts_with(' ') && !line.is_empty() {
                break; // the next top-level section
            }
            match line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
                Some(name) if !name.starts_with(' ') && !name.contains(' ') => out.push((name, String::new())),
                _ => {
                    if let Some((_, block)) = out.last_mut() {
                        block.push_str(line);
                        block.push('\n');
                    }
                }
            }
        }
        out
    }

    fn value<'a>(block: &'a str, key: &str) -> Option<&'a str> {
        block.lines().find_map(|l| l.trim().strip_prefix(key).and_then(|v| v.strip_prefix(':')).map(str::trim))
    }

    /// The cost model's memory sizes, batching windows and batch sizes are template.yaml's: a change there that is
    /// not made here fails this test.
    #[test]
    fn the_modelled_functions_are_deployed_as_the_template_says() {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        let globals = template.split("\nGlobals:\n").nth(1).and_then(|g| g.split("\nResources:\n").next()).unwrap();
        let default_memory: f64 = value(globals, "MemorySize").unwrap().parse().unwrap();
        let resources = resources(&template);
        for f in [ARCHIVER, AGENT_STATE, ALERTS] {
            let logical: String =
                f.name.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect::<String>() + "Function";
            let (_, function) = resources.iter().find(|(n, _)| *n == logical).unwrap_or_else(|| panic!("{logical}"));
            let memory = value(function, "MemorySize").map_or(default_memory, |m| m.parse().unwrap());
            assert_eq!(memory, f.memory_mb, "{logical} MemorySize");
            let mappings: Vec<&String> = resources
                .iter()
                .filter(|(_, b)| value(b, "FunctionName") == Some(&format!("!Ref {logical}")))
                .map(|(_, b)| b)
                .collect();
            assert!(!mappings.is_empty(), "{logical} has event source mappings");
            for m in mappings {
                assert_eq!(
                    value(m, "BatchSize").unwrap().parse::<usize>().unwrap(),
                    f.batch_size,
                    "{logical} BatchSize"
                );
                let window: f64 = value(m, "MaximumBatchingWindowInSeconds").unwrap().parse().unwrap();
                assert_eq!(window, f.window_s, "{logical} MaximumBatchingWindowInSeconds");
            }
        }
    }
}
