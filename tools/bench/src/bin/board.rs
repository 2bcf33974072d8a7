//! The board API for a centre of 1,000 agents: latency of a poll (table read, cached, 304) on the memory store and,
//! with `AWS_ENDPOINT_URL` set, on DynamoDB (moto); payload sizes; and the table reads 20 screens cost, measured by
//! running 20 screens that poll every 5 s against the service for a minute. Prints a Markdown section.
//!
//! ```text
//! cargo run --release -p bench --bin board                 # memory only
//! AWS_ENDPOINT_URL=http://127.0.0.1:PORT … --bin board     # memory and moto
//! cargo run --release -p bench --bin board -- --screens-seconds 10   # a shorter screen run
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use agent_board::BoardService;
use agent_board::config::PageConfig;
use agent_board::testing::{INSTANCE, fleet};
use agent_state::table::agents_of_instance;
use serde_json::Value;
use shared::adapters::memory::MemoryItemStore;
use shared::clock::SystemClock;
use shared::ports::ItemStore;

const AGENTS: usize = 1000;
const SCREENS: usize = 20;
const POLL: Duration = Duration::from_secs(5);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let screen_secs = args
        .iter()
        .position(|a| a == "--screens-seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(60u64);
    let rt = bench::rigs::runtime();
    rt.block_on(async {
        let memory = MemoryItemStore::new(&agent_state::INDEXES);
        fleet(&memory, INSTANCE, AGENTS).await;
        println!("Centre of {AGENTS} agents (agent_board::testing::fleet, written through agent-state), one current-thread runtime, release build.\n");
        println!("| store | poll | median ms | p95 ms | requests |");
        println!("|---|---|---:|---:|---:|");
        latency("memory", &memory, 300).await;
        let moto = match std::env::var("AWS_ENDPOINT_URL") {
            Ok(endpoint) if endpoint.starts_with("http://127.0.0.1") => {
                let table = agent_state::testing::moto_table("bench").await;
                fleet(&table, INSTANCE, AGENTS).await;
                latency("DynamoDB (moto)", &table, 30).await;
                Some(table)
            }
            _ => None,
        };
        println!();
        sizes(&memory).await;
        reads(&memory, screen_secs).await;
        if moto.is_none() {
            println!("\nNo moto (AWS_ENDPOINT_URL unset): the DynamoDB row was not measured.");
        }
    });
}

fn service<S: ItemStore>(store: S, cache: Duration) -> BoardService<S, SystemClock> {
    BoardService::new(store, SystemClock, PageConfig::default(), Some(INSTANCE.to_owned()), cache)
}

fn request(headers: &[(&str, &str)]) -> http::Request<()> {
    let mut b = http::Request::builder().uri("/api/board");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).expect("request")
}

async fn timed<S: ItemStore>(
    service: &BoardService<S, SystemClock>,
    req: &http::Request<()>,
    n: usize,
) -> (f64, f64, u16) {
    let mut ms = Vec::with_capacity(n);
    let mut status = 0;
    for _ in 0..n {
        let t = Instant::now();
        status = service.respond(req).await.status().as_u16();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[(ms.len() * 95 / 100).min(ms.len() - 1)], status)
}

async fn latency<S: ItemStore + Clone>(label: &str, store: &S, n: usize) {
    let gzip = [("accept-encoding", "gzip")];
    let uncached = service(store.clone(), Duration::ZERO);
    let (p50, p95, status) = timed(&uncached, &request(&gzip), n).await;
    assert_eq!(status, 200);
    println!("| {label} | table read (cache miss), gzip | {p50:.3} | {p95:.3} | {n} |");
    let cached = service(store.clone(), Duration::from_secs(3600));
    let (p50, p95, _) = timed(&cached, &request(&gzip), n).await;
    println!("| {label} | from the warm cache, gzip | {p50:.3} | {p95:.3} | {n} |");
    let first = cached.respond(&request(&[])).await;
    let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
    let (p50, p95, status) = timed(&cached, &request(&[("if-none-match", &etag)]), n).await;
    assert_eq!(status, 304);
    println!("| {label} | unchanged (304), from the cache | {p50:.3} | {p95:.3} | {n} |");
}

