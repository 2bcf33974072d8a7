//! Contact records (CTRs): the fields consumers use, typed; everything else tolerated and kept in the raw bytes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{nullable, time};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactRecord {
    pub contact_id: String,
    pub initial_contact_id: Option<String>,
    pub previous_contact_id: Option<String>,
    pub next_contact_id: Option<String>,
    pub channel: Option<String>,
    pub initiation_method: Option<String>,
    pub instance_arn: Option<String>,
    pub aws_account_id: Option<String>,
    pub format_version: Option<String>,
    pub initiation_timestamp: Option<DateTime<Utc>>,
    pub connected_to_system_timestamp: Option<DateTime<Utc>>,
    pub disconnect_timestamp: Option<DateTime<Utc>>,
    pub last_update_timestamp: Option<DateTime<Utc>>,
    pub disconnect_reason: Option<String>,
    pub agent: Option<CtrAgent>,
    pub queue: Option<CtrQueue>,
    /// Contact attributes: every value is a string in Connect, numbers too.
    pub attributes: BTreeMap<String, String>,
    pub recording: Option<CtrRecording>,
    pub recordings: Vec<CtrRecording>,
}

impl ContactRecord {
    /// The version order AWS documents: newest `LastUpdateTimestamp` wins (second precision).
    pub fn version_key(&self) -> Option<String> {
        self.last_update_timestamp.as_ref().map(time::canonical)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CtrAgent {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub routing_profile: Option<CtrNamed>,
    #[serde(default)]
    pub hierarchy_groups: Option<CtrHierarchy>,
    #[serde(default, deserialize_with = "time::opt")]
    pub connected_to_agent_timestamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time::opt")]
    pub after_contact_work_start_timestamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time::opt")]
    pub after_contact_work_end_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub after_contact_work_duration: Option<i64>,
    #[serde(default)]
    pub agent_interaction_duration: Option<i64>,
    #[serde(default)]
    pub customer_hold_duration: Option<i64>,
    #[serde(default)]
    pub number_of_holds: Option<i64>,
    #[serde(default)]
    pub longest_hold_duration: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CtrNamed {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    /// `Name` for routing profiles and queues, `GroupName` for hierarchy groups.
    #[serde(default, alias = "GroupName")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CtrHierarchy {
    #[serde(rename = "Level1", default)]
    pub level1: Option<CtrNamed>,
    #[serde(rename = "Level2", default)]
    pub level2: Option<CtrNamed>,
    #[serde(rename = "Level3", default)]
    pub level3: Option<CtrNamed>,
    #[serde(rename = "Level4", default)]
    pub level4: Option<CtrNamed>,
    #[serde(rename = "Level5", default)]
    pub level5: Option<CtrNamed>,
}

impl CtrHierarchy {
    pub fn names(&self) -> [Option<&str>; 5] {
        [&self.level1, &self.level2, &self.level3, &self.level4, &self.level5]
            .map(|l| l.as_ref().and_then(|g| g.name.as_deref()))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CtrQueue {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub duration: Option<i64>,
    #[serde(default, deserialize_with = "time::opt")]
    pub enqueue_timestamp: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time::opt")]
    pub dequeue_timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CtrRecording {
    #[serde(default)]
    pub location: Option<String>,
    #[serde(rename = "Type", default)]
    pub recording_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// Attribute maps with `null` allowed for the whole map (values must be strings).
pub(crate) fn attributes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

pub(crate) use nullable::vec as recordings;
