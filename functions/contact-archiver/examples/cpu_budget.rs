//! The archiver's CPU cost against its budget: ≤ 2× the time serde_json needs to parse the same records.
//! A measurement, not a test (timings are never asserted). Two ways to run it:
//!
//! ```text
//! cargo run --release -p contact-archiver --example cpu_budget            # wall-clock table, fastest of 40 rounds
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/cpu_budget <step>   # instructions of one step
//! ```
//!
//! Steps on 1,000 CTRs: `setup` (builds the records only: subtract it), `parse` (serde_json into `Value`, the
//! yardstick), `classify`, `gzip1`, `gzip6`, `ndjson`, `parquet`, `handler-ndjson`, `handler-parquet`,
//! `handler-both`. On 1,000 Contact Lens segments (the 8 fixture segments and one chat record whose times are in
//! `Event` / `Attachments` parts, cycled): `segments-parse` (their yardstick), `segments-classify`,
//! `segments-handler` (segments are archived as NDJSON whatever the format).
//! Instruction counts do not depend on what else the machine is doing; wall-clock times on a busy machine do.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::ContactArchiver;
use contact_archiver::ndjson;
use contact_archiver::tables::{self, ContactRow};
use flate2::Compression;
use flate2::write::GzEncoder;
use shared::ConnectRecord;
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::Processor;
use shared::kinesis::KinesisItem;

const ROUNDS: usize = 40;
const STEPS: [&str; 9] =
    ["parse", "classify", "gzip1", "gzip6", "ndjson", "parquet", "handler-ndjson", "handler-parquet", "handler-both"];
const SEGMENT_STEPS: [&str; 3] = ["segments-parse", "segments-classify", "segments-handler"];

struct Bench {
    records: Vec<Vec<u8>>,
    items: Vec<KinesisItem>,
    parsed: Vec<ConnectRecord>,
    segments: Vec<Vec<u8>>,
    segment_items: Vec<KinesisItem>,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn new() -> Self {
        let records = common::synthetic_ctrs(1_000);
        let items = common::items(1, records.clone());
        let parsed = records.iter().filter_map(|r| shared::classify(r).ok()).collect();
        let segments = common::synthetic_segments(1_000);
        let segment_items = common::items(1, segments.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        Self { records, items, parsed, segments, segment_items, runtime }
    }

    /// Runs one step once; returns the size of what it produced (0 when nothing).
    fn run(&self, step: &str) -> usize {
        let gzip = |level| {
            let mut gz = GzEncoder::new(Vec::new(), Compression::new(level));
            for r in &self.records {
                gz.write_all(r).and_then(|()| gz.write_all(b"\n")).expect("in-memory write");
            }
            gz.finish().expect("in-memory gzip").len()
        };
        let handler = |format, items: &[KinesisItem]| {
            let archiver = ContactArchiver::new(MemoryObjectStore::new(), "", format, ArchiveKinds::ALL);
            black_box(self.runtime.block_on(archiver.process(items)));
            archiver.store().objects().values().map(|o| o.body.len()).sum()
        };
        match step {
            "setup" => 0,
            "parse" => self.records.iter().filter_map(|r| serde_json::from_slice::<serde_json::Value>(r).ok()).count(),
            "classify" => self.records.iter().filter_map(|r| shared::classify(r).ok()).count(),
            "gzip1" => gzip(1),
            "gzip6" => gzip(6),
            "ndjson" => ndjson::encode(self.records.iter().map(Vec::as_slice), 0).map_or(0, |b| b.len()),
            "parquet" => {
                let rows: Vec<ContactRow<'_>> = self
                    .parsed
                    .iter()
                    .zip(&self.records)
                    .filter_map(|(p, r)| match p {
                        ConnectRecord::Contact(record) => {
                            Some(ContactRow { record, raw: std::str::from_utf8(r).ok()? })
                        }
                        _ => None,
                    })
                    .collect();
                tables::contact_records_parquet(&rows).map_or(0, |b| b.len())
            }
            "handler-ndjson" => handler(ArchiveFormat::Ndjson, &self.items),
            "handler-parquet" => handler(ArchiveFormat::Parquet, &self.items),
            "handler-both" => handler(ArchiveFormat::Both, &self.items),
            "segments-parse" => {
                self.segments.iter().filter_map(|r| serde_json::from_slice::<serde_json::Value>(r).ok()).count()
            }
            "segments-classify" => self.segments.iter().filter_map(|r| shared::classify(r).ok()).count(),
            "segments-handler" => handler(ArchiveFormat::Both, &self.segment_items),
            other => {
                panic!("unknown step {other}; steps: setup, {}, {}", STEPS.join(", "), SEGMENT_STEPS.join(", "))
            }
        }
    }
}

/// The fastest of `ROUNDS` runs (the least disturbed by other processes on the machine).
fn fastest(mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let bench = Bench::new();
    if let Some(step) = std::env::args().nth(1) {
        black_box(bench.run(&step));
        return;
    }
    table(&bench, "1,000 CTRs", &bench.records, &STEPS);
    table(&bench, "1,000 Contact Lens segments", &bench.segments, &SEGMENT_STEPS);
    // The 1,000 records cycle 12 fixtures, which flatters ratios; the 12 distinct fixtures alone are honest.
    let distinct: Vec<u8> = common::fixture_ctrs().join(&b'\n');
    for level in [1, 6] {
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(level));
        gz.write_all(&distinct).expect("in-memory write");
        let size = gz.finish().expect("in-memory gzip").len();
        println!(
            "gzip level {level} on the 12 distinct fixture CTRs: {:.1}× smaller",
            distinct.len() as f64 / size as f64
        );
    }
}

/// One table: each step's fastest time, throughput and ratio to the first step (serde_json's parse of `records`).
fn table(bench: &Bench, what: &str, records: &[Vec<u8>], steps: &[&str]) {
    let bytes: usize = records.iter().map(Vec::len).sum();
    println!("{what}, {:.2} MB of JSON, fastest of {ROUNDS} rounds", bytes as f64 / 1e6);
    let timings: Vec<(&str, Duration, usize)> = steps
        .iter()
        .map(|step| {
            let mut size = 0;
            let d = fastest(|| size = black_box(bench.run(step)));
            (*step, d, size)
        })
        .collect();
    let parse = timings[0].1;
    for (step, d, size) in timings {
        let ratio = if step.contains("gzip") || step.ends_with("parquet") || step.contains("handler") {
            format!("{:.1}× smaller", bytes as f64 / size as f64)
        } else {
            String::new()
        };
        println!(
            "{step:<18} {:>8.2} ms  {:>7.1} MB/s  {:>5.2}× parse  {ratio}",
            d.as_secs_f64() * 1e3,
            bytes as f64 / d.as_secs_f64() / 1e6,
            d.as_secs_f64() / parse.as_secs_f64()
        );
    }
}