/// Bytes DynamoDB bills an item for (its documented item-size rules: attribute names plus values; numbers about
/// one byte per two digits plus one; maps and lists 3 bytes plus 1 per element).
fn item_size(item: &serde_json::Map<String, Value>) -> usize {
    fn value(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Number(n) => n.to_string().trim_start_matches('-').len().div_ceil(2) + 1,
            Value::Bool(_) | Value::Null => 1,
            Value::Array(a) => 3 + a.iter().map(|e| value(e) + 1).sum::<usize>(),
            Value::Object(m) => 3 + m.iter().map(|(k, e)| k.len() + value(e) + 1).sum::<usize>(),
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

async fn sizes(store: &MemoryItemStore) {
    let service = service(store.clone(), Duration::ZERO);
    let plain = service.respond(&request(&[])).await;
    let gzip = service.respond(&request(&[("accept-encoding", "gzip")])).await;
    let items = store
        .query(shared::ports::Query {
            index: Some(agent_state::table::BY_INSTANCE),
            pk: INSTANCE.to_owned(),
            ..Default::default()
        })
        .await
        .expect("query");
    let bytes: usize = items.iter().map(item_size).sum();
    println!(
        "Payload of `GET /api/board` for {AGENTS} agents: {:.1} KB JSON, {:.1} KB gzip-compressed ({:.1}×).",
        plain.body().len() as f64 / 1e3,
        gzip.body().len() as f64 / 1e3,
        plain.body().len() as f64 / gzip.body().len() as f64
    );
    println!();
    let per_query = (bytes.div_ceil(4096) as f64) / 2.0;
    println!(
        "One read of the board (`by-instance` Query, eventually consistent, {} items, {:.1} KB by DynamoDB's item-size rules): {per_query:.1} read units.",
        items.len(),
        bytes as f64 / 1e3
    );
    println!();
    let _ = agents_of_instance(store, INSTANCE).await.expect("read");
    READ_UNITS.store(per_query.to_bits(), Ordering::Relaxed);
}

static READ_UNITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// 20 screens polling every 5 s (staggered) for `secs` seconds against one warm function, with the 2 s cache and
/// without it; table queries counted by the service.
async fn reads(store: &MemoryItemStore, secs: u64) {
    let per_query = f64::from_bits(READ_UNITS.load(Ordering::Relaxed));
    println!(
        "{SCREENS} screens polling every {} s for {secs} s against one warm function (staggered starts):\n",
        POLL.as_secs()
    );
    println!("| cache | polls | table queries | queries/min | read units/min |");
    println!("|---|---:|---:|---:|---:|");
    for cache in [Duration::from_millis(2000), Duration::ZERO] {
        let service = Arc::new(service(store.clone(), cache));
        let started = Instant::now();
        let end = started + Duration::from_secs(secs);
        let screens: Vec<_> = (0..SCREENS)
            .map(|i| {
                let service = Arc::clone(&service);
                async move {
                    tokio::time::sleep(POLL.mul_f64(i as f64 / SCREENS as f64)).await;
                    let mut etag = String::new();
                    while Instant::now() < end {
                        let response =
                            service.respond(&request(&[("if-none-match", &etag), ("accept-encoding", "gzip")])).await;
                        if let Some(tag) = response.headers().get("etag").and_then(|v| v.to_str().ok()) {
                            etag = tag.to_owned();
                        }
                        tokio::time::sleep(POLL).await;
                    }
                }
            })
            .collect();
        futures::future::join_all(screens).await;
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        let polls = service.stats.board_requests.load(Ordering::Relaxed);
        let queries = service.stats.queries.load(Ordering::Relaxed);
        let per_min = queries as f64 / minutes;
        println!(
            "| {} | {polls} | {queries} | {per_min:.1} | {:.0} |",
            if cache.is_zero() { "none".to_owned() } else { format!("{} ms", cache.as_millis()) },
            per_min * per_query
        );
    }
}
