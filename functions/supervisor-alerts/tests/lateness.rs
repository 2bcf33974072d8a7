//! No stale pages: in Lambda (lateness judged against the wall clock) an alert whose situation is over by the agent's
//! newest event, or whose newest event is older than the rule's `max_lateness`, is not sent — it is counted — unless
//! the rule asks for it to be sent marked as late. Replays (event time) send what the day would have sent.

mod common;

use common::*;
use shared::adapters::memory::{MemoryItemStore, MemoryPublisher};
use shared::batch::Processor;
use supervisor_alerts::config::{Lateness, Settings};
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;

const BREAK_TOO_LONG: &str = r#"{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15m","cooldown":"30m","scope":{}}"#;

fn handler(
    rules: Rules,
    publisher: MemoryPublisher,
    now: &str,
    lateness: Lateness,
) -> SupervisorAlerts<MemoryItemStore, MemoryPublisher, ManualClock> {
    let settings = Settings { lateness, ..Settings::replay() };
    SupervisorAlerts::with_clock(rules, MemoryItemStore::new(&[]), publisher, settings, ManualClock::at(now))
}

/// The break (10:00), the heartbeat that finds it 30 minutes long (10:30), and, with `back`, the agent available
/// again (11:15) — all in one batch, as a backlog delivers them.
fn break_day(back: bool) -> Vec<shared::kinesis::KinesisItem> {
    let mut items = vec![
        item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z"),
        item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z"),
    ];
    if back {
        items.push(item(fixture("raw/agent/status-available-again.json"), "2026-11-02T11:15:04Z"));
    }
    batch(items)
}

#[tokio::test]
async fn a_backlog_sends_no_status_alert_whose_situation_has_ended_and_counts_it() {
    let publisher = MemoryPublisher::new();
    // The events arrive an hour after the agent came back.
    let h = handler(one_rule(BREAK_TOO_LONG), publisher.clone(), "2026-11-02T12:15:00Z", Lateness::WallClock);
    h.process(&break_day(true)).await;
    assert!(publisher.published().is_empty(), "{:?}", publisher.published());
    assert_eq!(h.suppressed_late(), 1);
}

#[tokio::test]
async fn a_live_situation_still_alerts() {
    let publisher = MemoryPublisher::new();
    let h = handler(one_rule(BREAK_TOO_LONG), publisher.clone(), "2026-11-02T10:31:00Z", Lateness::WallClock);
    h.process(&break_day(false)).await;
    assert_eq!(publisher.published().len(), 1);
    assert_eq!(h.suppressed_late(), 0);
    assert!(!attrs(&publisher.published()[0]).contains_key("late"));
}

#[tokio::test]
async fn an_ongoing_situation_seen_only_through_old_events_is_not_paged() {
    // Still on break in the newest event, but that event is an hour old: nobody knows whether it still holds.
    let publisher = MemoryPublisher::new();
    let h = handler(one_rule(BREAK_TOO_LONG), publisher.clone(), "2026-11-02T11:30:01Z", Lateness::WallClock);
    h.process(&break_day(false)).await;
    assert!(publisher.published().is_empty());
    assert_eq!(h.suppressed_late(), 1);
    // Within a rule's own max_lateness it goes out.
    let lenient = BREAK_TOO_LONG.replace(r#""scope":{}"#, r#""scope":{},"max_lateness":"2h""#);
    let publisher = MemoryPublisher::new();
    let h = handler(one_rule(&lenient), publisher.clone(), "2026-11-02T11:30:01Z", Lateness::WallClock);
    h.process(&break_day(false)).await;
    assert_eq!(publisher.published().len(), 1);
}

#[tokio::test]
async fn a_rule_may_send_late_alerts_marked_as_late() {
    let marked = BREAK_TOO_LONG.replace(r#""scope":{}"#, r#""scope":{},"late":"send_marked""#);
    let publisher = MemoryPublisher::new();
    let h = handler(one_rule(&marked), publisher.clone(), "2026-11-02T12:15:00Z", Lateness::WallClock);
    h.process(&break_day(true)).await;
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    assert!(published[0].subject.starts_with("[LATE] [WARNING] break-too-long"), "{}", published[0].subject);
    assert_eq!(attrs(&published[0])["late"], "true");
    let reason = bodies(&published)[0]["late"].as_str().unwrap().to_owned();
    assert!(reason.contains("over") && reason.contains("Available"), "{reason}");
    assert_eq!(h.suppressed_late(), 0);
}

#[tokio::test]
async fn replays_run_on_event_time_and_send_what_the_day_would_have_sent() {
    let publisher = MemoryPublisher::new();
    let h = handler(one_rule(BREAK_TOO_LONG), publisher.clone(), "2026-12-04T12:00:00Z", Lateness::EventTime);
    h.process(&break_day(true)).await;
    assert_eq!(publisher.published().len(), 1);
    assert_eq!(Settings::replay().lateness, Lateness::EventTime);
}

#[test]
fn max_lateness_and_late_are_read_and_checked() {
    let rules =
        one_rule(&BREAK_TOO_LONG.replace(r#""scope":{}"#, r#""scope":{},"max_lateness":"10m","late":"send_marked""#));
    assert_eq!(rules.rules[0].max_lateness, chrono::TimeDelta::minutes(10));
    assert_eq!(rules.rules[0].late, supervisor_alerts::rules::LatePolicy::SendMarked);
    assert_eq!(one_rule(BREAK_TOO_LONG).rules[0].max_lateness, chrono::TimeDelta::minutes(5));
    for (bad, field) in [
        (r#""late":"shout""#, "late"),
        (r#""max_lateness":"0s""#, "max_lateness"),
        (r#""max_lateness":"soon""#, "max_lateness"),
    ] {
        let doc =
            format!(r#"{{"rules":[{}]}}"#, BREAK_TOO_LONG.replace(r#""scope":{}"#, &format!(r#""scope":{{}},{bad}"#)));
        let err = supervisor_alerts::rules::validate(&doc).unwrap_err().to_string();
        assert!(err.contains(field), "{bad}: {err}");
    }
}
