//! connect-replay — run a synthetic (or recorded) contact-centre day through all three functions.

use std::path::{Path, PathBuf};

shared::use_mimalloc!();

mod args;

use args::{
    Backend, Cli, Command, DayArgs, Format, ForwardCommand, RedriveArgs, RedriveSource, RulesCommand, ServeArgs,
};
use clap::Parser;
use connect_replay::app::{self, AppResult, Local};
use connect_replay::generate::{DayConfig, DayGenerator, Stream};
use connect_replay::replay::{Pace, ReplayClock, ReplayOptions};
use connect_replay::{chaos, generate, io, produce, report, serve, sources};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Every core: the three functions' consumers run side by side (replay::run_consumers), each function's own
    // path unchanged. CONNECT_REPLAY_THREADS=1 measures one core.
    let threads = std::env::var("CONNECT_REPLAY_THREADS")
        .ok()
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = match builder.enable_all().build() {
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
        Command::Demo { day, out, rules, serve, quiet } => demo(day, &out, rules.as_deref(), serve, quiet).await,
        Command::Generate { day, records, format, out, batch } => generate(day, records, format, &out, batch),
        Command::Run { source, backend, out, keep, rules, window, quiet } => {
            run(source, backend, &out, keep, rules.as_deref(), window, quiet).await
        }
        Command::Produce { source, contact_record_stream, agent_event_stream, contact_lens_stream, rate, quiet } => {
            let targets = produce::Targets {
                contact_records: contact_record_stream,
                agent_events: agent_event_stream,
                segments: contact_lens_stream,
            };
            produce_records(source, targets, rate, quiet).await
        }
        Command::Rules { command: RulesCommand::Check { file } } => {
            let rules = app::load_rules(Some(&file))?;
            println!("{}: {} rules, valid", file.display(), rules.rules.len());
            for r in &rules.rules {
                println!("  {:<24} {:<20} {}", r.name, r.kind.name(), r.severity.as_str());
            }
            Ok(())
        }
        Command::Rules { command: RulesCommand::Publish { file, to } } => publish_rules(&file, &to).await,
        Command::Rules { command: RulesCommand::Backtest { rules, events, archive, since, until, list, quiet } } => {
            match archive {
                Some(from) => backtest_archive(&rules, &from, since, until, list, quiet).await,
                None => backtest(&rules, &events).await,
            }
        }
        Command::Chaos { records, fault_rate, seed, agents, batch_size, max_retries, rules, quiet } => {
            let mut run = chaos::RunOptions::default();
            run.esm.batch_size = batch_size.max(1);
            run.esm.maximum_retry_attempts = Some(max_retries);
            let options = chaos::ChaosOptions { records, fault_rate, seed, agents, run, quiet };
            chaos::command(options, rules.as_deref()).await
        }
        Command::Board { out, backend } => board(&out, backend).await,
        Command::Redrive { args } => redrive(args).await,
        Command::Forward { command } => forward_command(command).await,
    }
}

type Records = Box<dyn Iterator<Item = connect_replay::generate::GenRecord>>;

