//! The commands' wiring: backends, the three functions on them, and the replay; what is printed afterwards is in
//! [`crate::summary`] (re-exported here).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use agent_state::AgentState;
use agent_state::table::AgentView;
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::ContactArchiver;
use indicatif::{ProgressBar, ProgressStyle};
use shared::BatchReport;
use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::adapters::aws::sns::SnsPublisher;
use shared::adapters::fs::{FsObjectStore, JsonlPublisher};
use shared::adapters::sqlite::SqliteItemStore;
use shared::model::ConnectRecord;
use shared::ports::{ItemStore, ObjectStore, Publisher};
use shared::quarantine::ObjectQuarantine;
use supervisor_alerts::config::Lateness;
use supervisor_alerts::delivery::{Clock, SystemClock};
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;

use crate::generate::{GenRecord, Stream};
use crate::replay::{Functions, Hosted, ReplayOptions, ReplayStats, replay};
use crate::report::Timelines;
pub use crate::summary::*;

pub type AppResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The sample rules the demo uses (they ship with the tool).
pub const DEMO_RULES: &str = include_str!("../rules.demo.json");

/// The board settings `demo --serve` uses (shipped with the tool): Break amber after 10 minutes and red after 15,
/// so the demo day's long breaks turn red.
pub const DEMO_BOARD: &str = include_str!("../board.demo.json");

/// File names inside a local output directory.
pub const ARCHIVE_DIR: &str = "archive";
/// The local tables: embedded SQLite files ([`SqliteItemStore`]), so memory stays flat however long the replay.
pub const AGENT_TABLE_FILE: &str = "agent-state.sqlite";
pub const ALERT_TABLE_FILE: &str = "alert-state.sqlite";
pub const ALERTS_FILE: &str = "alerts.jsonl";
pub const REPORT_FILE: &str = "report.html";

