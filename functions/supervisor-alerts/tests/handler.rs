//! Behaviour of supervisor-alerts with the in-memory adapters: every rule kind firing and not firing, exactly-once
//! delivery under replays and failures, the contact→agent join, ordering per key, poison and skipped records.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeDelta;
use common::*;
use serde_json::Value;
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore, MemoryPublisher};
use shared::batch::{Disposition, Processor, run_items};
use shared::kinesis::KinesisItem;
use shared::ports::{Condition, ItemStore, PortError, Publisher};
use shared::quarantine::ObjectQuarantine;
use supervisor_alerts::delivery::Clock;
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;

const JDOE_CONTACT: &str = "ad92bd21-3930-4256-a9c6-2e3d1e90e82b";
const ASMITH_CHAT: &str = "903d7db5-e28e-41b2-8b3b-2156195b8e47";

fn handler<P: Publisher>(
    rules: Rules,
    publisher: P,
) -> (SupervisorAlerts<MemoryItemStore, P, ManualClock>, MemoryItemStore, ManualClock) {
    let store = MemoryItemStore::new(&[]);
    let clock = ManualClock::at("2026-11-02T12:00:00Z");
    let s = Settings::replay();
    (SupervisorAlerts::with_clock(rules, store.clone(), publisher, s, clock.clone()), store, clock)
}

async fn run<P: Publisher, C: Clock>(
    h: &SupervisorAlerts<MemoryItemStore, P, C>,
    items: Vec<KinesisItem>,
) -> Vec<Disposition> {
    h.process(&batch(items)).await
}

fn all_done(d: &[Disposition]) -> bool {
    d.iter().all(|d| *d == Disposition::Done)
}

const BREAK_TOO_LONG: &str = r#"{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15m","cooldown":"30m","scope":{}}"#;

// ---------------------------------------------------------------------------------------------------------------
// status_too_long

#[tokio::test]
async fn a_break_longer_than_the_limit_alerts_once_from_a_heartbeat() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    let d = run(
        &h,
        vec![
            item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z"),
            item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z"),
        ],
    )
    .await;
    assert!(all_done(&d), "{d:?}");

    let published = publisher.published();
    assert_eq!(published.len(), 1);
    let m = &published[0];
    assert_eq!(m.subject, "[WARNING] break-too-long: jdoe in Break for 30 min");
    let a = attrs(m);
    assert_eq!(a["rule"], "break-too-long");
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["agentUsername"], "jdoe");
    assert_eq!(a["routingProfile"], "Voice Sales");
    assert_eq!(
        (a["hierarchyLevel1"].as_str(), a["hierarchyLevel2"].as_str(), a["hierarchyLevel3"].as_str()),
        ("EMEA", "Sales", "Team Blue")
    );
    assert!(!a.contains_key("hierarchyLevel4") && !a.contains_key("queue"), "empty values are left out: {a:?}");
    let body = &bodies(&published)[0];
    assert_eq!(body["alertId"], "break-too-long/f7fd8b2d-fc26-45b7-90fb-8b8d91076163/2026-11-02T10:00:00.731Z");
    assert_eq!(body["observed"]["status"], "Break");
    assert_eq!(body["observed"]["durationSeconds"], 1800);
    assert_eq!(body["agent"]["hierarchyGroups"], serde_json::json!(["EMEA", "Sales", "Team Blue"]));
    assert!(body["text"].as_str().unwrap().contains("has been in status Break for 30 min"), "{body}");
}

#[tokio::test]
async fn a_break_shorter_than_the_limit_does_not_alert() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    let heartbeat = agent_event_at("raw/agent/heartbeat-during-break.json", "HEART_BEAT", "2026-11-02T10:14:59.000Z");
    let d = run(
        &h,
        vec![
            item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z"),
            json_item(&heartbeat, "2026-11-02T10:15:00Z"),
            item(fixture("raw/agent/status-available.json"), "2026-11-02T10:20:00Z"),
        ],
    )
    .await;
    assert!(all_done(&d));
    assert!(publisher.published().is_empty());
}

#[tokio::test]
async fn every_heartbeat_of_one_long_break_gives_the_same_single_alert() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    let beats: Vec<KinesisItem> = ["10:16:00", "10:18:00", "10:20:00", "10:22:00"]
        .iter()
        .map(|t| {
            json_item(
                &agent_event_at("raw/agent/heartbeat-during-break.json", "HEART_BEAT", &format!("2026-11-02T{t}.000Z")),
                "2026-11-02T10:30:00Z",
            )
        })
        .collect();
    run(&h, beats[..2].to_vec()).await;
    run(&h, beats[2..].to_vec()).await;
    assert_eq!(publisher.published().len(), 1);
}

#[tokio::test]
async fn a_second_break_within_the_cooldown_is_suppressed_and_one_after_it_alerts() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    // Three break episodes (status start times), each observed 20 minutes after it began.
    let episode = |start: &str, seen: &str| {
        let mut v = agent_event_at("raw/agent/heartbeat-during-break.json", "HEART_BEAT", seen);
        v["CurrentAgentSnapshot"]["AgentStatus"]["StartTimestamp"] = Value::String(start.into());
        v["PreviousAgentSnapshot"] = v["CurrentAgentSnapshot"].clone();
        json_item(&v, seen)
    };
    let d = run(
        &h,
        vec![
            episode("2026-11-02T10:00:00.000Z", "2026-11-02T10:20:00.000Z"),
            episode("2026-11-02T10:25:00.000Z", "2026-11-02T10:45:00.000Z"), // 25 min after the first alert: suppressed
            episode("2026-11-02T11:00:00.000Z", "2026-11-02T11:20:00.000Z"), // 60 min after: alerts
        ],
    )
    .await;
    assert!(all_done(&d));
    let ids = alert_ids(&publisher.published());
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids[0].ends_with("2026-11-02T10:00:00.000Z") && ids[1].ends_with("2026-11-02T11:00:00.000Z"), "{ids:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// status_entered

const UNPLANNED: &str = r#"{"name":"unplanned","kind":"status_entered","severity":"info","statuses":["unplanned BREAK"],"cooldown":"0s","scope":{}}"#;

#[tokio::test]
async fn entering_a_listed_status_alerts_and_other_statuses_do_not() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(UNPLANNED), publisher.clone());
    run(
        &h,
        vec![
            item(fixture("raw/agent/status-available.json"), "2026-11-02T08:01:01Z"),
            item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z"),
            item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z"),
        ],
    )
    .await;
    assert!(publisher.published().is_empty(), "Available and Break are not listed");

    run(&h, vec![item(fixture("raw/agent/status-unplanned-break.json"), "2026-11-02T10:45:13Z")]).await;
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].subject, "[INFO] unplanned: jdoe entered Unplanned break");
}

