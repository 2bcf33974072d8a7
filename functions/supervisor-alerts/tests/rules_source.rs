//! Rules from S3 or SSM Parameter Store (`ALERT_RULES_SOURCE`): an update takes effect without a restart; a broken
//! update is refused, the rules in force stay and the refusal is counted at every check while it is the source's;
//! an unreadable source keeps the rules too. The S3 and SSM paths run against moto (`scripts/test.sh`); the refresh
//! interval is tested on an in-memory store.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use shared::adapters::memory::{MemoryItemStore, MemoryPublisher};
use shared::batch::Processor;
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::refresh::Refreshing;
use supervisor_alerts::rules::source::{self, AwsRulesStore, Document, RulesLocation, RulesStore};

/// A break rule for `status`: the break day's batch alerts only when `status` is "Break".
fn break_rules(status: &str) -> String {
    format!(
        r#"{{"rules":[{{"name":"too-long-in-{}","kind":"status_too_long","severity":"warning","statuses":["{status}"],"longer_than":"15m","cooldown":"30m","scope":{{}}}}]}}"#,
        status.to_lowercase()
    )
}

/// The break (10:00) and the heartbeat that finds it 30 minutes long (10:30).
fn break_day() -> Vec<shared::kinesis::KinesisItem> {
    batch(vec![
        item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z"),
        item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z"),
    ])
}

type Live<R> = Refreshing<MemoryItemStore, MemoryPublisher, ManualClock, R>;

async fn live<R: RulesStore>(store: R, location: RulesLocation, every: Duration) -> (Live<R>, MemoryPublisher) {
    let (rules, version) = source::load(&store, &location).await.expect("the first document loads");
    let publisher = MemoryPublisher::new();
    let handler = SupervisorAlerts::with_clock(
        rules,
        MemoryItemStore::new(&[]),
        publisher.clone(),
        Settings::replay(),
        ManualClock::at("2026-11-02T10:31:00Z"),
    );
    (Refreshing::new(handler, store, location, version, every), publisher)
}

fn names<R: RulesStore>(live: &Live<R>) -> Vec<String> {
    live.handler().rules().rules.iter().map(|r| r.name.clone()).collect()
}

/// The whole story on one store: v1 (Lunch) sends nothing; v2 (Break), published while the function runs, alerts
/// from the next batch on; a broken v3 is refused and counted at each check while it stays; v4 fixes it.
async fn an_update_takes_effect_and_a_broken_one_is_refused(store: AwsRulesStore, location: RulesLocation) {
    store.publish(&break_rules("Lunch")).await.unwrap();
    let (live, publisher) = live(store.clone(), location, Duration::ZERO).await;
    live.process(&break_day()).await;
    assert!(publisher.published().is_empty(), "the Lunch rule cannot fire on a break");

    store.publish(&break_rules("Break")).await.unwrap();
    live.process(&break_day()).await;
    assert_eq!(rule_names(&publisher.published()), ["too-long-in-break"], "the update is in force without a restart");
    let good = live.version().await;

    let broken = break_rules("Break").replace("\"15m\"", "\"15 minutes\"");
    store.publish(&broken).await.unwrap();
    live.process(&break_day()).await;
    assert_eq!(names(&live), ["too-long-in-break"], "the rules in force stay");
    assert_eq!(live.version().await, good);
    assert_eq!(live.failed_checks().await, (1, 0));
    live.refresh().await;
    assert_eq!(live.failed_checks().await, (2, 0), "counted at every check while the source holds it");
    assert_eq!(publisher.published().len(), 1, "the alert is still sent once");

    store.publish(&break_rules("Lunch")).await.unwrap();
    live.refresh().await;
    assert_eq!(names(&live), ["too-long-in-lunch"], "a fixed document replaces the refused one");
    assert_ne!(live.version().await, good);
    assert_eq!(live.failed_checks().await, (2, 0));
}

