//! Raw record bytes → a Connect record of one of the three kinds, or invalid with a precise reason.
//!
//! One pass: the bytes are parsed once into [`Wire`], the union of the top-level fields of all three payload
//! kinds, and the kind is decided from which fields are present. Only when that parse fails is the payload
//! parsed again, slowly, to name the exact field and problem. A record never panics the caller: every input
//! ends as `Ok(record)` or `Err(InvalidReason)`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::agent::{AgentEvent, AgentEventType, AgentSnapshot};
use crate::model::ctr::{self, ContactRecord, CtrAgent, CtrQueue, CtrRecording};
use crate::model::segment::{AnalysisSegment, Segment, SegmentEventType};
use crate::model::{ConnectRecord, RecordKind, nullable, time};

/// Prefix of a KPL-aggregated record; Lambda does not de-aggregate these and Connect never produces them.
pub const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Why a record cannot be used. `Display` is the full reason stored with a quarantined record; it may quote
/// the parser's message. [`InvalidReason::code`] and [`InvalidReason::path`] are what logs and metrics carry,
/// so no payload content reaches a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    #[error("empty record (no data or only whitespace)")]
    Empty,
    #[error(
        "KPL-aggregated record (magic prefix F3 89 9A C2): Lambda does not de-aggregate and Connect does not aggregate"
    )]
    KplAggregated,
    #[error("not UTF-8: invalid byte sequence at offset {valid_up_to}")]
    NotUtf8 { valid_up_to: usize },
    #[error("truncated JSON: {detail}")]
    Truncated { detail: String },
    #[error("not JSON: {detail}")]
    NotJson { detail: String },
    #[error("JSON nesting depth exceeds 128 levels")]
    TooDeep,
    #[error("gzip-compressed data (magic 1F 8B): Connect publishes plain JSON")]
    Compressed,
    #[error("unexpected shape: JSON {found} where a Connect record object was expected")]
    NotAnObject { found: &'static str },
    #[error("unknown shape: a JSON object that is not an agent event, contact record or Contact Lens segment")]
    UnknownShape,
    #[error("{kind} is missing required field {field}")]
    MissingField { kind: &'static str, field: &'static str },
    #[error("wrong type at {path}: {detail}")]
    WrongType { path: String, detail: String },
    #[error("invalid timestamp at {path}")]
    BadTimestamp { path: String },
    #[error("duplicate field at {path}: {detail}")]
    DuplicateField { path: String, detail: String },
}

impl InvalidReason {
    /// A short stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::KplAggregated => "kpl_aggregated",
            Self::NotUtf8 { .. } => "not_utf8",
            Self::Truncated { .. } => "truncated",
            Self::NotJson { .. } => "not_json",
            Self::TooDeep => "too_deep",
            Self::Compressed => "compressed",
            Self::NotAnObject { .. } => "not_object",
            Self::UnknownShape => "unknown_shape",
            Self::MissingField { .. } => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::BadTimestamp { .. } => "bad_timestamp",
            Self::DuplicateField { .. } => "duplicate_field",
        }
    }

    /// The JSON path or field the reason is about, when there is one (never a value).
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::MissingField { field, .. } => Some(field),
            Self::WrongType { path, .. } | Self::BadTimestamp { path } | Self::DuplicateField { path, .. } => {
                Some(path)
            }
            _ => None,
        }
    }
}

/// Classifies and parses one record's data.
pub fn classify(data: &[u8]) -> Result<ConnectRecord, InvalidReason> {
    let body = data.strip_prefix(&UTF8_BOM).unwrap_or(data);
    if body.starts_with(&KPL_MAGIC) {
        return Err(InvalidReason::KplAggregated);
    }
    if body.starts_with(&[0x1F, 0x8B]) {
        return Err(InvalidReason::Compressed);
    }
    if let Err(e) = std::str::from_utf8(body) {
        return Err(InvalidReason::NotUtf8 { valid_up_to: e.valid_up_to() });
    }
    let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Err(InvalidReason::Empty);
    };
    if *first != b'{' {
        return Err(not_an_object(body));
    }
    match serde_json::from_slice::<Wire>(body) {
        Ok(wire) => wire.into_record(),
        Err(_) => Err(explain_failure(body)),
    }
}

fn not_an_object(body: &[u8]) -> InvalidReason {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => InvalidReason::NotAnObject {
            found: match v {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "boolean",
                serde_json::Value::Number(_) => "number",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Array(_) => "array",
                serde_json::Value::Object(_) => "object",
            },
        },
        Err(e) => syntax_reason(&e),
    }
}

/// The slow path: parse again tracking the path, to say exactly what is wrong and where.
fn explain_failure(body: &[u8]) -> InvalidReason {
    let mut de = serde_json::Deserializer::from_slice(body);
    let err = match serde_path_to_error::deserialize::<_, Wire>(&mut de) {
        Err(err) => err,
        Ok(_) => {
            return match de.end() {
                Err(e) => syntax_reason(&e),
                Ok(()) => InvalidReason::NotJson { detail: "unparseable".into() },
            };
        }
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let msg = inner.to_string();
            let detail = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            if detail.contains("invalid timestamp") {
                InvalidReason::BadTimestamp { path }
            } else if detail.starts_with("duplicate field") {
                InvalidReason::DuplicateField { path, detail }
            } else {
                InvalidReason::WrongType { path, detail }
            }
        }
        _ => syntax_reason(&inner),
    }
}

