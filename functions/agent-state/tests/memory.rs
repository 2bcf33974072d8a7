//! agent-state behaviour against the in-memory table (the reference semantics of DynamoDB conditions).

mod common;

use common::scenarios::*;
use common::*;
use shared::adapters::intercept::Intercepted;
use shared::batch::Disposition;
use shared::ports::PortError;

#[tokio::test]
async fn login_marks_the_agent_logged_in_in_memory() {
    login_marks_the_agent_logged_in(memory_store()).await;
}

#[tokio::test]
async fn a_voice_contact_moves_the_activity_and_records_after_contact_work_in_memory() {
    a_voice_contact_moves_the_activity_and_records_after_contact_work(memory_store()).await;
}

#[tokio::test]
async fn status_changes_record_finished_episodes_in_memory() {
    status_changes_record_finished_episodes(memory_store()).await;
}

#[tokio::test]
async fn a_missed_contact_shows_as_missed_in_memory() {
    a_missed_contact_shows_as_missed(memory_store()).await;
}

#[tokio::test]
async fn heartbeat_after_logout_keeps_the_agent_logged_out_in_memory() {
    heartbeat_after_logout_keeps_the_agent_logged_out(memory_store()).await;
}

#[tokio::test]
async fn old_schema_version_is_applied_like_any_other_in_memory() {
    old_schema_version_is_applied_like_any_other(memory_store()).await;
}

#[tokio::test]
async fn a_null_previous_snapshot_is_handled_in_memory() {
    a_null_previous_snapshot_is_handled(memory_store()).await;
}

#[tokio::test]
async fn a_multi_contact_chat_agent_keeps_every_contact_in_memory() {
    a_multi_contact_chat_agent_keeps_every_contact(memory_store()).await;
}

#[tokio::test]
async fn a_stale_event_replayed_after_a_newer_one_changes_nothing_in_memory() {
    a_stale_event_replayed_after_a_newer_one_changes_nothing(memory_store()).await;
}

#[tokio::test]
async fn duplicates_change_nothing_in_memory() {
    duplicates_change_nothing(memory_store()).await;
}

#[tokio::test]
async fn other_kinds_and_unknown_event_types_are_skipped_and_bad_records_quarantined_in_memory() {
    other_kinds_and_unknown_event_types_are_skipped_and_bad_records_quarantined(memory_store()).await;
}

#[tokio::test]
async fn timestamps_are_ordered_in_utc_whatever_their_form_in_memory() {
    timestamps_are_ordered_in_utc_whatever_their_form(memory_store()).await;
}

#[tokio::test]
async fn the_agent_day_ends_in_the_documented_state_in_memory() {
    the_agent_day_ends_in_the_documented_state(memory_store()).await;
}

#[tokio::test]
async fn two_concurrent_invocations_for_one_agent_converge_in_memory() {
    // The wrapper yields before every call, so the two invocations' writes interleave.
    two_concurrent_invocations_for_one_agent_converge(interleaving(memory_store())).await;
}

#[tokio::test]
async fn the_agent_day_costs_one_conditional_write_per_agent() {
    let store = memory_store();
    let h = handler(store.clone());
    run(&h, &envelope("agent-day")).await;
    assert_eq!(store.writes.get(), 2, "jdoe and asmith: one folded write each");
    // Five history items before the current items; the episode the LOGOUT ends (known only from the event before
    // it in the batch) goes with jdoe's folded write, atomically.
    assert_eq!(store.batch_writes.get(), 1);
    assert_eq!(store.reads.get(), 0, "no read before writing");
}

#[tokio::test]
async fn a_redelivery_overlapping_the_table_reads_once_and_writes_only_the_new_events() {
    let store = memory_store();
    let h = handler(store.clone());
    let day = envelope("agent-day");
    run(&h, &day[..10]).await;
    let writes = store.writes.get();
    // Lambda restarts from record 5: records 5..10 are already applied, 10..18 are new.
    let report = run(&h, &batch(&day[5..].iter().map(|i| i.data.clone()).collect::<Vec<_>>())).await;
    assert_eq!((report.stale, report.done), (5, 8));
    // Per agent: the folded write fails (overlap), one read finds the stored order, one folded write of the rest.
    assert_eq!(store.writes.get() - writes, 4);
    assert_eq!(store.reads.get(), 2);

    let reference = handler(memory_store());
    run(&reference, &envelope("agent-day")).await;
    for arn in [JDOE, ASMITH] {
        assert_eq!(
            current_item(&store, arn).await.map(comparable),
            current_item(reference.store(), arn).await.map(comparable),
            "{arn}"
        );
    }
}

#[tokio::test]
async fn a_transient_write_failure_retries_the_agent_events_and_the_redelivery_completes_them() {
    let flaky = Intercepted::new(
        memory_store(),
        Flaky {
            fail_updates: vec![1],
            ..Flaky::new(PortError::transient("dynamodb", "ThrottlingException (HTTP 400)"))
        },
    );
    let h = handler(flaky.clone());
    let items = batch(&[raw("login"), raw("status-available"), raw("contact-connecting")]);
    let report = run(&h, &items).await;
    assert_eq!((report.failed, report.done), (3, 0));
    assert_eq!(report.reported.as_deref(), Some(items[0].seq_str()), "the lowest sequence number is reported");
    assert!(current_item(flaky.inner(), JDOE).await.is_none());

    let report = run(&h, &items).await;
    assert_eq!((report.failed, report.done), (0, 3));
    assert_eq!(agent(flaky.inner(), JDOE).await.activity.as_deref(), Some("INCOMING"));
}

