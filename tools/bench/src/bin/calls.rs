//! AWS calls per batch at the adapter boundary: each function on a payload-limited batch with in-memory adapters,
//! counting the requests the AWS adapters would make (S3 PUTs, DynamoDB single-item writes, BatchWriteItem calls
//! and reads, SNS PublishBatch calls). Prints Markdown tables.
//!
//! ```text
//! cargo run --release -p bench --bin calls                  # centres of 50 and 500 agents
//! cargo run --release -p bench --bin calls -- 50 200        # other sizes
//! ```

use std::collections::BTreeSet;

use bench::batches::{Batch, BenchDay};
use bench::rigs::{AgentStateRig, AlertsRig, ArchiverRig, demo_rules, runtime, warm_alert_table};
use contact_archiver::config::ArchiveFormat;
use shared::ConnectRecord;
use shared::adapters::memory::{MemoryItemStore, MemoryPublisher};
use tokio::runtime::Runtime;

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![50, 500] } else { sizes };
    let rt = runtime();
    let rules = demo_rules();
    for agents in sizes {
        let day = BenchDay::build(agents);
        let warm = rt.block_on(warm_alert_table(&day.preceding_agent_events, &rules));
        println!("### Contact centre of {agents} agents\n");
        batches(&day);
        archiver(&rt, &day);
        agent_state(&rt, &day);
        alerts(&rt, &day, &rules, warm);
    }
}

fn mb(bytes: usize) -> String {
    format!("{:.2}", bytes as f64 / 1e6)
}

struct Census {
    valid: usize,
    agents: usize,
    contacts: usize,
}

fn census(batch: &Batch) -> Census {
    let (mut agents, mut contacts) = (BTreeSet::new(), BTreeSet::new());
    let mut valid = 0;
    for item in &batch.items {
        let Ok(record) = shared::classify(&item.data) else { continue };
        valid += 1;
        match &record {
            ConnectRecord::Agent(e) => {
                agents.insert(e.agent_arn.clone());
            }
            ConnectRecord::Contact(c) => {
                contacts.insert(c.contact_id.clone());
            }
            ConnectRecord::Segment(s) => {
                contacts.insert(s.contact_id.clone());
            }
        }
    }
    Census { valid, agents: agents.len(), contacts: contacts.len() }
}

fn batches(day: &BenchDay) {
    println!(
        "| batch | records | valid | distinct agents | distinct contacts | record data MB | event JSON MB | payload-limited | time span |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|");
    for b in day.batches() {
        let c = census(b);
        let (from, to) = b.span();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} – {} ({} min) |",
            b.name,
            b.records(),
            c.valid,
            c.agents,
            c.contacts,
            mb(b.data_bytes()),
            mb(b.event.len()),
            if b.payload_limited { "yes" } else { "no (day ran out)" },
            from.format("%H:%M"),
            to.format("%H:%M"),
            (to - from).num_minutes()
        );
    }
    println!();
}

/// Distinct (kind, day partition) among archive keys `<kind>[-parquet]/year=…/month=…/day=…/<object>`.
fn kind_days<'a>(keys: impl Iterator<Item = &'a String>) -> usize {
    keys.filter_map(|k| {
        let parts: Vec<&str> = k.splitn(5, '/').collect();
        (parts.len() == 5).then(|| (parts[0].trim_end_matches("-parquet").to_owned(), parts[1..4].join("/")))
    })
    .collect::<BTreeSet<_>>()
    .len()
}

fn archiver(rt: &Runtime, day: &BenchDay) {
    println!(
        "contact-archiver — S3 PUTs (one object per (kind, day partition, format, shard); template default `both`):\n"
    );
    println!(
        "| batch | format | distinct (kind, day) | object PUTs | PUTs per (kind, day) | quarantine PUTs | redelivered: PUTs (412 AlreadyExists) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for b in day.batches() {
        for format in [ArchiveFormat::Both, ArchiveFormat::Ndjson] {
            let rig = ArchiverRig::new(format);
            let first = rt.block_on(rig.run(&b.items));
            assert_eq!(first.failed, 0, "in-memory writes do not fail");
            let puts = rig.objects.puts.get();
            let quarantined = rig.quarantine.store.puts.get();
            let partitions = kind_days(rig.objects.objects().keys());
            rt.block_on(rig.run(&b.items));
            let again = rig.objects.puts.get() - puts;
            println!(
                "| {} | {format} | {partitions} | {puts} | {:.1} | {quarantined} | {again} |",
                b.name,
                puts as f64 / partitions.max(1) as f64
            );
        }
    }
    println!();
}

fn table_calls(t: &MemoryItemStore) -> (usize, usize, usize) {
    (t.writes.get(), t.batch_writes.get(), t.reads.get())
}

fn agent_state(rt: &Runtime, day: &BenchDay) {
    let b = &day.agent_events;
    let c = census(b);
    println!(
        "agent-state — DynamoDB on the agent-event batch ({} records, {} distinct agents):\n",
        b.records(),
        c.agents
    );
    println!(
        "| delivery | conditional writes (UpdateItem) | per distinct agent | BatchWriteItem calls (history) | reads (GetItem) | done | stale | quarantined |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let rig = AgentStateRig::new();
    for delivery in ["first (fresh table)", "redelivered (same batch again)"] {
        let before = table_calls(&rig.table);
        let report = rt.block_on(rig.run(&b.items));
        let after = table_calls(&rig.table);
        let (writes, batch_writes, reads) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
        println!(
            "| {delivery} | {writes} | {:.2} | {batch_writes} | {reads} | {} | {} | {} |",
            writes as f64 / c.agents.max(1) as f64,
            report.done,
            report.stale,
            report.quarantined
        );
    }
    println!();
}

fn publisher_calls(p: &MemoryPublisher) -> (usize, usize) {
    (p.published().len(), p.calls.get())
}

fn alerts(rt: &Runtime, day: &BenchDay, rules: &supervisor_alerts::rules::Rules, warm: Vec<shared::ports::Item>) {
    println!(
        "supervisor-alerts — SNS and DynamoDB (demo rules; `warm`: the table holds what the day's earlier agent events left):\n"
    );
    println!(
        "| batch | table | alerts | PublishBatch calls | single-item writes | BatchWriteItem calls | reads (GetItem) | store calls per record |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let cases: [(&Batch, &str); 5] = [
        (&day.agent_events, "fresh"),
        (&day.agent_events, "redelivered"),
        (&day.contact_records, "warm"),
        (&day.segments, "warm"),
        (&day.segments, "fresh"),
    ];
    for (b, state) in cases {
        let rig = AlertsRig::new(rules, if state == "warm" { warm.clone() } else { Vec::new() });
        if state == "redelivered" {
            rt.block_on(rig.run(&b.items));
        }
        let (t0, p0) = (table_calls(&rig.table), publisher_calls(&rig.publisher));
        rt.block_on(rig.run(&b.items));
        let (t1, p1) = (table_calls(&rig.table), publisher_calls(&rig.publisher));
        let (writes, batch_writes, reads) = (t1.0 - t0.0, t1.1 - t0.1, t1.2 - t0.2);
        println!(
            "| {} | {state} | {} | {} | {writes} | {batch_writes} | {reads} | {:.2} |",
            b.name,
            p1.0 - p0.0,
            p1.1 - p0.1,
            (writes + batch_writes + reads) as f64 / b.records().max(1) as f64
        );
    }
    println!();
}
