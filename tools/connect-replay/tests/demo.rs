//! The demo end to end on local backends: what lands in the archive, on the board and in the alerts is what the
//! generated day implies.

use std::collections::BTreeSet;

use connect_replay::app::{self, Local};
use connect_replay::generate::{DayConfig, DayGenerator, Stream};
use connect_replay::replay::ReplayOptions;
use connect_replay::sources;

#[tokio::test]
async fn a_local_replay_of_a_day_archives_boards_and_alerts_what_the_day_implies() {
    let dir = tempfile::tempdir().unwrap();
    let mut generator = DayGenerator::new(DayConfig { seed: 11, agents: 12, ..DayConfig::default() });
    let records: Vec<_> = generator.by_ref().collect();
    let truth = generator.truth().clone();
    let local = Local::open(dir.path(), true).unwrap();
    let rules = app::load_rules(None).unwrap();
    // Small windows: many windows per day, so archive keys from later windows must not collide with earlier ones.
    let options = ReplayOptions { window: 700, ..ReplayOptions::default() };
    let outcome = local.run(records.into_iter(), rules, &options, None, true, true).await.unwrap();

    // Nothing given up, nothing blocked, every record seen by the functions attached to its stream.
    assert_eq!(outcome.stats.on_failure(), 0);
    assert_eq!(outcome.stats.blocked_lanes(), 0);
    assert_eq!(outcome.stats.total(), truth.total());
    let (_, archiver) = &outcome.functions[0];
    assert_eq!(archiver.records_in, truth.total());
    assert_eq!(archiver.quarantined, truth.invalid, "each invalid record quarantined once");
    assert_eq!(archiver.failed, 0);

    // The archive holds every valid record exactly once (no faults here), and every contact-record version.
    let lines = sources::archive(&dir.path().join(app::ARCHIVE_DIR)).unwrap();
    assert_eq!(lines.len(), truth.total() - truth.invalid, "every valid record archived once");
    let archived: BTreeSet<(String, String)> = lines
        .into_iter()
        .filter(|r| r.stream == Stream::ContactRecords)
        .filter_map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.data).ok()?;
            Some((v["ContactId"].as_str()?.to_owned(), v["LastUpdateTimestamp"].as_str()?.to_owned()))
        })
        .collect();
    assert_eq!(archived, truth.ctr_versions);

    // The board: every agent of the day, all logged out at the end.
    let board = local.board().unwrap();
    assert_eq!(board.len(), truth.agents.len());
    assert!(board.iter().all(|a| !a.is_logged_in() && a.activity.as_deref() == Some("OFFLINE")));

    // Alerts: one per long break, long after-contact work, angry customer and escalation — exactly.
    let alerts = local.alerts().unwrap();
    let by_rule = app::alerts_by_rule(&alerts);
    assert_eq!(by_rule.get("break-too-long").copied().unwrap_or(0), truth.long_breaks.len());
    assert_eq!(by_rule.get("acw-too-long").copied().unwrap_or(0), truth.long_acw.len());
    assert_eq!(by_rule.get("angry-customer").copied().unwrap_or(0), truth.angry_contacts.len());
    assert_eq!(by_rule.get("escalation-requested").copied().unwrap_or(0), truth.escalation_contacts.len());
    let ids: BTreeSet<&str> = alerts.iter().filter_map(|a| a["body"]["alertId"].as_str()).collect();
    assert_eq!(ids.len(), alerts.len(), "no alert published twice");

    // The report renders the timeline.
    let html = connect_replay::report::render(
        "t",
        &app::summary_rows(&outcome),
        &outcome.timelines,
        &app::alert_marks(&alerts),
    );
    assert!(html.contains("<svg") && html.matches("<rect").count() > 100);
}
