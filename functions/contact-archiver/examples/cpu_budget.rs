//! The archiver's CPU cost against its budget: ≤ 2× the time serde_json needs to parse the same records.
//! A measurement, not a test (timings are never asserted):
//!
//! ```text
//! cargo run --release -p contact-archiver --example cpu_budget
//! ```
//!
//! Prints, for 1,000 realistic CTRs: serde_json parse time (the yardstick), the classifier, gzip at each level,
//! the Parquet encoding, and the whole handler (classify + encode + in-memory PUT) per `ARCHIVE_FORMAT`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use contact_archiver::config::ArchiveFormat;
use contact_archiver::handler::Archiver;
use contact_archiver::tables::{self, ContactRow};
use flate2::Compression;
use flate2::write::GzEncoder;
use shared::ConnectRecord;
use shared::adapters::memory::MemoryObjectStore;
use shared::batch::Processor;

const ROUNDS: usize = 15;

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
    let records = common::synthetic_ctrs(1_000);
    let bytes: usize = records.iter().map(Vec::len).sum();
    println!("1,000 CTRs, {:.2} MB of JSON, fastest of {ROUNDS} rounds", bytes as f64 / 1e6);

    let parse = fastest(|| {
        for r in &records {
            black_box(serde_json::from_slice::<serde_json::Value>(r).ok());
        }
    });
    let report = |name: &str, d: Duration| {
        println!(
            "{name:<42} {:>8.2} ms  {:>7.1} MB/s  {:>5.2}× parse",
            d.as_secs_f64() * 1e3,
            bytes as f64 / d.as_secs_f64() / 1e6,
            d.as_secs_f64() / parse.as_secs_f64()
        );
    };
    report("serde_json::from_slice::<Value> (yardstick)", parse);
    report(
        "shared::classify",
        fastest(|| {
            for r in &records {
                black_box(shared::classify(r).ok());
            }
        }),
    );
    for level in [0, 1, 3, 6, 9] {
        let mut size = 0;
        let d = fastest(|| {
            let mut gz = GzEncoder::new(Vec::new(), Compression::new(level));
            for r in &records {
                gz.write_all(r).and_then(|()| gz.write_all(b"\n")).expect("in-memory write");
            }
            size = gz.finish().expect("in-memory gzip").len();
        });
        report(&format!("gzip level {level} ({:.1}× smaller)", bytes as f64 / size as f64), d);
    }
    let parsed: Vec<ConnectRecord> = records.iter().filter_map(|r| shared::classify(r).ok()).collect();
    let rows: Vec<ContactRow<'_>> = parsed
        .iter()
        .zip(&records)
        .filter_map(|(p, r)| match p {
            ConnectRecord::Contact(record) => Some(ContactRow { record, raw: std::str::from_utf8(r).ok()? }),
            _ => None,
        })
        .collect();
    let mut size = 0;
    let d = fastest(|| size = tables::contact_records_parquet(&rows).expect("encodes").len());
    report(&format!("Parquet zstd-{} ({:.1}× smaller)", tables::ZSTD_LEVEL, bytes as f64 / size as f64), d);

    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let items = common::items(1, records.clone());
    for format in [ArchiveFormat::Ndjson, ArchiveFormat::Parquet, ArchiveFormat::Both] {
        let d = fastest(|| {
            let archiver = Archiver::new(MemoryObjectStore::new(), "", format);
            black_box(runtime.block_on(archiver.process(&items)));
        });
        report(&format!("handler, ARCHIVE_FORMAT={format}"), d);
    }
}