fn syntax_reason(e: &serde_json::Error) -> InvalidReason {
    let detail = e.to_string();
    if e.is_eof() {
        InvalidReason::Truncated { detail }
    } else if detail.contains("recursion limit") {
        InvalidReason::TooDeep
    } else {
        InvalidReason::NotJson { detail }
    }
}

/// The union of the top-level fields of all three payload kinds: one parse decides the kind and fills it.
#[derive(Deserialize)]
struct Wire {
    // Agent events.
    #[serde(rename = "AgentARN", default)]
    agent_arn: Option<String>,
    #[serde(rename = "CurrentAgentSnapshot", default)]
    current: Option<AgentSnapshot>,
    #[serde(rename = "PreviousAgentSnapshot", default)]
    previous: Option<AgentSnapshot>,
    #[serde(rename = "EventId", default)]
    event_id: Option<String>,
    #[serde(rename = "EventTimestamp", default)]
    event_timestamp: Option<String>,
    #[serde(rename = "InstanceARN", default)]
    instance_arn: Option<String>,
    #[serde(rename = "AWSAccountId", default)]
    aws_account_id: Option<String>,
    // Shared by agent events and voice segments.
    #[serde(rename = "EventType", default)]
    event_type: Option<String>,
    #[serde(rename = "Version", default)]
    version: Option<String>,
    // Contact records.
    #[serde(rename = "AWSContactTraceRecordFormatVersion", default)]
    ctr_format: Option<String>,
    #[serde(rename = "ContactId", default)]
    contact_id: Option<String>,
    #[serde(rename = "InitialContactId", default)]
    initial_contact_id: Option<String>,
    #[serde(rename = "PreviousContactId", default)]
    previous_contact_id: Option<String>,
    #[serde(rename = "NextContactId", default)]
    next_contact_id: Option<String>,
    #[serde(rename = "Channel", default)]
    channel: Option<String>,
    #[serde(rename = "InitiationMethod", default)]
    initiation_method: Option<String>,
    #[serde(rename = "InitiationTimestamp", default, deserialize_with = "time::opt")]
    initiation_timestamp: Option<DateTime<Utc>>,
    #[serde(rename = "ConnectedToSystemTimestamp", default, deserialize_with = "time::opt")]
    connected_to_system_timestamp: Option<DateTime<Utc>>,
    #[serde(rename = "DisconnectTimestamp", default, deserialize_with = "time::opt")]
    disconnect_timestamp: Option<DateTime<Utc>>,
    #[serde(rename = "LastUpdateTimestamp", default, deserialize_with = "time::opt")]
    last_update_timestamp: Option<DateTime<Utc>>,
    #[serde(rename = "DisconnectReason", default)]
    disconnect_reason: Option<String>,
    #[serde(rename = "Agent", default)]
    agent: Option<CtrAgent>,
    #[serde(rename = "Queue", default)]
    queue: Option<CtrQueue>,
    #[serde(rename = "Attributes", default, deserialize_with = "ctr::attributes")]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "Recording", default)]
    recording: Option<CtrRecording>,
    #[serde(rename = "Recordings", default, deserialize_with = "ctr::recordings")]
    recordings: Vec<CtrRecording>,
    // Contact Lens segments.
    #[serde(rename = "StreamingEventType", default)]
    streaming_event_type: Option<String>,
    #[serde(rename = "OutputType", default)]
    output_type: Option<String>,
    #[serde(rename = "InstanceId", default)]
    instance_id: Option<String>,
    #[serde(rename = "AccountId", default)]
    account_id: Option<String>,
    #[serde(rename = "LanguageCode", default)]
    language_code: Option<String>,
    #[serde(rename = "Segments", default, deserialize_with = "nullable_segments")]
    segments: Option<Vec<Segment>>,
}

fn nullable_segments<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<Segment>>, D::Error> {
    // Present-but-null still marks the payload as a segment record.
    Ok(Some(nullable::vec(d)?))
}

impl Wire {
    fn into_record(self) -> Result<ConnectRecord, InvalidReason> {
        let event_type = self.event_type.as_deref();
        if self.agent_arn.is_some()
            || self.current.is_some()
            || event_type.is_some_and(AgentEventType::is_agent_event_type)
        {
            return self.into_agent_event().map(|e| ConnectRecord::Agent(Box::new(e)));
        }
        if self.segments.is_some()
            || self.streaming_event_type.is_some()
            || event_type.is_some_and(SegmentEventType::is_segment_event_type)
        {
            return self.into_segment().map(|s| ConnectRecord::Segment(Box::new(s)));
        }
        if self.ctr_format.is_some()
            || (self.contact_id.is_some()
                && (self.initiation_method.is_some() || self.initiation_timestamp.is_some() || self.channel.is_some()))
        {
            return self.into_contact_record().map(|c| ConnectRecord::Contact(Box::new(c)));
        }
        Err(InvalidReason::UnknownShape)
    }

