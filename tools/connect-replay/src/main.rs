//! connect-replay — run a synthetic (or recorded) contact-centre day through all three functions.

use std::path::{Path, PathBuf};

shared::use_mimalloc!();

use clap::{Args, Parser, Subcommand, ValueEnum};
use connect_replay::app::{self, AppResult, Local};
use connect_replay::generate::{DayConfig, DayGenerator, Stream};
use connect_replay::replay::ReplayOptions;
use connect_replay::{chaos, io, produce, report, sources};

#[derive(Parser)]
#[command(version, about = "Replay Amazon Connect streams through contact-archiver, agent-state and supervisor-alerts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// A directory for S3, local tables for DynamoDB, alerts as JSON lines.
    Local,
    /// The real SDK adapters (ARCHIVE_BUCKET, ARCHIVE_AGENT_EVENTS, ARCHIVE_SEGMENTS, AGENT_STATE_TABLE, ALERT_STATE_TABLE,
    /// ALERT_TOPIC_ARN; emulators via AWS_ENDPOINT_URL).
    Aws,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per line: stream, partitionKey, at, data (base64).
    Jsonl,
    /// Kinesis event envelopes for `cargo lambda invoke --data-file`, one file per batch and stream.
    Envelopes,
}

#[derive(clap::Args, Clone)]
struct DayArgs {
    /// Agents on shift.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Seed: the same seed gives the same day.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Where the records of `run` and `produce` come from: files, a local archive, or a generated day.
#[derive(Args)]
struct SourceArgs {
    /// Files: `.jsonl` from `generate` or `.json` Kinesis envelopes.
    inputs: Vec<PathBuf>,
    /// The NDJSON objects of a local archive directory instead (read with the archiver's own decoder).
    #[arg(long)]
    from_archive: Option<PathBuf>,
    /// Freshly generated records instead of files.
    #[arg(long)]
    generated: bool,
    #[command(flatten)]
    day: DayArgs,
    /// With --generated: this many records (more days as needed). Default: `run` 1,000,000; `produce` one day.
    #[arg(long)]
    records: Option<usize>,
}

impl SourceArgs {
    /// The records and, when known, how many there are (for the progress bar).
    fn open(&self, default_records: Option<usize>) -> AppResult<(Records, Option<u64>)> {
        let generated = self.generated.then(|| self.day.config());
        record_source(&self.inputs, self.from_archive.as_deref(), generated, self.records.or(default_records))
    }
}

impl DayArgs {
    fn config(&self) -> DayConfig {
        DayConfig { agents: self.agents, seed: self.seed, ..DayConfig::default() }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Generate a day, replay it through all three functions on local backends, print a summary and write a report.
    Demo {
        #[command(flatten)]
        day: DayArgs,
        /// Output directory (emptied first).
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// Alert rules (default: the demo rules shipped with the tool).
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long)]
        quiet: bool,
    },
    /// Write synthetic streams to files, streamed with flat memory.
    Generate {
        #[command(flatten)]
        day: DayArgs,
        /// Stop after this many records (more days are generated as needed); default one day.
        #[arg(long)]
        records: Option<usize>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// A file for jsonl, a directory for envelopes.
        #[arg(long, default_value = "out/day.jsonl")]
        out: PathBuf,
        /// Records per envelope file.
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// Replay record files (from `generate`, or Kinesis envelopes), or a local archive, through the functions.
    Run {
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long, value_enum, default_value = "local")]
        backend: Backend,
        #[arg(long, default_value = "out/run")]
        out: PathBuf,
        /// Keep what a previous run left in --out (default: start empty).
        #[arg(long)]
        keep: bool,
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Records per replay window.
        #[arg(long, default_value_t = 20_000)]
        window: usize,
        #[arg(long)]
        quiet: bool,
    },
    /// Put records (a generated day, record files, an archive) into real Kinesis streams, as Amazon Connect would.
    ///
    /// Each record goes to the stream given for its kind, with Connect's partition key: the agent ARN for agent
    /// events, the contact id for contact records and segments. A record that cannot be classified goes to the
    /// stream its source names (generated records and `generate` files carry it, envelopes by their stream ARN,
    /// otherwise the contact-record stream) with a hash of its bytes as key. The same stream may be given for
    /// several kinds: their records then share it in their original order. Segments are not sent without
    /// --contact-lens-stream. PutRecords limits are kept (500 records and 5 MiB per call; a record over 1 MiB is
    /// refused and counted, not sent); failed entries and throttled calls are retried with backoff, at most 10
    /// times, keeping the order per partition key; records still failing are listed and the exit code is 1.
    /// Credentials, region and AWS_ENDPOINT_URL (emulators) come from the environment.
    Produce {
        #[command(flatten)]
        source: SourceArgs,
        /// Stream name or ARN for contact records (and records that cannot be classified, unless their source
        /// names another stream).
        #[arg(long)]
        contact_record_stream: String,
        /// Stream name or ARN for agent events (may be the contact-record stream).
        #[arg(long)]
        agent_event_stream: String,
        /// Stream name or ARN for Contact Lens segments (may be one of the others).
        #[arg(long)]
        contact_lens_stream: Option<String>,
        /// At most this many records per second over all streams.
        #[arg(long)]
        rate: Option<f64>,
        #[arg(long)]
        quiet: bool,
    },
    /// Validate or back-test alert rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Fault injection: the records through the functions with every AWS call failing at --fault-rate, and again
    /// without faults; checks that nothing was lost, duplicated, given up or blocked (exit code 1 if not).
    Chaos {
        /// At least this many records (whole generated days).
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Probability that any one AWS call fails (throttling, 5xx, timeout, or response lost after the write).
        #[arg(long, default_value_t = 0.05)]
        fault_rate: f64,
        /// Seed of the generated days and of the faults.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Agents per generated day.
        #[arg(long, default_value_t = 50)]
        agents: usize,
        /// Records per batch (the event source mapping's BatchSize).
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
        /// The event source mapping's MaximumRetryAttempts.
        #[arg(long, default_value_t = 50)]
        max_retries: u32,
        /// Alert rules (default: the demo rules, which also checks alerts against what the days imply).
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long)]
        quiet: bool,
    },
    /// Print the agent board from a local output directory or the DynamoDB table.
    Board {
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "local")]
        backend: Backend,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate a rules document with the function's own validator.
    Check { file: PathBuf },
    /// Which alerts these rules would have fired on these records.
    Backtest {
        #[arg(long)]
        rules: PathBuf,
        /// `.jsonl` record files or `.json` Kinesis envelopes.
        #[arg(long, num_args = 1.., required = true)]
        events: Vec<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // One core: the replay's figures are per core, and the functions run single-threaded in Lambda too.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> AppResult<()> {
    match command {
        Command::Demo { day, out, rules, quiet } => demo(day, &out, rules.as_deref(), quiet).await,
        Command::Generate { day, records, format, out, batch } => generate(day, records, format, &out, batch),
        Command::Run { source, backend, out, keep, rules, window, quiet } => {
            let rules = app::load_rules(rules.as_deref())?;
            let options = ReplayOptions { window, ..ReplayOptions::default() };
            let (records, expected) = source.open(Some(1_000_000))?;
            let outcome = match backend {
                Backend::Local => {
                    let local = Local::open(&out, !keep)?;
                    let outcome = local.run(records, rules, &options, expected, false, quiet).await?;
                    print_rows(&app::summary_rows(&outcome));
                    print_rows(&app::archive_rows(&local.archive_counts().await?));
                    print_alerts(&local.alerts()?);
                    println!(
                        "\nagent board: {} agents (connect-replay board --out {})",
                        local.board().len(),
                        out.display()
                    );
                    outcome
                }
                Backend::Aws => {
                    let aws = app::Aws::from_env().await?;
                    let outcome = app::execute(
                        records,
                        aws.archive.clone(),
                        aws.archive_kinds,
                        aws.quarantine.clone(),
                        aws.agent_table.clone(),
                        aws.alert_table.clone(),
                        aws.publisher.clone(),
                        rules,
                        &options,
                        expected,
                        false,
                        quiet,
                    )
                    .await;
                    print_rows(&app::summary_rows(&outcome));
                    outcome
                }
            };
            if outcome.stats.on_failure() > 0 || outcome.stats.blocked_lanes() > 0 {
                return Err("some records were given up or a shard was blocked (see above)".into());
            }
            Ok(())
        }
        Command::Produce { source, contact_record_stream, agent_event_stream, contact_lens_stream, rate, quiet } => {
            let (records, expected) = source.open(None)?;
            let targets = produce::Targets {
                contact_records: contact_record_stream,
                agent_events: agent_event_stream,
                segments: contact_lens_stream,
            };
            let options = produce::ProduceOptions { rate, ..produce::ProduceOptions::default() };
            let client = produce::KinesisPutter::from_env().await;
            let bar = app::progress_bar(expected, quiet);
            let summary = produce::produce(records, &targets, &client, &options, |n| bar.inc(n)).await?;
            bar.finish_and_clear();
            print_rows(&app::produce_rows(&summary));
            if !summary.failed.is_empty() {
                return Err(format!("{} records could not be put (see above)", summary.failed.len()).into());
            }
            Ok(())
        }
        Command::Rules { command: RulesCommand::Check { file } } => {
            let rules = app::load_rules(Some(&file))?;
            println!("{}: {} rules, valid", file.display(), rules.rules.len());
            for r in &rules.rules {
                println!("  {:<24} {:<20} {}", r.name, r.kind.name(), r.severity.as_str());
            }
            Ok(())
        }
        Command::Rules { command: RulesCommand::Backtest { rules, events } } => backtest(&rules, &events).await,
        Command::Chaos { records, fault_rate, seed, agents, batch_size, max_retries, rules, quiet } => {
            let mut run = chaos::RunOptions::default();
            run.esm.batch_size = batch_size.max(1);
            run.esm.maximum_retry_attempts = Some(max_retries);
            let options = chaos::ChaosOptions { records, fault_rate, seed, agents, run, quiet };
            chaos::command(options, rules.as_deref()).await
        }
        Command::Board { out, backend } => {
            let agents = match backend {
                Backend::Local => {
                    if !out.join(app::AGENT_TABLE_FILE).exists() {
                        return Err(
                            format!("no local board in {} (run `connect-replay demo` first)", out.display()).into()
                        );
                    }
                    Local::open(&out, false)?.board()
                }
                Backend::Aws => app::Aws::from_env().await?.board().await?,
            };
            app::print_board(&agents);
            Ok(())
        }
    }
}

