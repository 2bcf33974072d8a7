//! The records: whole generated days, one after another, with the truth they imply.

use chrono::TimeDelta;

use crate::generate::{DayConfig, DayGenerator, GenRecord, Truth};

/// Whole generated days one after another (each with its own seed and date, as [`crate::sources::days`]) until at
/// least `target` records; the [`Truth`] of every finished day is added up. Whole days, so the truth is complete.
pub struct Days {
    base: DayConfig,
    target: usize,
    produced: usize,
    day: usize,
    day_records: usize,
    current: Option<DayGenerator>,
    truth: Truth,
}

impl Days {
    pub fn new(base: DayConfig, target: usize) -> Self {
        Self { base, target, produced: 0, day: 0, day_records: 0, current: None, truth: Truth::default() }
    }

    /// What the days imply (complete once the iterator is exhausted).
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Days finished so far.
    pub fn days(&self) -> usize {
        self.day
    }
}

impl Iterator for Days {
    type Item = GenRecord;

    fn next(&mut self) -> Option<GenRecord> {
        loop {
            if let Some(generator) = self.current.as_mut() {
                if let Some(r) = generator.next() {
                    self.produced += 1;
                    self.day_records += 1;
                    return Some(r);
                }
                self.truth += generator.truth();
                self.current = None;
                self.day += 1;
                if self.day_records == 0 {
                    return None; // a day without records (no agents): more days would not help
                }
            }
            if self.produced >= self.target {
                return None;
            }
            let mut cfg = self.base.clone();
            cfg.seed = self.base.seed.wrapping_add(self.day as u64);
            cfg.start = self.base.start + TimeDelta::days(self.day as i64);
            self.day_records = 0;
            self.current = Some(DayGenerator::new(cfg));
        }
    }
}
