//! Wiring only: telemetry, configuration, clients, then the shared Lambda loop. No network call happens here.

shared::use_mimalloc!(without_transparent_huge_pages);

use agent_state::config::Config;
use agent_state::{AgentState, INDEXES, NAME};
use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::config::ProcessEnv;
use shared::quarantine::ObjectQuarantine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = shared::lambda::init(NAME)?;
    let config = shared::lambda::configured(Config::from_env(&ProcessEnv))?;
    let cfg = shared::adapters::aws::sdk_config().await;
    let store = DynamoItemStore::new(aws_sdk_dynamodb::Client::new(&cfg), config.table, &INDEXES);
    let quarantine =
        ObjectQuarantine::new(S3ObjectStore::on_first_use(&cfg, config.quarantine.bucket), config.quarantine.prefix);
    let handler = AgentState::new(store, config.settings);
    shared::lambda::serve(NAME, handler, quarantine, metrics).await
}
