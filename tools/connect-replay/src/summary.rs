//! What the commands print and write after a run: the agent board, summary rows, produce rows, alerts by rule and
//! the marks the report draws.

use std::collections::BTreeMap;

use agent_state::table::AgentView;
use shared::BatchReport;
use shared::model::RecordKind;

use crate::app::Outcome;
use crate::generate::Stream;
use crate::report::AlertMark;

pub fn print_board(agents: &[AgentView]) {
    println!(
        "{:<14} {:<20} {:<20} {:<14} {:>8} {:<9}",
        "AGENT", "ACTIVITY", "STATUS", "PROFILE", "CONTACTS", "LOGGED IN"
    );
    for a in agents {
        println!(
            "{:<14} {:<20} {:<20} {:<14} {:>8} {:<9}",
            a.username.as_deref().unwrap_or("?"),
            a.activity.as_deref().unwrap_or("?"),
            a.status.as_ref().and_then(|s| s.name.as_deref()).unwrap_or("?"),
            a.routing_profile.as_ref().and_then(|r| r.name.as_deref()).unwrap_or("?"),
            a.contacts.len(),
            if a.is_logged_in() { "yes" } else { "no" },
        );
    }
}

pub fn summary_rows(outcome: &Outcome) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let secs = outcome.elapsed.as_secs_f64();
    rows.push(("records replayed".into(), outcome.stats.total().to_string()));
    for (stream, n) in &outcome.stats.records {
        rows.push((format!("  {}", stream_name(*stream)), n.to_string()));
    }
    rows.push((
        "replay time".into(),
        format!("{secs:.2} s ({:.0} records/s)", outcome.stats.total() as f64 / secs.max(1e-9)),
    ));
    for (name, t) in &outcome.functions {
        rows.push((name.to_string(), report_line(t)));
    }
    rows.push(("records given up (on-failure destination)".into(), outcome.stats.on_failure().to_string()));
    rows.push(("blocked shards".into(), outcome.stats.blocked_lanes().to_string()));
    rows
}

/// A function's batch reports added up, on one line.
pub fn report_line(t: &BatchReport) -> String {
    format!(
        "in {} · done {} · stale {} · skipped {} · quarantined {} · failed {}",
        t.records_in, t.done, t.stale, t.skipped, t.quarantined, t.failed
    )
}

/// The summary of `produce`: records per stream and kind, calls, retries, refused and failed records, rate.
pub fn produce_rows(summary: &crate::produce::Summary) -> Vec<(String, String)> {
    let secs = summary.elapsed.as_secs_f64();
    let mut rows = vec![("records read".to_owned(), summary.read.to_string())];
    rows.push(("records put".into(), summary.put().to_string()));
    for s in &summary.streams {
        let kinds: Vec<String> = s.put.iter().map(|(kind, n)| format!("{} {n}", stream_name(*kind))).collect();
        let kinds = if kinds.is_empty() { "nothing".to_owned() } else { kinds.join(" · ") };
        rows.push((format!("  {}", s.stream), format!("{kinds} ({} calls, {} entries retried)", s.calls, s.retried)));
    }
    rows.push(("PutRecords calls".into(), summary.calls().to_string()));
    rows.push(("entries retried".into(), summary.retried().to_string()));
    let by_kind = |m: &BTreeMap<Stream, usize>| {
        let total: usize = m.values().sum();
        let parts: Vec<String> = m.iter().map(|(k, n)| format!("{} {n}", stream_name(*k))).collect();
        if parts.is_empty() { total.to_string() } else { format!("{total} ({})", parts.join(", ")) }
    };
    rows.push((
        format!("refused (over {} bytes with the key)", crate::produce::MAX_RECORD_BYTES),
        by_kind(&summary.refused),
    ));
    rows.push(("not sent (no stream given for the kind)".into(), by_kind(&summary.no_stream)));
    rows.push(("failed (given up after retries)".into(), summary.failed.len().to_string()));
    for f in summary.failed.iter().take(10) {
        rows.push((format!("  record {} ({})", f.index, stream_name(f.kind)), format!("{}: {}", f.stream, f.error)));
    }
    rows.push(("wall time".into(), format!("{secs:.2} s ({:.0} records/s)", summary.records_per_second())));
    rows
}

pub fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::AgentEvents => "agent events",
        Stream::ContactRecords => "contact records",
        Stream::Segments => "Contact Lens segments",
    }
}

pub fn alerts_by_rule(alerts: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut by_rule = BTreeMap::new();
    for a in alerts {
        let rule = a["body"]["rule"].as_str().unwrap_or("?").to_owned();
        *by_rule.entry(rule).or_insert(0) += 1;
    }
    by_rule
}

pub fn alert_marks(alerts: &[serde_json::Value]) -> Vec<AlertMark> {
    alerts
        .iter()
        .filter_map(|a| {
            let body = &a["body"];
            Some(AlertMark {
                at: shared::model::time::parse(body["at"].as_str()?)?,
                agent: body["agent"]["username"].as_str().unwrap_or("").to_owned(),
                rule: body["rule"].as_str()?.to_owned(),
                severity: body["severity"].as_str().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

/// Object counts by archive prefix, labelled.
pub fn archive_rows(counts: &BTreeMap<String, usize>) -> Vec<(String, String)> {
    let kinds: Vec<&str> = RecordKind::ALL.iter().map(|k| k.slug()).collect();
    counts
        .iter()
        .map(|(prefix, n)| {
            let label = if prefix == "quarantine" {
                "quarantined records".to_owned()
            } else if kinds.contains(&prefix.as_str()) {
                format!("archive objects {prefix} (gzip NDJSON)")
            } else {
                format!("archive objects {prefix}")
            };
            (label, n.to_string())
        })
        .collect()
}
