//! The faults: one seeded plan per port.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use shared::adapters::fault::FaultPlan;

/// One fault plan per port, each with its own seed and counters.
#[derive(Debug, Clone)]
pub struct Plans {
    pub archive: Arc<FaultPlan>,
    pub quarantine: Arc<FaultPlan>,
    pub agent_table: Arc<FaultPlan>,
    pub alert_table: Arc<FaultPlan>,
    pub publisher: Arc<FaultPlan>,
}

impl Plans {
    pub fn new(rate: f64, seed: u64) -> Self {
        let plan = |i: u64| FaultPlan::new(rate, seed.wrapping_mul(31).wrapping_add(i));
        Self { archive: plan(1), quarantine: plan(2), agent_table: plan(3), alert_table: plan(4), publisher: plan(5) }
    }

    pub fn named(&self) -> [(&'static str, &Arc<FaultPlan>); 5] {
        [
            ("archive store (S3)", &self.archive),
            ("quarantine store (S3)", &self.quarantine),
            ("agent-state table (DynamoDB)", &self.agent_table),
            ("alert-state table (DynamoDB)", &self.alert_table),
            ("alert publisher (SNS)", &self.publisher),
        ]
    }

    pub fn calls(&self) -> usize {
        self.named().iter().map(|(_, p)| p.calls.load(Ordering::Relaxed)).sum()
    }

    pub fn injected(&self) -> usize {
        self.named().iter().map(|(_, p)| p.injected()).sum()
    }

    pub fn responses_lost(&self) -> usize {
        self.named().iter().map(|(_, p)| p.responses_lost.load(Ordering::Relaxed)).sum()
    }
}
