//! Behaviour scenarios, generic over the table: run against the memory store (fast) and against DynamoDB on moto.
//! Each takes a fresh, empty store.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::model::time;
use shared::ports::{Item, ItemStore};

use super::*;
use agent_state::table::{
    HistoryView, agent_history, agents_by_activity, agents_by_routing_profile, agents_of_instance,
};

pub fn t(s: &str) -> DateTime<Utc> {
    time::parse(s).expect("test timestamp")
}

async fn history<S: ItemStore>(store: &S, agent: &str) -> Vec<HistoryView> {
    agent_history(store, agent, t("2026-11-01T00:00:00Z"), t("2026-11-03T00:00:00Z")).await.expect("history")
}

fn summary(h: &[HistoryView]) -> Vec<(String, String, String, String, i64)> {
    h.iter().map(|h| (h.kind.clone(), h.name.clone(), h.start.clone(), h.end.clone(), h.duration_ms)).collect()
}

fn episode(kind: &str, name: &str, start: &str, end: &str) -> (String, String, String, String, i64) {
    let ms = (t(end) - t(start)).num_milliseconds();
    (kind.into(), name.into(), start.into(), end.into(), ms)
}

/// An item with every number as f64, so items read back from DynamoDB compare with items from memory.
pub fn comparable(item: Item) -> Value {
    fn norm(v: Value) -> Value {
        match v {
            Value::Number(n) => json!(n.as_f64()),
            Value::Array(a) => Value::Array(a.into_iter().map(norm).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, norm(v))).collect()),
            other => other,
        }
    }
    norm(Value::Object(item))
}

pub async fn login_marks_the_agent_logged_in<S: ItemStore>(store: S) {
    let h = handler(store);
    let report = run(&h, &batch(&[raw("login")])).await;
    assert_eq!(report.done, 1);
    let a = agent(h.store(), JDOE).await;
    assert_eq!(a.logged_in, Some(true));
    assert!(a.is_logged_in());
    assert_eq!(a.login_at.as_deref(), Some("2026-11-02T08:00:02.318Z"));
    assert_eq!(a.logout_at, None);
    assert_eq!(a.username.as_deref(), Some("jdoe"));
    assert_eq!((a.first_name.as_deref(), a.last_name.as_deref()), (Some("John"), Some("Doe")));
    let status = a.status.expect("status");
    assert_eq!(status.name.as_deref(), Some("Offline"));
    assert_eq!(status.status_type.as_deref(), Some("OFFLINE"));
    assert_eq!(status.start.as_deref(), Some("2026-11-02T08:00:02.318Z"));
    assert!(status.arn.as_deref().is_some_and(|a| a.ends_with("agent-state/fd43915c-e629-4113-b404-2f33cbb3220a")));
    assert_eq!(a.activity.as_deref(), Some("OFFLINE"));
    assert_eq!(a.activity_start.as_deref(), Some("2026-11-02T08:00:02.318Z"));
    assert_eq!(a.routing_profile.as_ref().and_then(|r| r.name.as_deref()), Some("Voice Sales"));
    assert_eq!(a.hierarchy.get("level1").map(String::as_str), Some("EMEA"));
    assert_eq!(a.hierarchy.get("level3").map(String::as_str), Some("Team Blue"));
    assert!(!a.hierarchy.contains_key("level4"));
    assert_eq!(a.concurrency.get("VOICE").map(|s| (s.available, s.maximum)), Some((Some(1), Some(1))));
    assert!(a.contacts.is_empty());
    assert_eq!((a.last_event_type.as_str(), a.last_event_at.as_str()), ("LOGIN", "2026-11-02T08:00:02.318Z"));
    assert_eq!(a.last_event_id, "21bade02-6a6a-4768-b2ed-66ffdcc99396");
    let item = current_item(h.store(), JDOE).await.expect("item");
    // TTL: 24 h after the event, in epoch seconds.
    assert_eq!(item.get("expires_at").and_then(Value::as_i64), Some(t("2026-11-03T08:00:02Z").timestamp()));
}

