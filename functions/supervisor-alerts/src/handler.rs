//! The whole behaviour of supervisor-alerts, top to bottom.
//!
//! A batch may hold agent events, contact records and Contact Lens segments (one stream per event source in
//! production; mixed in tests and the replay). For each record:
//!
//! 1. classify it ([`shared::classify`]): invalid → poison (quarantined by the batch driver); a kind no configured
//!    rule needs → skipped;
//! 2. group the records by key — the agent for agent events, the contact for segments and contact records — and
//!    process each key's records in batch order, keys concurrently. Agent events go first: they write the
//!    contact→agent joins that segments read;
//! 3. per record: update the state the rules need (joins, missed-contact window, sentiment window — all
//!    idempotent), evaluate the rules ([`crate::engine`]), and deliver the candidates exactly once
//!    ([`crate::delivery`]);
//! 4. a transient failure reports the record for retry, and every later record of the same key too (they are not
//!    applied: they come again, in order, with the redelivery); a permanent failure makes the record poison.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use shared::batch::{Disposition, Processor};
use shared::classify::{InvalidReason, classify};
use shared::kinesis::KinesisItem;
use shared::model::{AgentEvent, AnalysisSegment, ConnectRecord, ContactRecord, RecordKind, SegmentEventType};
use shared::ports::{ItemStore, PortError, PortResult, Publisher};
use tracing::debug;

use crate::config::Settings;
use crate::delivery::{Clock, Deliverer, SystemClock};
use crate::engine::{self, Candidate};
use crate::rules::Rules;
use crate::state::AlertTable;

/// Keys processed at once (each key's records stay sequential).
const KEY_CONCURRENCY: usize = 16;

pub struct Handler<S, P, C = SystemClock> {
    rules: Arc<Rules>,
    table: AlertTable<S>,
    deliverer: Deliverer<P, C>,
}

impl<S: ItemStore, P: Publisher> Handler<S, P, SystemClock> {
    pub fn new(rules: Rules, store: S, publisher: P, settings: Settings) -> Self {
        Self::with_clock(rules, store, publisher, settings, SystemClock)
    }
}

impl<S: ItemStore, P: Publisher, C: Clock> Handler<S, P, C> {
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

    async fn process_key(
        &self,
        items: &[KinesisItem],
        records: Vec<(usize, ConnectRecord)>,
    ) -> Vec<(usize, Disposition)> {
        let mut out = Vec::with_capacity(records.len());
        let mut failed = false;
        for (i, record) in records {
            if failed {
                out.push((
                    i,
                    Disposition::Retry(PortError::transient(
                        "supervisor-alerts",
                        "an earlier record of the same key failed",
                    )),
                ));
                continue;
            }
            let disposition = match self.process_record(&items[i], record).await {
                Ok(()) => Disposition::Done,
                Err(e) if e.is_transient() => {
                    failed = true;
                    Disposition::Retry(e)
                }
                Err(e) => Disposition::Poison(InvalidReason::Unsupported { detail: e.to_string() }),
            };
            out.push((i, disposition));
        }
        out
    }

    async fn process_record(&self, item: &KinesisItem, record: ConnectRecord) -> PortResult<()> {
        let candidates = match record {
            ConnectRecord::Agent(ev) => self.on_agent_event(&ev).await?,
            ConnectRecord::Segment(seg) => self.on_segment(item, &seg).await?,
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

    /// Agent events: the contact→agent joins, the status and ACW rules, the missed-contacts window.
    async fn on_agent_event(&self, ev: &AgentEvent) -> PortResult<Vec<Candidate>> {
        let now = self.deliverer.clock().now();
        if self.rules.has_segment_rules() {
            self.table.put_joins(&engine::contact_joins(ev), now).await?;
        }
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

    /// Contact Lens segments: the sentiment window and matched categories, scoped through the join.
    async fn on_segment(&self, item: &KinesisItem, seg: &AnalysisSegment) -> PortResult<Vec<Candidate>> {
        if seg.event_type != SegmentEventType::Segments {
            return Ok(Vec::new());
        }
        let detail = engine::segment_detail(&item.data, seg);
        if detail.turns.is_empty() && detail.categories.is_empty() {
            return Ok(Vec::new());
        }
        let join = self.table.join(&seg.contact_id).await?;
        if join.is_none() {
            debug!(contact_id = %seg.contact_id, "contact not joined to an agent (yet): agent-scoped rules cannot match");
        }
        let facts = engine::segment_facts(seg, join.as_ref());
        let at = detail.last_time.unwrap_or(item.arrival);
        let mut candidates = Vec::new();
        if self.rules.has_sentiment_rules() && !detail.turns.is_empty() {
            let (mut state, rev) = self.table.sentiment(&seg.contact_id).await?;
            if engine::apply_turns(&self.rules, &mut state, &detail.turns) {
                self.table.save_sentiment(&seg.contact_id, &state, rev, self.deliverer.clock().now()).await?;
            }
            candidates.extend(engine::evaluate_sentiment(&self.rules, &state, &facts, at));
        }
        candidates.extend(engine::evaluate_categories(&self.rules, &detail.categories, &facts, at));
        Ok(candidates)
    }

    /// Contact records: attribute thresholds.
    fn on_contact_record(&self, item: &KinesisItem, ctr: &ContactRecord) -> Vec<Candidate> {
        let facts = engine::ctr_facts(ctr, engine::ctr_hierarchy(&item.data, ctr));
        engine::evaluate_ctr(&self.rules, ctr, &facts, item.arrival)
    }
}

/// Records of one key, in batch order.
type Groups = BTreeMap<String, Vec<(usize, ConnectRecord)>>;

impl<S: ItemStore, P: Publisher, C: Clock> Processor for Handler<S, P, C> {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        let mut out = vec![Disposition::Done; items.len()];
        let (mut agents, mut contacts) = (Groups::new(), Groups::new());
        for (i, item) in items.iter().enumerate() {
            let record = match classify(&item.data) {
                Ok(record) => record,
                Err(reason) => {
                    out[i] = Disposition::Poison(reason);
                    continue;
                }
            };
            if !self.handles(record.kind()) {
                debug!(kind = record.kind().slug(), "record kind not used by the configured rules");
                out[i] = Disposition::Skipped;
                continue;
            }
            match &record {
                ConnectRecord::Agent(ev) => agents.entry(ev.agent_arn.clone()).or_default().push((i, record)),
                ConnectRecord::Segment(seg) => contacts.entry(seg.contact_id.clone()).or_default().push((i, record)),
                ConnectRecord::Contact(ctr) => contacts.entry(ctr.contact_id.clone()).or_default().push((i, record)),
            }
        }
        // Agent events first: the joins they write are what segment rules are scoped by.
        for groups in [agents, contacts] {
            let results: Vec<Vec<(usize, Disposition)>> = futures::stream::iter(groups.into_values())
                .map(|records| self.process_key(items, records))
                .buffer_unordered(KEY_CONCURRENCY)
                .collect()
                .await;
            for (i, disposition) in results.into_iter().flatten() {
                out[i] = disposition;
            }
        }
        out
    }
}
