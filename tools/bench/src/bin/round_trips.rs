//! Serial round trips per batch: each function on the payload-limited batches with every AWS call delayed by a
//! fixed latency (a stand-in for the network: the in-memory adapters behind an [`Intercepted`] hook that sleeps
//! before each call), timed against the same run without the delay. `(with − without) / latency` is how many
//! round trips the batch waited one after another, on the wall clock (so the machine's noise is in it); the same
//! run on Tokio's paused clock, where only waiting advances time and CPU takes none, counts them exactly
//! (`virtual ms / latency`). The hook also counts the calls and the most in flight at once.
//! With `AWS_ENDPOINT_URL` set (a moto server), agent-state is also timed against a real DynamoDB API.
//!
//! ```text
//! cargo run --release -p bench --bin round_trips                          # 20 ms; centres of 50, 200, 500, 1000
//! cargo run --release -p bench --bin round_trips -- --latency-ms 5 50 1000
//! ```
//! Prints Markdown tables.

use std::sync::atomic::Ordering;
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

type Latency = Meter;
type Slow<T> = Metered<T>;

/// One timed batch: wall time, the runtime's clock (on a paused runtime: waiting alone), calls, most in flight.
struct Timed {
    elapsed: Duration,
    clock: Duration,
    calls: usize,
    peak: usize,
}

async fn timed<P: Processor>(name: &str, items: &[KinesisItem], processor: &P, hook: &Latency) -> Timed {
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let (calls, started, clock) = (hook.requests.load(Ordering::Relaxed), Instant::now(), tokio::time::Instant::now());
    hook.peak.store(0, Ordering::Relaxed);
    run_items(name, items, processor, &quarantine).await.expect("bench batches have sequence numbers");
    Timed {
        elapsed: started.elapsed(),
        clock: clock.elapsed(),
        calls: hook.requests.load(Ordering::Relaxed) - calls,
        peak: hook.peak.load(Ordering::Relaxed),
    }
}

/// The fastest of three runs (each from the same fresh state): the figure least disturbed by other processes.
const REPEATS: usize = 3;

fn fastest<T>(mut run: impl FnMut() -> T, elapsed: impl Fn(&T) -> Duration) -> T {
    let mut best = run();
    for _ in 1..REPEATS {
        let next = run();
        if elapsed(&next) < elapsed(&best) {
            best = next;
        }
    }
    best
}

/// A case measured without and with the latency.
struct Case {
    function: &'static str,
    batch: String,
    delivery: &'static str,
    zero: Timed,
    slow: Timed,
    /// The slow run again on a paused clock.
    exact: Timed,
}

impl Case {
    fn row(&self, latency: Duration) -> String {
        let extra = self.slow.elapsed.saturating_sub(self.zero.elapsed);
        format!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | **{:.0}** |",
            self.function,
            self.batch,
            self.delivery,
            self.slow.calls,
            self.slow.peak,
            ms(self.zero.elapsed),
            ms(self.slow.elapsed),
            extra.as_secs_f64() / latency.as_secs_f64(),
            self.exact.clock.as_secs_f64() / latency.as_secs_f64()
        )
    }
}

/// A current-thread runtime on a paused clock: time moves only when every task waits, straight to the next timer.
fn paused() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("a paused runtime")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn distinct_agents(batch: &Batch) -> usize {
    let mut agents = std::collections::BTreeSet::new();
    for item in &batch.items {
        if let Ok(shared::ConnectRecord::Agent(e)) = shared::classify(&item.data) {
            agents.insert(e.agent_arn);
        }
    }
    agents.len()
}

/// agent-state on a fresh table, then the same batch again (every fold's condition fails: one read each).
fn agent_state(rt: &Runtime, day: &BenchDay, latency: Duration, cases: &mut Vec<Case>) {
    let b = &day.agent_events;
    let label = format!("{} records, {} agents", b.records(), distinct_agents(b));
    let run = |rt: &Runtime, delay: Duration| {
        let hook = Latency::new(delay);
        let table: Slow<_> = Intercepted::new(MemoryItemStore::new(&agent_state::INDEXES), hook.clone());
        let handler = AgentState::new(table, agent_state::config::Settings::default());
        rt.block_on(async {
            let first = timed(agent_state::NAME, &b.items, &handler, &hook).await;
            let again = timed(agent_state::NAME, &b.items, &handler, &hook).await;
            (first, again)
        })
    };
    let pair = |delay| fastest(|| run(rt, delay), |(first, again): &(Timed, Timed)| first.elapsed + again.elapsed);
    let ((zero_first, zero_again), (slow_first, slow_again)) = (pair(Duration::ZERO), pair(latency));
    let (exact_first, exact_again) = run(&paused(), latency);
    cases.push(Case {
        function: "agent-state",
        batch: label.clone(),
        delivery: "first",
        zero: zero_first,
        slow: slow_first,
        exact: exact_first,
    });
    cases.push(Case {
        function: "agent-state",
        batch: label,
        delivery: "redelivered",
        zero: zero_again,
        slow: slow_again,
        exact: exact_again,
    });
}

