//! Each function's core on fresh in-memory adapters, run through the shared batch driver
//! ([`shared::batch::run_items`]) exactly as `shared::lambda::serve` runs it in Lambda, minus the event decoding.
//! The adapters are kept at hand (they share their state with the ones the function holds) for their call counters.

use agent_state::AgentState;
use contact_archiver::config::{ArchiveFormat, ArchiveKinds};
use contact_archiver::handler::ContactArchiver;
use shared::BatchReport;
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
use shared::batch::{Processor, run_items};
use shared::kinesis::KinesisItem;
use shared::ports::Item;
use shared::quarantine::ObjectQuarantine;
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;

/// The quarantine every function has: an object store under `quarantine/`.
pub struct Quarantine {
    pub store: MemoryObjectStore,
    pub quarantine: ObjectQuarantine<MemoryObjectStore>,
}

impl Quarantine {
    fn new() -> Self {
        let store = MemoryObjectStore::new();
        Self { quarantine: ObjectQuarantine::new(store.clone(), "quarantine/"), store }
    }
}

async fn run<P: Processor>(name: &str, items: &[KinesisItem], processor: &P, q: &Quarantine) -> BatchReport {
    match run_items(name, items, processor, &q.quarantine).await {
        Ok((_response, report)) => report,
        // Only when a failed record has no sequence number; the bench batches always have them.
        Err(e) => panic!("{name}: batch failed as a whole: {e}"),
    }
}

pub struct ArchiverRig {
    pub archiver: ContactArchiver<MemoryObjectStore>,
    pub objects: MemoryObjectStore,
    pub quarantine: Quarantine,
}

impl ArchiverRig {
    pub fn new(format: ArchiveFormat) -> Self {
        let objects = MemoryObjectStore::new();
        Self {
            archiver: ContactArchiver::new(objects.clone(), "", format, ArchiveKinds::ALL),
            objects,
            quarantine: Quarantine::new(),
        }
    }

    pub async fn run(&self, items: &[KinesisItem]) -> BatchReport {
        run(contact_archiver::handler::NAME, items, &self.archiver, &self.quarantine).await
    }
}

pub struct AgentStateRig {
    pub handler: AgentState<MemoryItemStore>,
    pub table: MemoryItemStore,
    pub quarantine: Quarantine,
}

impl AgentStateRig {
    /// A fresh (empty) table with the function's indexes.
    pub fn new() -> Self {
        let table = MemoryItemStore::new(&agent_state::INDEXES);
        Self {
            handler: AgentState::new(table.clone(), agent_state::config::Settings::default()),
            table,
            quarantine: Quarantine::new(),
        }
    }

    pub async fn run(&self, items: &[KinesisItem]) -> BatchReport {
        run(agent_state::NAME, items, &self.handler, &self.quarantine).await
    }
}

impl Default for AgentStateRig {
    fn default() -> Self {
        Self::new()
    }
}

pub struct AlertsRig {
    pub handler: SupervisorAlerts<MemoryItemStore, MemoryPublisher>,
    pub table: MemoryItemStore,
    pub publisher: MemoryPublisher,
    pub quarantine: Quarantine,
}

impl AlertsRig {
    /// A table holding `items` (empty for a fresh one).
    pub fn new(rules: &Rules, items: Vec<Item>) -> Self {
        let table = MemoryItemStore::new(&[]);
        table.load(items).expect("items taken from a memory table have their keys");
        let publisher = MemoryPublisher::new();
        let settings = supervisor_alerts::config::Settings::replay();
        Self {
            handler: SupervisorAlerts::new(rules.clone(), table.clone(), publisher.clone(), settings),
            table,
            publisher,
            quarantine: Quarantine::new(),
        }
    }

    pub async fn run(&self, items: &[KinesisItem]) -> BatchReport {
        run(supervisor_alerts::NAME, items, &self.handler, &self.quarantine).await
    }
}

/// The rules the replay tool's demo uses: they match what the synthetic day contains (long breaks and
/// after-contact work, missed contacts, angry customers, escalations, low CSAT).
pub fn demo_rules() -> Rules {
    supervisor_alerts::rules::validate(connect_replay::app::DEMO_RULES).expect("the demo rules are valid")
}

/// The alert table after supervisor-alerts processed the agent events that came before a batch (contact→agent
/// joins, missed-contact windows, claims), for the segment and contact-record batches; e.g.
/// [`crate::batches::BenchDay::preceding_agent_events`].
pub async fn warm_alert_table(preceding_agent_events: &[Vec<KinesisItem>], rules: &Rules) -> Vec<Item> {
    let rig = AlertsRig::new(rules, Vec::new());
    for batch in preceding_agent_events {
        rig.run(batch).await;
    }
    rig.table.all()
}

/// A current-thread Tokio runtime: one core, as a 128–256 MB Lambda has (a fraction of) one vCPU.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime")
}
