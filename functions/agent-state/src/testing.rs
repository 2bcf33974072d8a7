//! For emulator tests (feature `testing`): a fresh table shaped like template.yaml's `AgentStateTable`.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
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
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let string =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    let mut create = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash).expect("key"))
        .key_schema(key("sk", KeyType::Range).expect("key"));
    for attr in ["pk", "sk"] {
        create = create.attribute_definitions(string(attr).expect("attr"));
    }
    for index in INDEXES {
        create = create
            .attribute_definitions(string(index.pk_attr).expect("attr"))
            .attribute_definitions(string(index.sk_attr).expect("attr"))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.pk_attr, KeyType::Hash).expect("key"))
                    .key_schema(key(index.sk_attr, KeyType::Range).expect("key"))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .expect("gsi"),
            );
    }
    create.send().await.expect("create table on moto");
    DynamoItemStore::new(client, name, &INDEXES)
}
