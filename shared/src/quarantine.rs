//! Poison records go to quarantine: the raw bytes with where they came from and why, as one JSON object per
//! record under `QUARANTINE_PREFIX<function>/YYYY/MM/DD/<shard>/<sequence>.json`. Written with
//! `If-None-Match: *`, so a retried batch finds its earlier quarantine objects and moves on.

use std::future::Future;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::kinesis::{KinesisItem, stream_name};
use crate::ports::{ObjectStore, PortResult, PutObject};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineEntry {
    pub function: String,
    pub reason_code: String,
    pub reason: String,
    pub stream_arn: String,
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub approximate_arrival_timestamp: DateTime<Utc>,
    pub quarantined_at: DateTime<Utc>,
    /// The record's data exactly as received, base64.
    pub data_base64: String,
}

impl QuarantineEntry {
    pub fn new(function: &str, item: &KinesisItem, reason_code: &str, reason: String) -> Self {
        Self {
            function: function.to_owned(),
            reason_code: reason_code.to_owned(),
            reason,
            stream_arn: item.stream_arn.clone(),
            shard_id: item.shard_id.clone(),
            sequence_number: item.seq_str().to_owned(),
            partition_key: item.partition_key.clone(),
            approximate_arrival_timestamp: item.arrival,
            quarantined_at: Utc::now(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(&item.data),
        }
    }

    pub fn data(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD.decode(&self.data_base64).ok()
    }
}

pub trait Quarantine: Send + Sync {
    fn quarantine(&self, entry: &QuarantineEntry) -> impl Future<Output = PortResult<()>> + Send;
}

/// The quarantine on any object store (S3 in Lambda, a directory or memory locally).
#[derive(Debug, Clone)]
pub struct ObjectQuarantine<S> {
    store: S,
    prefix: String,
}

impl<S: ObjectStore> ObjectQuarantine<S> {
    pub fn new(store: S, prefix: impl Into<String>) -> Self {
        Self { store, prefix: prefix.into() }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn key(&self, entry: &QuarantineEntry) -> String {
        // Keyed by arrival date: stable across retries, unlike the quarantine time.
        let day = entry.approximate_arrival_timestamp.format("%Y/%m/%d");
        let stream = stream_name(&entry.stream_arn);
        let stream = if stream.is_empty() { "unknown-stream" } else { stream };
        format!("{}{}/{day}/{stream}/{}/{}.json", self.prefix, entry.function, entry.shard_id, entry.sequence_number)
    }

    /// Every quarantined entry under the prefix (tests, replay summaries).
    pub async fn entries(&self) -> PortResult<Vec<QuarantineEntry>> {
        let mut out = Vec::new();
        for key in self.store.list(&self.prefix).await? {
            if let Some(body) = self.store.get(&key).await?
                && let Ok(entry) = serde_json::from_slice(&body)
            {
                out.push(entry);
            }
        }
        Ok(out)
    }
}

impl<S: ObjectStore> Quarantine for ObjectQuarantine<S> {
    async fn quarantine(&self, entry: &QuarantineEntry) -> PortResult<()> {
        let body =
            serde_json::to_vec(entry).map_err(|e| crate::ports::PortError::permanent("quarantine", e.to_string()))?;
        self.store
            .put_if_absent(PutObject {
                key: self.key(entry),
                body,
                content_type: "application/json",
                content_encoding: None,
            })
            .await
            .map(|_| ())
    }
}
