//! The whole behaviour of supervisor-alerts, top to bottom.
//!
//! A batch may hold agent events, contact records and Contact Lens segments (one stream per event source in
//! production; mixed in tests and the replay). For each record:
//!
//! 1. classify it ([`shared::classify`]): invalid → poison (quarantined by the batch driver); a kind no configured
//!    rule needs → skipped;
//! 2. group the records by key — the agent for agent events, the contact for segments and contact records;
//! 3. write the contact→agent joins of the whole batch's agent events at once (one `batch_put`, the newest per
//!    contact), before any segment is evaluated: segments are scoped through them;
//! 4. process each key's records, keys concurrently, agent events first, in four steps: **load** what its records
//!    need (a contact's join and sentiment window, an agent's missed-contact window — only what some record uses,
//!    each read once), **evaluate** each record in batch order ([`crate::engine`]: pure; it updates the loaded
//!    state in memory), **deliver** each record's candidates exactly once ([`crate::delivery`]), stopping at the
//!    first record to be retried, and **save** the state items the records changed (one conditional write each);
//! 5. then each record's disposition, once: a transient failure (of its delivery, of the join write for a join it
//!    owns, or of the save of a state holding its effect) retries the record and every later record of the same
//!    key (their alerts are not sent: they come again, in order, with the redelivery); a permanent failure (the
//!    store or SNS refusing it for good) makes the record refused: quarantined, not retried.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use futures::StreamExt;
use shared::batch::{Disposition, Grouped, KeyRun, Processor, Route, classify_by_key};
use shared::kinesis::KinesisItem;
use shared::model::{ConnectRecord, RecordKind};
use shared::ports::{ItemStore, PortError, PortResult, Publisher};
use tracing::{debug, warn};

use crate::config::{Lateness, Settings};
use crate::delivery::{Clock, Deliverer, SystemClock};
use crate::engine::{self, Candidate, ContactJoin, Needs};
use crate::rules::{LatePolicy, Rules};
use crate::state::{AlertTable, Unsaved};

/// Keys processed at once (each key's records and calls stay sequential: one call in flight per key).
const KEY_CONCURRENCY: usize = shared::batch::MAX_IN_FLIGHT;

pub struct SupervisorAlerts<S, P, C = SystemClock> {
    /// The rules in force: each batch takes them once at its start, so one batch sees one set
    /// ([`SupervisorAlerts::replace_rules`] swaps them between batches: [`crate::refresh`]).
    rules: RwLock<Arc<Rules>>,
    table: AlertTable<S>,
    deliverer: Deliverer<P, C>,
    lateness: Lateness,
    suppressed_late: std::sync::atomic::AtomicU64,
}

impl<S: ItemStore, P: Publisher> SupervisorAlerts<S, P, SystemClock> {
    pub fn new(rules: Rules, store: S, publisher: P, settings: Settings) -> Self {
        Self::with_clock(rules, store, publisher, settings, SystemClock)
    }
}

