//! What one batch cost agent-state: counted while the handler works, logged once and emitted as metrics.

use shared::telemetry::names::agent_state as names;
use tracing::info;

/// What one batch cost: logged once per batch and emitted as metrics.
#[derive(Debug, Default, Clone)]
pub(crate) struct Work {
    pub(crate) agents: usize,
    pub(crate) events: usize,
    pub(crate) duplicates: usize,
    /// Folded conditional `UpdateItem`s (one per agent per batch unless the batch overlaps the table).
    pub(crate) folded_writes: usize,
    /// Folded writes whose condition failed (redelivery overlap or a concurrent invocation).
    pub(crate) fallbacks: usize,
    /// Single-event conditional writes (only after a second failed fold, or to isolate a permanent error).
    pub(crate) event_writes: usize,
    /// Session-only writes for stale LOGIN/LOGOUT events.
    pub(crate) session_writes: usize,
    /// Consistent reads made to find the stored order after a failed fold.
    pub(crate) reads: usize,
    pub(crate) history_items: usize,
    pub(crate) history_calls: usize,
    /// History items bridged from a batch predecessor (LOGIN/LOGOUT), written atomically with the current item.
    pub(crate) bridged_items: usize,
}

/// One agent's writes added to the batch's (the history counts are the batch's own, counted once).
impl std::ops::AddAssign<&Work> for Work {
    fn add_assign(&mut self, o: &Work) {
        self.bridged_items += o.bridged_items;
        self.folded_writes += o.folded_writes;
        self.fallbacks += o.fallbacks;
        self.event_writes += o.event_writes;
        self.session_writes += o.session_writes;
        self.reads += o.reads;
    }
}

impl Work {
    /// Logs the batch's costs once and emits them as metrics.
    pub(crate) fn report(&self) {
        info!(
            agents = self.agents,
            events = self.events,
            duplicates = self.duplicates,
            folded_writes = self.folded_writes,
            fallbacks = self.fallbacks,
            event_writes = self.event_writes,
            session_writes = self.session_writes,
            reads = self.reads,
            history_items = self.history_items,
            history_calls = self.history_calls,
            bridged_items = self.bridged_items,
            "agent state written"
        );
        let pairs = [
            (names::FOLDED_WRITES, self.folded_writes),
            (names::FOLD_FALLBACKS, self.fallbacks),
            (names::EVENT_WRITES, self.event_writes),
            (names::SESSION_WRITES, self.session_writes),
            (names::READS, self.reads),
            (names::HISTORY_ITEMS, self.history_items + self.bridged_items),
            (names::DUPLICATES, self.duplicates),
        ];
        for (name, value) in pairs {
            metrics::counter!(name).increment(value as u64);
        }
    }
}
