//! What the generated records must become, known before any run.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::days::Days;
use crate::generate::{DayConfig, GenRecord, Stream, Truth};

/// A digest of a record's bytes (to compare millions of records without keeping them).
pub fn digest(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// What the generated records must become, known before any run.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub truth: Truth,
    pub days: usize,
    pub records: usize,
    pub by_stream: BTreeMap<Stream, usize>,
    /// Digests of every valid record (the archive must hold each).
    pub valid: HashSet<u64>,
    /// Every invalid record, with its stream (the quarantine of each function reading that stream must hold it).
    pub invalid: Vec<(Stream, Vec<u8>)>,
}

impl Expected {
    /// Generates at least `target` records (whole days) and what they imply.
    pub fn generate(base: &DayConfig, target: usize) -> (Self, Vec<GenRecord>) {
        let mut days = Days::new(base.clone(), target);
        let mut out = Expected::default();
        let mut records = Vec::with_capacity(target);
        for r in days.by_ref() {
            out.records += 1;
            *out.by_stream.entry(r.stream).or_default() += 1;
            if shared::classify(&r.data).is_ok() {
                out.valid.insert(digest(&r.data));
            } else {
                out.invalid.push((r.stream, r.data.clone()));
            }
            records.push(r);
        }
        out.truth = days.truth().clone();
        out.days = days.days();
        (out, records)
    }

    /// The invalid records a function must have quarantined: (stream ARN, digest) → copies.
    pub fn quarantine_of(&self, function: &str) -> BTreeMap<(String, u64), usize> {
        let mut out = BTreeMap::new();
        for (stream, data) in &self.invalid {
            if reads(function, *stream) {
                *out.entry((stream.arn(), digest(data))).or_default() += 1;
            }
        }
        out
    }
}

/// Whether `function` is attached to `stream` in the replay (the archiver archives every stream).
pub fn reads(function: &str, stream: Stream) -> bool {
    function != agent_state::NAME || stream == Stream::AgentEvents
}
