//! Init: telemetry, configuration (the rules are validated here, or read from their source), clients, then the
//! shared Lambda loop. Without `ALERT_RULES_SOURCE`, no network call happens before the first event.

shared::use_mimalloc!(without_transparent_huge_pages);

use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::adapters::aws::sns::SnsPublisher;
use shared::config::ProcessEnv;
use shared::quarantine::ObjectQuarantine;
use supervisor_alerts::NAME;
use supervisor_alerts::config::{Config, RulesFrom};
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::refresh::Refreshing;
use supervisor_alerts::rules::source::{self, AwsRulesStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = shared::lambda::init(NAME)?;
    let config = shared::lambda::configured(Config::from_env(&ProcessEnv))?;

    let cfg = shared::adapters::aws::sdk_config().await;
    let store = DynamoItemStore::new(aws_sdk_dynamodb::Client::new(&cfg), config.table, &[]);
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&cfg), config.topic_arn);
    let quarantine =
        ObjectQuarantine::new(S3ObjectStore::on_first_use(&cfg, config.quarantine.bucket), config.quarantine.prefix);

    match config.rules {
        RulesFrom::Document(rules) => {
            tracing::info!(rules = rules.rules.len(), "alert rules loaded");
            let handler = SupervisorAlerts::new(rules, store, publisher, config.settings);
            shared::lambda::serve(NAME, handler, quarantine, metrics).await
        }
        RulesFrom::Source { location, refresh } => {
            let rules_store = AwsRulesStore::new(&location, &cfg);
            let (rules, version) = shared::lambda::configured(source::load(&rules_store, &location).await)?;
            tracing::info!(source = %location, version, rules = rules.rules.len(), "alert rules loaded");
            let handler = SupervisorAlerts::new(rules, store, publisher, config.settings);
            let handler = Refreshing::new(handler, rules_store, location, version, refresh);
            shared::lambda::serve(NAME, handler, quarantine, metrics).await
        }
    }
}
