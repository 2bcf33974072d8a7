//! Fault injection for any port, wrapping the in-memory adapters and the AWS SDK adapters alike: a [`FaultPlan`]
//! is a [`Hook`] of the port interceptor.
//!
//! A [`Faulty`] adapter fails a chosen share of calls with the faults AWS really produces: throttling, 5xx,
//! timeouts before the request was applied, and — the nasty one — "the write happened but the response was
//! lost" (the inner call runs, then the caller sees a timeout). Faults are drawn from a seeded generator, so a
//! run is repeatable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::intercept::{Call, Hook, Intercepted, Verdict};
use crate::ports::*;

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

/// Any port, with faults: the [`Intercepted`] port whose hook is a fault plan.
pub type Faulty<T> = Intercepted<T, Arc<FaultPlan>>;

/// Faults before the call skip it; `ResponseLost` runs it and drops the answer.
impl Hook for FaultPlan {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        match self.draw() {
            None => Verdict::Pass,
            // The effect happens; the caller only learns that it timed out.
            Some(Fault::ResponseLost) => Verdict::ApplyThenFail(Fault::ResponseLost.error(call.service())),
            Some(f) => Verdict::Fail(f.error(call.service())),
        }
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
