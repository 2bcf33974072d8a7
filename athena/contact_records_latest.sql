-- The newest version of every contact record: Amazon Connect publishes a contact record again whenever it
-- changes, and the copy with the newest LastUpdateTimestamp wins. That timestamp has one-second precision, so
-- raw breaks ties between same-second copies deterministically.
-- template.yaml creates this view (ContactRecordsLatestView); its originalSql must stay identical to this
-- statement, which scripts/test_template_policy.py checks. Run it in Athena to recreate the view by hand.
CREATE OR REPLACE VIEW contact_records_latest AS
SELECT contact_id, initial_contact_id, previous_contact_id, next_contact_id,
  channel, initiation_method, instance_arn, aws_account_id, initiation_timestamp,
  connected_to_system_timestamp, disconnect_timestamp, last_update_timestamp, disconnect_reason,
  agent_arn, agent_username, agent_routing_profile, agent_connected_timestamp,
  agent_interaction_duration, agent_after_contact_work_duration, agent_customer_hold_duration,
  agent_number_of_holds, queue_arn, queue_name, queue_duration, queue_enqueue_timestamp,
  queue_dequeue_timestamp, attributes, recording_location, raw, year, month, day
FROM (
  SELECT *,
    row_number() OVER (PARTITION BY contact_id ORDER BY last_update_timestamp DESC, raw DESC) rn
  FROM contact_records_parquet
)
WHERE rn = 1
