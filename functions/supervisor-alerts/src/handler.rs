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
//! 4. process each key's records in batch order, keys concurrently, agent events first. Per record: update the
//!    state the rules need (missed-contact window, sentiment window — both idempotent), evaluate the rules
//!    ([`crate::engine`]), and deliver the candidates exactly once ([`crate::delivery`]). A contact's join and
//!    sentiment window are read once per batch and the window is written once, after the key's last record;
//! 5. a transient failure (of the record, or of the join write for a join it owns) reports the record for retry,
//!    and every later record of the same key too (they are not applied: they come again, in order, with the
//!    redelivery); a failed write of the sentiment window reports every record whose turns it held; a permanent
//!    failure (the store or SNS refusing it for good) makes the record refused: quarantined, not retried.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use shared::batch::{Disposition, Grouped, KeyRun, Processor, Route, classify_by_key};
use shared::kinesis::KinesisItem;
use shared::model::{AgentEvent, AnalysisSegment, ConnectRecord, ContactRecord, RecordKind, SegmentEventType};
use shared::ports::{ItemStore, PortError, PortResult, Publisher};
use tracing::{debug, warn};

use crate::config::Settings;
use crate::delivery::{Clock, Deliverer, SystemClock};
use crate::engine::{self, Candidate, ContactJoin};
use crate::rules::Rules;
use crate::state::AlertTable;

/// Keys processed at once (each key's records stay sequential).
const KEY_CONCURRENCY: usize = 16;

pub struct SupervisorAlerts<S, P, C = SystemClock> {
    rules: Arc<Rules>,
    table: AlertTable<S>,
    deliverer: Deliverer<P, C>,
}

impl<S: ItemStore, P: Publisher> SupervisorAlerts<S, P, SystemClock> {
    pub fn new(rules: Rules, store: S, publisher: P, settings: Settings) -> Self {
        Self::with_clock(rules, store, publisher, settings, SystemClock)
    }
}