impl<S: ItemStore, P: Publisher, C: Clock> SupervisorAlerts<S, P, C> {
    pub fn with_clock(rules: Rules, store: S, publisher: P, settings: Settings, clock: C) -> Self {
        Self {
            rules: RwLock::new(Arc::new(rules)),
            table: AlertTable::new(store, settings.ttls),
            deliverer: Deliverer::new(publisher, clock, settings.lease).with_chat(settings.chat),
            lateness: settings.lateness,
            suppressed_late: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Alerts suppressed as late since the function started ([`crate::lateness`]).
    pub fn suppressed_late(&self) -> u64 {
        self.suppressed_late.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drops (or marks, per rule) the candidates that are late as of now: only when lateness is judged against the
    /// wall clock. `newest` is the agent's newest event among the key's records.
    fn judge_lateness(
        &self,
        rules: &Rules,
        candidates: Vec<Candidate>,
        newest: Option<&shared::model::AgentEvent>,
    ) -> Vec<Candidate> {
        if self.lateness == Lateness::EventTime || candidates.is_empty() {
            return candidates;
        }
        let now = self.deliverer.clock().now();
        let mut out = Vec::with_capacity(candidates.len());
        for mut c in candidates {
            let Some(rule) = rules.get(c.rule()) else {
                out.push(c);
                continue;
            };
            match crate::lateness::late(rule, &c, newest, now) {
                None => out.push(c),
                Some(reason) if rule.late == LatePolicy::SendMarked => {
                    tracing::info!(rule = %rule.name, reason = %reason, "late alert sent marked as late");
                    c.late = Some(reason);
                    out.push(c);
                }
                Some(reason) => {
                    self.suppressed_late.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    metrics::counter!(crate::lateness::SUPPRESSED_METRIC, "Rule" => rule.name.clone()).increment(1);
                    tracing::info!(rule = %rule.name, reason = %reason, "late alert suppressed");
                }
            }
        }
        out
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `rules` in force from the next batch on (a batch under way keeps the set it started with).
    pub fn replace_rules(&self, rules: Rules) {
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
    }

    pub fn table(&self) -> &AlertTable<S> {
        &self.table
    }

    /// Whether any rule of `rules` needs records of this kind.
    fn handles(rules: &Rules, kind: RecordKind) -> bool {
        match kind {
            RecordKind::AgentEvent => rules.has_agent_rules() || rules.has_segment_rules(),
            RecordKind::AnalysisSegment => rules.has_segment_rules(),
            RecordKind::ContactRecord => rules.has_ctr_rules(),
        }
    }

    /// Writes the contact→agent joins of the batch's agent events with one `batch_put` (DynamoDB takes 25 items a
    /// call; the adapter chunks): one join per contact, the newest. Returns the records that own a join which was
    /// not written, with the error; joins a newer event of the batch replaced were never going to be written, so
    /// their events are not affected.
    async fn write_joins(&self, rules: &Rules, agents: &Groups) -> BTreeMap<usize, PortError> {
        let mut failed = BTreeMap::new();
        if !rules.has_segment_rules() {
            return failed;
        }
        let joins = engine::newest_joins(agents.values().flatten().filter_map(|(i, r)| match r {
            ConnectRecord::Agent(ev) => Some((*i, ev.as_ref())),
            _ => None,
        }));
        if joins.is_empty() {
            return failed;
        }
        let now = self.deliverer.clock().now();
        let all: Vec<&ContactJoin> = joins.iter().map(|(_, j)| j).collect();
        let Err(e) = self.table.put_joins(&all, now).await else {
            return failed;
        };
        warn!(joins = joins.len(), error = %e, "contact→agent joins not written");
        if e.is_transient() {
            failed.extend(joins.iter().map(|(i, _)| (*i, e.clone())));
            return failed;
        }
        // Some item can never be written: write each record's joins on their own, so only that record is poison.
        let mut by_record: BTreeMap<usize, Vec<&ContactJoin>> = BTreeMap::new();
        for (i, join) in &joins {
            by_record.entry(*i).or_default().push(join);
        }
        for (i, joins) in by_record {
            if let Err(e) = self.table.put_joins(&joins, now).await {
                failed.insert(i, e);
            }
        }
        failed
    }

    /// One key's records: load → evaluate → deliver → save, then each record's disposition. A record whose join
    /// was not written (`joins_failed`) is neither evaluated nor delivered: it has that error.
    async fn process_key(
        &self,
        rules: &Rules,
        items: &[KinesisItem],
        records: Vec<(usize, ConnectRecord)>,
        joins_failed: &BTreeMap<usize, PortError>,
    ) -> Vec<(usize, Disposition)> {
        let indices: Vec<usize> = records.iter().map(|(i, _)| *i).collect();
        // 1. Load: what the records need, read once for the key.
        let needs = Needs::of(rules, records.iter().map(|(_, r)| r));
        let mut state = match self.table.load(&needs).await {
            Ok(state) => state,
            Err(e) => return indices.into_iter().zip(KeyRun::retry_all(records.len(), e)).collect(),
        };
        if state.join == Some(None) {
            debug!(
                contact_id = needs.join.as_deref(),
                "contact not joined to an agent (yet): agent-scoped rules cannot match"
            );
        }
        // 2. Evaluate: each record's candidates, in order, applying it to the state in memory; then lateness, judged
        // as of the agent's newest event among the key's records.
        let newest = records
            .iter()
            .filter_map(|(_, r)| match r {
                ConnectRecord::Agent(ev) => Some(ev.as_ref()),
                _ => None,
            })
            .max_by_key(|ev| ev.event_timestamp);
        let evaluated: Vec<PortResult<Vec<Candidate>>> = records
            .iter()
            .enumerate()
            .map(|(position, (i, record))| match joins_failed.get(i) {
                Some(e) => Err(e.clone()),
                None => {
                    let candidates = state.evaluate(rules, position, record, items[*i].arrival);
                    Ok(self.judge_lateness(rules, candidates, newest))
                }
            })
            .collect();
        // 3. Deliver, record by record, until one is to be retried.
        let delivered = self.deliver(rules, evaluated).await;
        // 4. Save the state the records changed, once. It holds the effects of every record evaluated, also of
        // those not delivered: they come again, and applying a record again counts its turns and missed contacts
        // once (what any redelivery already relies on; only a turn without any position counts twice).
        let saved = self.table.save(&state, rules, self.deliverer.clock().now()).await;
        indices.into_iter().zip(dispositions(records.len(), delivered, saved)).collect()
    }

    /// Delivers each record's candidates, in order, and stops at the first record to be retried: the key's later
    /// records must not overtake it. One result per record delivered.
    async fn deliver(&self, rules: &Rules, evaluated: Vec<PortResult<Vec<Candidate>>>) -> Vec<PortResult<()>> {
        let mut delivered = Vec::with_capacity(evaluated.len());
        for candidates in evaluated {
            let result = match candidates {
                Err(e) => Err(e),
                Ok(candidates) if candidates.is_empty() => Ok(()),
                Ok(candidates) => {
                    self.deliverer.deliver(&self.table, rules, candidates).await.error.map_or(Ok(()), Err)
                }
            };
            let stop = result.as_ref().is_err_and(PortError::is_transient);
            delivered.push(result);
            if stop {
                break;
            }
        }
        delivered
    }
}

/// The dispositions of a key's records, in order: a record is done when its alerts are delivered and its effect on
/// the state is saved. Once one is to be retried, so are the key's later records ([`KeyRun`]).
fn dispositions(records: usize, delivered: Vec<PortResult<()>>, saved: Result<(), Unsaved>) -> Vec<Disposition> {
    let mut key = KeyRun::new(records);
    for (position, result) in delivered.into_iter().enumerate() {
        let result = match &saved {
            Err(unsaved) if position >= unsaved.from => result.and(Err(unsaved.error.clone())),
            _ => result,
        };
        if !key.push(result.map_or_else(Disposition::from, |()| Disposition::Done)) {
            break;
        }
    }
    key.finish()
}

/// The key a record is processed under: agent events by agent, segments and contact records by contact. Agents
/// sort first.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Agent(String),
    Contact(String),
}

/// Records of one key, in batch order.
type Groups = BTreeMap<Key, Vec<(usize, ConnectRecord)>>;

impl<S: ItemStore, P: Publisher, C: Clock> Processor for SupervisorAlerts<S, P, C> {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        let rules = self.rules();
        let Grouped { groups: mut agents, mut outcomes } = classify_by_key(items, |_, record| {
            if !Self::handles(&rules, record.kind()) {
                debug!(kind = record.kind().slug(), "record kind not used by the configured rules");
                return Route::Now(Disposition::Skipped);
            }
            let key = match &record {
                ConnectRecord::Agent(ev) => Key::Agent(ev.agent_arn.clone()),
                ConnectRecord::Segment(seg) => Key::Contact(seg.contact_id.clone()),
                ConnectRecord::Contact(ctr) => Key::Contact(ctr.contact_id.clone()),
            };
            Route::Group(key, record)
        });
        let contacts = agents.split_off(&Key::Contact(String::new()));
        // The joins first, then agent events, then segments and contact records.
        let joins_failed = self.write_joins(&rules, &agents).await;
        for groups in [agents, contacts] {
            let results: Vec<Vec<(usize, Disposition)>> = futures::stream::iter(groups.into_values())
                .map(|records| self.process_key(&rules, items, records, &joins_failed))
                .buffer_unordered(KEY_CONCURRENCY)
                .collect()
                .await;
            outcomes.extend(results.into_iter().flatten());
        }
        outcomes.finish()
    }
}
