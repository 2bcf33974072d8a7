//! The command line of connect-replay: its commands and their arguments (clap), and where `run` and `produce` take
//! their records from.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use connect_replay::app::AppResult;
use connect_replay::generate::DayConfig;

use crate::{Records, record_source};

#[derive(Parser)]
#[command(version, about = "Replay Amazon Connect streams through contact-archiver, agent-state and supervisor-alerts")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// A directory for S3, local tables for DynamoDB, alerts as JSON lines.
    Local,
    /// The real SDK adapters (ARCHIVE_BUCKET, ARCHIVE_AGENT_EVENTS, ARCHIVE_SEGMENTS, AGENT_STATE_TABLE, ALERT_STATE_TABLE,
    /// ALERT_TOPIC_ARN; emulators via AWS_ENDPOINT_URL).
    Aws,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line: stream, partitionKey, at, data (base64).
    Jsonl,
    /// Kinesis event envelopes for `cargo lambda invoke --data-file`, one file per batch and stream.
    Envelopes,
}

/// `demo --serve`: the live board while the day replays in board time.
#[derive(clap::Args, Clone)]
pub(crate) struct ServeArgs {
    /// Serve the wallboard page and its API on 127.0.0.1 while the day replays at --speed, and keep serving after.
    #[arg(long)]
    pub(crate) serve: bool,
    /// With --serve: board seconds per real second (60: an 8-hour shift in 8 minutes).
    #[arg(long, default_value_t = 60.0, value_parser = speed)]
    pub(crate) speed: f64,
    /// With --serve: the port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// With --serve: the page's settings (title, poll_seconds, stale_seconds, thresholds) as JSON; default: the
    /// demo's board.demo.json shipped with the tool. OIDC_ISSUER / OIDC_CLIENT_ID / OIDC_SCOPE in the environment
    /// make the page log in (for testing the page behind an authorizer; this server checks no token).
    #[arg(long)]
    pub(crate) board_config: Option<PathBuf>,
    /// With --serve: stop once the day is replayed instead of serving on.
    #[arg(long)]
    pub(crate) exit_after_replay: bool,
}

fn speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!("{s}: a speed from 0.1 to 100000")),
    }
}

