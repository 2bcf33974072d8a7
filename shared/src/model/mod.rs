//! The Connect payload model for the three streams. Nothing here is `deny_unknown_fields`: AWS adds fields.

pub mod agent;
pub mod ctr;
pub mod segment;
pub mod time;

pub use agent::{Activity, AgentEvent, AgentEventType, AgentSnapshot, SnapshotContact};
pub use ctr::ContactRecord;
pub use segment::{AnalysisSegment, SegmentEventType};

/// Which of the three Connect record kinds a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    AgentEvent,
    ContactRecord,
    AnalysisSegment,
}

impl RecordKind {
    pub const ALL: [RecordKind; 3] = [RecordKind::ContactRecord, RecordKind::AgentEvent, RecordKind::AnalysisSegment];

    /// The kind's name in archive prefixes, metrics and logs.
    pub fn slug(self) -> &'static str {
        match self {
            RecordKind::AgentEvent => "agent-events",
            RecordKind::ContactRecord => "contact-records",
            RecordKind::AnalysisSegment => "analysis-segments",
        }
    }
}

/// A parsed Connect record.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectRecord {
    Agent(Box<AgentEvent>),
    Contact(Box<ContactRecord>),
    Segment(Box<AnalysisSegment>),
}

impl ConnectRecord {
    pub fn kind(&self) -> RecordKind {
        match self {
            ConnectRecord::Agent(_) => RecordKind::AgentEvent,
            ConnectRecord::Contact(_) => RecordKind::ContactRecord,
            ConnectRecord::Segment(_) => RecordKind::AnalysisSegment,
        }
    }
}

pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer};

    /// A list that Connect may send as `null`: `null` and absent both become empty.
    pub fn vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
    }
}
