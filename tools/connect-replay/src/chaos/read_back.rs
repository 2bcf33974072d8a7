//! What a run left behind: the archive read back with the archiver's own decoder, the quarantine, the board.

use std::collections::{BTreeSet, HashSet};

use agent_state::table::AgentView;
use shared::RecordKind;
use shared::adapters::memory::MemoryItemStore;
use shared::ports::{Item, ItemStore, ObjectStore, SK};
use shared::quarantine::{ObjectQuarantine, QuarantineEntry};

use super::expected::digest;
use crate::app::{AppResult, QUARANTINE_PREFIX};
use crate::generate::instance_arn;

/// The archive's NDJSON objects, read back.
#[derive(Debug, Clone, Default)]
pub struct ArchiveView {
    pub objects: usize,
    pub ndjson_objects: usize,
    pub lines: usize,
    /// Keys of objects that do not decompress.
    pub undecodable: Vec<String>,
    /// Digests of the archived records (original bytes).
    pub records: HashSet<u64>,
    /// (ContactId, LastUpdateTimestamp) of every archived contact record.
    pub ctr_versions: BTreeSet<(String, String)>,
}

/// Reads every NDJSON object back with the archiver's own [`contact_archiver::ndjson::decode`] (envelope lines
/// come back as the original bytes); an object it cannot decode is counted as undecodable.
pub async fn read_archive(store: &impl ObjectStore) -> AppResult<ArchiveView> {
    let mut view = ArchiveView::default();
    for key in store.list("").await? {
        view.objects += 1;
        let Some(kind) = RecordKind::ALL.into_iter().find(|k| key.starts_with(&format!("{}/", k.slug()))) else {
            continue;
        };
        if !key.ends_with(".ndjson.gz") {
            continue;
        }
        view.ndjson_objects += 1;
        let body = store.get(&key).await?.ok_or_else(|| format!("{key}: listed but not found"))?;
        let Ok(records) = contact_archiver::ndjson::decode(&body) else {
            view.undecodable.push(key);
            continue;
        };
        for data in records {
            view.lines += 1;
            view.records.insert(digest(&data));
            if kind == RecordKind::ContactRecord
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(contact_archiver::ndjson::strip_bom(&data))
                && let (Some(id), Some(ts)) = (v["ContactId"].as_str(), v["LastUpdateTimestamp"].as_str())
            {
                view.ctr_versions.insert((id.to_owned(), ts.to_owned()));
            }
        }
    }
    Ok(view)
}

/// What one run left in its stores.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub archive: ArchiveView,
    pub quarantine: Vec<QuarantineEntry>,
    /// The board as the agent-state queries read it, ordered by agent ARN.
    pub board: Vec<AgentView>,
    /// The current items themselves, when the table can list them (memory).
    pub current_items: Option<Vec<Item>>,
}

pub async fn observe(
    archive: &impl ObjectStore,
    quarantine: &(impl ObjectStore + Clone),
    agent_table: &impl ItemStore,
) -> AppResult<Observed> {
    let mut board = agent_state::table::agents_of_instance(agent_table, &instance_arn()).await?;
    board.sort_by(|a, b| a.agent_arn.cmp(&b.agent_arn));
    Ok(Observed {
        archive: read_archive(archive).await?,
        quarantine: ObjectQuarantine::new(quarantine.clone(), QUARANTINE_PREFIX).entries().await?,
        board,
        current_items: None,
    })
}

/// The current items of a memory table (every attribute, not only what the board reads).
pub fn current_items(table: &MemoryItemStore) -> Vec<Item> {
    table.all().into_iter().filter(|i| i.get(SK).and_then(|v| v.as_str()) == Some("CURRENT")).collect()
}
