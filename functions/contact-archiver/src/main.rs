//! Wiring only: telemetry, configuration, clients, the handler, the shared Lambda loop. No network call here.

shared::use_mimalloc!(without_transparent_huge_pages);

use contact_archiver::config::Config;
use contact_archiver::handler::{ContactArchiver, NAME};
use shared::adapters::aws::s3::S3ObjectStore;
use shared::config::ProcessEnv;
use shared::quarantine::ObjectQuarantine;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = shared::lambda::init(NAME)?;
    let config = shared::lambda::configured(Config::from_env(&ProcessEnv))?;
    let sdk = shared::adapters::aws::sdk_config().await;
    let s3 = S3ObjectStore::client(&sdk);
    let quarantine =
        ObjectQuarantine::new(S3ObjectStore::new(s3.clone(), config.quarantine.bucket), config.quarantine.prefix);
    let handler =
        ContactArchiver::new(S3ObjectStore::new(s3, config.bucket), config.prefix, config.format, config.kinds);
    tracing::info!(format = %config.format, kinds = %config.kinds, "contact-archiver initialised");
    shared::lambda::serve(NAME, handler, quarantine, metrics).await
}