/// The records `run` and `produce` read, and how many when known: generated days (`limit` records, or one day
/// without a limit), a local archive, or record files (read lazily; a bad line ends the input with an error).
/// `run`: the records through the three functions, locally or against AWS.
async fn run(
    source: args::SourceArgs,
    backend: Backend,
    out: &Path,
    keep: bool,
    rules: Option<&Path>,
    window: usize,
    quiet: bool,
) -> AppResult<()> {
    let rules = app::load_rules(rules)?;
    let options = ReplayOptions { window, ..ReplayOptions::default() };
    let (records, expected) = source.open(Some(1_000_000))?;
    let outcome = match backend {
        Backend::Local => {
            let local = Local::open(out, !keep)?;
            let outcome = local.run(records, rules, &options, expected, false, quiet).await?;
            print_rows(&app::summary_rows(&outcome));
            print_rows(&app::archive_rows(&local.archive_counts().await?));
            print_alerts(&local.alert_counts()?);
            println!("\nagent board: {} agents (connect-replay board --out {})", local.board()?.len(), out.display());
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

/// `produce`: the records into Kinesis streams.
async fn produce_records(
    source: args::SourceArgs,
    targets: produce::Targets,
    rate: Option<f64>,
    quiet: bool,
) -> AppResult<()> {
    let (records, expected) = source.open(None)?;
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

/// `forward run` / `forward resend`.
async fn forward_command(command: ForwardCommand) -> AppResult<()> {
    use connect_replay::forward;
    match command {
        ForwardCommand::Run { source, subscriptions, out, budget, batch_size } => {
            // The function's own log lines (JSON, on stderr), as Lambda would record them: what an operator reads.
            let _ = tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_target(false).try_init();
            let subscriptions = forward::read_subscriptions(&subscriptions)?;
            let (records, _) = source.open(None)?;
            let started = std::time::Instant::now();
            let done =
                forward::run(records, subscriptions, &out, std::time::Duration::from_secs(budget), batch_size).await?;
            let t = &done.totals;
            print_rows(&[
                ("records".into(), done.records.to_string()),
                ("records done (delivered or parked)".into(), t.done.to_string()),
                ("records skipped (no subscription takes them)".into(), t.skipped.to_string()),
                ("records quarantined".into(), t.quarantined.to_string()),
                (
                    "records given up (on-failure destination)".into(),
                    done.report.on_failure.iter().map(|f| f.records).sum::<usize>().to_string(),
                ),
                ("messages parked (in total, under --out)".into(), forward::parked_count(&out).await?.to_string()),
                ("wall time".into(), format!("{:.2} s", started.elapsed().as_secs_f64())),
            ]);
            Ok(())
        }
        ForwardCommand::Resend { subscription, subscriptions, out, backend, dry_run } => {
            let subscriptions = forward::read_subscriptions(&subscriptions)?;
            let backend = match backend {
                Backend::Local => forward::Backend::Local(out),
                Backend::Aws => forward::Backend::Aws,
            };
            let result = forward::resend_subscription(subscriptions, &subscription, backend, dry_run, |p| {
                if dry_run {
                    println!(
                        "would send {} (key {}, sequence {}, parked: {})",
                        p.message.id, p.key, p.sequence_number, p.reason
                    );
                }
            })
            .await?;
            print_rows(&[
                ("keys with parked messages".into(), result.keys.to_string()),
                ("messages sent and deleted".into(), result.sent.to_string()),
                ("keys freed".into(), result.keys_cleared.to_string()),
                ("messages left parked".into(), result.left.to_string()),
            ]);
            for (key, reason) in &result.stopped {
                println!("  key {key} stopped: {reason}");
            }
            if result.left > 0 {
                return Err(format!("{} messages are still parked (see above)", result.left).into());
            }
            Ok(())
        }
    }
}

/// `board`: the agent board, from the local tables or DynamoDB.
async fn board(out: &Path, backend: Backend) -> AppResult<()> {
    let agents = match backend {
        Backend::Local => {
            if !out.join(app::AGENT_TABLE_FILE).exists() {
                return Err(format!("no local board in {} (run `connect-replay demo` first)", out.display()).into());
            }
            Local::open(out, false)?.board()?
        }
        Backend::Aws => app::Aws::from_env().await?.board().await?,
    };
    app::print_board(&agents);
    Ok(())
}

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

fn print_alerts(by_rule: &std::collections::BTreeMap<String, usize>) {
    println!("\nalerts published: {}", by_rule.values().sum::<usize>());
    for (rule, n) in by_rule {
        println!("  {rule:<30} {n}");
    }
}

async fn demo(day: DayArgs, out: &Path, rules: Option<&Path>, serve: ServeArgs, quiet: bool) -> AppResult<()> {
    let rules = app::load_rules(rules)?;
    let local = Local::open(out, true)?;
    let mut generator = DayGenerator::new(day.config());
    let records: Vec<_> = generator.by_ref().collect();
    let mut options = ReplayOptions::default();
    if serve.serve {
        options.pace = Some(live_board(&serve, &local, records.iter().map(|r| r.at).min()).await?);
    }
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
    // A paced replay draws no progress bar: the board is the progress.
    let outcome = local.run(records.into_iter(), rules, &options, Some(total), true, quiet || serve.serve).await?;
    let alerts = local.alerts()?;
    let board = local.board()?;
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
    if serve.serve && !serve.exit_after_replay {
        println!("Replay finished. The board stays up until you stop this command (Ctrl-C).");
        flush();
        std::future::pending::<()>().await;
    }
    Ok(())
}

/// Starts the local board for `demo --serve` and returns the pace the replay keeps: board time starts at the
/// day's first record and runs at --speed; each window is one real second of it.
async fn live_board(serve: &ServeArgs, local: &Local, first: Option<chrono::DateTime<chrono::Utc>>) -> AppResult<Pace> {
    let page = match &serve.board_config {
        Some(path) => agent_board::config::PageConfig::from_json(&std::fs::read_to_string(path)?)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => agent_board::config::PageConfig::from_json(app::DEMO_BOARD)?,
    };
    let page = agent_board::config::PageConfig {
        auth: agent_board::config::auth_from_env(&shared::config::ProcessEnv)?,
        ..page
    };
    let clock = ReplayClock::new(first.unwrap_or_else(chrono::Utc::now), serve.speed);
    let listener = serve::bind(serve.port).await.map_err(|e| format!("127.0.0.1:{}: {e}", serve.port))?;
    let address = listener.local_addr()?;
    let service = serve::board_service(local.agent_table.clone(), clock, serve.speed, page, generate::instance_arn());
    tokio::spawn(serve::serve(listener, std::sync::Arc::new(service)));
    println!("Board: http://{address}/");
    println!("Replaying the day at {}x: {} of board time per real second.", serve.speed, humanize(serve.speed));
    flush();
    let tick = chrono::TimeDelta::milliseconds((serve.speed * 1000.0) as i64).max(chrono::TimeDelta::milliseconds(1));
    Ok(Pace { clock, tick })
}

fn humanize(seconds: f64) -> String {
    if seconds >= 120.0 { format!("{:.0} min", seconds / 60.0) } else { format!("{seconds:.0} s") }
}

fn flush() {
    let _ = std::io::Write::flush(&mut std::io::stdout());
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

/// `rules publish`: validates, then uploads; says which version is now the source's.
async fn publish_rules(file: &Path, to: &str) -> AppResult<()> {
    use supervisor_alerts::rules::source::{AwsRulesStore, RulesLocation, RulesStore};
    let location: RulesLocation = to.parse().map_err(|e| format!("--to {e}"))?;
    let rules = app::load_rules(Some(file))?;
    let text = std::fs::read_to_string(file)?;
    let cfg = shared::adapters::aws::sdk_config().await;
    let version = AwsRulesStore::new(&location, &cfg).publish(&text).await?;
    println!("{}: {} rules, valid; published to {location} (version {version})", file.display(), rules.rules.len());
    Ok(())
}

async fn backtest(rules_path: &Path, events: &[PathBuf]) -> AppResult<()> {
    use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
    let rules = app::load_rules(Some(rules_path))?;
    let publisher = MemoryPublisher::new();
    let settings = supervisor_alerts::config::Settings::replay();
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
    println!(
        "{} records, {} alerts would have fired (judged on event time: nothing counts as late in a backtest)",
        stats.total(),
        published.len()
    );
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

/// `redrive`: lists and selects first (quarantine and on-failure records are read here too; the archive a day at a
/// time while sending), then sends.
async fn redrive(args: RedriveArgs) -> AppResult<()> {
    use connect_replay::redrive::{self, Bucket, Function, Location, Recording, Selection, Work};
    use supervisor_alerts::config::Lateness;
    let location: Location = args.from.parse()?;
    let (bucket, base) = Bucket::open(&location).await?;
    let select = Selection {
        since: args.since,
        until: args.until,
        kinds: args.kinds.iter().map(|k| k.kind()).collect(),
        prefix: args.prefix.clone().unwrap_or_else(|| match args.source {
            RedriveSource::Quarantine => app::QUARANTINE_PREFIX.to_owned(),
            _ => String::new(),
        }),
    };
    let functions: Vec<Function> = if !args.functions.is_empty() {
        args.functions.clone()
    } else if args.source == RedriveSource::Archive {
        vec![Function::AgentState, Function::Alerts]
    } else {
        Function::ALL.to_vec()
    };
    if args.source == RedriveSource::Archive && args.backend == Backend::Aws && functions.contains(&Function::Archiver)
    {
        // The archive's records carry no shard or sequence number: archived again, they would land under new keys
        // beside their first copies.
        return Err("the archive is already archived: re-driving it into the deployed archiver would add second \
                    copies under new keys (leave contact-archiver out of --functions)"
            .into());
    }
    let lateness = match (args.lateness, args.backend) {
        (Some(args::LatenessArg::EventTime), _) | (None, Backend::Local) => Lateness::EventTime,
        (Some(args::LatenessArg::WallClock), _) | (None, Backend::Aws) => Lateness::WallClock,
    };
    let rules = (app::load_rules(args.rules.as_deref())?, lateness);
    let reading = app::progress_bar(None, args.quiet);
    reading.set_message("objects read");
    let tick = |n| reading.inc(n);
    let (work, objects, mut notes) = match args.source {
        RedriveSource::Archive => {
            let days = redrive::archive_days(&bucket, &base, &select).await?;
            let objects = days.values().map(Vec::len).sum();
            if objects == 0 {
                return Err(
                    format!("no archive objects under {location} in the selection (kinds, days, prefix)").into()
                );
            }
            (Work::Archive { bucket: bucket.clone(), days }, objects, Vec::new())
        }
        RedriveSource::Quarantine => {
            let loaded = redrive::quarantined(&bucket, &base, &select, &tick).await?;
            (Work::Records(loaded.records), loaded.objects, loaded.notes)
        }
        RedriveSource::OnFailure => {
            let reader = match args.backend {
                Backend::Aws => Some(redrive::KinesisReader::from_env().await),
                Backend::Local => None,
            };
            let loaded =
                redrive::on_failure(&bucket, &base, &select, reader.as_ref(), chrono::Utc::now(), &tick).await?;
            (Work::Records(loaded.records), loaded.objects, loaded.notes)
        }
    };
    reading.finish_and_clear();
    notes.extend(redrive::unsent_notes(&work, &functions));
    let names: Vec<&str> = functions.iter().map(|f| f.name()).collect();
    if args.dry_run {
        match &work {
            Work::Archive { days, .. } => {
                for (day, keys) in days {
                    println!("would send {day}: {} archive objects to {}", keys.len(), names.join(", "));
                }
            }
            Work::Records(records) => {
                for p in records {
                    let to = p.function.filter(|f| functions.contains(f)).map(|f| vec![f.name()]);
                    let to = if p.function.is_some() && to.is_none() {
                        vec!["(not selected)"]
                    } else {
                        to.unwrap_or(names.clone())
                    };
                    println!(
                        "would send {} {} {} to {} (from {})",
                        connect_replay::redrive::stream_label(&p.item.stream_arn),
                        p.item.shard_id,
                        p.item.seq_str(),
                        to.join(", "),
                        p.origin
                    );
                }
            }
        }
        print_notes(&notes);
        println!("dry run: {objects} objects from {location}; nothing sent");
        return Ok(());
    }
    let total = match &work {
        Work::Records(r) => Some((r.len() * functions.len()) as u64),
        Work::Archive { .. } => None,
    };
    let bar = app::progress_bar(total, args.quiet);
    let progress = |n: u64| bar.inc(n);
    let options = ReplayOptions::default();
    let mut summary = match args.backend {
        Backend::Local => {
            let local = Local::open(&args.out, false)?;
            let stores = app::Stores {
                archive: local.archive.clone(),
                quarantine: Recording::new(local.archive.clone()),
                agent_table: local.agent_table.clone(),
                alert_table: local.alert_table.clone(),
                publisher: shared::adapters::fs::JsonlPublisher::append(&args.out.join(app::ALERTS_FILE))?,
            };
            let kinds = contact_archiver::config::ArchiveKinds::ALL;
            redrive::drive(stores, kinds, rules, work, &functions, &options, &progress).await?
        }
        Backend::Aws => {
            let aws = app::Aws::from_env().await?;
            let stores = app::Stores {
                archive: aws.archive.clone(),
                quarantine: Recording::new(aws.quarantine.clone()),
                agent_table: aws.agent_table.clone(),
                alert_table: aws.alert_table.clone(),
                publisher: aws.publisher.clone(),
            };
            redrive::drive(stores, aws.archive_kinds, rules, work, &functions, &options, &progress).await?
        }
    };
    bar.finish_and_clear();
    summary.objects = summary.objects.max(objects);
    summary.notes.extend(notes);
    print_rows(&summary.rows());
    let reasons = summary.reasons();
    if !reasons.is_empty() {
        println!("\nquarantined again:");
        for ((function, code), (n, reason)) in reasons {
            println!("  {function:<20} {code:<20} {n:>6}  e.g. {reason}");
        }
    }
    print_notes(&summary.notes);
    if summary.given_up > 0 {
        return Err(
            format!("{} records could not be sent (see above); run the re-drive again", summary.given_up).into()
        );
    }
    Ok(())
}

fn print_notes(notes: &[String]) {
    if !notes.is_empty() {
        println!("\nnot sent:");
        for n in notes {
            println!("  {n}");
        }
    }
}

/// `rules backtest --archive`: the archive day by day through supervisor-alerts alone (its state in a temporary
/// SQLite table, so memory stays flat over a month), on event time; what would have fired, per rule and day.
async fn backtest_archive(
    rules_path: &Path,
    from: &str,
    since: Option<chrono::NaiveDate>,
    until: Option<chrono::NaiveDate>,
    list: bool,
    quiet: bool,
) -> AppResult<()> {
    use connect_replay::redrive::{self, Bucket, Function, Location, Recording, Selection, Work};
    use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
    let rules = app::load_rules(Some(rules_path))?;
    let location: Location = from.parse()?;
    let (bucket, base) = Bucket::open(&location).await?;
    let select = Selection { since, until, ..Selection::default() };
    let days = redrive::archive_days(&bucket, &base, &select).await?;
    if days.is_empty() {
        return Err(format!("{location}: no archive objects (NDJSON) in the selected days").into());
    }
    let state = tempfile::tempdir()?;
    let alert_table = shared::adapters::sqlite::SqliteItemStore::open(&state.path().join("alert-state.sqlite"), &[])?;
    let publisher = MemoryPublisher::new();
    let bar = app::progress_bar(None, quiet);
    let progress = |n: u64| bar.inc(n);
    let started = std::time::Instant::now();
    let mut per_day: Vec<(chrono::NaiveDate, std::collections::BTreeMap<String, usize>)> = Vec::new();
    let (mut records, mut quarantined) = (0usize, 0usize);
    for (day, keys) in days {
        let stores = app::Stores {
            archive: MemoryObjectStore::new(),
            quarantine: Recording::new(MemoryObjectStore::new()),
            agent_table: MemoryItemStore::new(&[]),
            alert_table: alert_table.clone(),
            publisher: publisher.clone(),
        };
        let before = publisher.published().len();
        let work = Work::Archive { bucket: bucket.clone(), days: [(day, keys)].into() };
        let kinds = contact_archiver::config::ArchiveKinds::ALL;
        let options = ReplayOptions::default();
        let judged = (rules.clone(), supervisor_alerts::config::Lateness::EventTime);
        let summary = redrive::drive(stores, kinds, judged, work, &[Function::Alerts], &options, &progress).await?;
        records += summary.records;
        quarantined += summary.quarantined.len();
        let mut fired = std::collections::BTreeMap::new();
        for m in &publisher.published()[before..] {
            *fired.entry(alert_rule(m)).or_insert(0) += 1;
        }
        per_day.push((day, fired));
    }
    let secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let published = publisher.published();
    println!(
        "{records} records from {location}, {} alerts would have fired (judged on event time: nothing counts as late \
         in a backtest); {:.1} s, {:.0} records/s",
        published.len(),
        secs,
        records as f64 / secs.max(1e-9)
    );
    let rule_names: std::collections::BTreeSet<&String> = per_day.iter().flat_map(|(_, f)| f.keys()).collect();
    print!("{:<12}", "day");
    for r in &rule_names {
        print!(" {r:>24}");
    }
    println!();
    for (day, fired) in &per_day {
        print!("{:<12}", day.to_string());
        for r in &rule_names {
            print!(" {:>24}", fired.get(*r).copied().unwrap_or(0));
        }
        println!();
    }
    if list {
        for m in &published {
            println!("  {}", m.subject);
        }
    }
    println!("records quarantined (invalid): {quarantined}");
    Ok(())
}

/// The rule an alert message came from (its `rule` attribute).
fn alert_rule(m: &shared::ports::Message) -> String {
    m.attributes.get(supervisor_alerts::alert::attr::RULE).cloned().unwrap_or_else(|| "(unnamed)".into())
}