#[derive(clap::Args, Clone)]
pub(crate) struct DayArgs {
    /// Agents on shift.
    #[arg(long, default_value_t = 50)]
    pub(crate) agents: usize,
    /// Seed: the same seed gives the same day.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}

/// Where the records of `run` and `produce` come from: files, a local archive, or a generated day.
#[derive(Args)]
pub(crate) struct SourceArgs {
    /// Files: `.jsonl` from `generate` or `.json` Kinesis envelopes.
    pub(crate) inputs: Vec<PathBuf>,
    /// The NDJSON objects of a local archive directory instead (read with the archiver's own decoder).
    #[arg(long)]
    pub(crate) from_archive: Option<PathBuf>,
    /// Freshly generated records instead of files.
    #[arg(long)]
    pub(crate) generated: bool,
    #[command(flatten)]
    pub(crate) day: DayArgs,
    /// With --generated: this many records (more days as needed). Default: `run` 1,000,000; `produce` one day.
    #[arg(long)]
    pub(crate) records: Option<usize>,
}

impl SourceArgs {
    /// The records and, when known, how many there are (for the progress bar).
    pub(crate) fn open(&self, default_records: Option<usize>) -> AppResult<(Records, Option<u64>)> {
        let generated = self.generated.then(|| self.day.config());
        record_source(&self.inputs, self.from_archive.as_deref(), generated, self.records.or(default_records))
    }
}

impl DayArgs {
    pub(crate) fn config(&self) -> DayConfig {
        DayConfig { agents: self.agents, seed: self.seed, ..DayConfig::default() }
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        #[command(flatten)]
        serve: ServeArgs,
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
    /// The stream-forwarder: deliver records to the subscriptions' endpoints locally, or re-send parked messages.
    Forward {
        #[command(subcommand)]
        command: ForwardCommand,
    },
    /// Send records through the functions again: from the archive (rebuild the board, re-evaluate alerts), the
    /// quarantine (after a fix) or Lambda's on-failure records (after an outage), from a directory or S3.
    ///
    /// Quarantine and on-failure records are all read before anything is sent (an unreadable source stops the
    /// command with nothing written); the archive is read a day at a time, and an unreadable object stops it at its
    /// day, naming the days already sent. Quarantined and on-failure records keep their shard and sequence number and go only to the function
    /// that gave them up, so a second re-drive changes nothing. `--backend aws` writes to the deployed stack's
    /// tables, buckets and topic (the functions run here, with the environment the functions read).
    Redrive {
        #[command(flatten)]
        args: RedriveArgs,
    },
    /// Print the agent board from a local output directory or the DynamoDB table.
    Board {
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "local")]
        backend: Backend,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RedriveSource {
    /// The archiver's NDJSON objects (`<kind>/year=…/month=…/day=…/`).
    Archive,
    /// Quarantine entries (`quarantine/<function>/YYYY/MM/DD/…`): the raw bytes and where they came from.
    Quarantine,
    /// Lambda's on-failure invocation records (`aws/lambda/<mapping>/<shard>/…`) with the batch's payload.
    OnFailure,
}

#[derive(clap::Args)]
pub(crate) struct RedriveArgs {
    #[arg(long, value_enum)]
    pub(crate) source: RedriveSource,
    /// A directory or `s3://bucket/prefix` (for quarantine: the bucket or directory holding `quarantine/`).
    #[arg(long)]
    pub(crate) from: String,
    /// First day (UTC, YYYY-MM-DD), inclusive: the archive's partition day, the arrival day otherwise.
    #[arg(long)]
    pub(crate) since: Option<chrono::NaiveDate>,
    /// Last day (UTC, YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub(crate) until: Option<chrono::NaiveDate>,
    /// Only these kinds of record (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) kinds: Vec<KindArg>,
    /// Only keys under this prefix (inside --from; default `quarantine/` and `aws/lambda/` for those sources).
    #[arg(long)]
    pub(crate) prefix: Option<String>,
    /// The functions to send to (default: agent-state and supervisor-alerts for the archive — it is already
    /// archived —, all three otherwise; quarantined and on-failure records go only to the function that gave
    /// them up).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) functions: Vec<connect_replay::redrive::Function>,
    #[arg(long, value_enum, default_value = "local")]
    pub(crate) backend: Backend,
    /// With the local backend: the output directory whose tables, archive and alerts receive the records (kept).
    #[arg(long, default_value = "out/run")]
    pub(crate) out: PathBuf,
    /// Alert rules (default: the demo rules).
    #[arg(long)]
    pub(crate) rules: Option<PathBuf>,
    /// How supervisor-alerts judges lateness (default: wall-clock with --backend aws — no page about a situation
    /// already over, as the deployed function —, event-time locally — the alerts as they would have fired then).
    #[arg(long, value_enum)]
    pub(crate) lateness: Option<LatenessArg>,
    /// Say what would be sent, send nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LatenessArg {
    WallClock,
    EventTime,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KindArg {
    AgentEvents,
    ContactRecords,
    Segments,
}

impl KindArg {
    pub(crate) fn kind(self) -> shared::RecordKind {
        match self {
            Self::AgentEvents => shared::RecordKind::AgentEvent,
            Self::ContactRecords => shared::RecordKind::ContactRecord,
            Self::Segments => shared::RecordKind::AnalysisSegment,
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum ForwardCommand {
    /// Records (files, an archive, a generated day) through the stream-forwarder over the event-source-mapping
    /// simulator, delivering to the subscriptions' endpoints for real; parked messages and the state go to --out.
    /// Signing secrets: `env:NAME` references (the variable holds the secret).
    Run {
        #[command(flatten)]
        source: SourceArgs,
        /// The subscriptions document (as FORWARDER_SUBSCRIPTIONS).
        #[arg(long)]
        subscriptions: PathBuf,
        #[arg(long, default_value = "out/forward")]
        out: PathBuf,
        /// DELIVERY_BUDGET_SECONDS of each invocation.
        #[arg(long, default_value_t = 20)]
        budget: u64,
        /// Records per invocation (the mapping's BatchSize).
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
    /// Re-send a subscription's parked messages in order, key by key; each is deleted once acknowledged, and a key
    /// is freed when none is left. Idempotent: running it again sends nothing already acknowledged.
    Resend {
        /// The subscription's name.
        #[arg(long)]
        subscription: String,
        /// The subscriptions document (as FORWARDER_SUBSCRIPTIONS).
        #[arg(long)]
        subscriptions: PathBuf,
        /// A local output directory of `forward run`, or `--backend aws` (PARKING_BUCKET, PARKING_PREFIX,
        /// FORWARDER_STATE_TABLE and Secrets Manager from the environment).
        #[arg(long, default_value = "out/forward")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "local")]
        backend: Backend,
        /// List what would be sent, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum RulesCommand {
    /// Validate a rules document with the function's own validator.
    Check { file: PathBuf },
    /// Validate a rules document, then store it where supervisor-alerts reads it (`ALERT_RULES_SOURCE`): the
    /// function puts it in force within ALERT_RULES_REFRESH_SECONDS, without a redeploy. Nothing is uploaded if the
    /// document is invalid. Uses the AWS credentials and region of the environment (and AWS_ENDPOINT_URL).
    Publish {
        file: PathBuf,
        /// `s3://bucket/key` or `ssm:/parameter/name` (an SSM parameter takes up to 8 KB: larger documents go to S3).
        #[arg(long)]
        to: String,
    },
    /// Which alerts these rules would have fired on these records, per rule and day (on event time).
    Backtest {
        #[arg(long)]
        rules: PathBuf,
        /// `.jsonl` record files or `.json` Kinesis envelopes.
        #[arg(long, num_args = 1.., required_unless_present = "archive")]
        events: Vec<PathBuf>,
        /// An archive instead: a directory (`out/run/archive`) or `s3://bucket/prefix` (agent events, segments and
        /// contact records, as the archiver wrote them), selected with --since / --until.
        #[arg(long, conflicts_with = "events")]
        archive: Option<String>,
        /// First day (UTC, YYYY-MM-DD), inclusive.
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// Last day (UTC, YYYY-MM-DD), inclusive.
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        /// Print every alert, not only the counts.
        #[arg(long)]
        list: bool,
        #[arg(long)]
        quiet: bool,
    },
}
