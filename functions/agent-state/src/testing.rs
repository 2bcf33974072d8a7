//! For emulator tests (feature `testing`): a fresh table shaped like template.yaml's `AgentStateTable`
//! ([`shared::adapters::aws::dynamodb::create_table`] with this table's indexes).

use std::sync::atomic::{AtomicUsize, Ordering};

use shared::adapters::aws::dynamodb::DynamoItemStore;

use crate::INDEXES;

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A fresh table on the emulator at `AWS_ENDPOINT_URL` (which must be loopback), named after `label`.
/// Panics when the emulator is not there: only tests call it.
pub async fn moto_table(label: &str) -> DynamoItemStore {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (scripts/test.sh)");
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "emulator tests only talk to a local endpoint, not {endpoint}"
    );
    let cfg = shared::adapters::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let name = format!(
        "agent-state-{label}-{}-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_millis()
    );
    shared::adapters::aws::dynamodb::create_table(&client, &name, &INDEXES).await.expect("create table on moto");
    DynamoItemStore::new(client, name, &INDEXES)
}
