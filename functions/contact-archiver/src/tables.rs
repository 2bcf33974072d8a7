//! The typed, flattened Parquet tables of contact records and agent events.
//!
//! Column names and types are those of the Glue tables `contact_records_parquet` and `agent_events_parquet` in
//! template.yaml; the order is the same too. Timestamps are Parquet `TIMESTAMP(MILLIS, isAdjustedToUTC=true)`
//! (Athena reads millisecond timestamps), the map is a spec-compliant Parquet `MAP` (`key_value` / `key` /
//! `value`), pages are zstd-compressed. Every column is nullable except the identifiers (`contact_id`;
//! `event_id` and `agent_arn`, which the classifier guarantees). `raw` holds the record's original JSON text
//! (without a leading byte-order mark, which is not part of the JSON text).

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{MapBuilder, MapFieldNames, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use shared::model::AgentEvent;
use shared::model::agent::{AgentConfiguration, AgentSnapshot, AgentStatus};
use shared::model::ctr::{ContactRecord, CtrAgent, CtrQueue};

/// zstd level 1: the fastest level; Parquet's dictionary and column layout already do most of the work.
pub const ZSTD_LEVEL: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
}

/// A contact record and its original JSON text.
#[derive(Debug, Clone, Copy)]
pub struct ContactRow<'a> {
    pub record: &'a ContactRecord,
    pub raw: &'a str,
}

/// An agent event and its original JSON text.
#[derive(Debug, Clone, Copy)]
pub struct AgentRow<'a> {
    pub event: &'a AgentEvent,
    pub raw: &'a str,
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

const MAP_KEY_VALUE: &str = "key_value";

fn map_field(name: &str) -> Field {
    Field::new_map(
        name,
        MAP_KEY_VALUE,
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        false,
        true,
    )
}

/// The schema of `contact_records_parquet`.
pub fn contact_records_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let s = |name: &str| Field::new(name, DataType::Utf8, true);
        let ts = |name: &str| Field::new(name, timestamp_type(), true);
        let n = |name: &str| Field::new(name, DataType::Int64, true);
        Arc::new(Schema::new(vec![
            Field::new("contact_id", DataType::Utf8, false),
            s("initial_contact_id"),
            s("previous_contact_id"),
            s("next_contact_id"),
            s("channel"),
            s("initiation_method"),
            s("instance_arn"),
            s("aws_account_id"),
            ts("initiation_timestamp"),
            ts("connected_to_system_timestamp"),
            ts("disconnect_timestamp"),
            ts("last_update_timestamp"),
            s("disconnect_reason"),
            s("agent_arn"),
            s("agent_username"),
            s("agent_routing_profile"),
            ts("agent_connected_timestamp"),
            n("agent_interaction_duration"),
            n("agent_after_contact_work_duration"),
            n("agent_customer_hold_duration"),
            n("agent_number_of_holds"),
            s("queue_arn"),
            s("queue_name"),
            n("queue_duration"),
            ts("queue_enqueue_timestamp"),
            ts("queue_dequeue_timestamp"),
            map_field("attributes"),
            s("recording_location"),
            s("raw"),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// The schema of `agent_events_parquet`.
pub fn agent_events_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let s = |name: &str| Field::new(name, DataType::Utf8, true);
        Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            s("event_type"),
            Field::new("event_timestamp", timestamp_type(), true),
            Field::new("agent_arn", DataType::Utf8, false),
            s("instance_arn"),
            s("version"),
            s("username"),
            s("first_name"),
            s("last_name"),
            s("status_name"),
            s("status_type"),
            Field::new("status_start_timestamp", timestamp_type(), true),
            s("routing_profile"),
            s("hierarchy_level1"),
            s("hierarchy_level2"),
            s("hierarchy_level3"),
            s("hierarchy_level4"),
            s("hierarchy_level5"),
            Field::new("contact_count", DataType::Int32, true),
            s("raw"),
        ]))
    });
    Arc::clone(&SCHEMA)
}

fn strings<'a, T: 'a>(rows: &'a [T], f: impl Fn(&'a T) -> Option<&'a str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

fn timestamps<T>(rows: &[T], f: impl Fn(&T) -> Option<DateTime<Utc>>) -> ArrayRef {
    let millis: TimestampMillisecondArray = rows.iter().map(|r| f(r).map(|t| t.timestamp_millis())).collect();
    Arc::new(millis.with_timezone("UTC"))
}

fn bigints<T>(rows: &[T], f: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Int64Array>())
}