#[tokio::test]
async fn a_failed_history_write_holds_back_that_event_and_every_later_one_of_the_agent() {
    let flaky = Intercepted::new(
        memory_store(),
        Flaky { fail_batch_put: true, ..Flaky::new(PortError::transient("dynamodb", "ProvisionedThroughputExceeded")) },
    );
    let h = handler(flaky.clone());
    // status-available finishes the Offline episode (a history item); the login before it has none.
    let items = batch(&[raw("login"), raw("status-available"), raw("status-break")]);
    let report = run(&h, &items).await;
    assert_eq!((report.done, report.failed), (1, 2));
    assert_eq!(report.reported.as_deref(), Some(items[1].seq_str()));
    let a = agent(flaky.inner(), JDOE).await;
    assert_eq!(a.last_event_type, "LOGIN", "nothing after the event whose history failed is applied");

    let h = handler(flaky.inner().clone());
    let report = run(&h, &items[1..]).await;
    assert_eq!((report.done, report.failed), (2, 0));
    assert_eq!(agent(h.store(), JDOE).await.activity.as_deref(), Some("Break"));
}

#[tokio::test]
async fn a_permanent_write_error_quarantines_only_the_event_that_cannot_be_written() {
    // The folded write fails permanently, then the first single-event write does too.
    let flaky = Intercepted::new(
        memory_store(),
        Flaky {
            fail_updates: vec![1, 2],
            ..Flaky::new(PortError::permanent("dynamodb", "ValidationException: Item size too large"))
        },
    );
    let h = handler(flaky.clone());
    let report = run(&h, &batch(&[raw("login"), raw("status-available")])).await;
    assert_eq!((report.quarantined, report.refused, report.done, report.failed), (1, 1, 1, 0));
    let a = agent(flaky.inner(), JDOE).await;
    assert_eq!(a.status.and_then(|s| s.name).as_deref(), Some("Available"));
}

#[tokio::test]
async fn a_login_delivered_after_a_newer_heartbeat_still_marks_the_agent_logged_in() {
    let store = memory_store();
    let h = handler(store.clone());
    run(&h, &batch(&[raw("login"), raw("logout")])).await;
    // The next session: Connect delivers the heartbeat before the LOGIN that precedes it.
    let login = with(
        raw_json("login"),
        &[
            ("EventTimestamp", serde_json::json!("2026-11-02T13:00:00.000Z")),
            ("EventId", serde_json::json!("0c9f8f8e-0000-4000-8000-000000000010")),
        ],
    );
    let heartbeat = with(
        raw_json("heartbeat-after-logout"),
        &[
            ("EventTimestamp", serde_json::json!("2026-11-02T13:02:00.000Z")),
            ("EventId", serde_json::json!("0c9f8f8e-0000-4000-8000-000000000011")),
        ],
    );
    run(&h, &batch(&[heartbeat])).await;
    assert_eq!(agent(&store, JDOE).await.logged_in, Some(false));
    let report = run(&h, &batch(&[login])).await;
    assert_eq!(report.stale, 1, "older than the item: the snapshot is not applied");
    let a = agent(&store, JDOE).await;
    assert_eq!(a.logged_in, Some(true), "but the session attributes are newer: applied");
    assert_eq!(a.login_at.as_deref(), Some("2026-11-02T13:00:00.000Z"));
    assert_eq!(a.last_event_type, "HEART_BEAT");
}

#[tokio::test]
async fn a_fold_overlapping_a_newer_logout_does_not_log_the_agent_in() {
    // GIVEN the table holds LOGOUT t2, WHEN a batch brings LOGIN t1 and HEART_BEAT t3 (t1 < t2 < t3),
    // THEN the LOGIN is stale and the heartbeat leaves the agent logged out, as one-by-one application would.
    let store = memory_store();
    let h = handler(store.clone());
    run(&h, &batch(&[raw("logout")])).await;
    let report = run(&h, &batch(&[raw("login"), raw("heartbeat-after-logout")])).await;
    assert_eq!((report.stale, report.done), (1, 1));
    let a = agent(&store, JDOE).await;
    assert_eq!(a.logged_in, Some(false));
    assert_eq!(a.login_at, None);
    assert_eq!(a.last_event_type, "HEART_BEAT");
}

#[tokio::test]
async fn duplicates_in_a_batch_follow_the_fate_of_their_first_copy() {
    let flaky = Intercepted::new(
        memory_store(),
        Flaky { fail_updates: vec![1], ..Flaky::new(PortError::transient("dynamodb", "timeout")) },
    );
    let h = handler(flaky);
    let dispositions = shared::batch::Processor::process(&h, &batch(&[raw("login"), raw("login")])).await;
    assert!(dispositions.iter().all(|d| matches!(d, Disposition::Retry(_))), "{dispositions:?}");
}
