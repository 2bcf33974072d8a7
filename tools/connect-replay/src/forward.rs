//! `connect-replay forward`: the stream-forwarder over local backends (parking in a directory, its state table in
//! a file) through the event-source-mapping simulator, and `forward resend` — locally or against AWS — which
//! re-sends a subscription's parked messages in order.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::s3::S3ObjectStore;
use shared::adapters::fs::{FsObjectStore, load_items, save_items};
use shared::adapters::memory::MemoryItemStore;
use shared::ports::ObjectStore;
use shared::quarantine::ObjectQuarantine;
use shared::sim::{EsmConfig, SimReport, SimStream, drain};
use stream_forwarder::StreamForwarder;
use stream_forwarder::config::{Subscription, subscriptions};
use stream_forwarder::park::Parking;
use stream_forwarder::resend::{Resent, resend};
use stream_forwarder::secrets::{EnvSecrets, SecretSource, SecretsManager, load};
use stream_forwarder::transport::HttpTransport;

use crate::app::AppResult;
use crate::generate::{GenRecord, Stream};
use crate::replay::Hosted;

/// The forwarder's local state inside an output directory.
pub const PARKED_DIR: &str = "forwarder";
pub const STATE_FILE: &str = "forwarder-state.json";
/// The parking prefix (the template's `PARKING_PREFIX`).
pub const PREFIX: &str = "forwarder-parked/";

/// What a local run did.
#[derive(Debug, Default)]
pub struct Forwarded {
    pub records: usize,
    pub report: SimReport,
    pub totals: shared::BatchReport,
}

/// Reads a subscriptions document from a file.
pub fn read_subscriptions(path: &Path) -> AppResult<Vec<Subscription>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    subscriptions(&text).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn local_parking(out: &Path) -> AppResult<Parking<FsObjectStore, MemoryItemStore>> {
    let table = MemoryItemStore::new(&[]);
    let state = out.join(STATE_FILE);
    if state.exists() {
        load_items(&table, &state)?;
    }
    Ok(Parking { objects: FsObjectStore::new(out.join(PARKED_DIR)), prefix: PREFIX.to_owned(), table })
}

/// Runs `records` through the forwarder (the contact-record and agent-event streams, and segments when a
/// subscription takes them) with `batch_size` records per invocation and `budget` per invocation.
pub async fn run(
    records: impl Iterator<Item = GenRecord>,
    subscriptions: Vec<Subscription>,
    out: &Path,
    budget: Duration,
    batch_size: usize,
) -> AppResult<Forwarded> {
    std::fs::create_dir_all(out)?;
    let parking = local_parking(out)?;
    let table = parking.table.clone();
    let transport = HttpTransport::new()?;
    let forwarder = StreamForwarder::new(subscriptions, EnvSecrets, transport, parking, budget).await?;
    let quarantine = ObjectQuarantine::new(FsObjectStore::new(out.join(PARKED_DIR)), "quarantine/");
    let hosted = Hosted::new(stream_forwarder::NAME, forwarder, quarantine);
    let esm = EsmConfig { batch_size: batch_size.max(1), ..EsmConfig::default() };
    let mut done = Forwarded::default();
    let mut records = records.peekable();
    let mut streams: Vec<(Stream, SimStream)> = [Stream::AgentEvents, Stream::ContactRecords, Stream::Segments]
        .into_iter()
        .map(|s| (s, SimStream::new(s.arn(), 1)))
        .collect();
    while records.peek().is_some() {
        streams.iter_mut().for_each(|(_, s)| s.clear());
        for r in records.by_ref().take(20_000) {
            done.records += 1;
            if let Some((_, stream)) = streams.iter_mut().find(|(s, _)| *s == r.stream) {
                stream.put(r.partition_key, r.data, r.at);
            }
        }
        for (_, stream) in &streams {
            done.report += drain(stream, &esm, &hosted).await;
        }
    }
    done.totals = hosted.totals();
    save_items(&table, &out.join(STATE_FILE))?;
    Ok(done)
}

/// Where `resend` finds the parked messages.
pub enum Backend {
    Local(PathBuf),
    /// `PARKING_BUCKET`, `PARKING_PREFIX` and `FORWARDER_STATE_TABLE` from the environment, as the function reads them.
    Aws,
}

/// Re-sends `name`'s parked messages (see `stream_forwarder::resend`).
pub async fn resend_subscription(
    subscriptions: Vec<Subscription>,
    name: &str,
    backend: Backend,
    dry_run: bool,
    mut on_message: impl FnMut(&stream_forwarder::park::Parked),
) -> AppResult<Resent> {
    let sub = subscriptions
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no subscription named {name:?} in the document"))?;
    let transport = HttpTransport::new()?;
    let per_message = Duration::from_secs(60);
    match backend {
        Backend::Local(out) => {
            let parking = local_parking(&out)?;
            let secrets = secrets_of(&EnvSecrets, &sub).await?;
            let result = resend(&sub, &secrets, &transport, &parking, per_message, dry_run, &mut on_message).await?;
            save_items(&parking.table, &out.join(STATE_FILE))?;
            Ok(result)
        }
        Backend::Aws => {
            use shared::config::{ProcessEnv, optional, required};
            let cfg = shared::adapters::aws::sdk_config().await;
            let mut prefix = optional(&ProcessEnv, "PARKING_PREFIX", PREFIX);
            if !prefix.ends_with('/') {
                prefix.push('/');
            }
            let parking = Parking {
                objects: S3ObjectStore::new(S3ObjectStore::client(&cfg), required(&ProcessEnv, "PARKING_BUCKET")?),
                prefix,
                table: DynamoItemStore::new(
                    aws_sdk_dynamodb::Client::new(&cfg),
                    required(&ProcessEnv, "FORWARDER_STATE_TABLE")?,
                    &[],
                ),
            };
            let secrets = secrets_of(&SecretsManager(aws_sdk_secretsmanager::Client::new(&cfg)), &sub).await?;
            Ok(resend(&sub, &secrets, &transport, &parking, per_message, dry_run, &mut on_message).await?)
        }
    }
}

async fn secrets_of(source: &impl SecretSource, sub: &Subscription) -> AppResult<stream_forwarder::sign::Secrets> {
    let mut all = load(source, [sub.secret_arn.as_str()]).await?;
    all.remove(&sub.secret_arn).ok_or_else(|| "secret not loaded".into())
}

/// Parked objects under a local output directory (for summaries).
pub async fn parked_count(out: &Path) -> AppResult<usize> {
    Ok(FsObjectStore::new(out.join(PARKED_DIR)).list(PREFIX).await?.len())
}