pub async fn a_voice_contact_moves_the_activity_and_records_after_contact_work<S: ItemStore>(store: S) {
    let h = handler(store);
    let steps = [
        ("login", "OFFLINE", "2026-11-02T08:00:02.318Z"),
        ("status-available", "AVAILABLE", "2026-11-02T08:01:00.102Z"),
        ("contact-connecting", "INCOMING", "2026-11-02T08:05:10.412Z"),
        ("contact-connected", "ON_CONTACT", "2026-11-02T08:05:14.020Z"),
        ("contact-on-hold", "ON_HOLD", "2026-11-02T08:09:00.300Z"),
        ("contact-ended-acw", "AFTER_CONTACT_WORK", "2026-11-02T08:12:40.150Z"),
        ("acw-done", "AVAILABLE", "2026-11-02T08:14:10.604Z"),
    ];
    for (file, activity, since) in steps {
        run(&h, &batch(&[raw(file)])).await;
        let a = agent(h.store(), JDOE).await;
        assert_eq!(a.activity.as_deref(), Some(activity), "after {file}");
        assert_eq!(a.activity_start.as_deref(), Some(since), "after {file}");
        if file != "login" {
            assert_eq!(a.status.as_ref().and_then(|s| s.name.as_deref()), Some("Available"), "status stays: {file}");
        }
        if file == "contact-on-hold" {
            let c = &a.contacts[0];
            assert_eq!(c.contact_id.as_deref(), Some("ad92bd21-3930-4256-a9c6-2e3d1e90e82b"));
            assert_eq!((c.channel.as_deref(), c.state.as_deref()), (Some("VOICE"), Some("CONNECTED_ONHOLD")));
            assert_eq!(c.state_start.as_deref(), Some("2026-11-02T08:09:00.300Z"));
            assert_eq!((c.queue_name.as_deref(), c.initiation_method.as_deref()), (Some("Sales"), Some("INBOUND")));
        }
    }
    assert!(agent(h.store(), JDOE).await.contacts.is_empty());
    let by_activity = agents_by_activity(h.store(), INSTANCE, "AVAILABLE").await.expect("query");
    assert_eq!(by_activity.iter().map(|a| a.agent_arn.as_str()).collect::<Vec<_>>(), vec![JDOE]);
    assert!(agents_by_activity(h.store(), INSTANCE, "AFTER_CONTACT_WORK").await.expect("query").is_empty());
    assert_eq!(
        summary(&history(h.store(), JDOE).await),
        vec![
            episode("STATUS", "Offline", "2026-11-02T08:00:02.318Z", "2026-11-02T08:01:00.102Z"),
            episode(
                "ACW",
                "ad92bd21-3930-4256-a9c6-2e3d1e90e82b",
                "2026-11-02T08:12:40.150Z",
                "2026-11-02T08:14:10.604Z"
            ),
        ]
    );
    let acw = &history(h.store(), JDOE).await[1];
    assert_eq!(
        (acw.duration_ms, acw.channel.as_deref(), acw.queue_name.as_deref()),
        (90_454, Some("VOICE"), Some("Sales"))
    );
}

