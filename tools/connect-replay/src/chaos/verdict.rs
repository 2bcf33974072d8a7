//! The verdict: the checks of a faulty run against the fault-free run and the generated truth.

use std::collections::BTreeMap;

use shared::quarantine::QuarantineEntry;

use super::DUPLICATES_CHECK;
use super::expected::{Expected, digest};
use super::figures::figures;
use super::outcome::{AlertTally, Verdict};
use super::plans::Plans;
use super::read_back::Observed;
use super::run::Run;

pub(super) fn sample<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().take(3).map(|i| format!("{i:?}")).collect();
    if v.is_empty() { String::new() } else { format!(" e.g. {}", v.join(", ")) }
}

/// Quarantine entries of one function: (stream ARN, digest) → copies, and entries whose reason is not the one
/// [`shared::classify()`] gives for their bytes.
fn quarantined(entries: &[QuarantineEntry], function: &str) -> (BTreeMap<(String, u64), usize>, Vec<String>) {
    let mut found = BTreeMap::new();
    let mut wrong_reason = Vec::new();
    for e in entries.iter().filter(|e| e.function == function) {
        let data = e.data().unwrap_or_default();
        *found.entry((e.stream_arn.clone(), digest(&data))).or_default() += 1;
        match shared::classify(&data) {
            Err(reason) if reason.code() == e.reason_code && reason.to_string() == e.reason => {}
            _ => wrong_reason.push(format!("{}/{}: {}", e.shard_id, e.sequence_number, e.reason_code)),
        }
    }
    (found, wrong_reason)
}

/// Judges the faulty run against the fault-free one. `truth_alerts`: the rules are the demo rules, so the figures
/// also set the alerts per rule beside what the generated days contain.
pub fn judge(
    expected: &Expected,
    plans: &Plans,
    (faulty, seen): (&Run, &Observed),
    (clean, clean_seen): (&Run, &Observed),
    truth_alerts: bool,
) -> Verdict {
    let mut v = Verdict::default();
    check_delivery(&mut v, expected, plans, (faulty, clean));
    check_archive(&mut v, expected, seen);
    check_board(&mut v, expected, seen, clean_seen);
    let alerts = AlertTally::of(faulty);
    check_alerts(&mut v, &alerts, &AlertTally::of(clean));
    check_quarantine(&mut v, expected, seen);
    figures(&mut v, expected, plans, (faulty, clean), seen, &alerts, truth_alerts);
    v
}

/// Everything reached every function, nothing given up, nothing blocked, no panic; and faults were injected.
fn check_delivery(v: &mut Verdict, expected: &Expected, plans: &Plans, (faulty, clean): (&Run, &Run)) {
    for (label, run) in [("faulty", faulty), ("fault-free", clean)] {
        v.check(
            &format!("{label} run: every record delivered"),
            run.stats.total() == expected.records,
            format!("{} of {}", run.stats.total(), expected.records),
        );
        v.check(
            &format!("{label} run: nothing sent to the on-failure destination"),
            run.stats.on_failure() == 0,
            format!("{} records given up", run.stats.on_failure()),
        );
        v.check(
            &format!("{label} run: no shard blocked"),
            run.stats.blocked_lanes() == 0,
            format!("{} blocked lanes", run.stats.blocked_lanes()),
        );
        v.check(&format!("{label} run: no panic"), run.panics == 0, format!("{} panics", run.panics));
    }
    v.panics = faulty.panics + clean.panics;
    v.faults_injected = plans.injected();
    v.check("faults were injected", plans.injected() > 0, format!("{} faults", plans.injected()));
}

/// Every valid record archived, nothing else, every object readable, every contact-record version there.
fn check_archive(v: &mut Verdict, expected: &Expected, seen: &Observed) {
    let truth = &expected.truth;
    let lost: Vec<&u64> = expected.valid.iter().filter(|d| !seen.archive.records.contains(d)).collect();
    v.records_lost = lost.len();
    v.check(
        "archive: every valid record archived (records lost = 0)",
        lost.is_empty(),
        format!("{} of {} valid records missing", lost.len(), expected.valid.len()),
    );
    let foreign = seen.archive.records.iter().filter(|d| !expected.valid.contains(d)).count();
    v.check(
        "archive: every archived line is a record that was sent",
        foreign == 0,
        format!("{foreign} unknown lines of {}", seen.archive.lines),
    );
    v.check(
        "archive: every object decompresses",
        seen.archive.undecodable.is_empty(),
        format!(
            "{} of {} NDJSON objects undecodable{}",
            seen.archive.undecodable.len(),
            seen.archive.ndjson_objects,
            sample(&seen.archive.undecodable)
        ),
    );
    let missing: Vec<_> = truth.ctr_versions.difference(&seen.archive.ctr_versions).collect();
    let extra: Vec<_> = seen.archive.ctr_versions.difference(&truth.ctr_versions).collect();
    v.check(
        "archive: contact-record versions == Truth.ctr_versions",
        missing.is_empty() && extra.is_empty() && !truth.ctr_versions.is_empty(),
        format!(
            "{} of {} versions archived, {} missing, {} unexpected{}",
            truth.ctr_versions.len() - missing.len(),
            truth.ctr_versions.len(),
            missing.len(),
            extra.len(),
            sample(missing.iter().chain(extra.iter()))
        ),
    );
}

