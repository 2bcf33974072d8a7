//! Writes the payload-limited batches as Kinesis events (the JSON Lambda sends), one file per stream:
//! `DIR/agent-events.json`, `DIR/contact-records.json`, `DIR/segments.json`. The memory runs of scripts/bench.sh
//! serve them through `runtime-stub`.
//!
//! ```text
//! cargo run --release -p bench --bin batches -- DIR [AGENTS]
//! ```

use bench::batches::BenchDay;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: batches DIR [AGENTS]");
        std::process::exit(2);
    };
    let agents = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let day = BenchDay::build(agents);
    for b in day.batches() {
        let path = dir.join(format!("{}.json", b.name));
        std::fs::write(&path, &b.event)?;
        println!("{}: {} records, {} bytes", path.display(), b.records(), b.event.len());
    }
    Ok(())
}
