//! The whole behaviour of agent-state, top to bottom.
//!
//! 1. **Classify** each record. Invalid → poison (quarantined). A valid record that is not an agent event → skipped.
//!    An agent event of an unknown `EventType` → skipped, counted, logged at debug with its type: its meaning is
//!    unknown, so it must neither move the state nor the ordering watermark (a later known event carries the full
//!    snapshot anyway).
//! 2. **Plan per agent**: group by agent ARN, drop repeated `EventId`s (the first copy in batch order is kept; the
//!    others end as its duplicates), sort by [`AgentEvent::order_key`] (timestamp, then event id), and compute the
//!    history items each event finishes ([`crate::state`]; the update of the current item is built when written, by
//!    [`state::fold`]).
//! 3. **History first**: every history item of the batch, de-duplicated by key, goes out in `BatchWriteItem` calls
//!    of 25. History items are idempotent, so writing them before the current item makes a retry complete: an event
//!    whose history did not get written is not applied either, it is retried (with every later event of its agent).
//! 4. **One conditional write per agent**: the agent's updates, composed in order, in one `UpdateItem` conditioned
//!    on the stored `event_order` being older than the fold's **oldest** event — then applying the fold equals
//!    applying each event one by one in order, each only if newer than the item. The history a LOGIN/LOGOUT
//!    finishes relative to its batch predecessor (bridged, see [`Planned::bridged`]) is right only if that write
//!    applies, so it goes in the same atomic write (a `TransactWriteItems`, for the few agents that have any):
//!    the batch still waits two round trips. If the condition fails (a
//!    redelivery overlaps what the table holds, or a concurrent invocation got there first), one consistent read
//!    finds the stored order: events at or before it are stale, the rest are folded again under the same kind of
//!    condition; if that fails too (a concurrent writer again), each event is written on its own, conditioned on
//!    its own order. A stale LOGIN/LOGOUT still updates the session attributes when it is newer than those
//!    (`session_order`), so a login delivered after a newer heartbeat is not lost.
//! 5. **Dispositions**: applied → done; older than the item → stale; duplicates → stale (or whatever happened to
//!    their first copy if it failed); a transient error → retry for that event and every later event of the agent;
//!    a permanent error on an event's own write → refused (quarantined, though the record is valid).

use shared::telemetry::names::agent_state as names;
use std::collections::HashMap;

use futures::StreamExt;
use shared::batch::{Disposition, Grouped, KeyRun, Processor, Route, classify_by_key};
use shared::kinesis::KinesisItem;
use shared::model::{AgentEvent, AgentEventType, ConnectRecord};
use shared::ports::{Condition, Item, ItemStore, MAX_ATOMIC_PUTS, PortError, WriteOutcome};
use tracing::{debug, warn};

use crate::config::Settings;
use crate::state::{self, Update};
use crate::table::{CURRENT_SK, attr};
use crate::work::Work;

/// Agents written concurrently, and history `BatchWriteItem` calls in flight: up to this many agents, a batch waits
/// two round trips (history, then current items).
const CONCURRENCY: usize = shared::batch::MAX_IN_FLIGHT;
/// DynamoDB's `BatchWriteItem` limit; the history is chunked here so a failed call names the events it affects.
const BATCH_WRITE_ITEMS: usize = 25;

/// The agent-state processor, generic over the table.
#[derive(Debug, Clone)]
pub struct AgentState<S> {
    store: S,
    settings: Settings,
}