type Records = Box<dyn Iterator<Item = connect_replay::generate::GenRecord>>;

/// The records `run` and `produce` read, and how many when known: generated days (`limit` records, or one day
/// without a limit), a local archive, or record files (read lazily; a bad line ends the input with an error).
fn record_source(
    inputs: &[PathBuf],
    from_archive: Option<&Path>,
    generated: Option<DayConfig>,
    limit: Option<usize>,
) -> AppResult<(Records, Option<u64>)> {
    if let Some(day) = generated {
        return Ok(match limit {
            Some(n) => (Box::new(sources::days(day, None).take(n)), Some(n as u64)),
            None => (Box::new(sources::days(day, Some(1))), None),
        });
    }
    if let Some(dir) = from_archive {
        let records = sources::archive(dir)?;
        let n = records.len() as u64;
        return Ok((Box::new(records.into_iter()), Some(n)));
    }
    if inputs.is_empty() {
        return Err("give record files, --from-archive DIR, or --generated".into());
    }
    let mut all: Vec<Box<dyn Iterator<Item = std::io::Result<_>>>> = Vec::new();
    for p in inputs {
        all.push(sources::file(p)?);
    }
    Ok((Box::new(all.into_iter().flatten().map_while(|r| r.map_err(|e| eprintln!("error: {e}")).ok())), None))
}