/// The board of the faulty run equals the fault-free run's; every agent of every day on it, logged out.
fn check_board(v: &mut Verdict, expected: &Expected, seen: &Observed, clean_seen: &Observed) {
    let truth = &expected.truth;
    let differing = seen.board.iter().zip(&clean_seen.board).filter(|(a, b)| a != b).count();
    v.check(
        "board: the agent views equal the fault-free run's",
        seen.board.len() == clean_seen.board.len() && differing == 0 && !seen.board.is_empty(),
        format!("{} agents (fault-free {}), {differing} differ", seen.board.len(), clean_seen.board.len()),
    );
    if let (Some(a), Some(b)) = (&seen.current_items, &clean_seen.current_items) {
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
        v.check(
            "board: the current items equal the fault-free run's, attribute for attribute",
            a.len() == b.len() && differing == 0,
            format!("{} items (fault-free {}), {differing} differ", a.len(), b.len()),
        );
    }
    let logged_in = seen.board.iter().filter(|a| a.is_logged_in()).count();
    v.check(
        "board: every agent of every day on it, all logged out",
        seen.board.len() == truth.agents.len() && logged_in == 0,
        format!("{} of {} agents, {logged_in} logged in", seen.board.len(), truth.agents.len()),
    );
}

/// The same alerts as the fault-free run, a second copy only after an ambiguous publish.
fn check_alerts(v: &mut Verdict, f: &AlertTally, c: &AlertTally) {
    v.duplicates_ambiguous = f.after_ambiguous_publish;
    v.duplicates_unconfirmed = f.after_unconfirmed_publish.len();
    v.duplicates_unexplained = f.unexplained.len();
    let (fi, ci) = (f.ids(), c.ids());
    v.check(
        "alerts: the same alert ids as the fault-free run",
        fi == ci && !ci.is_empty(),
        format!(
            "{} ids (fault-free {}), {} missing, {} extra{}",
            fi.len(),
            ci.len(),
            ci.difference(&fi).count(),
            fi.difference(&ci).count(),
            sample(ci.symmetric_difference(&fi))
        ),
    );
    v.check(
        DUPLICATES_CHECK,
        f.after_unconfirmed_publish.is_empty() && f.unexplained.is_empty() && f.unreadable == 0,
        format!(
            "{} second copies after an ambiguous publish (allowed); {} after three failed SENT confirmations{}; {} \
             unexplained{}",
            f.after_ambiguous_publish,
            f.after_unconfirmed_publish.len(),
            sample(&f.after_unconfirmed_publish),
            f.unexplained.len(),
            sample(&f.unexplained)
        ),
    );
    v.check(
        "alerts: the fault-free run published each alert once",
        c.duplicates() == 0 && c.unreadable == 0,
        format!("{} duplicates", c.duplicates()),
    );
}

/// Each function quarantined exactly the invalid records of the streams it reads, with classify's reason.
fn check_quarantine(v: &mut Verdict, expected: &Expected, seen: &Observed) {
    let truth = &expected.truth;
    let invalid_total = expected.invalid.len();
    v.check(
        "bad input: the generator's invalid records are the ones classify rejects",
        invalid_total == truth.invalid,
        format!("{invalid_total} rejected, Truth.invalid {}", truth.invalid),
    );
    for function in [contact_archiver::handler::NAME, agent_state::NAME, supervisor_alerts::NAME] {
        let want = expected.quarantine_of(function);
        let (found, wrong_reason) = quarantined(&seen.quarantine, function);
        let want_n: usize = want.values().sum();
        let found_n: usize = found.values().sum();
        v.check(
            &format!("quarantine: {function} holds every invalid record it read, with its reason"),
            want == found && wrong_reason.is_empty(),
            format!(
                "{found_n} entries, {want_n} expected, {} with a wrong reason{}",
                wrong_reason.len(),
                sample(&wrong_reason)
            ),
        );
    }
}