pub async fn status_changes_record_finished_episodes<S: ItemStore>(store: S) {
    let h = handler(store);
    for file in ["login", "status-available", "status-break", "heartbeat-during-break"] {
        run(&h, &batch(&[raw(file)])).await;
    }
    let a = agent(h.store(), JDOE).await;
    assert_eq!(a.status.as_ref().and_then(|s| s.name.as_deref()), Some("Break"));
    assert_eq!(a.activity.as_deref(), Some("Break"));
    assert_eq!(a.activity_start.as_deref(), Some("2026-11-02T10:00:00.731Z"));
    assert_eq!(a.last_heartbeat_at.as_deref(), Some("2026-11-02T10:30:00.731Z"));
    for file in ["status-unplanned-break", "status-available-again"] {
        run(&h, &batch(&[raw(file)])).await;
    }
    assert_eq!(
        summary(&history(h.store(), JDOE).await),
        vec![
            episode("STATUS", "Offline", "2026-11-02T08:00:02.318Z", "2026-11-02T08:01:00.102Z"),
            episode("STATUS", "Available", "2026-11-02T08:01:00.102Z", "2026-11-02T10:00:00.731Z"),
            episode("STATUS", "Break", "2026-11-02T10:00:00.731Z", "2026-11-02T10:45:12.090Z"),
            episode("STATUS", "Unplanned break", "2026-11-02T10:45:12.090Z", "2026-11-02T11:15:03.477Z"),
        ]
    );
    // A time range selects the episodes that started in it.
    let range = agent_history(h.store(), JDOE, t("2026-11-02T10:00:00.731Z"), t("2026-11-02T10:59:00Z"))
        .await
        .expect("history");
    assert_eq!(range.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), vec!["Break", "Unplanned break"]);
    assert_eq!(range[0].status_type.as_deref(), Some("CUSTOM"));
}

pub async fn a_missed_contact_shows_as_missed<S: ItemStore>(store: S) {
    let h = handler(store);
    for file in ["status-available-again", "contact-missed-connecting", "contact-missed"] {
        run(&h, &batch(&[raw(file)])).await;
    }
    let a = agent(h.store(), JDOE).await;
    assert_eq!(a.activity.as_deref(), Some("MISSED"));
    assert_eq!(a.activity_start.as_deref(), Some("2026-11-02T11:20:25.900Z"));
    assert_eq!(a.contacts[0].state.as_deref(), Some("MISSED"));
    let kinds: Vec<String> = history(h.store(), JDOE).await.into_iter().map(|h| h.kind).collect();
    assert_eq!(kinds, vec!["STATUS"], "the Unplanned break episode only: a missed contact is no after-contact work");
}

pub async fn heartbeat_after_logout_keeps_the_agent_logged_out<S: ItemStore>(store: S) {
    let h = handler(store);
    run(&h, &batch(&[raw("login")])).await;
    run(&h, &envelope("agent-heartbeat-after-logout")).await;
    let a = agent(h.store(), JDOE).await;
    assert_eq!(a.logged_in, Some(false));
    assert!(!a.is_logged_in());
    assert_eq!(a.logout_at.as_deref(), Some("2026-11-02T11:30:00.412Z"));
    assert_eq!(a.login_at.as_deref(), Some("2026-11-02T08:00:02.318Z"));
    assert_eq!(a.last_heartbeat_at.as_deref(), Some("2026-11-02T11:32:00.412Z"));
    assert_eq!(a.last_event_type, "HEART_BEAT");
    assert_eq!(a.activity.as_deref(), Some("OFFLINE"));

    // A LOGIN after the LOGOUT logs the agent in again; a later heartbeat leaves it logged in.
    let relogin = with(
        raw_json("login"),
        &[
            ("EventTimestamp", json!("2026-11-02T12:00:00.000Z")),
            ("EventId", json!("0c9f8f8e-0000-4000-8000-000000000001")),
        ],
    );
    let heartbeat = with(
        raw_json("heartbeat-after-logout"),
        &[
            ("EventTimestamp", json!("2026-11-02T12:02:00.000Z")),
            ("EventId", json!("0c9f8f8e-0000-4000-8000-000000000002")),
        ],
    );
    run(&h, &batch(&[relogin, heartbeat])).await;
    let a = agent(h.store(), JDOE).await;
    assert_eq!(a.logged_in, Some(true));
    assert_eq!(a.login_at.as_deref(), Some("2026-11-02T12:00:00.000Z"));
    assert_eq!(a.last_heartbeat_at.as_deref(), Some("2026-11-02T12:02:00.000Z"));
}