    fn into_agent_event(self) -> Result<AgentEvent, InvalidReason> {
        let missing = |field| InvalidReason::MissingField { kind: "agent event", field };
        let ts = self.event_timestamp.ok_or(missing("EventTimestamp"))?;
        let event_timestamp =
            time::parse(&ts).ok_or_else(|| InvalidReason::BadTimestamp { path: "EventTimestamp".into() })?;
        Ok(AgentEvent {
            agent_arn: self.agent_arn.filter(|s| !s.is_empty()).ok_or(missing("AgentARN"))?,
            event_id: self.event_id.filter(|s| !s.is_empty()).ok_or(missing("EventId"))?,
            event_type: AgentEventType::parse(&self.event_type.ok_or(missing("EventType"))?),
            event_timestamp,
            aws_account_id: self.aws_account_id,
            instance_arn: self.instance_arn,
            version: self.version,
            current: self.current,
            previous: self.previous,
        })
    }

    fn into_segment(self) -> Result<AnalysisSegment, InvalidReason> {
        let missing = |field| InvalidReason::MissingField { kind: "Contact Lens segment", field };
        let event_type = self.streaming_event_type.or(self.event_type).ok_or(missing("EventType"))?;
        Ok(AnalysisSegment {
            contact_id: self.contact_id.filter(|s| !s.is_empty()).ok_or(missing("ContactId"))?,
            event_type: SegmentEventType::parse(&event_type),
            version: self.version,
            instance_id: self.instance_id,
            account_id: self.account_id,
            channel: self.channel,
            language_code: self.language_code,
            output_type: self.output_type,
            segments: self.segments.unwrap_or_default(),
        })
    }

    fn into_contact_record(self) -> Result<ContactRecord, InvalidReason> {
        let contact_id = self
            .contact_id
            .filter(|s| !s.is_empty())
            .ok_or(InvalidReason::MissingField { kind: "contact record", field: "ContactId" })?;
        Ok(ContactRecord {
            contact_id,
            initial_contact_id: self.initial_contact_id,
            previous_contact_id: self.previous_contact_id,
            next_contact_id: self.next_contact_id,
            channel: self.channel,
            initiation_method: self.initiation_method,
            instance_arn: self.instance_arn,
            aws_account_id: self.aws_account_id,
            format_version: self.ctr_format,
            initiation_timestamp: self.initiation_timestamp,
            connected_to_system_timestamp: self.connected_to_system_timestamp,
            disconnect_timestamp: self.disconnect_timestamp,
            last_update_timestamp: self.last_update_timestamp,
            disconnect_reason: self.disconnect_reason,
            agent: self.agent,
            queue: self.queue,
            attributes: self.attributes,
            recording: self.recording,
            recordings: self.recordings,
        })
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_prefix_is_named() {
        assert_eq!(classify(b""), Err(InvalidReason::Empty));
        assert_eq!(classify(b"  \n\t"), Err(InvalidReason::Empty));
        assert_eq!(classify(&[0xF3, 0x89, 0x9A, 0xC2, 1, 2]), Err(InvalidReason::KplAggregated));
        assert_eq!(classify(&[b'{', 0xFF, b'}']), Err(InvalidReason::NotUtf8 { valid_up_to: 1 }));
        assert_eq!(classify(b"[1,2]"), Err(InvalidReason::NotAnObject { found: "array" }));
        assert_eq!(classify(b"null"), Err(InvalidReason::NotAnObject { found: "null" }));
        assert_eq!(classify(b"{\"a\":1}"), Err(InvalidReason::UnknownShape));
        assert_eq!(classify(b"{\"ContactId\":").unwrap_err().code(), "truncated");
        assert_eq!(classify(b"hello").unwrap_err().code(), "not_json");
        assert_eq!(classify(b"{\"a\":1} x").unwrap_err().code(), "not_json");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(classify(deep.as_bytes()), Err(InvalidReason::TooDeep));
        // Deep nesting inside a field nobody reads is skipped without recursion: the record stays usable.
        let ctr = format!(
            "{{\"AWSContactTraceRecordFormatVersion\":\"2017-03-10\",\"ContactId\":\"c\",\"X\":{}{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(classify(ctr.as_bytes()).is_ok());
    }

    #[test]
    fn wrong_types_name_the_path_without_the_value() {
        let r = classify(
            br#"{"AWSContactTraceRecordFormatVersion":"2017-03-10","ContactId":"c1","Attributes":{"csat":5}}"#,
        )
        .unwrap_err();
        assert_eq!(r.code(), "wrong_type");
        assert_eq!(r.path(), Some("Attributes.csat"));
        let r = classify(br#"{"AgentARN":"a","EventId":"e","EventType":"LOGIN","EventTimestamp":"02/11/2026 09:00"}"#)
            .unwrap_err();
        assert_eq!(r, InvalidReason::BadTimestamp { path: "EventTimestamp".into() });
    }
}