fn alerts(rt: &Runtime, day: &BenchDay, rules: &Rules, warm: &[Item], latency: Duration, cases: &mut Vec<Case>) {
    let cases_of: [(&Batch, &'static str); 3] = [
        (&day.agent_events, "first"),
        (&day.contact_records, "first (warm table)"),
        (&day.segments, "first (warm table)"),
    ];
    for (b, delivery) in cases_of {
        let run = |rt: &Runtime, delay: Duration| {
            let hook = Latency::new(delay);
            let memory = MemoryItemStore::new(&[]);
            if b.name != "agent-events" {
                memory.load(warm.to_vec()).expect("items taken from a memory table have their keys");
            }
            let table: Slow<_> = Intercepted::new(memory, hook.clone());
            let publisher: Slow<_> = Intercepted::new(MemoryPublisher::new(), hook.clone());
            let settings = supervisor_alerts::config::Settings::replay();
            let handler = SupervisorAlerts::new(rules.clone(), table, publisher, settings);
            rt.block_on(timed(supervisor_alerts::NAME, &b.items, &handler, &hook))
        };
        let zero = fastest(|| run(rt, Duration::ZERO), |t| t.elapsed);
        let (slow, exact) = (fastest(|| run(rt, latency), |t| t.elapsed), run(&paused(), latency));
        let batch = format!("{} ({} records)", b.name, b.records());
        cases.push(Case { function: "supervisor-alerts", batch, delivery, zero, slow, exact });
    }
}

fn archiver(rt: &Runtime, day: &BenchDay, latency: Duration, cases: &mut Vec<Case>) {
    for b in day.batches() {
        let run = |rt: &Runtime, delay: Duration| {
            let hook = Latency::new(delay);
            let objects: Slow<_> = Intercepted::new(MemoryObjectStore::new(), hook.clone());
            let handler = ContactArchiver::new(objects, "", ArchiveFormat::Both, ArchiveKinds::ALL);
            rt.block_on(timed(contact_archiver::handler::NAME, &b.items, &handler, &hook))
        };
        let zero = fastest(|| run(rt, Duration::ZERO), |t| t.elapsed);
        let (slow, exact) = (fastest(|| run(rt, latency), |t| t.elapsed), run(&paused(), latency));
        let batch = format!("{} ({} records)", b.name, b.records());
        let delivery = "first (both formats)";
        cases.push(Case { function: "contact-archiver", batch, delivery, zero, slow, exact });
    }
}

/// agent-state against DynamoDB on the moto server at `AWS_ENDPOINT_URL` (a fresh table per centre size).
fn moto(rt: &Runtime, days: &[(usize, BenchDay)]) {
    println!("agent-state against DynamoDB on moto (127.0.0.1; a fresh table per centre; wall time per batch):\n");
    println!("| centre | batch | first ms | redelivered ms |");
    println!("|---|---|---:|---:|");
    rt.block_on(async {
        let cfg = shared::adapters::aws::sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&cfg);
        for (agents, day) in days {
            let name = format!("round-trips-{agents}-{}", std::process::id());
            shared::adapters::aws::dynamodb::create_table(&client, &name, &agent_state::INDEXES)
                .await
                .expect("moto creates the table");
            let table =
                shared::adapters::aws::dynamodb::DynamoItemStore::new(client.clone(), name, &agent_state::INDEXES);
            let handler = AgentState::new(table, agent_state::config::Settings::default());
            let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
            let b = &day.agent_events;
            let mut times = Vec::new();
            for _ in 0..2 {
                let started = Instant::now();
                let (_, report) = run_items(agent_state::NAME, &b.items, &handler, &quarantine)
                    .await
                    .expect("bench batches have sequence numbers");
                assert_eq!(report.failed, 0, "moto accepted every write: {report:?}");
                times.push(ms(started.elapsed()));
            }
            println!(
                "| {agents} agents | {} records, {} agents | {:.0} | {:.0} |",
                b.records(),
                distinct_agents(b),
                times[0],
                times[1]
            );
        }
    });
    println!();
}

fn main() {
    let mut latency = Duration::from_millis(20);
    let mut sizes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--latency-ms" {
            let value = args.next().and_then(|v| v.parse().ok()).expect("--latency-ms takes a number");
            latency = Duration::from_millis(value);
        } else {
            sizes.push(arg.parse::<usize>().expect("centre sizes are numbers of agents"));
        }
    }
    if sizes.is_empty() {
        sizes = vec![50, 200, 500, 1000];
    }
    let rt = runtime();
    let rules = demo_rules();
    let days: Vec<(usize, BenchDay)> = sizes.iter().map(|&n| (n, BenchDay::build(n))).collect();
    println!(
        "Every AWS call delayed by {} ms (one core, current-thread runtime, in-memory adapters behind the delay).\n",
        latency.as_millis()
    );
    for (agents, day) in &days {
        let mut cases = Vec::new();
        agent_state(&rt, day, latency, &mut cases);
        let warm = rt.block_on(warm_alert_table(&day.preceding_agent_events, &rules));
        alerts(&rt, day, &rules, &warm, latency, &mut cases);
        archiver(&rt, day, latency, &mut cases);
        println!("#### Contact centre of {agents} agents\n");
        println!(
            "| function | batch | delivery | AWS calls | most in flight | ms without delay | ms with delay | round trips, wall clock | serial round trips (paused clock, exact) |"
        );
        println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
        for case in &cases {
            println!("{}", case.row(latency));
        }
        println!();
    }
    if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()) {
        moto(&rt, &days);
    }
}
