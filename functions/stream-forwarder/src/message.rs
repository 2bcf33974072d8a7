//! What a subscription receives for one record: the Standard Webhooks message (`id`, `type`, `timestamp`, `data`)
//! with the subscription's field allowlist applied and personal data left out unless named.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::model::{ConnectRecord, RecordKind};

use crate::config::Subscription;

/// Paths holding personal data: sent only when a subscription's `fields` names them (or a path inside them).
/// A path component applies to every element of an array (`Segments.Transcript`: each segment's transcript).
/// `TransferredToEndpoint` holds a third party's number on an external transfer; `ContactDetails` a task's or
/// contact's name and description, which agents and customers write freely.
pub const PERSONAL: [&str; 6] = [
    "CustomerEndpoint",
    "Attributes",
    "TransferredToEndpoint",
    "ContactDetails",
    "Segments.Transcript",
    "Segments.Utterance",
];

/// One message for one subscription, as it goes on the wire (one body, or one element of a batch body).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Message {
    /// `webhook-id`: the same on every retry and redelivery of the record.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The record's event time (RFC 3339 as the record wrote it).
    pub timestamp: String,
    pub data: Value,
}

impl Message {
    /// The body of a single-message request: `{"type", "timestamp", "data"}` (the id travels in `webhook-id`).
    pub fn single_body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            timestamp: &'a str,
            data: &'a Value,
        }
        serde_json::to_vec(&Body { kind: &self.kind, timestamp: &self.timestamp, data: &self.data }).unwrap_or_default()
    }
}

/// A valid record's common part for every subscription: its key (agent ARN, else contact id), kind, event type,
/// id, type and time, and its JSON.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub kind: RecordKind,
    pub event_type: Option<String>,
    pub id: String,
    pub message_type: String,
    pub timestamp: String,
    pub json: Map<String, Value>,
}

impl Record {
    /// `None` when the bytes are not a JSON object (classification already said they are a valid record, so this
    /// does not happen for records that got here).
    pub fn new(record: &ConnectRecord, bytes: &[u8]) -> Option<Self> {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(body) else { return None };
        let text = |name: &str| json.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        Some(match record {
            ConnectRecord::Agent(e) => Self {
                key: e.agent_arn.clone(),
                kind: RecordKind::AgentEvent,
                event_type: Some(e.event_type.as_str().to_owned()),
                id: format!("ae_{}", e.event_id),
                message_type: format!("connect.agent_event.{}", e.event_type.as_str().to_ascii_lowercase()),
                timestamp: text("EventTimestamp"),
                json,
            },
            ConnectRecord::Contact(c) => {
                let updated = text("LastUpdateTimestamp");
                let timestamp = if updated.is_empty() { text("DisconnectTimestamp") } else { updated.clone() };
                Self {
                    key: c.contact_id.clone(),
                    kind: RecordKind::ContactRecord,
                    event_type: None,
                    id: format!("cr_{}_{}", c.contact_id, updated),
                    message_type: "connect.contact_record".to_owned(),
                    timestamp,
                    json,
                }
            }
            ConnectRecord::Segment(s) => {
                let digest = Sha256::digest(body);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                Self {
                    key: s.contact_id.clone(),
                    kind: RecordKind::AnalysisSegment,
                    event_type: Some(s.event_type.as_str().to_owned()),
                    id: format!("seg_{}_{hex}", s.contact_id),
                    message_type: "connect.segment".to_owned(),
                    timestamp: s.earliest_time().map(|t| shared::model::time::canonical(&t)).unwrap_or_default(),
                    json,
                }
            }
        })
    }

    /// The message `subscription` gets for this record, or `None` when it does not take it.
    pub fn message_for(&self, subscription: &Subscription) -> Option<Message> {
        if !subscription.kinds.contains(&self.kind) {
            return None;
        }
        if self.kind == RecordKind::AgentEvent
            && let Some(types) = &subscription.event_types
            && !self.event_type.as_ref().is_some_and(|t| types.contains(t))
        {
            return None;
        }
        Some(Message {
            id: self.id.clone(),
            kind: self.message_type.clone(),
            timestamp: self.timestamp.clone(),
            data: Value::Object(project(&self.json, subscription.fields.as_deref())),
        })
    }
}