pub async fn old_schema_version_is_applied_like_any_other<S: ItemStore>(store: S) {
    let h = handler(store);
    let report = run(&h, &batch(&[raw("old-version-2017")])).await;
    assert_eq!(report.done, 1);
    let a = agent(h.store(), KBROWN).await;
    assert_eq!(a.username.as_deref(), Some("kbrown"));
    assert_eq!(a.activity.as_deref(), Some("ON_CONTACT"));
    assert_eq!(a.activity_start.as_deref(), Some("2026-11-02T13:05:40.400Z"));
    let status = a.status.expect("status");
    assert_eq!((status.name.as_deref(), status.status_type.as_deref()), (Some("Available"), None));
    assert!(a.hierarchy.is_empty() && a.concurrency.is_empty());
    assert_eq!(a.routing_profile.and_then(|r| r.name).as_deref(), Some("Basic Routing Profile"));
    assert_eq!(a.contacts[0].queue_name.as_deref(), Some("Support"));
    let item = current_item(h.store(), KBROWN).await.expect("item");
    assert_eq!(item.get("schema_version").and_then(Value::as_str), Some("2017-10-01"));
}

pub async fn a_null_previous_snapshot_is_handled<S: ItemStore>(store: S) {
    let h = handler(store);
    let no_previous = with(raw_json("status-break"), &[("PreviousAgentSnapshot", Value::Null)]);
    let report = run(&h, &batch(&[no_previous])).await;
    assert_eq!(report.done, 1);
    let a = agent(h.store(), JDOE).await;
    assert_eq!(a.activity.as_deref(), Some("Break"));
    assert_eq!(a.activity_start.as_deref(), Some("2026-11-02T10:00:00.731Z"));
    assert_eq!(a.logged_in, None, "a state change says nothing about the session");
    assert!(a.is_logged_in(), "an agent on Break is inferred logged in");
    assert!(history(h.store(), JDOE).await.is_empty(), "nothing to compare with: no episode");
}

pub async fn a_multi_contact_chat_agent_keeps_every_contact<S: ItemStore>(store: S) {
    let h = handler(store);
    run(&h, &batch(&[raw("heartbeat")])).await;
    let a = agent(h.store(), ASMITH).await;
    assert_eq!(a.logged_in, None);
    assert!(a.is_logged_in(), "first seen through a heartbeat while chatting");
    assert_eq!(a.activity.as_deref(), Some("ON_CONTACT"));
    assert_eq!(a.activity_start.as_deref(), Some("2026-11-02T08:51:00.310Z"));

    run(&h, &batch(&[raw("chat-multi-contact")])).await;
    let a = agent(h.store(), ASMITH).await;
    let states: Vec<_> = a
        .contacts
        .iter()
        .map(|c| (c.contact_id.clone().unwrap_or_default()[..8].to_owned(), c.state.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("a2b96c4b".into(), "ENDED".into()),
            ("903d7db5".into(), "CONNECTED".into()),
            ("ca322466".into(), "CONNECTING".into())
        ]
    );
    assert!(a.contacts.iter().all(|c| c.channel.as_deref() == Some("CHAT")));
    assert_eq!(a.activity.as_deref(), Some("ON_CONTACT"), "a connected chat outranks ringing and ACW");
    assert_eq!(a.activity_start.as_deref(), Some("2026-11-02T09:05:20.447Z"));
    assert_eq!(a.concurrency.get("CHAT").map(|s| (s.available, s.maximum)), Some((Some(0), Some(3))));
    assert_eq!(a.concurrency.get("TASK").map(|s| (s.available, s.maximum)), Some((Some(1), Some(1))));
    assert!(history(h.store(), ASMITH).await.is_empty(), "the ENDED chat is still in ACW");

    // The ENDED chat leaves the snapshot: its after-contact work is over.
    let mut event = raw_json("chat-multi-contact");
    let previous = event["CurrentAgentSnapshot"].clone();
    let mut current = previous.clone();
    if let Some(contacts) = current["Contacts"].as_array_mut() {
        contacts.retain(|c| c["State"] != "ENDED");
    }
    event["PreviousAgentSnapshot"] = previous;
    event["CurrentAgentSnapshot"] = current;
    let acw_done = with(
        event,
        &[
            ("EventTimestamp", json!("2026-11-02T09:13:00.000Z")),
            ("EventId", json!("0c9f8f8e-0000-4000-8000-000000000003")),
        ],
    );
    run(&h, &batch(&[acw_done])).await;
    let a = agent(h.store(), ASMITH).await;
    assert_eq!(a.contacts.len(), 2);
    let h = history(h.store(), ASMITH).await;
    assert_eq!(
        summary(&h),
        vec![episode(
            "ACW",
            "a2b96c4b-a505-449b-8953-4a7c1fd41bb8",
            "2026-11-02T09:11:40.090Z",
            "2026-11-02T09:13:00.000Z"
        )]
    );
    assert_eq!(h[0].channel.as_deref(), Some("CHAT"));
}