impl<S: ItemStore> AgentState<S> {
    pub fn new(store: S, settings: Settings) -> Self {
        Self { store, settings }
    }

    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<S: ItemStore> Processor for AgentState<S> {
    async fn process(&self, items: &[KinesisItem]) -> Vec<Disposition> {
        // 1. Classify.
        let Grouped { groups, mut outcomes } = classify_by_key(items, by_agent);
        // 2. Plan per agent.
        let plans: Vec<AgentPlan> =
            groups.into_iter().map(|(agent, events)| AgentPlan::new(agent, events, &self.settings)).collect();
        // 3. History first.
        let (history_failures, mut work) = self.write_history(&plans).await;
        // 4. One conditional write per agent, agents concurrently.
        // (Built in a loop: futures made in a `map` closure borrow through a higher-ranked lifetime, and rustc then
        // cannot prove the batch future `Send`.)
        let mut agent_writes = Vec::with_capacity(plans.len());
        for (plan, failure) in plans.iter().zip(history_failures) {
            agent_writes.push(self.apply_agent(plan, failure));
        }
        let results: Vec<(Vec<(usize, Disposition)>, Work)> =
            futures::stream::iter(agent_writes).buffer_unordered(CONCURRENCY).collect().await;
        for (dispositions, agent_work) in results {
            work += &agent_work;
            outcomes.extend(dispositions);
        }
        work.agents = plans.len();
        work.events = plans.iter().map(|p| p.events.len()).sum();
        work.duplicates = plans.iter().map(|p| p.duplicates.len()).sum();
        work.report();
        // 5. Dispositions.
        outcomes.finish()
    }
}

/// Step 1's routing of a valid record: an agent event of a known type joins its agent's group; anything else is
/// skipped.
fn by_agent(item: &KinesisItem, record: ConnectRecord) -> Route<String, AgentEvent> {
    match record {
        ConnectRecord::Agent(event) => match &event.event_type {
            AgentEventType::Other(event_type) => {
                debug!(seq = item.seq_str(), event_type = event_type.as_str(), "unknown agent event type skipped");
                Route::Now(Disposition::Skipped)
            }
            _ => Route::Group(event.agent_arn.clone(), *event),
        },
        other => {
            debug!(seq = item.seq_str(), kind = %other.kind(), "not an agent event: skipped");
            Route::Now(Disposition::Skipped)
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Plan per agent.

/// One agent's events of the batch, de-duplicated and in order, with what each does to the table.
struct AgentPlan {
    agent: String,
    events: Vec<Planned>,
    /// (batch index of a repeated EventId, position in `events` of its first copy).
    duplicates: Vec<(usize, usize)>,
}

struct Planned {
    /// Batch index.
    index: usize,
    order: String,
    event: AgentEvent,
    /// History items the event finishes, from its own previous snapshot.
    history: Vec<Item>,
    /// For an event without a previous snapshot (LOGIN, LOGOUT): the history it finishes relative to the agent's
    /// preceding event in this batch. Written only by the write that applies both, atomically with it, because only
    /// then is that event certainly the state the event replaced (a batch may also hold an old duplicate or a late
    /// arrival).
    bridged: Vec<Item>,
}

impl AgentPlan {
    fn new(agent: String, events: Vec<(usize, AgentEvent)>, settings: &Settings) -> Self {
        let mut first_copy: HashMap<String, usize> = HashMap::new();
        let mut kept = Vec::with_capacity(events.len());
        let mut repeated = Vec::new();
        for (index, event) in events {
            if first_copy.contains_key(&event.event_id) {
                repeated.push((index, event.event_id));
            } else {
                first_copy.insert(event.event_id.clone(), index);
                kept.push((event.order_key(), index, event));
            }
        }
        kept.sort_by(|a, b| a.0.cmp(&b.0));

        let mut planned: Vec<Planned> = Vec::with_capacity(kept.len());
        for (order, index, event) in kept {
            let history = state::history(&event, event.previous.as_ref(), settings);
            let bridged = match (&event.previous, planned.last()) {
                (None, Some(before)) => state::history(&event, before.event.current.as_ref(), settings),
                _ => Vec::new(),
            };
            planned.push(Planned { index, order, event, history, bridged });
        }
        let position: HashMap<&str, usize> =
            planned.iter().enumerate().map(|(pos, p)| (p.event.event_id.as_str(), pos)).collect();
        let duplicates =
            repeated.iter().filter_map(|(index, id)| position.get(id.as_str()).map(|pos| (*index, *pos))).collect();
        Self { agent, events: planned, duplicates }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. History first.

type ItemKey = (String, String);

impl<S: ItemStore> AgentState<S> {
    /// Writes every history item of the batch. Returns, per plan, the earliest event whose history was not written.
    ///
    /// Any error counts as transient here: history items are small items this function builds, so no record's
    /// content can make them unwritable; an error means throttling or a misconfigured table, and good records must
    /// not become poison for that (they are retried, then reach the on-failure destination).
    async fn write_history(&self, plans: &[AgentPlan]) -> (Vec<Option<(usize, PortError)>>, Work) {
        let mut work = Work::default();
        let mut owners: HashMap<ItemKey, Vec<(usize, usize)>> = HashMap::new();
        let mut unique: Vec<(ItemKey, Item)> = Vec::new();
        for (a, plan) in plans.iter().enumerate() {
            for (pos, planned) in plan.events.iter().enumerate() {
                for item in &planned.history {
                    let key = state::item_key(item);
                    let entry = owners.entry(key.clone()).or_default();
                    if entry.is_empty() {
                        unique.push((key, item.clone()));
                    }
                    entry.push((a, pos));
                }
            }
        }
        work.history_items = unique.len();

        let mut chunks: Vec<Vec<(ItemKey, Item)>> = Vec::new();
        let mut rest = unique.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(BATCH_WRITE_ITEMS).collect());
        }
        work.history_calls = chunks.len();
        let mut calls = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let (keys, items): (Vec<ItemKey>, Vec<Item>) = chunk.into_iter().unzip();
            calls.push(async move { (keys, self.store.batch_put(items).await) });
        }
        let results: Vec<(Vec<ItemKey>, Result<(), PortError>)> =
            futures::stream::iter(calls).buffer_unordered(CONCURRENCY).collect().await;

        let mut failures: Vec<Option<(usize, PortError)>> = vec![None; plans.len()];
        for (keys, result) in results {
            let Err(error) = result else { continue };
            warn!(items = keys.len(), error = %error, "history write failed; its events will be retried");
            let error = error.into_transient();
            for &(a, pos) in keys.iter().flat_map(|k| owners.get(k).into_iter().flatten()) {
                if failures[a].as_ref().is_none_or(|(earliest, _)| pos < *earliest) {
                    failures[a] = Some((pos, error.clone()));
                }
            }
        }
        (failures, work)
    }

    // -----------------------------------------------------------------------------------------------------------
    // 4. One conditional write per agent.

    async fn apply_agent(
        &self,
        plan: &AgentPlan,
        history_failure: Option<(usize, PortError)>,
    ) -> (Vec<(usize, Disposition)>, Work) {
        let mut work = Work::default();
        let writable = history_failure.as_ref().map_or(plan.events.len(), |(pos, _)| *pos);
        let mut key = KeyRun::new(plan.events.len());
        key.extend(self.apply(&plan.agent, &plan.events[..writable], &mut work).await);
        if let Some((_, error)) = history_failure {
            key.stop(error);
        }
        let dispositions = key.finish();

        let mut out: Vec<(usize, Disposition)> =
            plan.events.iter().zip(&dispositions).map(|(p, d)| (p.index, d.clone())).collect();
        for &(index, first) in &plan.duplicates {
            let d = match &dispositions[first] {
                Disposition::Done | Disposition::Stale => Disposition::Stale,
                other => other.clone(),
            };
            out.push((index, d));
        }
        (out, work)
    }

    /// Applies an agent's events (in order) with one folded write when nothing in the table is newer than the oldest.
    async fn apply(&self, agent: &str, events: &[Planned], work: &mut Work) -> Vec<Disposition> {
        let Some(oldest) = events.first() else {
            return Vec::new();
        };
        work.folded_writes += 1;
        let bridged = bridged_history(agent, events);
        let count = bridged.len();
        match self.write(agent, self.fold(events), attr::EVENT_ORDER, &oldest.order, bridged).await {
            Ok(WriteOutcome::Applied) => {
                work.bridged_items += count;
                vec![Disposition::Done; events.len()]
            }
            Ok(WriteOutcome::ConditionFailed) => {
                work.fallbacks += 1;
                self.apply_overlapping(agent, events, work).await
            }
            Err(e) if e.is_transient() => KeyRun::retry_all(events.len(), e),
            Err(_) => self.apply_one_by_one(agent, events, work).await,
        }
    }

    /// The table holds something at least as new as the oldest event: one read says which events are stale.
    /// (The stored order only grows, so an event at or before it would be rejected by its own condition anyway.)
    async fn apply_overlapping(&self, agent: &str, events: &[Planned], work: &mut Work) -> Vec<Disposition> {
        work.reads += 1;
        let stored = match self.store.get(agent, CURRENT_SK).await {
            Ok(item) => item.unwrap_or_default(),
            Err(e) if e.is_transient() => return KeyRun::retry_all(events.len(), e),
            Err(_) => return self.apply_one_by_one(agent, events, work).await,
        };
        let stored_order = |name: &str| stored.get(name).and_then(|v| v.as_str());
        let split = events.partition_point(|p| stored_order(attr::EVENT_ORDER).is_some_and(|s| p.order.as_str() <= s));
        let (older, newer) = events.split_at(split);
        let mut key = KeyRun::new(events.len());
        for planned in older {
            // A replayed LOGIN/LOGOUT is not newer than the stored session either: no write needed.
            let session_is_newer = stored_order(attr::SESSION_ORDER).is_none_or(|s| planned.order.as_str() > s);
            let result = if session_is_newer { self.apply_session(agent, planned, work).await } else { Ok(()) };
            if !key.push(settle(agent, planned, result.map(|()| Disposition::Stale))) {
                return key.finish();
            }
        }
        let Some(oldest_newer) = newer.first() else {
            return key.finish();
        };
        work.folded_writes += 1;
        let bridged = bridged_history(agent, newer);
        let count = bridged.len();
        match self.write(agent, self.fold(newer), attr::EVENT_ORDER, &oldest_newer.order, bridged).await {
            Ok(WriteOutcome::Applied) => {
                work.bridged_items += count;
                key.extend(newer.iter().map(|_| Disposition::Done));
            }
            Err(e) if e.is_transient() => key.stop(e),
            Ok(WriteOutcome::ConditionFailed) | Err(_) => {
                key.extend(self.apply_one_by_one(agent, newer, work).await);
            }
        }
        key.finish()
    }

    /// Each event on its own, in order, conditioned on its own order: exact under any concurrency.
    async fn apply_one_by_one(&self, agent: &str, events: &[Planned], work: &mut Work) -> Vec<Disposition> {
        let mut key = KeyRun::new(events.len());
        for planned in events {
            work.event_writes += 1;
            let result = match self
                .write(
                    agent,
                    state::effect(&planned.event, &self.settings),
                    attr::EVENT_ORDER,
                    &planned.order,
                    Vec::new(),
                )
                .await
            {
                Ok(WriteOutcome::Applied) => Ok(Disposition::Done),
                Ok(WriteOutcome::ConditionFailed) => {
                    self.apply_session(agent, planned, work).await.map(|()| Disposition::Stale)
                }
                Err(e) => Err(e),
            };
            if !key.push(settle(agent, planned, result)) {
                break;
            }
        }
        key.finish()
    }

    /// For a LOGIN/LOGOUT older than the item: its session attributes, if they are newer than the stored ones.
    async fn apply_session(&self, agent: &str, planned: &Planned, work: &mut Work) -> Result<(), PortError> {
        if !state::is_session_event(&planned.event) {
            return Ok(());
        }
        work.session_writes += 1;
        let update = state::session_effect(&planned.event, &self.settings);
        self.write(agent, update, attr::SESSION_ORDER, &planned.order, Vec::new()).await.map(|_| ())
    }

    async fn write(
        &self,
        agent: &str,
        update: Update,
        guard: &'static str,
        order: &str,
        puts: Vec<Item>,
    ) -> Result<WriteOutcome, PortError> {
        let remove = update.remove_list();
        let condition = Condition::NewerThan { attr: guard, value: order.to_owned() };
        self.store.update(agent, CURRENT_SK, update.set, &remove, condition, puts).await
    }

    /// The events' updates composed in order: one update with the effect of applying them one by one.
    fn fold(&self, events: &[Planned]) -> Update {
        state::fold(events.iter().map(|p| &p.event), &self.settings)
    }
}

/// An event's disposition from the outcome of its own write(s): a transient error retries it (and, through
/// [`KeyRun`], the agent's later events), a permanent one refuses only this event.
fn settle(agent: &str, planned: &Planned, result: Result<Disposition, PortError>) -> Disposition {
    result.unwrap_or_else(|error| {
        if !error.is_transient() {
            warn!(agent, event_id = planned.event.event_id.as_str(), error = %error, "the table refused an agent event");
        }
        Disposition::from(error)
    })
}

/// The bridged history of events that one write applies together with their predecessor, de-duplicated by key,
/// to be written atomically with that write. Past what one atomic write takes ([`MAX_ATOMIC_PUTS`]: an agent
/// logging in and out dozens of times in one batch), the episodes are not recorded — counted and logged, never
/// at the cost of the events themselves.
fn bridged_history(agent: &str, applied_together: &[Planned]) -> Vec<Item> {
    let mut seen = std::collections::HashSet::new();
    let items: Vec<Item> = applied_together
        .iter()
        .skip(1)
        .flat_map(|p| &p.bridged)
        .filter(|item| seen.insert(state::item_key(item)))
        .cloned()
        .collect();
    if items.len() > MAX_ATOMIC_PUTS {
        warn!(
            agent,
            items = items.len(),
            "too much bridged history for one atomic write; those episodes are not recorded"
        );
        metrics::counter!(names::BRIDGED_HISTORY_FAILURES).increment(items.len() as u64);
        return Vec::new();
    }
    items
}
