//! The AWS adapters against a real emulator (moto server). `scripts/test.sh` starts moto on 127.0.0.1, exports
//! `AWS_ENDPOINT_URL` and dummy credentials, and runs these with `--include-ignored`.
#![cfg(all(feature = "s3", feature = "dynamodb", feature = "sns"))]

use std::collections::BTreeMap;

use shared::adapters::aws::s3::S3ObjectStore;
use shared::adapters::aws::sdk_config;
use shared::adapters::aws::sns::SnsPublisher;
use shared::ports::*;

const NEEDS_MOTO: &str = "needs moto: run scripts/test.sh";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

async fn config() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(NEEDS_MOTO);
    assert!(endpoint.contains("127.0.0.1") || endpoint.contains("localhost"), "emulator tests only talk to loopback");
    sdk_config().await
}

async fn bucket() -> S3ObjectStore {
    let cfg = config().await;
    let client = S3ObjectStore::client(&cfg);
    let name = unique("adapter-test");
    client.create_bucket().bucket(&name).send().await.unwrap();
    S3ObjectStore::new(client, name)
}

fn object(key: &str, body: &[u8]) -> PutObject {
    PutObject { key: key.into(), body: body.to_vec(), content_type: "application/json", content_encoding: None }
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn s3_put_if_absent_creates_once_and_answers_412_as_already_exists() {
    let store = bucket().await;
    assert_eq!(store.put_if_absent(object("a/b/1.json", b"first")).await.unwrap(), PutOutcome::Created);
    assert_eq!(store.put_if_absent(object("a/b/1.json", b"second")).await.unwrap(), PutOutcome::AlreadyExists);
    assert_eq!(store.get("a/b/1.json").await.unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(store.get("a/b/missing").await.unwrap(), None);
    store.put_if_absent(object("a/c/2.json", b"x")).await.unwrap();
    store.put_if_absent(object("z/3.json", b"x")).await.unwrap();
    assert_eq!(store.list("a/").await.unwrap(), vec!["a/b/1.json", "a/c/2.json"]);
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn s3_errors_on_a_missing_bucket_are_transient_not_poison() {
    let cfg = config().await;
    let store = S3ObjectStore::new(S3ObjectStore::client(&cfg), unique("no-such-bucket"));
    let err = store.put_if_absent(object("k", b"x")).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

/// A store whose client is built on its first call (the quarantine of agent-state and supervisor-alerts) reads and
/// writes like one given a client, and its errors map the same.
#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn s3_a_client_built_on_first_use_behaves_as_a_given_one() {
    let cfg = config().await;
    let name = unique("lazy");
    S3ObjectStore::client(&cfg).create_bucket().bucket(&name).send().await.unwrap();
    let store = S3ObjectStore::on_first_use(&cfg, name);
    assert_eq!(store.put_if_absent(object("q/1.json", b"bad")).await.unwrap(), PutOutcome::Created);
    assert_eq!(store.put_if_absent(object("q/1.json", b"bad")).await.unwrap(), PutOutcome::AlreadyExists);
    assert_eq!(store.clone().get("q/1.json").await.unwrap().as_deref(), Some(&b"bad"[..]), "clones share it");
    assert_eq!(store.list("q/").await.unwrap(), vec!["q/1.json"]);
    let missing = S3ObjectStore::on_first_use(&cfg, unique("no-such-bucket"));
    assert!(missing.put_if_absent(object("k", b"x")).await.unwrap_err().is_transient());
}

// DynamoDB's conditions and queries: tests/item_stores.rs runs one conformance test on DynamoDB, memory and SQLite.

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn sns_publish_batch_reports_per_entry_results() {
    let cfg = config().await;
    let client = aws_sdk_sns::Client::new(&cfg);
    let topic = client.create_topic().name(unique("alerts")).send().await.unwrap().topic_arn.unwrap();
    let publisher = SnsPublisher::new(client.clone(), topic);
    let msg = |id: &str| Message {
        per_protocol: false,
        id: id.into(),
        subject: "Break too long: jdoe".into(),
        body: "{\"rule\":\"break-too-long\"}".into(),
        attributes: BTreeMap::from([("severity".into(), "warning".into())]),
    };
    let results = publisher.publish_batch(&[msg("a"), msg("b")]).await.unwrap();
    assert_eq!(results, vec![Ok(()), Ok(())]);

    // A partial failure: one entry rejected (too long), the other published; each result says which.
    let mut huge = msg("huge");
    huge.body = "x".repeat(300_000);
    let results = publisher.publish_batch(&[msg("ok"), huge]).await.unwrap();
    assert_eq!(results[0], Ok(()));
    let err = results[1].as_ref().unwrap_err();
    assert!(!err.is_transient(), "a sender fault is permanent: {err}");

    // More than 10 entries is refused before any request.
    let many: Vec<Message> = (0..11).map(|i| msg(&format!("m{i}"))).collect();
    assert!(!publisher.publish_batch(&many).await.unwrap_err().is_transient());

    // Duplicate entry ids are a request-level error from SNS: surfaced, never silently dropped.
    assert!(publisher.publish_batch(&[msg("same"), msg("same")]).await.is_err());

    // A topic that does not exist fails the call as a whole.
    let missing = SnsPublisher::new(client, "arn:aws:sns:us-east-1:123456789012:no-such-topic");
    assert!(missing.publish_batch(&[msg("x")]).await.is_err());
}

/// One body per protocol (`MessageStructure=json`) goes through the adapter and the emulator accepts it. (moto does
/// not model SNS's choice of body per protocol, nor refuse a structure without `default`; the structure itself is
/// checked in supervisor-alerts' chat tests.)
#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn sns_publish_batch_sends_one_body_per_protocol() {
    let cfg = config().await;
    let client = aws_sdk_sns::Client::new(&cfg);
    let topic = client.create_topic().name(unique("chat")).send().await.unwrap().topic_arn.unwrap();
    let publisher = SnsPublisher::new(client, topic);
    let body =
        serde_json::json!({"default": "{\"rule\":\"break-too-long\"}", "https": "{\"version\":\"1.0\"}"}).to_string();
    let msg = Message {
        per_protocol: true,
        id: "a".into(),
        subject: "Break too long: jdoe".into(),
        body,
        attributes: BTreeMap::from([("severity".into(), "warning".into())]),
    };
    assert_eq!(publisher.publish_batch(&[msg]).await.unwrap(), vec![Ok(())]);
}