pub async fn a_stale_event_replayed_after_a_newer_one_changes_nothing<S: ItemStore>(store: S) {
    let h = handler(store);
    run(&h, &batch(&[raw("login"), raw("status-available"), raw("status-break")])).await;
    let before = current_item(h.store(), JDOE).await.expect("item");
    for stale in ["status-available", "login", "contact-connected"] {
        let report = run(&h, &batch(&[raw(stale)])).await;
        assert_eq!((report.stale, report.done), (1, 0), "{stale}");
    }
    assert_eq!(current_item(h.store(), JDOE).await.map(comparable), Some(comparable(before)));
}

pub async fn duplicates_change_nothing<S: ItemStore>(store: S) {
    let reference = handler(memory_store());
    run_each(&reference, &[raw("login"), raw("status-available")]).await;
    let expected = current_item(reference.store(), JDOE).await.expect("item");

    let h = handler(store);
    let report = run(&h, &batch(&[raw("login"), raw("status-available"), raw("status-available"), raw("login")])).await;
    assert_eq!((report.done, report.stale), (2, 2));
    let report = run(&h, &batch(&[raw("login"), raw("status-available")])).await;
    assert_eq!((report.done, report.stale), (0, 2));
    assert_eq!(current_item(h.store(), JDOE).await.map(comparable), Some(comparable(expected)));
    assert_eq!(history(h.store(), JDOE).await.len(), 1);
}

pub async fn other_kinds_and_unknown_event_types_are_skipped_and_bad_records_quarantined<S: ItemStore>(store: S) {
    let h = handler(store);
    let items = batch(&[
        bad("agent-event-unknown-eventtype.json"),
        other_raw("ctr", "voice-inbound"),
        other_raw("segments", "voice-started"),
        bad("agent-event-bad-timestamp.json"),
        bad("not-json.txt"),
    ]);
    let report = run(&h, &items).await;
    assert_eq!((report.skipped, report.quarantined, report.done, report.failed), (3, 2, 0, 0));
    assert!(current_item(h.store(), JDOE).await.is_none(), "an unknown event type changes nothing");
}

pub async fn timestamps_are_ordered_in_utc_whatever_their_form<S: ItemStore>(store: S) {
    let h = handler(store);
    // 10:01+01:00 is 09:01Z: newer than 09:00:00Z (no milliseconds), which then is stale.
    let report = run(&h, &batch(&[bad("agent-event-timestamp-offset.json")])).await;
    assert_eq!(report.done, 1);
    let report = run(&h, &batch(&[bad("agent-event-timestamp-no-millis.json")])).await;
    assert_eq!(report.stale, 1);
    let a = agent(h.store(), JDOE).await;
    assert_eq!(a.last_event_at, "2026-11-02T09:01:00.000Z");
    assert_eq!(a.last_heartbeat_at.as_deref(), Some("2026-11-02T09:01:00.000Z"));
}