fn print_rows(rows: &[(String, String)]) {
    for (k, v) in rows {
        println!("{k:<44} {v}");
    }
}

fn print_alerts(alerts: &[serde_json::Value]) {
    println!("\nalerts published: {}", alerts.len());
    for (rule, n) in app::alerts_by_rule(alerts) {
        println!("  {rule:<30} {n}");
    }
}

async fn demo(day: DayArgs, out: &Path, rules: Option<&Path>, quiet: bool) -> AppResult<()> {
    let rules = app::load_rules(rules)?;
    let local = Local::open(out, true)?;
    let mut generator = DayGenerator::new(day.config());
    let records: Vec<_> = generator.by_ref().collect();
    let truth = generator.truth().clone();
    if !quiet {
        println!(
            "Generated a day: {} agents, {} contacts, {} records (seed {}).",
            day.agents,
            truth.contacts,
            records.len(),
            day.seed
        );
    }
    let total = records.len() as u64;
    let outcome = local.run(records.into_iter(), rules, &ReplayOptions::default(), Some(total), true, quiet).await?;
    let alerts = local.alerts()?;
    let board = local.board();
    let mut rows = app::summary_rows(&outcome);
    rows.extend(app::archive_rows(&local.archive_counts().await?));
    let archived = contact_archiver_versions(&local).await?;
    rows.push((
        "contact-record versions archived".into(),
        format!(
            "{} of {} published ({} republished)",
            archived.intersection(&truth.ctr_versions).count(),
            truth.ctr_versions.len(),
            truth.republished
        ),
    ));
    rows.push((
        "agents logged out at end of day".into(),
        format!("{} of {}", board.iter().filter(|a| !a.is_logged_in()).count(), board.len()),
    ));
    rows.push(("alerts published".into(), alerts.len().to_string()));
    for (rule, n) in app::alerts_by_rule(&alerts) {
        rows.push((format!("  alerts: {rule}"), n.to_string()));
    }
    print_rows(&rows);
    println!();
    app::print_board(&board);
    let html =
        report::render("Contact-centre day: replay report", &rows, &outcome.timelines, &app::alert_marks(&alerts));
    let path = out.join(app::REPORT_FILE);
    std::fs::write(&path, html)?;
    println!("\nReport: {}", path.display());
    println!("Archive: {}   Alerts: {}", out.join(app::ARCHIVE_DIR).display(), out.join(app::ALERTS_FILE).display());
    Ok(())
}

