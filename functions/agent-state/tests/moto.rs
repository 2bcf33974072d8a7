//! The same behaviour against DynamoDB on the moto emulator, through `DynamoItemStore` (conditions, update
//! expressions, batch writes, GSI queries). Each test creates its own table.

mod common;

use common::scenarios::*;
use common::*;

macro_rules! on_moto {
    ($($name:ident => $scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            #[ignore = "needs moto: run scripts/test.sh"]
            async fn $name() {
                $scenario(moto::table(stringify!($scenario)).await).await;
            }
        )*
    };
}

on_moto! {
    login_marks_the_agent_logged_in_on_dynamodb => login_marks_the_agent_logged_in,
    a_voice_contact_moves_the_activity_and_records_after_contact_work_on_dynamodb => a_voice_contact_moves_the_activity_and_records_after_contact_work,
    status_changes_record_finished_episodes_on_dynamodb => status_changes_record_finished_episodes,
    a_missed_contact_shows_as_missed_on_dynamodb => a_missed_contact_shows_as_missed,
    heartbeat_after_logout_keeps_the_agent_logged_out_on_dynamodb => heartbeat_after_logout_keeps_the_agent_logged_out,
    old_schema_version_is_applied_like_any_other_on_dynamodb => old_schema_version_is_applied_like_any_other,
    a_null_previous_snapshot_is_handled_on_dynamodb => a_null_previous_snapshot_is_handled,
    a_multi_contact_chat_agent_keeps_every_contact_on_dynamodb => a_multi_contact_chat_agent_keeps_every_contact,
    a_stale_event_replayed_after_a_newer_one_changes_nothing_on_dynamodb => a_stale_event_replayed_after_a_newer_one_changes_nothing,
    duplicates_change_nothing_on_dynamodb => duplicates_change_nothing,
    other_kinds_and_unknown_event_types_are_skipped_on_dynamodb => other_kinds_and_unknown_event_types_are_skipped_and_bad_records_quarantined,
    timestamps_are_ordered_in_utc_whatever_their_form_on_dynamodb => timestamps_are_ordered_in_utc_whatever_their_form,
    the_agent_day_ends_in_the_documented_state_on_dynamodb => the_agent_day_ends_in_the_documented_state,
    two_concurrent_invocations_for_one_agent_converge_on_dynamodb => two_concurrent_invocations_for_one_agent_converge,
}