pub struct Outcome {
    pub stats: ReplayStats,
    pub elapsed: std::time::Duration,
    pub functions: Vec<(&'static str, BatchReport)>,
    pub timelines: Timelines,
}

pub fn progress_bar(total: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template(match total {
            Some(_) => "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records ({per_sec}, {eta} left)",
            None => "{spinner} [{elapsed_precise}] {pos} {msg} ({per_sec})",
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("records");
    bar
}

/// Key prefix of quarantined records (the functions' default `QUARANTINE_PREFIX`).
pub const QUARANTINE_PREFIX: &str = "quarantine/";

/// The ports the three functions use: the archive store, the quarantine store, both tables and the publisher.
#[derive(Debug, Clone)]
pub struct Stores<O, Q, A, L, P> {
    pub archive: O,
    pub quarantine: Q,
    pub agent_table: A,
    pub alert_table: L,
    pub publisher: P,
}

/// The three functions as the simulator invokes them, all quarantining into one store.
pub struct Hosts<O, Q, A, L, P, C> {
    pub archiver: Hosted<ContactArchiver<O>, ObjectQuarantine<Q>>,
    pub agent_state: Hosted<AgentState<A>, ObjectQuarantine<Q>>,
    pub alerts: Hosted<SupervisorAlerts<L, P, C>, ObjectQuarantine<Q>>,
}

impl<O, Q, A, L, P, C> Hosts<O, Q, A, L, P, C> {
    /// The functions as [`replay`] takes them.
    #[allow(clippy::type_complexity)]
    pub fn functions(
        &self,
    ) -> Functions<
        '_,
        Hosted<ContactArchiver<O>, ObjectQuarantine<Q>>,
        Hosted<AgentState<A>, ObjectQuarantine<Q>>,
        Hosted<SupervisorAlerts<L, P, C>, ObjectQuarantine<Q>>,
    > {
        Functions { archiver: &self.archiver, agent_state: &self.agent_state, alerts: &self.alerts }
    }

    /// Each function's batch reports added up: archiver, agent-state, supervisor-alerts.
    pub fn totals(&self) -> Vec<(&'static str, BatchReport)> {
        vec![
            (self.archiver.name, self.archiver.totals()),
            (self.agent_state.name, self.agent_state.totals()),
            (self.alerts.name, self.alerts.totals()),
        ]
    }
}

/// The one wiring of the three functions on `stores` (the replay's [`execute`], the chaos runs, re-drives): the
/// archiver writes `format` for `kinds`, agent-state runs on its default settings, supervisor-alerts on `rules`,
/// `clock` and `lateness` (event time in replays), and each quarantines into `stores.quarantine` under
/// [`QUARANTINE_PREFIX`].
pub fn host<O, Q, A, L, P, C>(
    stores: Stores<O, Q, A, L, P>,
    format: ArchiveFormat,
    kinds: ArchiveKinds,
    (rules, lateness): (Rules, Lateness),
    clock: C,
) -> Hosts<O, Q, A, L, P, C>
where
    O: ObjectStore,
    Q: ObjectStore + Clone,
    A: ItemStore,
    L: ItemStore,
    P: Publisher,
    C: Clock,
{
    let quarantine = ObjectQuarantine::new(stores.quarantine, QUARANTINE_PREFIX);
    let settings = supervisor_alerts::config::Settings { lateness, ..supervisor_alerts::config::Settings::replay() };
    Hosts {
        archiver: Hosted::new(
            contact_archiver::handler::NAME,
            ContactArchiver::new(stores.archive, "", format, kinds),
            quarantine.clone(),
        ),
        agent_state: Hosted::new(
            agent_state::NAME,
            AgentState::new(stores.agent_table, agent_state::config::Settings::default()),
            quarantine.clone(),
        ),
        alerts: Hosted::new(
            supervisor_alerts::NAME,
            SupervisorAlerts::with_clock(rules, stores.alert_table, stores.publisher, settings, clock),
            quarantine,
        ),
    }
}

/// Runs `records` through the three functions on the given stores; the archiver archives `archive_kinds`.
#[allow(clippy::too_many_arguments)]
pub async fn execute<O, I, P>(
    records: impl Iterator<Item = GenRecord>,
    archive: O,
    archive_kinds: ArchiveKinds,
    quarantine_store: O,
    agent_table: I,
    alert_table: I,
    publisher: P,
    rules: Rules,
    options: &ReplayOptions,
    expected: Option<u64>,
    with_timelines: bool,
    quiet: bool,
) -> Outcome
where
    O: ObjectStore + Clone + 'static,
    I: ItemStore + Clone + 'static,
    P: Publisher + 'static,
{
    let stores = Stores { archive, quarantine: quarantine_store, agent_table, alert_table, publisher };
    let hosts = host(stores, ArchiveFormat::Both, archive_kinds, (rules, Lateness::EventTime), SystemClock);
    let bar = progress_bar(expected, quiet);
    let mut timelines = Timelines::default();
    let started = Instant::now();
    let stats = replay(records, hosts.functions(), options, |window| {
        bar.inc(window.len() as u64);
        if with_timelines {
            observe(&mut timelines, window);
        }
    })
    .await;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    Outcome { stats, elapsed, functions: hosts.totals(), timelines }
}

fn observe(timelines: &mut Timelines, window: &[GenRecord]) {
    for r in window.iter().filter(|r| r.stream == Stream::AgentEvents) {
        if let Ok(ConnectRecord::Agent(e)) = shared::classify(&r.data)
            && let Some(snapshot) = e.current.as_ref()
        {
            let name = snapshot.username().unwrap_or(&e.agent_arn).to_owned();
            timelines.observe(&name, e.event_timestamp, snapshot.activity().label());
        }
    }
}

/// The local backends, rooted in one output directory.
pub struct Local {
    pub out: PathBuf,
    pub archive: FsObjectStore,
    pub agent_table: SqliteItemStore,
    pub alert_table: SqliteItemStore,
}

impl Local {
    /// Opens the directory; `fresh` empties what a previous run left (object keys would collide).
    pub fn open(out: &Path, fresh: bool) -> AppResult<Self> {
        if fresh {
            let tables =
                [AGENT_TABLE_FILE, ALERT_TABLE_FILE].map(|t| [t.to_owned(), format!("{t}-wal"), format!("{t}-shm")]);
            let files = [ARCHIVE_DIR, ALERTS_FILE, REPORT_FILE].map(str::to_owned);
            for name in files.iter().chain(tables.iter().flatten()) {
                let path = out.join(name);
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else if path.exists() {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        std::fs::create_dir_all(out)?;
        Ok(Self {
            out: out.to_owned(),
            archive: FsObjectStore::new(out.join(ARCHIVE_DIR)),
            agent_table: SqliteItemStore::open(&out.join(AGENT_TABLE_FILE), &agent_state::INDEXES)?,
            alert_table: SqliteItemStore::open(&out.join(ALERT_TABLE_FILE), &[])?,
        })
    }

    pub async fn run(
        &self,
        records: impl Iterator<Item = GenRecord>,
        rules: Rules,
        options: &ReplayOptions,
        expected: Option<u64>,
        with_timelines: bool,
        quiet: bool,
    ) -> AppResult<Outcome> {
        let publisher = JsonlPublisher::append(&self.out.join(ALERTS_FILE))?;
        // The local replay and the demo archive every kind (the function's default is contact records only).
        let outcome = execute(
            records,
            self.archive.clone(),
            ArchiveKinds::ALL,
            self.archive.clone(),
            self.agent_table.clone(),
            self.alert_table.clone(),
            publisher,
            rules,
            options,
            expected,
            with_timelines,
            quiet,
        )
        .await;
        Ok(outcome)
    }

    /// The current agent items, ordered by username.
    pub fn board(&self) -> AppResult<Vec<AgentView>> {
        let mut agents: Vec<AgentView> = self
            .agent_table
            .with_sort_key("CURRENT")?
            .into_iter()
            .filter_map(|i| serde_json::from_value(serde_json::Value::Object(i)).ok())
            .collect();
        agents.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(agents)
    }

    /// Published alerts, as the JSON-lines publisher wrote them.
    pub fn alerts(&self) -> AppResult<Vec<serde_json::Value>> {
        let path = self.out.join(ALERTS_FILE);
        if !path.exists() {
            return Ok(Vec::new());
        }
        Ok(std::fs::read_to_string(path)?.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// Published alerts by rule, read line by line (a long replay's alerts do not fit in memory as JSON values).
    pub fn alert_counts(&self) -> AppResult<BTreeMap<String, usize>> {
        use std::io::BufRead;
        #[derive(serde::Deserialize)]
        struct Line {
            body: Body,
        }
        #[derive(serde::Deserialize)]
        struct Body {
            rule: Option<String>,
        }
        let mut by_rule = BTreeMap::new();
        let path = self.out.join(ALERTS_FILE);
        if !path.exists() {
            return Ok(by_rule);
        }
        for line in std::io::BufReader::new(std::fs::File::open(path)?).lines() {
            let rule = serde_json::from_str::<Line>(&line?).ok().and_then(|l| l.body.rule);
            *by_rule.entry(rule.unwrap_or_else(|| "?".into())).or_insert(0) += 1;
        }
        Ok(by_rule)
    }

    /// Archive object counts per top-level prefix (kind and format), and quarantined records.
    pub async fn archive_counts(&self) -> AppResult<BTreeMap<String, usize>> {
        let mut counts = BTreeMap::new();
        for key in self.archive.list("").await? {
            let top = key.split('/').next().unwrap_or("").to_owned();
            *counts.entry(top).or_insert(0) += 1;
        }
        Ok(counts)
    }
}

/// The AWS backends, from the same environment variables the functions read.
pub struct Aws {
    pub archive: S3ObjectStore,
    /// `ARCHIVE_AGENT_EVENTS` / `ARCHIVE_SEGMENTS`, read as contact-archiver reads them (both off when unset).
    pub archive_kinds: ArchiveKinds,
    pub quarantine: S3ObjectStore,
    pub agent_table: DynamoItemStore,
    pub alert_table: DynamoItemStore,
    pub publisher: SnsPublisher,
}

impl Aws {
    pub async fn from_env() -> AppResult<Self> {
        use shared::config::{ProcessEnv, optional, required};
        let env = ProcessEnv;
        let cfg = shared::adapters::aws::sdk_config().await;
        let s3 = S3ObjectStore::client(&cfg);
        let dynamo = aws_sdk_dynamodb::Client::new(&cfg);
        let archive_bucket = required(&env, "ARCHIVE_BUCKET")?;
        let quarantine_bucket = optional(&env, "QUARANTINE_BUCKET", &archive_bucket);
        Ok(Self {
            archive: S3ObjectStore::new(s3.clone(), archive_bucket),
            archive_kinds: ArchiveKinds::from_env(&env)?,
            quarantine: S3ObjectStore::new(s3, quarantine_bucket),
            agent_table: DynamoItemStore::new(
                dynamo.clone(),
                required(&env, "AGENT_STATE_TABLE")?,
                &agent_state::INDEXES,
            ),
            alert_table: DynamoItemStore::new(dynamo, required(&env, "ALERT_STATE_TABLE")?, &[]),
            publisher: SnsPublisher::new(aws_sdk_sns::Client::new(&cfg), required(&env, "ALERT_TOPIC_ARN")?),
        })
    }

    pub async fn board(&self) -> AppResult<Vec<AgentView>> {
        Ok(agent_state::table::agents_of_instance(&self.agent_table, &crate::generate::instance_arn()).await?)
    }
}

/// Loads rules from a file, or the demo rules.
pub fn load_rules(path: Option<&Path>) -> AppResult<Rules> {
    let (name, text) = match path {
        Some(p) => (p.display().to_string(), std::fs::read_to_string(p)?),
        None => ("built-in demo rules".to_owned(), DEMO_RULES.to_owned()),
    };
    supervisor_alerts::rules::validate(&text).map_err(|e| format!("{name}: {e}").into())
}