/// (ContactId, LastUpdateTimestamp) of every archived contact record.
pub async fn contact_archiver_versions(local: &Local) -> AppResult<std::collections::BTreeSet<(String, String)>> {
    let mut out = std::collections::BTreeSet::new();
    for r in
        sources::archive(&local.out.join(app::ARCHIVE_DIR))?.into_iter().filter(|r| r.stream == Stream::ContactRecords)
    {
        let v: serde_json::Value = match serde_json::from_slice(contact_archiver::ndjson::strip_bom(&r.data)) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if let (Some(id), Some(ts)) = (v["ContactId"].as_str(), v["LastUpdateTimestamp"].as_str()) {
            out.insert((id.to_owned(), ts.to_owned()));
        }
    }
    Ok(out)
}

fn generate(day: DayArgs, records: Option<usize>, format: Format, out: &Path, batch: usize) -> AppResult<()> {
    let days = if records.is_some() { None } else { Some(1) };
    let iter = sources::days(day.config(), days).take(records.unwrap_or(usize::MAX));
    let mut n = 0usize;
    match format {
        Format::Jsonl => {
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
            for r in iter {
                io::write_jsonl(&mut w, &r)?;
                n += 1;
            }
            std::io::Write::flush(&mut w)?;
        }
        Format::Envelopes => {
            let mut w = io::EnvelopeWriter::new(out, batch)?;
            for r in iter {
                w.push(r)?;
                n += 1;
            }
            w.finish()?;
        }
    }
    println!("wrote {n} records to {}", out.display());
    Ok(())
}

async fn backtest(rules_path: &Path, events: &[PathBuf]) -> AppResult<()> {
    use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
    let rules = app::load_rules(Some(rules_path))?;
    let publisher = MemoryPublisher::new();
    let settings = supervisor_alerts::config::Settings::for_rules(&rules);
    let handler = supervisor_alerts::handler::SupervisorAlerts::new(
        rules,
        MemoryItemStore::new(&[]),
        publisher.clone(),
        settings,
    );
    let hosted = connect_replay::replay::Hosted::new(
        supervisor_alerts::NAME,
        handler,
        shared::quarantine::ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/"),
    );
    let mut records = Vec::new();
    for p in events {
        for r in sources::file(p)? {
            records.push(r?);
        }
    }
    // Agent events first in each window, as in the replay; one window holds everything here.
    let options =
        ReplayOptions { window: records.len().max(1), archive_all_streams: false, ..ReplayOptions::default() };
    let none = connect_replay::replay::Hosted::new(
        "none",
        NoOp,
        shared::quarantine::ObjectQuarantine::new(MemoryObjectStore::new(), "q/"),
    );
    let functions = connect_replay::replay::Functions { archiver: &none, agent_state: &none, alerts: &hosted };
    let stats = connect_replay::replay::replay(records.into_iter(), functions, &options, |_| {}).await;
    let published = publisher.published();
    println!("{} records, {} alerts would have fired", stats.total(), published.len());
    for m in &published {
        println!("  {}", m.subject);
    }
    let t = hosted.totals();
    println!("records quarantined (invalid): {}", t.quarantined);
    Ok(())
}

/// A function that does nothing (stands in for the functions a back-test does not run).
struct NoOp;

impl shared::batch::Processor for NoOp {
    async fn process(&self, items: &[shared::kinesis::KinesisItem]) -> Vec<shared::batch::Disposition> {
        vec![shared::batch::Disposition::Skipped; items.len()]
    }
}