impl<S: ItemStore, P: Publisher, C: Clock> SupervisorAlerts<S, P, C> {
    pub fn with_clock(rules: Rules, store: S, publisher: P, settings: Settings, clock: C) -> Self {
        Self {
            rules: Arc::new(rules),
            table: AlertTable::new(store, settings.ttls),
            deliverer: Deliverer::new(publisher, clock, settings.lease),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn table(&self) -> &AlertTable<S> {
        &self.table
    }

    /// Whether any configured rule needs records of this kind.
    pub fn handles(&self, kind: RecordKind) -> bool {
        match kind {
            RecordKind::AgentEvent => self.rules.has_agent_rules() || self.rules.has_segment_rules(),
            RecordKind::AnalysisSegment => self.rules.has_segment_rules(),
            RecordKind::ContactRecord => self.rules.has_ctr_rules(),
        }
    }

    /// Writes the contact→agent joins of the batch's agent events with one `batch_put` (DynamoDB takes 25 items a
    /// call; the adapter chunks): one join per contact, the newest. Returns the records that own a join which was
    /// not written, with the error; joins a newer event of the batch replaced were never going to be written, so
    /// their events are not affected.
    async fn write_joins(&self, agents: &Groups) -> BTreeMap<usize, PortError> {
        let mut failed = BTreeMap::new();
        if !self.rules.has_segment_rules() {
            return failed;
        }
        let joins = engine::newest_links(agents.values().flatten().filter_map(|(i, r)| match r {
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

    async fn process_key(
        &self,
        items: &[KinesisItem],
        records: Vec<(usize, ConnectRecord)>,
        joins_failed: &BTreeMap<usize, PortError>,
    ) -> Vec<(usize, Disposition)> {
        let indices: Vec<usize> = records.iter().map(|(i, _)| *i).collect();
        let mut key = KeyRun::new(records.len());
        let mut memo = KeyMemo::default();
        for (position, (i, record)) in records.into_iter().enumerate() {
            let result = match joins_failed.get(&i) {
                Some(e) => Err(e.clone()),
                None => self.process_record(&items[i], record, &mut memo, position).await,
            };
            if !key.push(result.map_or_else(Disposition::from, |()| Disposition::Done)) {
                break;
            }
        }
        let mut dispositions = key.finish();
        // The key's sentiment state is written once, after its last record. If that fails, every record from the
        // first one whose turns it holds is retried (re-applying turns is idempotent, alert ids are deterministic).
        if let Some(dirty) = memo.sentiment_dirty_from
            && let Some(sentiment) = &memo.sentiment
            && let Err(e) = self
                .table
                .save_sentiment(&sentiment.contact_id, &sentiment.state, sentiment.rev, self.deliverer.clock().now())
                .await
        {
            for disposition in &mut dispositions[dirty..] {
                if matches!(disposition, Disposition::Done) {
                    *disposition = Disposition::Retry(e.clone());
                }
            }
        }
        indices.into_iter().zip(dispositions).collect()
    }

    async fn process_record(
        &self,
        item: &KinesisItem,
        record: ConnectRecord,
        memo: &mut KeyMemo,
        position: usize,
    ) -> PortResult<()> {
        let candidates = match record {
            ConnectRecord::Agent(ev) => self.on_agent_event(&ev).await?,
            ConnectRecord::Segment(seg) => self.on_segment(item, &seg, memo, position).await?,
            ConnectRecord::Contact(ctr) => self.on_contact_record(item, &ctr),
        };
        if candidates.is_empty() {
            return Ok(());
        }
        let delivered = self.deliverer.deliver(&self.table, &self.rules, candidates).await;
        match delivered.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Agent events: the status and ACW rules, the missed-contacts window (the joins are written per batch).
    async fn on_agent_event(&self, ev: &AgentEvent) -> PortResult<Vec<Candidate>> {
        let now = self.deliverer.clock().now();
        let mut candidates = engine::evaluate_agent_event(&self.rules, ev);
        if self.rules.has_missed_rules() {
            let missed = engine::missed_in_event(ev);
            if !missed.is_empty() {
                let agent_id = engine::agent_id_of(&ev.agent_arn);
                let (mut window, rev) = self.table.missed_window(&agent_id).await?;
                if engine::merge_missed(&mut window, &missed, self.rules.missed_window().0) {
                    self.table.save_missed_window(&agent_id, &window, rev, now).await?;
                }
                candidates.extend(engine::evaluate_missed(&self.rules, ev, &window));
            }
        }
        Ok(candidates)
    }

    /// Contact Lens segments: the sentiment window and matched categories, scoped through the join. The join and
    /// the sentiment state are read once per contact and batch ([`KeyMemo`]).
    async fn on_segment(
        &self,
        item: &KinesisItem,
        seg: &AnalysisSegment,
        memo: &mut KeyMemo,
        position: usize,
    ) -> PortResult<Vec<Candidate>> {
        if seg.event_type != SegmentEventType::Segments {
            return Ok(Vec::new());
        }
        let detail = engine::segment_detail(seg);
        if detail.turns.is_empty() && detail.categories.is_empty() {
            return Ok(Vec::new());
        }
        if memo.join.is_none() {
            memo.join = Some(self.table.join(&seg.contact_id).await?);
        }
        let join = memo.join.as_ref().and_then(Option::as_ref);
        if join.is_none() {
            debug!(contact_id = %seg.contact_id, "contact not joined to an agent (yet): agent-scoped rules cannot match");
        }
        let facts = engine::segment_facts(seg, join);
        let at = detail.last_time.unwrap_or(item.arrival);
        let mut candidates = Vec::new();
        if self.rules.has_sentiment_rules() && !detail.turns.is_empty() {
            if memo.sentiment.is_none() {
                let (state, rev) = self.table.sentiment(&seg.contact_id).await?;
                memo.sentiment = Some(Sentiment { contact_id: seg.contact_id.clone(), state, rev });
            }
            let sentiment = memo.sentiment.as_mut().expect("read above");
            if engine::apply_turns(&self.rules, &mut sentiment.state, &detail.turns) {
                memo.sentiment_dirty_from.get_or_insert(position);
            }
            candidates.extend(engine::evaluate_sentiment(&self.rules, &sentiment.state, &facts, at));
        }
        candidates.extend(engine::evaluate_categories(&self.rules, &detail.categories, &facts, at));
        Ok(candidates)
    }

    /// Contact records: attribute thresholds.
    fn on_contact_record(&self, item: &KinesisItem, ctr: &ContactRecord) -> Vec<Candidate> {
        let facts = engine::ctr_facts(ctr);
        engine::evaluate_ctr(&self.rules, ctr, &facts, item.arrival)
    }
}

/// What the records of one key (a contact) share within a batch: the contact→agent join (written before any key
/// is processed, so it cannot change during the batch) and the sentiment state, each read once; the state is saved
/// once, after the key's last record, instead of after every segment.
#[derive(Default)]
struct KeyMemo {
    join: Option<Option<ContactJoin>>,
    sentiment: Option<Sentiment>,
    /// Position (in the key's records) of the first record whose turns the unsaved state holds.
    sentiment_dirty_from: Option<usize>,
}

struct Sentiment {
    contact_id: String,
    state: engine::SentimentState,
    rev: Option<i64>,
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
        let Grouped { groups: mut agents, mut outcomes } = classify_by_key(items, |_, record| {
            if !self.handles(record.kind()) {
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
        let joins_failed = self.write_joins(&agents).await;
        for groups in [agents, contacts] {
            let results: Vec<Vec<(usize, Disposition)>> = futures::stream::iter(groups.into_values())
                .map(|records| self.process_key(items, records, &joins_failed))
                .buffer_unordered(KEY_CONCURRENCY)
                .collect()
                .await;
            outcomes.extend(results.into_iter().flatten());
        }
        outcomes.finish()
    }
}