#[tokio::test]
async fn a_heartbeat_in_a_listed_status_is_not_entering_it() {
    let publisher = MemoryPublisher::new();
    let rule = r#"{"name":"on-break","kind":"status_entered","severity":"info","statuses":["Break"],"cooldown":"0s","scope":{}}"#;
    let (h, _, _) = handler(one_rule(rule), publisher.clone());
    run(&h, vec![item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z")]).await;
    assert!(publisher.published().is_empty());
    run(&h, vec![item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z")]).await;
    assert_eq!(publisher.published().len(), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// acw_too_long

fn acw_rule(limit: &str) -> Rules {
    one_rule(&format!(
        r#"{{"name":"acw","kind":"acw_too_long","severity":"warning","longer_than":"{limit}","cooldown":"0s","scope":{{"queues":["Sales"]}}}}"#
    ))
}

#[tokio::test]
async fn after_contact_work_longer_than_the_limit_alerts_for_the_contact() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(acw_rule("5m"), publisher.clone());
    let later = agent_event_at("raw/agent/contact-ended-acw.json", "HEART_BEAT", "2026-11-02T08:19:00.000Z");
    run(
        &h,
        vec![
            item(fixture("raw/agent/contact-ended-acw.json"), "2026-11-02T08:12:41Z"),
            json_item(&later, "2026-11-02T08:19:01Z"),
        ],
    )
    .await;
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    let a = attrs(&published[0]);
    assert_eq!((a["queue"].as_str(), a["channel"].as_str()), ("Sales", "VOICE"));
    let body = &bodies(&published)[0];
    assert_eq!(body["contact"]["contactId"], JDOE_CONTACT);
    assert_eq!(body["observed"]["durationSeconds"], 379, "08:12:40.150 → 08:19:00.000");
}

#[tokio::test]
async fn after_contact_work_within_the_limit_does_not_alert() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(acw_rule("10m"), publisher.clone());
    let later = agent_event_at("raw/agent/contact-ended-acw.json", "HEART_BEAT", "2026-11-02T08:19:00.000Z");
    run(
        &h,
        vec![
            item(fixture("raw/agent/contact-ended-acw.json"), "2026-11-02T08:12:41Z"),
            json_item(&later, "2026-11-02T08:19:01Z"),
            item(fixture("raw/agent/acw-done.json"), "2026-11-02T08:20:00Z"),
        ],
    )
    .await;
    assert!(publisher.published().is_empty());
}

/// The ACW scenario above (a Sales VOICE contact of jdoe, routing profile "Voice Sales") under a rule with `scope`:
/// how many alerts it publishes.
async fn acw_alerts_with_scope(scope: &str) -> usize {
    let publisher = MemoryPublisher::new();
    let rule = format!(
        r#"{{"name":"acw","kind":"acw_too_long","severity":"warning","longer_than":"5m","cooldown":"0s","scope":{scope}}}"#
    );
    let (h, _, _) = handler(one_rule(&rule), publisher.clone());
    let later = agent_event_at("raw/agent/contact-ended-acw.json", "HEART_BEAT", "2026-11-02T08:19:00.000Z");
    run(
        &h,
        vec![
            item(fixture("raw/agent/contact-ended-acw.json"), "2026-11-02T08:12:41Z"),
            json_item(&later, "2026-11-02T08:19:01Z"),
        ],
    )
    .await;
    publisher.published().len()
}

/// Each scope key excludes what it does not name (removing its check from `Scope::matches` fails the test), and
/// includes what it names (so the exclusion is the scope's doing, not the scenario's).
#[tokio::test]
async fn a_scope_excludes_other_queues_channels_and_routing_profiles() {
    for (scope, expected) in [
        (r#"{"queues":["Billing"]}"#, 0),
        (r#"{"queues":["Sales"]}"#, 1),
        (r#"{"channels":["CHAT"]}"#, 0),
        (r#"{"channels":["VOICE"]}"#, 1),
        (r#"{"routing_profiles":["Chat Support"]}"#, 0),
        (r#"{"routing_profiles":["Voice Sales"]}"#, 1),
        (r#"{"queues":["Sales"],"channels":["CHAT"]}"#, 0),
    ] {
        assert_eq!(acw_alerts_with_scope(scope).await, expected, "scope {scope}");
    }
}

/// Agent-level alerts (no contact) match queues and channels against the agent's routing profile.
#[tokio::test]
async fn an_agent_level_alert_is_scoped_by_the_routing_profiles_queues_and_channels() {
    for (scope, expected) in [
        (r#"{"routing_profiles":["Chat Support"]}"#, 0),
        (r#"{"routing_profiles":["voice sales"]}"#, 1),
        (r#"{"queues":["Billing"]}"#, 0),
        (r#"{"queues":["Sales"]}"#, 1),
        (r#"{"channels":["CHAT"]}"#, 0),
        (r#"{"channels":["VOICE"]}"#, 1),
    ] {
        let publisher = MemoryPublisher::new();
        let rule = format!(
            r#"{{"name":"on-break","kind":"status_entered","severity":"info","statuses":["Break"],"cooldown":"0s","scope":{scope}}}"#
        );
        let (h, _, _) = handler(one_rule(&rule), publisher.clone());
        run(&h, vec![item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z")]).await;
        assert_eq!(publisher.published().len(), expected, "scope {scope}");
    }
}

/// A rule naming instances ignores every other instance; the alert carries the instance id as a message attribute.
#[tokio::test]
async fn an_instance_scoped_rule_ignores_the_other_instance() {
    const ID: &str = "aaaaaaaa-bbbb-cccc-dddd-111111111111";
    const OTHER: &str = "99999999-bbbb-cccc-dddd-111111111111";
    let mut other: serde_json::Value = serde_json::from_slice(&fixture("raw/agent/status-break.json")).unwrap();
    for field in ["AgentARN", "InstanceARN"] {
        let v = other[field].as_str().unwrap().replace(ID, OTHER);
        other[field] = serde_json::Value::String(v);
    }
    for (scope, mine, theirs) in [
        (format!(r#"{{"instances":["{ID}"]}}"#), 1, 0),
        (format!(r#"{{"instances":["arn:aws:connect:us-east-1:123456789012:instance/{OTHER}"]}}"#), 0, 1),
        ("{}".to_owned(), 1, 1),
    ] {
        let rule = format!(
            r#"{{"name":"on-break","kind":"status_entered","severity":"info","statuses":["Break"],"cooldown":"0s","scope":{scope}}}"#
        );
        for (event, expected) in
            [(fixture("raw/agent/status-break.json"), mine), (serde_json::to_vec(&other).unwrap(), theirs)]
        {
            let publisher = MemoryPublisher::new();
            let (h, _, _) = handler(one_rule(&rule), publisher.clone());
            run(&h, vec![item(event, "2026-11-02T10:00:01Z")]).await;
            let published = publisher.published();
            assert_eq!(published.len(), expected, "scope {scope}");
            for p in &published {
                let id = attrs(p)["instanceId"].to_owned();
                assert!(id == ID || id == OTHER, "{id}");
                assert_eq!(bodies(std::slice::from_ref(p))[0]["instanceId"], id);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// missed_contacts

fn missed_rule(count: u32, within: &str) -> Rules {
    one_rule(&format!(
        r#"{{"name":"missed","kind":"missed_contacts","severity":"warning","count":{count},"within":"{within}","cooldown":"0s","scope":{{}}}}"#
    ))
}

/// A second missed contact for jdoe, `minutes` after the first one.
fn another_missed(minutes: i64) -> Value {
    let at = ts("2026-11-02T11:20:26.003Z") + TimeDelta::minutes(minutes);
    let mut v = agent_event_at("raw/agent/contact-missed.json", "STATE_CHANGE", &shared::model::time::canonical(&at));
    v["CurrentAgentSnapshot"]["Contacts"][0]["ContactId"] =
        Value::String("11111111-2222-3333-4444-555555555555".into());
    v["CurrentAgentSnapshot"]["Contacts"][0]["State"] = Value::String("REJECTED".into());
    v["CurrentAgentSnapshot"]["Contacts"][0]["StateStartTimestamp"] =
        Value::String(shared::model::time::canonical(&at));
    v
}

#[tokio::test]
async fn missed_contacts_reaching_the_count_within_the_window_alert_once() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(missed_rule(2, "30m"), publisher.clone());
    run(&h, vec![item(fixture("raw/agent/contact-missed.json"), "2026-11-02T11:20:27Z")]).await;
    assert!(publisher.published().is_empty(), "one missed contact is below the count");
    let second = another_missed(5);
    run(&h, vec![json_item(&second, "2026-11-02T11:25:27Z")]).await;
    // The same events again (a replay) and a heartbeat still showing the rejected contact: nothing new.
    let mut heartbeat = second.clone();
    heartbeat["EventType"] = Value::String("HEART_BEAT".into());
    heartbeat["EventId"] = Value::String("hb".into());
    run(
        &h,
        vec![
            item(fixture("raw/agent/contact-missed.json"), "2026-11-02T11:20:27Z"),
            json_item(&second, "2026-11-02T11:25:27Z"),
            json_item(&heartbeat, "2026-11-02T11:27:27Z"),
        ],
    )
    .await;
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    assert_eq!(bodies(&published)[0]["observed"]["missedContacts"], 2);
    assert_eq!(published[0].subject, "[WARNING] missed: jdoe missed 2 contacts in 30 min");
}

#[tokio::test]
async fn missed_contacts_spread_wider_than_the_window_do_not_alert() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(missed_rule(2, "30m"), publisher.clone());
    run(
        &h,
        vec![
            item(fixture("raw/agent/contact-missed.json"), "2026-11-02T11:20:27Z"),
            json_item(&another_missed(45), "2026-11-02T12:05:27Z"),
        ],
    )
    .await;
    assert!(publisher.published().is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// negative_sentiment and category_matched (Contact Lens segments, joined to the agent through agent events)

const THREE_NEGATIVE: &str = r#"{"name":"angry","kind":"negative_sentiment","severity":"critical","consecutive":3,"cooldown":"0s","scope":{"hierarchy_groups":["Team Blue"]}}"#;

fn jdoe_on_the_call() -> Vec<KinesisItem> {
    vec![
        item(fixture("raw/agent/contact-connecting.json"), "2026-11-02T08:05:11Z"),
        item(fixture("raw/agent/contact-connected.json"), "2026-11-02T08:05:15Z"),
    ]
}

#[tokio::test]
async fn three_negative_customer_turns_alert_naming_the_agent_through_the_join() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(THREE_NEGATIVE), publisher.clone());
    let mut items = jdoe_on_the_call();
    items.push(item(fixture("raw/segments/voice-started.json"), "2026-11-02T08:05:20Z"));
    items.push(item(fixture("raw/segments/voice-segments-1.json"), "2026-11-02T08:06:00Z"));
    items.push(item(fixture("raw/segments/voice-segments-negative.json"), "2026-11-02T08:07:00Z"));
    let d = run(&h, items).await;
    assert!(all_done(&d), "{d:?}");
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    let a = attrs(&published[0]);
    assert_eq!(
        (a["agentUsername"].as_str(), a["hierarchyLevel3"].as_str(), a["queue"].as_str(), a["channel"].as_str()),
        ("jdoe", "Team Blue", "Sales", "VOICE")
    );
    let body = &bodies(&published)[0];
    assert_eq!(body["alertId"], format!("angry/{JDOE_CONTACT}/contact"));
    assert_eq!(body["observed"]["consecutiveNegativeTurns"], 3);
}

#[tokio::test]
async fn fewer_negative_turns_than_the_rule_needs_do_not_alert_even_when_redelivered() {
    let publisher = MemoryPublisher::new();
    let four = r#"{"name":"angry","kind":"negative_sentiment","severity":"critical","consecutive":4,"cooldown":"0s","scope":{}}"#;
    let (h, store, _) = handler(one_rule(four), publisher.clone());
    let negative = fixture("raw/segments/voice-segments-negative.json");
    let mut items = jdoe_on_the_call();
    items.push(item(negative.clone(), "2026-11-02T08:07:00Z"));
    run(&h, items).await;
    // Lambda redelivers the same record: its three turns must not count again.
    run(&h, vec![item(negative.clone(), "2026-11-02T08:07:00Z"), item(negative, "2026-11-02T08:07:00Z")]).await;
    assert!(publisher.published().is_empty());
    let state = store.all().into_iter().find(|i| i["pk"] == format!("sentiment#{JDOE_CONTACT}")).unwrap();
    assert_eq!(state["state"]["turns"], 3);
    assert_eq!(state["state"]["consecutive"], 3);
}

#[tokio::test]
async fn a_negative_share_over_the_last_turns_alerts_and_a_lower_share_does_not() {
    let chat = |above: f64| {
        one_rule(&format!(
            r#"{{"name":"souring","kind":"negative_sentiment","severity":"warning","share_above":{above},"over_last":2,"cooldown":"0s","scope":{{"routing_profiles":["Chat Support"]}}}}"#
        ))
    };
    for (above, expected) in [(0.4, 1), (0.5, 0)] {
        let publisher = MemoryPublisher::new();
        let (h, _, _) = handler(chat(above), publisher.clone());
        run(
            &h,
            vec![
                item(fixture("raw/agent/chat-multi-contact.json"), "2026-11-02T09:11:59Z"),
                item(fixture("raw/segments/chat-started.json"), "2026-11-02T09:12:00Z"),
                item(fixture("raw/segments/chat-segments.json"), "2026-11-02T09:12:01Z"),
            ],
        )
        .await;
        let published = publisher.published();
        assert_eq!(published.len(), expected, "share above {above}");
        if let Some(m) = published.first() {
            assert_eq!(attrs(m)["hierarchyLevel3"], "Team Green");
            let body = &bodies(&published)[0];
            assert_eq!(
                (body["observed"]["negativeTurns"].as_u64(), body["observed"]["turns"].as_u64()),
                (Some(1), Some(2))
            );
            assert_eq!(body["at"], "2026-11-02T09:06:40.117Z", "chat turns carry their own time");
        }
    }
}

#[tokio::test]
async fn without_the_join_scoped_rules_wait_and_unscoped_rules_fire_without_agent_attributes() {
    let unscoped = r#"{"name":"angry-any","kind":"negative_sentiment","severity":"critical","consecutive":3,"cooldown":"0s","scope":{}}"#;
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(rules(&format!(r#"{{"rules":[{THREE_NEGATIVE},{unscoped}]}}"#)), publisher.clone());
    // Segments before any agent event of the contact.
    let d = run(&h, vec![item(fixture("raw/segments/voice-segments-negative.json"), "2026-11-02T08:07:00Z")]).await;
    assert!(all_done(&d));
    let published = publisher.published();
    assert_eq!(rule_names(&published), ["angry-any"]);
    let a = attrs(&published[0]);
    assert!(!a.contains_key("agentUsername") && !a.contains_key("hierarchyLevel1"), "{a:?}");
    assert_eq!(a["channel"], "VOICE");
    assert!(bodies(&published)[0]["agent"].is_null());
    assert!(published[0].subject.contains("unknown agent"), "{}", published[0].subject);

    // The agent events arrive; the next segment of the contact lets the scoped rule match.
    run(&h, jdoe_on_the_call()).await;
    run(&h, vec![item(fixture("raw/segments/voice-segments-category.json"), "2026-11-02T08:08:00Z")]).await;
    assert_eq!(rule_names(&publisher.published()), ["angry-any", "angry"]);
}

#[tokio::test]
async fn a_listed_category_alerts_once_per_contact_and_an_unlisted_one_does_not() {
    let rule = r#"{"name":"escalation","kind":"category_matched","severity":"critical","categories":["escalation-request","device-malfunction"],"cooldown":"0s","scope":{}}"#;
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(rule), publisher.clone());
    let mut items = jdoe_on_the_call();
    items.push(item(fixture("raw/agent/chat-multi-contact.json"), "2026-11-02T09:11:59Z"));
    items.push(item(fixture("raw/segments/voice-segments-negative.json"), "2026-11-02T08:07:00Z"));
    items.push(item(fixture("raw/segments/voice-segments-category.json"), "2026-11-02T08:08:00Z"));
    items.push(item(fixture("raw/segments/voice-segments-category.json"), "2026-11-02T08:08:00Z"));
    // Chat names its category only in MatchedDetails.
    items.push(item(fixture("raw/segments/chat-segments.json"), "2026-11-02T09:12:01Z"));
    run(&h, items).await;
    let mut ids = alert_ids(&publisher.published());
    ids.sort();
    assert_eq!(
        ids,
        [
            format!("escalation/{ASMITH_CHAT}/device-malfunction"),
            format!("escalation/{JDOE_CONTACT}/escalation-request"),
        ]
    );

    let other = r#"{"name":"legal","kind":"category_matched","severity":"critical","categories":["legal-threat"],"cooldown":"0s","scope":{}}"#;
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(other), publisher.clone());
    run(&h, vec![item(fixture("raw/segments/voice-segments-category.json"), "2026-11-02T08:08:00Z")]).await;
    assert!(publisher.published().is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// attribute_threshold (contact records)

fn csat_rule(operator: &str, value: f64, scope: &str) -> Rules {
    one_rule(&format!(
        r#"{{"name":"low-csat","kind":"attribute_threshold","severity":"warning","attribute":"csatScore","operator":"{operator}","value":{value},"cooldown":"0s","scope":{scope}}}"#
    ))
}

#[tokio::test]
async fn a_numeric_attribute_past_the_threshold_alerts_with_the_ctr_hierarchy() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(csat_rule("<=", 2.0, r#"{"hierarchy_groups":["Team Green"]}"#), publisher.clone());
    let ctr = fixture("raw/ctr/attributes-csat.json");
    run(&h, vec![item(ctr.clone(), "2026-11-02T09:13:34Z")]).await;
    run(&h, vec![item(ctr, "2026-11-02T09:13:34Z")]).await; // republished: same alert
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    let a = attrs(&published[0]);
    assert_eq!(
        (a["agentUsername"].as_str(), a["hierarchyLevel3"].as_str(), a["queue"].as_str(), a["channel"].as_str()),
        ("asmith", "Team Green", "Support", "CHAT")
    );
    let body = &bodies(&published)[0];
    assert_eq!(body["observed"]["value"], 1.0);
    assert_eq!(published[0].subject, "[WARNING] low-csat: csatScore 1 (asmith)");
}

#[tokio::test]
async fn an_attribute_on_the_right_side_of_the_threshold_or_not_a_number_does_not_alert() {
    for rules in [
        csat_rule(">=", 3.0, "{}"),
        csat_rule("<=", 2.0, r#"{"hierarchy_groups":["Team Blue"]}"#),
        one_rule(
            r#"{"name":"n","kind":"attribute_threshold","severity":"info","attribute":"entryPoint","operator":"<","value":5,"cooldown":"0s","scope":{}}"#,
        ),
        one_rule(
            r#"{"name":"n","kind":"attribute_threshold","severity":"info","attribute":"missing","operator":"<","value":5,"cooldown":"0s","scope":{}}"#,
        ),
    ] {
        let publisher = MemoryPublisher::new();
        let (h, _, _) = handler(rules, publisher.clone());
        let d = run(&h, vec![item(fixture("raw/ctr/attributes-csat.json"), "2026-11-02T09:13:34Z")]).await;
        assert!(all_done(&d));
        assert!(publisher.published().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Exactly once: replays, redeliveries, failures, concurrency.

fn example_rules() -> Rules {
    rules(
        &String::from_utf8(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.example.json")).unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn the_mixed_envelope_sends_the_expected_alerts_and_a_replay_sends_nothing_new() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(example_rules(), publisher.clone());
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let items = envelope("envelopes/supervisor-alerts.json");
    let (response, report) = run_items("supervisor-alerts", &items, &h, &quarantine).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(report.done, 12);
    let mut first = rule_names(&publisher.published());
    first.sort();
    assert_eq!(first, ["angry-customer", "break-too-long", "escalation-requested", "low-csat", "unplanned-break"]);

    let (response, _) = run_items("supervisor-alerts", &items, &h, &quarantine).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(publisher.published().len(), first.len(), "the replay published nothing");
}

#[tokio::test]
async fn the_split_envelopes_in_stream_order_send_the_same_alerts() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(example_rules(), publisher.clone());
    for file in ["supervisor-alerts-agent-events", "supervisor-alerts-segments", "supervisor-alerts-ctr"] {
        let d = h.process(&envelope(&format!("envelopes/{file}.json"))).await;
        assert!(all_done(&d), "{file}: {d:?}");
    }
    let mut names = rule_names(&publisher.published());
    names.sort();
    assert_eq!(names, ["angry-customer", "break-too-long", "escalation-requested", "low-csat", "unplanned-break"]);
}

#[tokio::test]
async fn a_failed_publish_is_retried_and_published_exactly_once() {
    for failure in [Failure::EntryTransient, Failure::Timeout] {
        let publisher = flaky_publisher(failure, 1);
        let (h, store, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
        let items = vec![item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z")];
        let d = run(&h, items.clone()).await;
        assert!(matches!(d[0], Disposition::Retry(_)), "{failure:?}: {d:?}");
        assert!(publisher.inner().published().is_empty());
        let claim = store.all().into_iter().find(|i| i["pk"].as_str().unwrap().starts_with("alert#")).unwrap();
        let expected = if failure == Failure::Timeout { "PENDING" } else { "RETRYABLE" };
        assert_eq!(claim["status"], expected, "{failure:?}");

        // Lambda redelivers the record: the alert goes out once; further redeliveries send nothing.
        for _ in 0..3 {
            let d = run(&h, items.clone()).await;
            assert!(all_done(&d), "{failure:?}: {d:?}");
        }
        assert_eq!(publisher.inner().published().len(), 1, "{failure:?}");
        assert_eq!(
            publisher.hook().calls.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "{failure:?}: one failed call, one good"
        );
        let claim = store.all().into_iter().find(|i| i["pk"].as_str().unwrap().starts_with("alert#")).unwrap();
        assert_eq!(claim["status"], "SENT");
    }
}

/// The ESM simulator drives the real batch contract: a publish failing once is reported, redelivered, and
/// published exactly once; nothing reaches the on-failure destination.
#[tokio::test]
async fn through_the_event_source_mapping_a_publish_failing_once_ends_in_exactly_one_alert() {
    use aws_lambda_events::streams::KinesisEventResponse;
    use shared::sim::{EsmConfig, Invoke, SimStream, drain, to_event};

    struct Function<'a> {
        handler: &'a SupervisorAlerts<MemoryItemStore, FlakyPublisher, ManualClock>,
        quarantine: &'a ObjectQuarantine<MemoryObjectStore>,
    }
    impl Invoke for Function<'_> {
        async fn invoke(&self, batch: Vec<KinesisItem>) -> Result<KinesisEventResponse, String> {
            shared::run_batch("supervisor-alerts", to_event(&batch), self.handler, self.quarantine)
                .await
                .map(|(r, _)| r)
                .map_err(|e| e.to_string())
        }
    }

    let publisher = flaky_publisher(Failure::EntryTransient, 1);
    let (h, _, _) = handler(example_rules(), publisher.clone());
    let quarantine = ObjectQuarantine::new(MemoryObjectStore::new(), "quarantine/");
    let mut stream = SimStream::new("arn:aws:kinesis:us-east-1:123456789012:stream/connect-agent-events", 1);
    for it in envelope("envelopes/supervisor-alerts.json") {
        stream.put(it.partition_key.clone(), it.data.clone(), it.arrival);
    }
    let report = drain(
        &stream,
        &EsmConfig { batch_size: 5, ..EsmConfig::default() },
        &Function { handler: &h, quarantine: &quarantine },
    )
    .await;
    assert!(report.partial_failures >= 1, "the failure was reported: {report:?}");
    assert!(report.on_failure.is_empty());
    let ids = alert_ids(&publisher.inner().published());
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(unique.len(), ids.len(), "no alert twice: {ids:?}");
}

#[tokio::test]
async fn an_alert_rejected_by_sns_as_invalid_refuses_its_record() {
    let publisher = flaky_publisher(Failure::EntryPermanent, 1);
    let (h, _, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    let d = run(&h, vec![item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z")]).await;
    assert_eq!(d, [Disposition::Refused(PortError::permanent("sns", "entry rejected: InvalidParameter"))]);
}

#[tokio::test]
async fn a_claim_held_by_another_delivery_is_retried_and_taken_over_after_its_lease() {
    let publisher = flaky_publisher(Failure::Timeout, 0);
    let (h, store, clock) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    // Another invocation claimed the alert a moment ago and is still publishing.
    let rules = one_rule(BREAK_TOO_LONG);
    let other = SupervisorAlerts::with_clock(
        rules.clone(),
        store.clone(),
        MemoryPublisher::new(),
        Settings::replay(),
        clock.clone(),
    );
    let table = other.table();
    let key = supervisor_alerts::engine::AlertKey {
        rule: "break-too-long".into(),
        subject: "f7fd8b2d-fc26-45b7-90fb-8b8d91076163".into(),
        episode: "2026-11-02T10:00:00.731Z".into(),
    };
    let lease = supervisor_alerts::state::Lease::new(clock.now() + TimeDelta::seconds(90));
    table.claim_new(&key, &lease, clock.now()).await.unwrap();

    let items = vec![item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z")];
    let d = run(&h, items.clone()).await;
    assert!(matches!(d[0], Disposition::Retry(_)), "{d:?}");
    assert!(publisher.inner().published().is_empty());

    clock.advance(TimeDelta::seconds(91));
    let d = run(&h, items).await;
    assert!(all_done(&d), "{d:?}");
    assert_eq!(publisher.inner().published().len(), 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_the_same_records_publish_each_alert_once() {
    let publisher = MemoryPublisher::new();
    let store = MemoryItemStore::new(&[]);
    let rules = example_rules();
    let make = || SupervisorAlerts::new(rules.clone(), store.clone(), publisher.clone(), Settings::replay());
    let (a, b) = (make(), make());
    let items = envelope("envelopes/supervisor-alerts.json");
    let (da, db) = tokio::join!(a.process(&items), b.process(&items));
    // Whatever interleaving happened, a later redelivery of anything reported completes the picture.
    if !all_done(&da) || !all_done(&db) {
        assert!(all_done(&a.process(&items).await));
    }
    let ids = alert_ids(&publisher.published());
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(unique.len(), 5);
}

// ---------------------------------------------------------------------------------------------------------------
// Batch contract: ordering per key, poison, skipped kinds.

#[tokio::test]
async fn after_a_transient_failure_later_records_of_the_same_agent_wait_and_other_agents_go_on() {
    let rules = rules(&format!(r#"{{"rules":[{BREAK_TOO_LONG},{UNPLANNED}]}}"#));
    let publisher = flaky_publisher(Failure::EntryTransient, 1);
    let (h, _, _) = handler(rules, publisher.clone());
    let items = vec![
        item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z"), // jdoe: alert, publish fails
        item(fixture("raw/agent/heartbeat.json"), "2026-11-02T08:58:01Z"),              // asmith: nothing to alert
        item(fixture("raw/agent/status-unplanned-break.json"), "2026-11-02T10:45:13Z"), // jdoe: must wait
    ];
    let d = run(&h, items.clone()).await;
    assert!(matches!(d[0], Disposition::Retry(_)), "{d:?}");
    assert_eq!(d[1], Disposition::Done);
    assert!(matches!(d[2], Disposition::Retry(_)), "{d:?}");
    assert!(publisher.inner().published().is_empty(), "the later jdoe record was not applied");

    assert!(all_done(&run(&h, items).await));
    assert_eq!(rule_names(&publisher.inner().published()), ["break-too-long", "unplanned"], "in record order");
}

#[tokio::test]
async fn invalid_records_are_poison_and_kinds_no_rule_needs_are_skipped() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    let d = run(
        &h,
        vec![
            item(fixture("bad/not-json.txt"), "2026-11-02T10:00:00Z"),
            item(fixture("bad/truncated-json.json"), "2026-11-02T10:00:00Z"),
            item(fixture("raw/ctr/attributes-csat.json"), "2026-11-02T10:00:00Z"),
            item(fixture("raw/segments/voice-segments-negative.json"), "2026-11-02T10:00:00Z"),
            item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z"),
        ],
    )
    .await;
    assert!(matches!(&d[0], Disposition::Poison(r) if r.code() == "not_json"), "{d:?}");
    assert!(matches!(&d[1], Disposition::Poison(r) if r.code() == "truncated"), "{d:?}");
    assert_eq!(d[2..], [Disposition::Skipped, Disposition::Skipped, Disposition::Done]);
    assert_eq!(publisher.published().len(), 1);
}

#[tokio::test]
async fn unusual_but_valid_records_from_the_bad_corpus_never_fail_a_batch() {
    let publisher = MemoryPublisher::new();
    let (h, _, _) = handler(example_rules(), publisher.clone());
    let manifest: Vec<Value> = serde_json::from_slice(&fixture("bad/MANIFEST.json")).unwrap();
    let items: Vec<KinesisItem> = manifest
        .iter()
        .map(|m| item(fixture(&format!("bad/{}", m["file"].as_str().unwrap())), "2026-11-02T10:00:00Z"))
        .collect();
    let d = run(&h, items).await;
    for (m, d) in manifest.iter().zip(&d) {
        let invalid = m["expect"] == "invalid";
        assert_eq!(matches!(d, Disposition::Poison(_)), invalid, "{}: {d:?}", m["file"]);
        assert!(!matches!(d, Disposition::Retry(_)), "{}: {d:?}", m["file"]);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The contact→agent joins of a batch: one write, the newest per contact, before segments

const KBROWN_ARN: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/c3275a32-0b71-401c-aa25-b5771f22e0b0";

fn failing_handler(
    rules: Rules,
    store: FailingStore,
) -> (SupervisorAlerts<FailingStore, MemoryPublisher, ManualClock>, MemoryPublisher) {
    let publisher = MemoryPublisher::new();
    let s = Settings::replay();
    let clock = ManualClock::at("2026-11-02T12:00:00Z");
    (SupervisorAlerts::with_clock(rules, store, publisher.clone(), s, clock), publisher)
}

/// The username the stored contact→agent join names for `contact_id`.
fn joined_username(store: &MemoryItemStore, contact_id: &str) -> Option<String> {
    store
        .all()
        .into_iter()
        .find(|i| i["pk"] == format!("contact#{contact_id}"))
        .and_then(|i| i["username"].as_str().map(str::to_owned))
}

/// jdoe's contact-connected event as if it were kbrown's, at `at`.
fn kbrown_on_jdoes_contact(at: &str) -> Value {
    let mut v = agent_event_at("raw/agent/contact-connected.json", "STATE_CHANGE", at);
    v["AgentARN"] = Value::String(KBROWN_ARN.into());
    v["CurrentAgentSnapshot"]["Configuration"]["Username"] = Value::String("kbrown".into());
    v
}

#[tokio::test]
async fn the_newest_join_of_a_contact_wins_whatever_the_record_order() {
    for (kbrown_at, expected) in [("2026-11-02T08:04:00.000Z", "jdoe"), ("2026-11-02T08:06:00.000Z", "kbrown")] {
        // GIVEN two agents' events naming the same contact, the newer one first in the batch or last
        let (h, store, _) = handler(one_rule(THREE_NEGATIVE), MemoryPublisher::new());
        let jdoe = item(fixture("raw/agent/contact-connected.json"), "2026-11-02T08:05:15Z");
        let kbrown = json_item(&kbrown_on_jdoes_contact(kbrown_at), "2026-11-02T08:06:01Z");
        // WHEN they are processed in one batch
        let d = run(&h, vec![kbrown, jdoe]).await;
        // THEN one BatchWriteItem holds one join for the contact: the newer event's
        assert!(all_done(&d), "{d:?}");
        assert_eq!(store.batch_writes.get(), 1);
        assert_eq!(joined_username(&store, JDOE_CONTACT).as_deref(), Some(expected), "kbrown at {kbrown_at}");
    }
}

#[tokio::test]
async fn a_failed_join_write_retries_the_events_whose_joins_it_held_and_later_events_of_their_agents() {
    // GIVEN a store that throttles the first batch write
    let store = failing_store(StoreFaults { transient_calls: Arc::new(AtomicUsize::new(1)), ..StoreFaults::default() });
    let (h, publisher) = failing_handler(one_rule(THREE_NEGATIVE), store.clone());
    let items = batch(vec![
        item(fixture("raw/agent/status-available.json"), "2026-11-02T08:01:01Z"), // jdoe, no contact
        item(fixture("raw/agent/contact-connecting.json"), "2026-11-02T08:05:11Z"), // jdoe, join superseded by #2
        item(fixture("raw/agent/contact-connected.json"), "2026-11-02T08:05:15Z"), // jdoe, join in the write
        item(fixture("raw/agent/acw-done.json"), "2026-11-02T08:14:11Z"),         // jdoe, after #2
        item(fixture("raw/agent/config-change.json"), "2026-11-02T12:00:04Z"),    // asmith, no contact
        item(fixture("raw/agent/old-version-2017.json"), "2026-11-02T13:05:41Z"), // kbrown, join in the write
        item(fixture("raw/segments/voice-segments-negative.json"), "2026-11-02T08:07:00Z"),
    ]);
    // WHEN the batch is processed
    let d = h.process(&items).await;
    // THEN the events whose joins were in the failed write are retried, and so is every later event of their
    // agents; the others are done, and the segment found no join yet (its scoped rule waits)
    assert_eq!(store.hook().batch_calls.load(Ordering::Relaxed), 1, "one write for the batch");
    let retried: Vec<usize> = (0..d.len()).filter(|i| matches!(d[*i], Disposition::Retry(_))).collect();
    assert_eq!(retried, [2, 3, 5], "{d:?}");
    assert!(d.iter().all(|d| matches!(d, Disposition::Retry(_) | Disposition::Done)));
    assert!(publisher.published().is_empty());

    // AND WHEN Lambda redelivers from the lowest reported record
    let again = batch(items[2..].to_vec());
    assert!(all_done(&h.process(&again).await));
    // THEN the joins exist and the waiting rule fires, naming the agent
    assert_eq!(joined_username(store.inner(), JDOE_CONTACT).as_deref(), Some("jdoe"));
    let published = publisher.published();
    assert_eq!(rule_names(&published), ["angry"]);
    assert_eq!(attrs(&published[0])["agentUsername"], "jdoe");
}

#[tokio::test]
async fn a_join_that_can_never_be_written_refuses_only_the_event_it_came_from() {
    // GIVEN a store that refuses jdoe's contact's join for good
    let store =
        failing_store(StoreFaults { refused_pk: Some(format!("contact#{JDOE_CONTACT}")), ..StoreFaults::default() });
    let (h, _) = failing_handler(one_rule(THREE_NEGATIVE), store.clone());
    // WHEN a batch holds that event, a later one of the same agent and another agent's event
    let d = h
        .process(&batch(vec![
            item(fixture("raw/agent/contact-connected.json"), "2026-11-02T08:05:15Z"),
            item(fixture("raw/agent/acw-done.json"), "2026-11-02T08:14:11Z"),
            item(fixture("raw/agent/chat-multi-contact.json"), "2026-11-02T09:11:59Z"),
        ]))
        .await;
    // THEN only that event is refused (as when it was written alone) and the other joins are written
    assert_eq!(d[0], Disposition::Refused(PortError::permanent("dynamodb", "ValidationException")), "{d:?}");
    assert_eq!(d[1..], [Disposition::Done, Disposition::Done]);
    assert_eq!(joined_username(store.inner(), ASMITH_CHAT).as_deref(), Some("asmith"));
    assert_eq!(joined_username(store.inner(), JDOE_CONTACT), None);
}

/// The attributes a stored join may have: its layout since joins were first stored.
const JOIN_ATTRIBUTES: [&str; 14] = [
    "pk",
    "sk",
    "expires_at",
    "agent_id",
    "username",
    "routing_profile",
    "queue",
    "channel",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "seen",
];

#[tokio::test]
async fn a_stored_join_keeps_its_attribute_names_and_leaves_out_absent_and_empty_values() {
    // GIVEN a segment rule, WHEN jdoe's events name the contact
    let (h, store, _) = handler(one_rule(THREE_NEGATIVE), MemoryPublisher::new());
    let mut connected = fixture_json("raw/agent/contact-connected.json");
    connected["CurrentAgentSnapshot"]["Configuration"]["RoutingProfile"]["Name"] = Value::String(String::new());
    assert!(all_done(&run(&h, vec![json_item(&connected, "2026-11-02T08:05:15Z")]).await));
    // THEN the join item has the attribute names stored joins always had, and no empty or null value
    let join = store.all().into_iter().find(|i| i["pk"] == format!("contact#{JDOE_CONTACT}")).unwrap();
    assert!(join.keys().all(|k| JOIN_ATTRIBUTES.contains(&k.as_str())), "{join:?}");
    assert!(join.values().all(|v| v.as_str() != Some("") && !v.is_null()), "{join:?}");
    assert!(!join.contains_key("routing_profile"), "an empty routing profile name is left out: {join:?}");
    assert_eq!(
        (join["sk"].as_str(), join["username"].as_str(), join["h3"].as_str()),
        (Some("agent"), Some("jdoe"), Some("Team Blue"))
    );
    assert!(join["agent_id"].as_str().is_some_and(|id| !id.is_empty()) && join["seen"].as_str().is_some());
}

#[tokio::test]
async fn a_join_stored_by_an_earlier_version_still_scopes_and_names_the_alert() {
    // GIVEN a join item as earlier versions wrote it (plus an attribute this version does not know)
    let publisher = MemoryPublisher::new();
    let (h, store, _) = handler(one_rule(THREE_NEGATIVE), publisher.clone());
    let stored = serde_json::json!({
        "pk": format!("contact#{JDOE_CONTACT}"), "sk": "agent", "agent_id": "f7fd8b2d-fc26-45b7-90fb-8b8d91076163",
        "username": "jdoe", "routing_profile": "Voice Sales", "h1": "EMEA", "h2": "Sales", "h3": "Team Blue",
        "queue": "Sales", "channel": "VOICE", "seen": "2026-11-02T08:05:14.209Z#e", "expires_at": 1_893_456_000,
        "written_by": "an earlier version",
    });
    let Value::Object(stored) = stored else { unreachable!() };
    store.put(stored, Condition::Always).await.unwrap();
    // WHEN the contact's segments come, with no agent event in sight
    let d = run(
        &h,
        vec![
            item(fixture("raw/segments/voice-segments-1.json"), "2026-11-02T08:06:00Z"),
            item(fixture("raw/segments/voice-segments-negative.json"), "2026-11-02T08:07:00Z"),
        ],
    )
    .await;
    // THEN the team-scoped rule fires, naming the agent the stored join names
    assert!(all_done(&d), "{d:?}");
    let published = publisher.published();
    assert_eq!(rule_names(&published), ["angry"]);
    let a = attrs(&published[0]);
    assert_eq!(
        (a["agentUsername"].as_str(), a["hierarchyLevel3"].as_str(), a["queue"].as_str()),
        ("jdoe", "Team Blue", "Sales")
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Store calls (what DynamoDB bills)

/// A full agent-event batch as the event source mapping delivers it (~2,800 per 6 MB): 700 agents, each with
/// four events — Available, a contact offered, connected, the contact gone after ACW — so 1,400 events name a
/// contact (700 distinct contacts) and 1,400 name none. No rule fires on them.
fn agent_batch_of_2800() -> Vec<KinesisItem> {
    let files = [
        "raw/agent/status-available.json",
        "raw/agent/contact-connecting.json",
        "raw/agent/contact-connected.json",
        "raw/agent/acw-done.json",
    ];
    let templates: Vec<Value> = files.iter().map(|f| fixture_json(f)).collect();
    let mut items = Vec::with_capacity(2800);
    for agent in 0..700 {
        let agent_id = format!("00000000-0000-4000-8000-{agent:012}");
        let contact_id = format!("c0000000-0000-4000-8000-{agent:012}");
        for t in &templates {
            let mut v = t.clone();
            v["AgentARN"] = Value::String(format!(
                "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/{agent_id}"
            ));
            v["EventId"] = Value::String(format!("{agent_id}-{}", items.len()));
            for snap in ["CurrentAgentSnapshot", "PreviousAgentSnapshot"] {
                if let Some(contacts) = v[snap]["Contacts"].as_array_mut() {
                    for c in contacts {
                        c["ContactId"] = Value::String(contact_id.clone());
                    }
                }
            }
            items.push(json_item(&v, "2026-11-02T08:15:00Z"));
        }
    }
    items
}

#[tokio::test]
async fn a_batch_of_2800_agent_events_writes_its_contact_joins_in_one_batch_put() {
    // GIVEN rules that need the contact→agent joins (a segment rule) and a full batch of agent events
    let (h, store, _) = handler(example_rules(), MemoryPublisher::new());
    let items = agent_batch_of_2800();
    // WHEN it is processed
    let d = run(&h, items).await;
    assert!(all_done(&d));
    let (batch_writes, writes, reads) = (store.batch_writes.get(), store.writes.get(), store.reads.get());
    eprintln!("2,800 agent events: {batch_writes} BatchWriteItem, {writes} writes, {reads} reads");
    // THEN the 700 distinct joins go out in ⌈700 / 25⌉ BatchWriteItem calls, not one call per event
    assert_eq!(batch_writes, 700usize.div_ceil(25));
    assert_eq!((writes, reads), (0, 0), "no rule fired: nothing else is stored");
    let joins =
        store.all().into_iter().filter(|i| i["pk"].as_str().is_some_and(|pk| pk.starts_with("contact#"))).count();
    assert_eq!(joins, 700);
}

/// jdoe's heartbeats in a Break that is already past the limit, every two minutes from `from_minute` past 10:00.
fn break_heartbeats(from_minute: u32, n: u32) -> Vec<KinesisItem> {
    (0..n)
        .map(|k| {
            let m = from_minute + 2 * k;
            json_item(
                &agent_event_at(
                    "raw/agent/heartbeat-during-break.json",
                    "HEART_BEAT",
                    &format!("2026-11-02T{:02}:{:02}:00.000Z", 10 + m / 60, m % 60),
                ),
                "2026-11-02T12:00:00Z",
            )
        })
        .collect()
}

#[tokio::test]
async fn a_heartbeat_storm_past_the_limit_costs_no_store_reads_after_the_first_alert() {
    // GIVEN a warm process that has sent the break alert
    let publisher = MemoryPublisher::new();
    let (h, store, _) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    assert!(all_done(&run(&h, break_heartbeats(16, 1)).await));
    assert_eq!(publisher.published().len(), 1);
    let (reads, writes) = (store.reads.get(), store.writes.get());
    // WHEN the agent stays on break for hours: heartbeats in one batch and in later batches
    for batch in [break_heartbeats(18, 40), break_heartbeats(98, 40)] {
        assert!(all_done(&run(&h, batch).await));
    }
    eprintln!("80 more heartbeats: {} reads, {} writes", store.reads.get() - reads, store.writes.get() - writes);
    // THEN no claim is read again and nothing is written or sent
    assert_eq!(store.reads.get(), reads, "the SENT alert is known in memory");
    assert_eq!(store.writes.get(), writes);
    assert_eq!(publisher.published().len(), 1);
}

#[tokio::test]
async fn a_cold_process_still_reads_the_claim_and_does_not_send_again() {
    // GIVEN a process that sent the break alert
    let publisher = MemoryPublisher::new();
    let (warm, store, clock) = handler(one_rule(BREAK_TOO_LONG), publisher.clone());
    assert!(all_done(&run(&warm, break_heartbeats(16, 1)).await));
    // WHEN a new process (empty memory) sees later heartbeats of the same episode
    let rules = one_rule(BREAK_TOO_LONG);
    let s = Settings::replay();
    let cold = SupervisorAlerts::with_clock(rules, store.clone(), publisher.clone(), s, clock);
    let reads = store.reads.get();
    assert!(all_done(&run(&cold, break_heartbeats(18, 3)).await));
    // THEN it reads the claim from the table once, finds it SENT, and sends nothing
    assert_eq!(store.reads.get() - reads, 1);
    assert_eq!(publisher.published().len(), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// One read of the join and the sentiment state per contact and batch, one write of the state

const NEVER_ANGRY: &str =
    r#"{"name":"never","kind":"negative_sentiment","severity":"info","consecutive":50,"cooldown":"0s","scope":{}}"#;

fn three_segments_of_one_contact() -> Vec<KinesisItem> {
    vec![
        item(fixture("raw/segments/voice-segments-1.json"), "2026-11-02T08:06:00Z"),
        item(fixture("raw/segments/voice-segments-negative.json"), "2026-11-02T08:07:00Z"),
        item(fixture("raw/segments/voice-segments-category.json"), "2026-11-02T08:08:00Z"),
    ]
}

#[tokio::test]
async fn the_segments_of_one_contact_in_a_batch_read_the_join_and_the_state_once_and_write_the_state_once() {
    // GIVEN the contact joined to its agent, and a rule that needs the sentiment state but does not fire
    let (h, store, _) = handler(one_rule(NEVER_ANGRY), MemoryPublisher::new());
    assert!(all_done(&run(&h, jdoe_on_the_call()).await));
    let (reads, writes) = (store.reads.get(), store.writes.get());
    // WHEN three segment records of the contact arrive in one batch
    assert!(all_done(&run(&h, three_segments_of_one_contact()).await));
    // THEN one join read, one state read and one state write, not one of each per record
    assert_eq!((store.reads.get() - reads, store.writes.get() - writes), (2, 1));
    let state = store.all().into_iter().find(|i| i["pk"] == format!("sentiment#{JDOE_CONTACT}")).unwrap();
    // … and the state holds the turns of all three, as one record at a time would have left it
    let (reference, ref_store, _) = handler(one_rule(NEVER_ANGRY), MemoryPublisher::new());
    for one in three_segments_of_one_contact() {
        assert!(all_done(&run(&reference, vec![one]).await));
    }
    let expected = ref_store.all().into_iter().find(|i| i["pk"] == format!("sentiment#{JDOE_CONTACT}")).unwrap();
    assert_eq!(state["state"], expected["state"]);
    assert!(state["state"]["turns"].as_u64().unwrap() > 3, "{state:?}");
}

#[tokio::test]
async fn a_failed_write_of_the_state_retries_every_record_whose_turns_it_held_and_alerts_stay_once() {
    // GIVEN the contact joined, a rule that fires on the second record, and a table refusing the state write
    let unscoped = r#"{"name":"angry-any","kind":"negative_sentiment","severity":"critical","consecutive":3,"cooldown":"0s","scope":{}}"#;
    let rules = one_rule(unscoped);
    let s = Settings::replay();
    let store = FailingStore::default();
    let publisher = MemoryPublisher::new();
    let clock = ManualClock::at("2026-11-02T12:00:00Z");
    let h = SupervisorAlerts::with_clock(rules, store.clone(), publisher.clone(), s, clock);
    assert!(h.process(&batch(jdoe_on_the_call())).await.iter().all(|d| *d == Disposition::Done));
    store.hook().throttle_puts(Some("sentiment#"));
    // WHEN the segments come and the state cannot be written
    let items = batch(three_segments_of_one_contact());
    let d = h.process(&items).await;
    // THEN every record is reported for retry (the first already changed the state), nothing is lost
    assert!(d.iter().all(|d| matches!(d, Disposition::Retry(_))), "{d:?}");
    assert!(store.inner().all().iter().all(|i| i["pk"] != format!("sentiment#{JDOE_CONTACT}")));
    // WHEN Lambda redelivers them and the table accepts the write
    store.hook().throttle_puts(None);
    assert!(h.process(&items).await.iter().all(|d| *d == Disposition::Done));
    // THEN the state holds each turn once and the alert (published during the failed attempt) is not sent again
    let state = store.inner().all().into_iter().find(|i| i["pk"] == format!("sentiment#{JDOE_CONTACT}")).unwrap();
    let (reference, ref_store, _) = handler(one_rule(unscoped), MemoryPublisher::new());
    assert!(all_done(&run(&reference, three_segments_of_one_contact()).await));
    let expected = ref_store.all().into_iter().find(|i| i["pk"] == format!("sentiment#{JDOE_CONTACT}")).unwrap();
    assert_eq!(state["state"], expected["state"]);
    assert_eq!(rule_names(&publisher.published()), ["angry-any"]);
}

#[tokio::test]
async fn the_missed_contacts_of_an_agent_in_a_batch_read_and_write_its_window_once() {
    // GIVEN a missed-contacts rule that does not fire on two contacts
    let (h, store, _) = handler(missed_rule(5, "30m"), MemoryPublisher::new());
    let second = another_missed(5);
    let mut heartbeat = second.clone();
    heartbeat["EventType"] = Value::String("HEART_BEAT".into());
    heartbeat["EventId"] = Value::String("hb".into());
    let events = || {
        vec![
            item(fixture("raw/agent/contact-missed.json"), "2026-11-02T11:20:27Z"),
            json_item(&second, "2026-11-02T11:25:27Z"),
            json_item(&heartbeat, "2026-11-02T11:27:27Z"),
        ]
    };
    // WHEN three events of the agent showing missed contacts come in one batch
    assert!(all_done(&run(&h, events()).await));
    // THEN one window read and one window write, not one of each per record
    assert_eq!((store.reads.get(), store.writes.get()), (1, 1));
    // … and the window holds what one record at a time would have left in it
    let window = |store: &MemoryItemStore| {
        store.all().into_iter().find(|i| i["pk"].as_str().is_some_and(|pk| pk.starts_with("missed#"))).unwrap()
    };
    let (reference, ref_store, _) = handler(missed_rule(5, "30m"), MemoryPublisher::new());
    for one in events() {
        assert!(all_done(&run(&reference, vec![one]).await));
    }
    assert_eq!(window(&store)["contacts"], window(&ref_store)["contacts"]);
    assert_eq!(window(&store)["contacts"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_failed_write_of_the_missed_window_retries_the_records_it_held_and_the_alert_stays_once() {
    // GIVEN a rule that fires on the second missed contact and a table refusing the window write
    let rules = missed_rule(2, "30m");
    let s = Settings::replay();
    let store = FailingStore::default();
    let publisher = MemoryPublisher::new();
    let h = SupervisorAlerts::with_clock(
        rules,
        store.clone(),
        publisher.clone(),
        s,
        ManualClock::at("2026-11-02T12:00:00Z"),
    );
    store.hook().throttle_puts(Some("missed#"));
    let items = batch(vec![
        item(fixture("raw/agent/status-available.json"), "2026-11-02T08:01:01Z"), // jdoe: no missed contact
        item(fixture("raw/agent/contact-missed.json"), "2026-11-02T11:20:27Z"),
        json_item(&another_missed(5), "2026-11-02T11:25:27Z"),
    ]);
    // WHEN the batch is processed
    let d = h.process(&items).await;
    // THEN the record before the first missed contact is done, the others are retried
    assert_eq!(d[0], Disposition::Done);
    assert!(d[1..].iter().all(|d| matches!(d, Disposition::Retry(_))), "{d:?}");
    // WHEN Lambda redelivers them and the table accepts the write
    store.hook().throttle_puts(None);
    assert!(h.process(&batch(items[1..].to_vec())).await.iter().all(|d| *d == Disposition::Done));
    // THEN the window holds both contacts and the alert (published during the failed attempt) is not sent again
    let window =
        store.inner().all().into_iter().find(|i| i["pk"].as_str().is_some_and(|pk| pk.starts_with("missed#"))).unwrap();
    assert_eq!(window["contacts"].as_array().map(Vec::len), Some(2));
    assert_eq!(rule_names(&publisher.published()), ["missed"]);
}

#[tokio::test]
async fn segment_records_with_nothing_for_the_rules_and_contact_records_cost_no_store_call() {
    // GIVEN sentiment, category and attribute rules that need state only for customer turns and categories
    let (h, store, _) = handler(example_rules(), MemoryPublisher::new());
    // WHEN a contact's STARTED, COMPLETED and FAILED records and a contact record that fires nothing come
    let mut ctr = fixture_json("raw/ctr/attributes-csat.json");
    ctr["Attributes"] = serde_json::json!({});
    let d = run(
        &h,
        vec![
            item(fixture("raw/segments/voice-started.json"), "2026-11-02T08:05:20Z"),
            item(fixture("raw/segments/voice-completed.json"), "2026-11-02T08:15:00Z"),
            item(fixture("raw/segments/voice-failed.json"), "2026-11-02T08:15:01Z"),
            json_item(&ctr, "2026-11-02T08:16:00Z"),
        ],
    )
    .await;
    // THEN nothing is read or written
    assert!(all_done(&d), "{d:?}");
    assert_eq!((store.reads.get(), store.writes.get(), store.batch_writes.get()), (0, 0, 0));
}
