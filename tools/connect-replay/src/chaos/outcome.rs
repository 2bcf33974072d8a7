//! What a chaos run's verdict holds: its checks, its figures, and the tally of the alerts each run published.

use std::collections::{BTreeMap, BTreeSet};

use super::run::Run;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The alerts of a run: copies per id, and what explains each second copy.
#[derive(Debug, Clone, Default)]
pub struct AlertTally {
    pub copies: BTreeMap<String, usize>,
    pub by_rule: BTreeMap<String, usize>,
    /// Extra copies of alerts that were in a publish call that failed ambiguously (SNS may have taken them): the
    /// documented at-least-once case, allowed and counted.
    pub after_ambiguous_publish: usize,
    /// Extra copies (not explained by an ambiguous publish) of alerts whose SENT confirmation failed three times
    /// after SNS took them: documented in `supervisor_alerts::delivery`, but not allowed by the check.
    pub after_unconfirmed_publish: Vec<String>,
    /// Alert ids with a second copy that neither explains.
    pub unexplained: Vec<String>,
    pub unreadable: usize,
}

impl AlertTally {
    pub fn of(run: &Run) -> Self {
        let mut tally = AlertTally::default();
        for m in &run.published {
            let Ok(body) = serde_json::from_str::<serde_json::Value>(&m.body) else {
                tally.unreadable += 1;
                continue;
            };
            let Some(id) = body["alertId"].as_str() else {
                tally.unreadable += 1;
                continue;
            };
            let n = tally.copies.entry(id.to_owned()).or_default();
            *n += 1;
            if *n == 1 {
                *tally.by_rule.entry(body["rule"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
            }
        }
        for (id, copies) in &tally.copies {
            let extra = copies - 1;
            let ambiguous = extra.min(run.ambiguous.get(id).copied().unwrap_or(0));
            tally.after_ambiguous_publish += ambiguous;
            let rest = extra - ambiguous;
            let unconfirmed = rest.min(run.unconfirmed.get(id).copied().unwrap_or(0) / 3);
            tally.after_unconfirmed_publish.extend(std::iter::repeat_n(id.clone(), unconfirmed));
            if rest > unconfirmed {
                tally.unexplained.push(id.clone());
            }
        }
        tally
    }

    pub fn ids(&self) -> BTreeSet<&str> {
        self.copies.keys().map(String::as_str).collect()
    }

    pub fn duplicates(&self) -> usize {
        self.copies.values().map(|n| n - 1).sum()
    }
}

/// The checks and figures of a faulty run against the fault-free run and the generated truth.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub checks: Vec<Check>,
    pub figures: Vec<(String, String)>,
    pub records_lost: usize,
    pub duplicates_ambiguous: usize,
    /// Second copies after three failed SENT confirmations (documented in `supervisor_alerts::delivery`).
    pub duplicates_unconfirmed: usize,
    pub duplicates_unexplained: usize,
    pub panics: usize,
    pub faults_injected: usize,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    pub(super) fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check { name: name.to_owned(), ok, detail: detail.into() });
    }
}