/// `json` with only the `fields` paths (all when `None`), then without every personal-data path not named.
pub fn project(json: &Map<String, Value>, fields: Option<&[String]>) -> Map<String, Value> {
    let mut out = match fields {
        None => json.clone(),
        Some(fields) => {
            let mut out = Map::new();
            for field in fields {
                let path: Vec<&str> = field.split('.').collect();
                copy_path(json, &mut out, &path);
            }
            out
        }
    };
    for personal in PERSONAL {
        let named = fields.is_some_and(|f| f.iter().any(|f| f == personal || f.starts_with(&format!("{personal}."))));
        if !named {
            let path: Vec<&str> = personal.split('.').collect();
            remove_path(&mut out, &path);
        }
    }
    out
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else { return };
    let Some(value) = from.get(*first) else { return };
    if rest.is_empty() {
        to.insert((*first).to_owned(), value.clone());
        return;
    }
    match value {
        Value::Object(inner) => {
            let slot = to.entry((*first).to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(slot) = slot {
                copy_path(inner, slot, rest);
            }
        }
        Value::Array(items) => {
            let slot = to
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Array(vec![Value::Object(Map::new()); items.len()]));
            if let Value::Array(slots) = slot {
                for (item, slot) in items.iter().zip(slots.iter_mut()) {
                    if let (Value::Object(item), Value::Object(slot)) = (item, slot) {
                        copy_path(item, slot, rest);
                    }
                }
            }
        }
        _ => {}
    }
}

fn remove_path(map: &mut Map<String, Value>, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else { return };
    if rest.is_empty() {
        map.remove(*first);
        return;
    }
    match map.get_mut(*first) {
        Some(Value::Object(inner)) => remove_path(inner, rest),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::Object(inner) = item {
                    remove_path(inner, rest);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn everything_but_personal_data_by_default() {
        let ctr = map(
            json!({"ContactId": "c", "CustomerEndpoint": {"Address": "+447700900123"}, "Attributes": {"vip": "yes"}, "Queue": {"Name": "Sales"}}),
        );
        let out = project(&ctr, None);
        assert_eq!(Value::Object(out), json!({"ContactId": "c", "Queue": {"Name": "Sales"}}));
    }

    #[test]
    fn an_allowlist_keeps_only_its_paths_and_personal_data_only_when_named() {
        let ctr = map(
            json!({"ContactId": "c", "CustomerEndpoint": {"Address": "+447700900123", "Type": "TELEPHONE_NUMBER"}, "Agent": {"ARN": "a", "Username": "u"}}),
        );
        let fields = ["ContactId".to_owned(), "Agent.Username".to_owned()];
        assert_eq!(Value::Object(project(&ctr, Some(&fields))), json!({"ContactId": "c", "Agent": {"Username": "u"}}));
        let named = ["CustomerEndpoint.Type".to_owned()];
        assert_eq!(
            Value::Object(project(&ctr, Some(&named))),
            json!({"CustomerEndpoint": {"Type": "TELEPHONE_NUMBER"}})
        );
        let whole = ["CustomerEndpoint".to_owned()];
        assert_eq!(project(&ctr, Some(&whole))["CustomerEndpoint"]["Address"], "+447700900123");
    }

    #[test]
    fn transcripts_are_removed_from_every_segment_unless_named() {
        let seg = map(json!({"ContactId": "c", "Segments": [
            {"Transcript": {"Content": "my card is 4111", "Sentiment": "NEGATIVE"}},
            {"Categories": {"MatchedCategories": ["x"]}},
            {"Utterance": {"PartialContent": "my card"}}
        ]}));
        let out = project(&seg, None);
        assert_eq!(out["Segments"], json!([{}, {"Categories": {"MatchedCategories": ["x"]}}, {}]));
        let listed = ["Segments".to_owned()];
        assert_eq!(
            project(&seg, Some(&listed))["Segments"][0],
            json!({}),
            "listing the array is not naming the transcript"
        );
        let named = ["ContactId".to_owned(), "Segments.Transcript.Sentiment".to_owned()];
        assert_eq!(project(&seg, Some(&named))["Segments"][0], json!({"Transcript": {"Sentiment": "NEGATIVE"}}));
    }
}
