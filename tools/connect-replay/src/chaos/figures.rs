//! The figures printed beside the checks: what went in, what was injected, what each run did.

use std::sync::atomic::Ordering;

use super::expected::Expected;
use super::outcome::{AlertTally, Verdict};
use super::plans::Plans;
use super::read_back::Observed;
use super::run::Run;
use crate::app;

type Rows = Vec<(String, String)>;

/// Sets the figures of `v` (its checks already made: some figures are the checks' counts).
pub(super) fn figures(
    v: &mut Verdict,
    expected: &Expected,
    plans: &Plans,
    (faulty, clean): (&Run, &Run),
    seen: &Observed,
    alerts: &AlertTally,
    truth_alerts: bool,
) {
    let mut rows = input_rows(v, expected);
    rows.extend(fault_rows(v, plans, faulty));
    rows.extend(alert_rows(v, faulty, alerts));
    if truth_alerts {
        rows.extend(truth_alert_rows(expected, alerts));
    }
    rows.extend(store_rows(expected, seen));
    rows.extend(run_rows(faulty, clean));
    v.figures = rows;
}

/// The records that went in, how many were lost, how many were bad.
fn input_rows(v: &Verdict, expected: &Expected) -> Rows {
    let truth = &expected.truth;
    let mut rows = Rows::new();
    let by_stream: Vec<String> =
        expected.by_stream.iter().map(|(s, n)| format!("{} {n}", app::stream_name(*s))).collect();
    rows.push((
        "records in".into(),
        format!("{} ({}), {} generated days", expected.records, by_stream.join(", "), expected.days),
    ));
    rows.push(("records lost".into(), v.records_lost.to_string()));
    rows.push((
        "bad inputs (invalid records)".into(),
        format!(
            "{} (plus {} duplicated and {} delayed records)",
            expected.invalid.len(),
            truth.duplicates,
            truth.delayed
        ),
    ));
    rows
}

/// The faults injected, per port, and what they did to the simulator.
fn fault_rows(v: &Verdict, plans: &Plans, faulty: &Run) -> Rows {
    let mut rows = Rows::new();
    rows.push((
        "faults injected".into(),
        format!(
            "{} of {} calls ({} responses lost after the write)",
            plans.injected(),
            plans.calls(),
            plans.responses_lost()
        ),
    ));
    for (name, plan) in plans.named() {
        rows.push((
            format!("  {name}"),
            format!(
                "{} of {} calls, {} responses lost",
                plan.injected(),
                plan.calls.load(Ordering::Relaxed),
                plan.responses_lost.load(Ordering::Relaxed)
            ),
        ));
    }
    rows.push(("panics".into(), v.panics.to_string()));
    rows.push((
        "records given up / blocked shards".into(),
        format!("{} / {}", faulty.stats.on_failure(), faulty.stats.blocked_lanes()),
    ));
    rows
}

/// The alerts of the faulty run: copies, and the calls whose outcome the function could not know.
fn alert_rows(v: &Verdict, faulty: &Run, alerts: &AlertTally) -> Rows {
    let mut rows = Rows::new();
    rows.push((
        "alerts".into(),
        format!(
            "{} distinct, {} published; second copies: {} after an ambiguous publish, {} after three failed SENT \
             confirmations, {} unexplained",
            alerts.copies.len(),
            faulty.published.len(),
            v.duplicates_ambiguous,
            v.duplicates_unconfirmed,
            v.duplicates_unexplained
        ),
    ));
    rows.push((
        "alerts in publish calls with an unknown outcome".into(),
        format!("{} alerts, {} times", faulty.ambiguous.len(), faulty.ambiguous.values().sum::<usize>()),
    ));
    rows.push((
        "failed SENT confirmations".into(),
        format!(
            "{} alerts, {} times, {} alerts three times or more",
            faulty.unconfirmed.len(),
            faulty.unconfirmed.values().sum::<usize>(),
            faulty.unconfirmed.values().filter(|n| **n >= 3).count()
        ),
    ));
    rows
}

/// The alerts per rule beside what the generated days contain (demo rules only).
fn truth_alert_rows(expected: &Expected, alerts: &AlertTally) -> Rows {
    let truth = &expected.truth;
    // What the generator says the days contain; the rules see an episode only through an event inside it (an
    // ACW over 6 minutes with no event after minute 6 raises nothing), so these are figures, not checks.
    let pairs = [
        ("break-too-long", truth.long_breaks.len(), "breaks over 16 min"),
        ("acw-too-long", truth.long_acw.len(), "ACW periods over 6 min"),
        ("angry-customer", truth.angry_contacts.len(), "contacts with 3 negative turns in a row"),
        ("escalation-requested", truth.escalation_contacts.len(), "escalation requests"),
    ];
    pairs
        .into_iter()
        .map(|(rule, n, what)| {
            let raised = alerts.by_rule.get(rule).copied().unwrap_or(0);
            (format!("  alerts {rule}"), format!("{raised} for {n} {what} in the generated days"))
        })
        .collect()
}

/// What the stores hold: quarantine entries and archive objects.
fn store_rows(expected: &Expected, seen: &Observed) -> Rows {
    let mut rows = Rows::new();
    let quarantined: usize = seen.quarantine.len();
    rows.push(("quarantine entries (all functions)".into(), quarantined.to_string()));
    rows.push((
        "archive".into(),
        format!(
            "{} objects ({} NDJSON), {} lines for {} valid records",
            seen.archive.objects,
            seen.archive.ndjson_objects,
            seen.archive.lines,
            expected.valid.len()
        ),
    ));
    rows
}

/// Each run's time, invocations and deliveries, and each function's batch reports added up.
fn run_rows(faulty: &Run, clean: &Run) -> Rows {
    let mut rows = Rows::new();
    for (label, run) in [("faulty run", faulty), ("fault-free run", clean)] {
        rows.push((
            label.into(),
            format!(
                "{:.1} s, {} invocations, {} records delivered ({:.2}× the fault-free run), {} partial failures, {} function errors",
                run.elapsed.as_secs_f64(),
                run.invocations(),
                run.delivered(),
                run.delivered() as f64 / clean.delivered().max(1) as f64,
                run.partial_failures(),
                run.function_errors()
            ),
        ));
        for (name, t) in &run.functions {
            rows.push((format!("  {name}"), app::report_line(t)));
        }
    }
    rows
}
