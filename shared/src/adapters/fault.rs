//! Fault injection for any port, wrapping the in-memory adapters and the AWS SDK adapters alike.
//!
//! A [`Faulty`] adapter fails a chosen share of calls with the faults AWS really produces: throttling, 5xx,
//! timeouts before the request was applied, and — the nasty one — "the write happened but the response was
//! lost" (the inner call runs, then the caller sees a timeout). Faults are drawn from a seeded generator, so a
//! run is repeatable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::ports::*;
use crate::quarantine::{Quarantine, QuarantineEntry};

/// Which fault a call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttled,
    ServerError,
    Timeout,
    /// The inner call ran (its effect is durable) and then the response was lost.
    ResponseLost,
}

impl Fault {
    fn error(self, service: &'static str) -> PortError {
        let detail = match self {
            Fault::Throttled => "injected: ThrottlingException (HTTP 400)",
            Fault::ServerError => "injected: InternalError (HTTP 500)",
            Fault::Timeout => "injected: timeout before the request was applied",
            Fault::ResponseLost => "injected: timeout after the request was applied (response lost)",
        };
        match self {
            Fault::Throttled => PortError::transient(service, detail),
            _ => PortError::ambiguous(service, detail),
        }
    }
}

/// The shared dice of a fault plan: probability per call, a seed, and counters of what was injected.
#[derive(Debug)]
pub struct FaultPlan {
    /// Probability of a fault per call, in millionths.
    per_million: u64,
    state: AtomicU64,
    pub calls: AtomicUsize,
    pub injected: AtomicUsize,
    pub responses_lost: AtomicUsize,
}

impl FaultPlan {
    pub fn new(probability: f64, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            per_million: (probability.clamp(0.0, 1.0) * 1_000_000.0) as u64,
            state: AtomicU64::new(seed | 1),
            calls: AtomicUsize::new(0),
            injected: AtomicUsize::new(0),
            responses_lost: AtomicUsize::new(0),
        })
    }

    /// splitmix64 over an atomic counter: thread-safe, seeded, no dependency.
    fn next(&self) -> u64 {
        let mut z = self.state.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Draws the fate of one call.
    pub fn draw(&self) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let roll = self.next();
        if roll % 1_000_000 >= self.per_million {
            return None;
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(match (roll >> 32) % 4 {
            0 => Fault::Throttled,
            1 => Fault::ServerError,
            2 => Fault::Timeout,
            _ => {
                self.responses_lost.fetch_add(1, Ordering::Relaxed);
                Fault::ResponseLost
            }
        })
    }

    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::Relaxed)
    }
}

/// Any port, with faults.
#[derive(Debug, Clone)]
pub struct Faulty<T> {
    inner: T,
    plan: Arc<FaultPlan>,
}

impl<T> Faulty<T> {
    pub fn new(inner: T, plan: Arc<FaultPlan>) -> Self {
        Self { inner, plan }
    }
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

/// Runs `call` under the plan: faults before the call skip it; `ResponseLost` runs it and drops the answer.
macro_rules! faulty {
    ($self:ident, $service:literal, $call:expr) => {{
        match $self.plan.draw() {
            None => $call.await,
            Some(Fault::ResponseLost) => {
                // The effect happens; the caller only learns that it timed out.
                $call.await?;
                Err(Fault::ResponseLost.error($service))
            }
            Some(f) => Err(f.error($service)),
        }
    }};
}

impl<T: ObjectStore> ObjectStore for Faulty<T> {
    async fn put_if_absent(&self, object: PutObject) -> PortResult<PutOutcome> {
        faulty!(self, "s3", self.inner.put_if_absent(object.clone()))
    }
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        faulty!(self, "s3", self.inner.get(key))
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        faulty!(self, "s3", self.inner.list(prefix))
    }
}

impl<T: ItemStore> ItemStore for Faulty<T> {
    async fn put(&self, item: Item, condition: Condition) -> PortResult<WriteOutcome> {
        faulty!(self, "dynamodb", self.inner.put(item.clone(), condition.clone()))
    }
    async fn update(
        &self,
        pk: &str,
        sk: &str,
        set: Item,
        remove: &[&'static str],
        condition: Condition,
    ) -> PortResult<WriteOutcome> {
        faulty!(self, "dynamodb", self.inner.update(pk, sk, set.clone(), remove, condition.clone()))
    }
    async fn get(&self, pk: &str, sk: &str) -> PortResult<Option<Item>> {
        faulty!(self, "dynamodb", self.inner.get(pk, sk))
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> PortResult<WriteOutcome> {
        faulty!(self, "dynamodb", self.inner.delete(pk, sk, condition.clone()))
    }
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        faulty!(self, "dynamodb", self.inner.batch_put(items.clone()))
    }
    async fn query(&self, query: Query) -> PortResult<Vec<Item>> {
        faulty!(self, "dynamodb", self.inner.query(query.clone()))
    }
}

impl<T: Publisher> Publisher for Faulty<T> {
    async fn publish_batch(&self, messages: &[Message]) -> PortResult<Vec<PortResult<()>>> {
        faulty!(self, "sns", self.inner.publish_batch(messages))
    }
}

impl<T: Quarantine> Quarantine for Faulty<T> {
    async fn quarantine(&self, entry: &QuarantineEntry) -> PortResult<()> {
        faulty!(self, "s3", self.inner.quarantine(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryObjectStore;

    fn put(key: &str) -> PutObject {
        PutObject { key: key.into(), body: b"x".to_vec(), content_type: "text/plain", content_encoding: None }
    }

    #[tokio::test]
    async fn a_lost_response_still_applies_the_write() {
        let plan = FaultPlan::new(1.0, 7);
        let store = Faulty::new(MemoryObjectStore::new(), plan.clone());
        for i in 0..40 {
            assert!(store.put_if_absent(put(&format!("k{i}"))).await.is_err(), "every call fails");
        }
        assert_eq!(plan.injected(), 40, "every call faulted at probability 1");
        assert!(plan.responses_lost.load(Ordering::Relaxed) > 0);
        assert_eq!(store.inner().len(), plan.responses_lost.load(Ordering::Relaxed), "only lost responses applied");
    }

    #[test]
    fn the_fault_rate_follows_the_probability() {
        let plan = FaultPlan::new(0.05, 1);
        let faults = (0..100_000).filter(|_| plan.draw().is_some()).count();
        assert!((4_000..6_000).contains(&faults), "{faults}");
    }
}