fn moto() {
    let e = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (scripts/test.sh sets it)");
    assert!(e.starts_with("http://127.0.0.1:") || e.starts_with("http://localhost:"), "loopback only: {e}");
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

async fn s3_location(versioned: bool) -> (AwsRulesStore, RulesLocation, aws_sdk_s3::Client) {
    moto();
    let cfg = shared::adapters::aws::sdk_config().await;
    let client = shared::adapters::aws::s3::S3ObjectStore::client(&cfg);
    let bucket = unique("rules");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    if versioned {
        let on = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        client.put_bucket_versioning().bucket(&bucket).versioning_configuration(on).send().await.unwrap();
    }
    let location: RulesLocation = format!("s3://{bucket}/alerts/rules.json").parse().unwrap();
    (AwsRulesStore::new(&location, &cfg), location, client)
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn an_s3_object_in_a_versioned_bucket() {
    let (store, location, _) = s3_location(true).await;
    an_update_takes_effect_and_a_broken_one_is_refused(store, location).await;
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn an_s3_object_in_an_unversioned_bucket_is_told_apart_by_its_etag() {
    let (store, location, _) = s3_location(false).await;
    an_update_takes_effect_and_a_broken_one_is_refused(store, location).await;
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn an_ssm_parameter() {
    moto();
    let cfg = shared::adapters::aws::sdk_config().await;
    let location: RulesLocation = format!("ssm:/connect/{}/alert-rules", unique("centre")).parse().unwrap();
    an_update_takes_effect_and_a_broken_one_is_refused(AwsRulesStore::new(&location, &cfg), location).await;
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn a_missing_source_stops_init_and_an_unreadable_one_keeps_the_rules_in_force() {
    let (store, location, client) = s3_location(false).await;
    let e = source::load(&store, &location).await.expect_err("no object yet");
    assert!(e.starts_with(&location.to_string()), "{e}");
    assert!(e.contains("NoSuchKey") || e.contains("404"), "{e}");

    store.publish(&break_rules("Break")).await.unwrap();
    let (live, _) = live(store.clone(), location.clone(), Duration::ZERO).await;
    let RulesLocation::S3 { bucket, key } = &location else { unreachable!() };
    client.delete_object().bucket(bucket).key(key).send().await.unwrap();
    live.refresh().await;
    assert_eq!(names(&live), ["too-long-in-break"]);
    assert_eq!(live.failed_checks().await, (0, 1));

    // An invalid first document stops init naming the source, the version, the rule and the field.
    store.publish(&break_rules("Break").replace("warning", "panic")).await.unwrap();
    let e = source::load(&store, &location).await.expect_err("invalid document");
    assert!(e.starts_with(&format!("{location} (version ")), "{e}");
    assert!(e.contains("rule #1 \"too-long-in-break\": field `severity`"), "{e}");
}

/// A store in memory: each publish is a new version.
#[derive(Clone, Default)]
struct MemoryRules(Arc<Mutex<Vec<String>>>);

impl RulesStore for MemoryRules {
    async fn fetch(&self, known: Option<&str>) -> Result<Option<Document>, String> {
        let versions = self.0.lock().unwrap();
        let version = versions.len().to_string();
        let text = versions.last().cloned().ok_or("no document")?;
        Ok((known != Some(version.as_str())).then_some(Document { version, text }))
    }
    async fn publish(&self, text: &str) -> Result<String, String> {
        let mut versions = self.0.lock().unwrap();
        versions.push(text.to_owned());
        Ok(versions.len().to_string())
    }
}

#[tokio::test]
async fn the_source_is_asked_at_most_every_refresh_interval() {
    let store = MemoryRules::default();
    store.publish(&break_rules("Lunch")).await.unwrap();
    let location: RulesLocation = "ssm:/rules".parse().unwrap();
    let (live, publisher) = live(store.clone(), location, Duration::from_secs(3600)).await;
    store.publish(&break_rules("Break")).await.unwrap();
    live.process(&break_day()).await;
    assert!(publisher.published().is_empty(), "checked within the interval: not yet");
    assert_eq!(names(&live), ["too-long-in-lunch"]);
    assert_eq!(live.version().await, "1");
}

#[tokio::test]
async fn each_change_is_read_once_and_a_refused_version_is_not_read_again() {
    let store = MemoryRules::default();
    store.publish(&break_rules("Lunch")).await.unwrap();
    let (live, _) = live(store.clone(), "ssm:/rules".parse().unwrap(), Duration::ZERO).await;
    store.publish("{\"rules\": [").await.unwrap();
    live.refresh().await;
    live.refresh().await;
    assert_eq!((names(&live), live.version().await), (vec!["too-long-in-lunch".to_owned()], "1".to_owned()));
    assert_eq!(live.failed_checks().await, (2, 0));
    store.publish(&break_rules("Break")).await.unwrap();
    live.refresh().await;
    assert_eq!((names(&live), live.version().await), (vec!["too-long-in-break".to_owned()], "3".to_owned()));
}
