//! Wiring only: telemetry, configuration, the subscriptions (inline or from S3), the signing secrets, the clients,
//! then the shared Lambda loop.

shared::use_mimalloc!(without_transparent_huge_pages);

use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::config::ProcessEnv;
use shared::ports::ObjectStore;
use shared::quarantine::ObjectQuarantine;
use stream_forwarder::config::{Config, Source, subscriptions};
use stream_forwarder::park::Parking;
use stream_forwarder::secrets::SecretsManager;
use stream_forwarder::transport::HttpTransport;
use stream_forwarder::{NAME, StreamForwarder};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = shared::lambda::init(NAME)?;
    let config = shared::lambda::configured(Config::from_env(&ProcessEnv))?;
    let cfg = shared::adapters::aws::sdk_config().await;
    let s3 = S3ObjectStore::client(&cfg);
    let document = match &config.source {
        Source::Inline(text) => text.clone(),
        Source::S3 { bucket, key } => {
            let bytes = S3ObjectStore::new(s3.clone(), bucket.clone()).get(key).await;
            let bytes = shared::lambda::configured(bytes.map_err(|e| format!("s3://{bucket}/{key}: {e}")))?;
            let bytes =
                shared::lambda::configured(bytes.ok_or_else(|| format!("s3://{bucket}/{key}: no such object")))?;
            shared::lambda::configured(String::from_utf8(bytes).map_err(|_| format!("s3://{bucket}/{key}: not UTF-8")))?
        }
    };
    let subscriptions =
        shared::lambda::configured(subscriptions(&document).map_err(|e| format!("subscriptions: {e}")))?;
    let parking = Parking {
        objects: S3ObjectStore::new(s3.clone(), config.parking_bucket),
        prefix: config.parking_prefix,
        table: DynamoItemStore::new(aws_sdk_dynamodb::Client::new(&cfg), config.state_table, &[]),
    };
    let transport = shared::lambda::configured(HttpTransport::new())?;
    let source = SecretsManager(aws_sdk_secretsmanager::Client::new(&cfg));
    let handler = shared::lambda::configured(
        StreamForwarder::new(subscriptions, source, transport, parking, config.budget).await,
    )?;
    let quarantine = ObjectQuarantine::new(S3ObjectStore::new(s3, config.quarantine.bucket), config.quarantine.prefix);
    shared::lambda::serve(NAME, handler, quarantine, metrics).await
}
