//! `connect-replay chaos`: generate, the faulty and the fault-free run on memory stores, judge, print.

use std::time::{Duration, Instant};

use supervisor_alerts::rules::Rules;

use super::expected::Expected;
use super::outcome::Verdict;
use super::plans::Plans;
use super::read_back::{Observed, current_items, observe};
use super::run::{MemoryStores, Run, RunOptions, run};
use super::verdict::judge;
use crate::app::{self, AppResult};
use crate::generate::{DayConfig, GenRecord};

#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub records: usize,
    pub fault_rate: f64,
    pub seed: u64,
    pub agents: usize,
    pub run: RunOptions,
    pub quiet: bool,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self { records: 1_000_000, fault_rate: 0.05, seed: 42, agents: 50, run: RunOptions::default(), quiet: false }
    }
}

/// Everything a chaos run produced.
pub struct Outcome {
    pub expected: Expected,
    pub verdict: Verdict,
    pub faulty: Run,
    pub clean: Run,
    pub generation: Duration,
    pub elapsed: Duration,
}

/// One run on fresh memory stores (each port wrapped in `Faulty` with its plan), and what it left in them.
pub async fn memory_run(
    records: &[GenRecord],
    plans: &Plans,
    rules: Rules,
    options: &RunOptions,
) -> AppResult<(Run, Observed)> {
    let stores = MemoryStores::memory();
    let run = run(records.iter().cloned(), records.len(), &stores, plans, rules, options).await;
    let mut seen = observe(&stores.archive, &stores.quarantine, &stores.agent_table).await?;
    seen.current_items = Some(current_items(&stores.agent_table));
    Ok((run, seen))
}

/// Runs `f` on a fresh single-threaded runtime (the functions run on one core in Lambda too).
fn on_own_runtime<T>(f: impl std::future::Future<Output = AppResult<T>>) -> AppResult<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

/// The whole chaos run on memory stores: generate; the faulty run, then the fault-free run, each on a
/// single-threaded runtime of its own; observe; judge. Blocking (it runs its own runtimes): call it from a plain
/// thread, a `#[test]`, or a command that has nothing else to do meanwhile.
pub fn chaos_in_memory(options: &ChaosOptions, rules: Rules, demo_rules: bool) -> AppResult<Outcome> {
    let started = Instant::now();
    let say = |s: String| {
        if !options.quiet {
            eprintln!("{s}");
        }
    };
    let day = DayConfig { seed: options.seed, agents: options.agents, ..DayConfig::default() };
    let (expected, records) = Expected::generate(&day, options.records);
    let generation = started.elapsed();
    say(format!(
        "generated {} records ({} days of {} agents) in {:.1} s; the faulty run (every call fails with probability \
         {})…",
        expected.records,
        expected.days,
        options.agents,
        generation.as_secs_f64(),
        options.fault_rate
    ));

    let plans = Plans::new(options.fault_rate, options.seed);
    let (faulty, seen) = on_own_runtime(memory_run(&records, &plans, rules.clone(), &options.run))?;
    say(format!("faulty run done in {:.1} s; the fault-free run…", faulty.elapsed.as_secs_f64()));
    let (clean, clean_seen) = on_own_runtime(memory_run(&records, &Plans::new(0.0, 0), rules, &options.run))?;
    drop(records);
    say(format!("fault-free run done in {:.1} s", clean.elapsed.as_secs_f64()));

    let mut verdict = judge(&expected, &plans, (&faulty, &seen), (&clean, &clean_seen), demo_rules);
    let elapsed = started.elapsed();
    verdict.figures.push((
        "wall time".into(),
        format!(
            "{:.1} s: generation {:.1} s, faulty run {:.1} s, fault-free run {:.1} s (each on one core), reading \
             back and checking the rest",
            elapsed.as_secs_f64(),
            generation.as_secs_f64(),
            faulty.elapsed.as_secs_f64(),
            clean.elapsed.as_secs_f64(),
        ),
    ));
    Ok(Outcome { expected, verdict, faulty, clean, generation, elapsed })
}

/// Prints the figures and the checks.
pub fn print(verdict: &Verdict) {
    println!("\nfigures");
    for (k, v) in &verdict.figures {
        println!("  {k:<50} {v}");
    }
    println!("\nchecks");
    for c in &verdict.checks {
        println!("  {} {:<78} {}", if c.ok { "PASS" } else { "FAIL" }, c.name, c.detail);
    }
    let failed = verdict.failed().len();
    println!("\n{} of {} checks passed", verdict.checks.len() - failed, verdict.checks.len());
}

/// `connect-replay chaos`: runs, prints, and fails if any check failed.
pub async fn command(options: ChaosOptions, rules_path: Option<&std::path::Path>) -> AppResult<()> {
    let rules = app::load_rules(rules_path)?;
    if !(0.0..=1.0).contains(&options.fault_rate) {
        return Err(format!("--fault-rate {} is not a probability", options.fault_rate).into());
    }
    println!(
        "chaos: {} records, fault rate {}, seed {}, batch size {}, maximum retry attempts {:?}",
        options.records,
        options.fault_rate,
        options.seed,
        options.run.esm.batch_size,
        options.run.esm.maximum_retry_attempts
    );
    // Its own thread: the runs start runtimes of their own, which cannot nest in the caller's.
    let demo_rules = rules_path.is_none();
    let outcome = std::thread::scope(|scope| scope.spawn(|| chaos_in_memory(&options, rules, demo_rules)).join())
        .map_err(|_| "the chaos run panicked")??;
    print(&outcome.verdict);
    let failed = outcome.verdict.failed();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} check(s) failed: {}",
            failed.len(),
            failed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("; ")
        )
        .into())
    }
}
