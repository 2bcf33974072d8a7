//! Init: telemetry, configuration (the rules are validated here), clients, then the shared Lambda loop.
//! No network call happens before the first event.

shared::use_mimalloc!();

use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::adapters::aws::sns::SnsPublisher;
use shared::config::ProcessEnv;
use shared::quarantine::ObjectQuarantine;
use supervisor_alerts::NAME;
use supervisor_alerts::config::Config;
use supervisor_alerts::handler::SupervisorAlerts;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = shared::lambda::init(NAME)?;
    let config = shared::lambda::configured(Config::from_env(&ProcessEnv))?;
    tracing::info!(rules = config.rules.rules.len(), "alert rules loaded");

    let cfg = shared::adapters::aws::sdk_config().await;
    let store = DynamoItemStore::new(aws_sdk_dynamodb::Client::new(&cfg), config.table, &[]);
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&cfg), config.topic_arn);
    let quarantine = ObjectQuarantine::new(
        S3ObjectStore::new(S3ObjectStore::client(&cfg), config.quarantine.bucket),
        config.quarantine.prefix,
    );

    let handler = SupervisorAlerts::new(config.rules, store, publisher, config.settings);
    shared::lambda::serve(NAME, handler, quarantine, metrics).await
}