pub async fn the_agent_day_ends_in_the_documented_state<S: ItemStore>(store: S) {
    let h = handler(store);
    let report = run(&h, &envelope("agent-day")).await;
    assert_eq!((report.done, report.failed, report.quarantined, report.reported.as_deref()), (18, 0, 0, None));

    let jdoe = agent(h.store(), JDOE).await;
    assert_eq!(jdoe.logged_in, Some(false));
    assert_eq!(jdoe.activity.as_deref(), Some("OFFLINE"));
    assert_eq!(jdoe.status.as_ref().and_then(|s| s.name.as_deref()), Some("Offline"));
    assert_eq!(jdoe.last_heartbeat_at.as_deref(), Some("2026-11-02T11:32:00.412Z"));
    let asmith = agent(h.store(), ASMITH).await;
    assert!(asmith.is_logged_in());
    assert_eq!(asmith.activity.as_deref(), Some("AVAILABLE"));
    assert_eq!(asmith.routing_profile.as_ref().and_then(|r| r.name.as_deref()), Some("Chat Escalations"));
    assert!(asmith.contacts.is_empty());

    assert_eq!(
        summary(&history(h.store(), JDOE).await),
        vec![
            episode("STATUS", "Offline", "2026-11-02T08:00:02.318Z", "2026-11-02T08:01:00.102Z"),
            episode("STATUS", "Available", "2026-11-02T08:01:00.102Z", "2026-11-02T10:00:00.731Z"),
            episode(
                "ACW",
                "ad92bd21-3930-4256-a9c6-2e3d1e90e82b",
                "2026-11-02T08:12:40.150Z",
                "2026-11-02T08:14:10.604Z"
            ),
            episode("STATUS", "Break", "2026-11-02T10:00:00.731Z", "2026-11-02T10:45:12.090Z"),
            episode("STATUS", "Unplanned break", "2026-11-02T10:45:12.090Z", "2026-11-02T11:15:03.477Z"),
            // The LOGOUT has no previous snapshot: the preceding event in the batch supplies the ended status.
            episode("STATUS", "Available", "2026-11-02T11:15:03.477Z", "2026-11-02T11:29:58.006Z"),
        ]
    );

    let usernames =
        |v: Vec<agent_state::table::AgentView>| v.into_iter().filter_map(|a| a.username).collect::<Vec<_>>();
    assert_eq!(usernames(agents_of_instance(h.store(), INSTANCE).await.expect("query")), vec!["asmith", "jdoe"]);
    assert_eq!(usernames(agents_by_routing_profile(h.store(), VOICE_SALES).await.expect("query")), vec!["jdoe"]);
    assert_eq!(usernames(agents_by_activity(h.store(), INSTANCE, "OFFLINE").await.expect("query")), vec!["jdoe"]);
    assert_eq!(usernames(agents_by_activity(h.store(), INSTANCE, "AVAILABLE").await.expect("query")), vec!["asmith"]);
    assert!(agents_by_activity(h.store(), INSTANCE, "ON_CONTACT").await.expect("query").is_empty());

    // Replaying the whole envelope changes nothing.
    let before = current_item(h.store(), JDOE).await.map(comparable);
    let report = run(&h, &envelope("agent-day")).await;
    assert_eq!((report.stale, report.done), (18, 0));
    assert_eq!(current_item(h.store(), JDOE).await.map(comparable), before);
}

/// Two invocations for one agent at once, on overlapping batches (a timed-out invocation still writing while Lambda
/// retries its batch, larger, and then redelivers from a point inside it): the table ends as if every event had been
/// applied once, in order.
pub async fn two_concurrent_invocations_for_one_agent_converge<S: ItemStore + Clone>(store: S) {
    let mut sim = generator::AgentSim::new(7);
    let choices: Vec<u8> = (0..58u32).map(|i| ((i * 37 + 11) % 251) as u8).collect();
    let events = sim.day(&choices);
    let reference = handler(memory_store());
    run_each(&reference, &events).await;
    let expected = current_item(reference.store(), sim.arn()).await.expect("item");

    let a = handler(store.clone());
    let b = handler(store);
    let first = async {
        run(&a, &batch(&events[0..30])).await;
        run(&a, &batch(&events[30..60])).await;
    };
    let second = async {
        run(&b, &batch(&events[0..45])).await;
        run(&b, &batch(&events[20..60])).await;
    };
    tokio::join!(first, second);
    assert_eq!(current_item(a.store(), sim.arn()).await.map(comparable), Some(comparable(expected)));
}
