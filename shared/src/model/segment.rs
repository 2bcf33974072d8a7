//! Contact Lens real-time analysis segments: voice (`Version` 1.0.0, `EventType`) and chat
//! (`Version` 2.0.0, `StreamingEventType` + `OutputType`). Segment kinds this code does not use
//! (`Utterance`, `Issues`, `Attachments`, `PostContactSummary`, …) are tolerated and ignored.

use serde::{Deserialize, Serialize};

use super::nullable;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum SegmentEventType {
    Started,
    Segments,
    Completed,
    Failed,
    Other(String),
}

impl SegmentEventType {
    pub fn parse(s: &str) -> Self {
        match s {
            "STARTED" => Self::Started,
            "SEGMENTS" => Self::Segments,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }
    pub fn is_segment_event_type(s: &str) -> bool {
        matches!(s, "STARTED" | "SEGMENTS" | "COMPLETED" | "FAILED")
    }
    pub fn as_str(&self) -> &str {
        match self {
            Self::Started => "STARTED",
            Self::Segments => "SEGMENTS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisSegment {
    pub version: Option<String>,
    pub contact_id: String,
    pub instance_id: Option<String>,
    pub account_id: Option<String>,
    pub channel: Option<String>,
    pub language_code: Option<String>,
    pub event_type: SegmentEventType,
    pub output_type: Option<String>,
    pub segments: Vec<Segment>,
}

impl AnalysisSegment {
    /// Finished customer turns, in order, as sentiment labels (never their text).
    pub fn customer_sentiments(&self) -> impl Iterator<Item = &str> {
        self.segments
            .iter()
            .filter_map(|s| s.transcript.as_ref())
            .filter(|t| t.participant_role.as_deref() == Some("CUSTOMER"))
            .filter_map(|t| t.sentiment.as_deref())
    }

    /// The earliest time of any of its segments; `None` for voice and for STARTED / COMPLETED / FAILED records.
    pub fn earliest_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.segments.iter().filter_map(Segment::absolute_time).min()
    }

    /// Matched category names: voice lists them in `MatchedCategories`, chat names them only as the keys of
    /// `MatchedDetails`; both are read, each name once per record.
    pub fn matched_categories(&self) -> impl Iterator<Item = &str> {
        let mut seen = std::collections::BTreeSet::new();
        self.segments
            .iter()
            .filter_map(|s| s.categories.as_ref())
            .flat_map(|c| c.matched_categories.iter().chain(c.matched_detail_names.iter()).map(String::as_str))
            .filter(move |name| seen.insert(*name))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Segment {
    #[serde(default)]
    pub transcript: Option<Transcript>,
    #[serde(default)]
    pub categories: Option<Categories>,
    /// Chat `Event` parts (joins, leaves, typing…): only their time is kept.
    #[serde(rename = "Event", default, deserialize_with = "part_time")]
    pub event_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Chat `Attachments` parts: only their time is kept.
    #[serde(rename = "Attachments", default, deserialize_with = "part_time")]
    pub attachments_time: Option<chrono::DateTime<chrono::Utc>>,
}

impl Segment {
    /// The earliest time this segment carries (chat transcripts, events and attachments do; voice does not).
    pub fn absolute_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        [self.transcript.as_ref().and_then(Transcript::absolute_time), self.event_time, self.attachments_time]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The `Time.AbsoluteTime` (else `AbsoluteTime`) of a part whose other fields nobody reads. Read leniently: a part of
/// an unexpected shape or with an unreadable time has no time, it never makes the record invalid. `Time.AbsoluteTime`
/// wins; a missing, null or unreadable one falls back to a top-level `AbsoluteTime`.
fn part_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    let part: Option<serde_json::Value> = Option::deserialize(d)?;
    let read = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).and_then(super::time::parse);
    Ok(part
        .as_ref()
        .and_then(|p| read(p.get("Time").and_then(|t| t.get("AbsoluteTime"))).or_else(|| read(p.get("AbsoluteTime")))))
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transcript {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub participant_id: Option<String>,
    #[serde(default)]
    pub participant_role: Option<String>,
    /// Personal data: never logged, never put in an alert.
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub begin_offset_millis: Option<i64>,
    #[serde(default)]
    pub end_offset_millis: Option<i64>,
    /// Voice: absent. Chat (2.0.0): `Time.AbsoluteTime`; a top-level `AbsoluteTime` is accepted too.
    #[serde(default)]
    pub absolute_time: Option<String>,
    #[serde(default)]
    pub time: Option<TranscriptTime>,
    #[serde(default)]
    pub sentiment: Option<String>,
}

impl Transcript {
    /// When the turn happened (chat only), parsed to UTC.
    pub fn absolute_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.time
            .as_ref()
            .and_then(|t| t.absolute_time.as_deref())
            .and_then(super::time::parse)
            .or_else(|| self.absolute_time.as_deref().and_then(super::time::parse))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TranscriptTime {
    #[serde(default)]
    pub absolute_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Categories {
    #[serde(default, deserialize_with = "nullable::vec")]
    pub matched_categories: Vec<String>,
    /// The keys of `MatchedDetails` (the category names); the points of interest are not kept.
    #[serde(rename = "MatchedDetails", default, deserialize_with = "map_keys")]
    pub matched_detail_names: Vec<String>,
}

fn map_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let map: Option<std::collections::BTreeMap<String, serde::de::IgnoredAny>> = Option::deserialize(d)?;
    Ok(map.map(|m| m.into_keys().collect()).unwrap_or_default())
}