/// One Parquet file holding the contact records.
pub fn contact_records_parquet(rows: &[ContactRow<'_>]) -> Result<Vec<u8>, TableError> {
    let mut attributes = MapBuilder::new(
        Some(MapFieldNames { entry: MAP_KEY_VALUE.into(), key: "key".into(), value: "value".into() }),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    for row in rows {
        for (k, v) in &row.record.attributes {
            attributes.keys().append_value(k);
            attributes.values().append_value(v);
        }
        attributes.append(true)?;
    }
    let columns: Vec<ArrayRef> = vec![
        strings(rows, |r| Some(r.record.contact_id.as_str())),
        strings(rows, |r| r.record.initial_contact_id.as_deref()),
        strings(rows, |r| r.record.previous_contact_id.as_deref()),
        strings(rows, |r| r.record.next_contact_id.as_deref()),
        strings(rows, |r| r.record.channel.as_deref()),
        strings(rows, |r| r.record.initiation_method.as_deref()),
        strings(rows, |r| r.record.instance_arn.as_deref()),
        strings(rows, |r| r.record.aws_account_id.as_deref()),
        timestamps(rows, |r| r.record.initiation_timestamp),
        timestamps(rows, |r| r.record.connected_to_system_timestamp),
        timestamps(rows, |r| r.record.disconnect_timestamp),
        timestamps(rows, |r| r.record.last_update_timestamp),
        strings(rows, |r| r.record.disconnect_reason.as_deref()),
        strings(rows, |r| agent(r).and_then(|a| a.arn.as_deref())),
        strings(rows, |r| agent(r).and_then(|a| a.username.as_deref())),
        strings(rows, |r| agent(r).and_then(|a| a.routing_profile.as_ref()).and_then(|p| p.name.as_deref())),
        timestamps(rows, |r| agent(r).and_then(|a| a.connected_to_agent_timestamp)),
        bigints(rows, |r| agent(r).and_then(|a| a.agent_interaction_duration)),
        bigints(rows, |r| agent(r).and_then(|a| a.after_contact_work_duration)),
        bigints(rows, |r| agent(r).and_then(|a| a.customer_hold_duration)),
        bigints(rows, |r| agent(r).and_then(|a| a.number_of_holds)),
        strings(rows, |r| queue(r).and_then(|q| q.arn.as_deref())),
        strings(rows, |r| queue(r).and_then(|q| q.name.as_deref())),
        bigints(rows, |r| queue(r).and_then(|q| q.duration)),
        timestamps(rows, |r| queue(r).and_then(|q| q.enqueue_timestamp)),
        timestamps(rows, |r| queue(r).and_then(|q| q.dequeue_timestamp)),
        Arc::new(attributes.finish()),
        strings(rows, recording_location),
        strings(rows, |r| Some(r.raw)),
    ];
    write(contact_records_schema(), columns)
}

fn agent<'a>(r: &ContactRow<'a>) -> Option<&'a CtrAgent> {
    r.record.agent.as_ref()
}

fn queue<'a>(r: &ContactRow<'a>) -> Option<&'a CtrQueue> {
    r.record.queue.as_ref()
}

fn current<'a>(r: &AgentRow<'a>) -> Option<&'a AgentSnapshot> {
    r.event.current.as_ref()
}

fn config<'a>(r: &AgentRow<'a>) -> Option<&'a AgentConfiguration> {
    current(r).and_then(|c| c.configuration.as_ref())
}

fn status<'a>(r: &AgentRow<'a>) -> Option<&'a AgentStatus> {
    current(r).and_then(|c| c.agent_status.as_ref())
}

/// `Recording.Location`, else the first `Recordings[].Location` (newer records carry both; chat only the list).
fn recording_location<'a>(row: &ContactRow<'a>) -> Option<&'a str> {
    row.record
        .recording
        .as_ref()
        .and_then(|r| r.location.as_deref())
        .or_else(|| row.record.recordings.iter().find_map(|r| r.location.as_deref()))
}

/// One Parquet file holding the agent events. Agent fields come from `CurrentAgentSnapshot`.
pub fn agent_events_parquet(rows: &[AgentRow<'_>]) -> Result<Vec<u8>, TableError> {
    let levels = (0..5).map(|i| strings(rows, move |r| current(r).and_then(|c| c.hierarchy_names()[i])));
    let mut columns: Vec<ArrayRef> = vec![
        strings(rows, |r| Some(r.event.event_id.as_str())),
        strings(rows, |r| Some(r.event.event_type.as_str())),
        timestamps(rows, |r| Some(r.event.event_timestamp)),
        strings(rows, |r| Some(r.event.agent_arn.as_str())),
        strings(rows, |r| r.event.instance_arn.as_deref()),
        strings(rows, |r| r.event.version.as_deref()),
        strings(rows, |r| config(r).and_then(|c| c.username.as_deref())),
        strings(rows, |r| config(r).and_then(|c| c.first_name.as_deref())),
        strings(rows, |r| config(r).and_then(|c| c.last_name.as_deref())),
        strings(rows, |r| status(r).and_then(|s| s.name.as_deref())),
        strings(rows, |r| status(r).and_then(|s| s.status_type.as_deref())),
        timestamps(rows, |r| status(r).and_then(|s| s.start_timestamp)),
        strings(rows, |r| config(r).and_then(|c| c.routing_profile.as_ref()).and_then(|p| p.name.as_deref())),
    ];
    columns.extend(levels);
    columns.push(Arc::new(
        rows.iter()
            .map(|r| current(r).map(|c| i32::try_from(c.contacts.len()).unwrap_or(i32::MAX)))
            .collect::<Int32Array>(),
    ));
    columns.push(strings(rows, |r| Some(r.raw)));
    write(agent_events_schema(), columns)
}

fn write(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<Vec<u8>, TableError> {
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    let raw = ColumnPath::from("raw");
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        // `raw` is unique per row and large: a dictionary would be built only to be abandoned, and min/max
        // statistics over whole JSON documents help no query. Both cost CPU on every byte archived.
        .set_column_dictionary_enabled(raw.clone(), false)
        .set_column_statistics_enabled(raw, EnabledStatistics::None)
        // Spec-compliant nested names (MAP key_value/key/value), which Hive-derived readers expect.
        .set_coerce_types(true)
        .build();
    let mut writer = ArrowWriter::try_new(Vec::with_capacity(64 * 1024), schema, Some(props))?;
    writer.write(&batch)?;
    Ok(writer.into_inner()?)
}
