//! The AWS adapters against a real emulator (moto server). `scripts/test.sh` starts moto on 127.0.0.1, exports
//! `AWS_ENDPOINT_URL` and dummy credentials, and runs these with `--include-ignored`.
#![cfg(all(feature = "s3", feature = "dynamodb", feature = "sns"))]

use std::collections::BTreeMap;

use serde_json::json;
use shared::adapters::aws::dynamodb::DynamoItemStore;
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

async fn table(indexes: &'static [IndexDef]) -> DynamoItemStore {
    let cfg = config().await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let name = unique("adapter-test");
    shared::adapters::aws::dynamodb::create_table(&client, &name, indexes).await.unwrap();
    DynamoItemStore::new(client, name, indexes)
}

fn item(v: serde_json::Value) -> Item {
    v.as_object().unwrap().clone()
}

const INDEXES: [IndexDef; 1] = [IndexDef { name: "by-team", pk_attr: "gsi1pk", sk_attr: "gsi1sk" }];

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn dynamodb_conditions_behave_like_the_memory_store() {
    let store = table(&INDEXES).await;
    let a = item(json!({"pk": "agent-1", "sk": "CURRENT", "order": "2026-11-02T09:00:00.000Z#b", "n": 1}));
    let newer = Condition::NewerThan { attr: "order", value: "2026-11-02T09:00:00.000Z#b".into() };
    assert_eq!(store.put(a.clone(), newer.clone()).await.unwrap(), WriteOutcome::Applied);
    // Same order again: not newer → conditional-check failure surfaces as ConditionFailed, not an error.
    assert_eq!(store.put(a.clone(), newer).await.unwrap(), WriteOutcome::ConditionFailed);
    let older = Condition::NewerThan { attr: "order", value: "2026-11-02T08:59:59.999Z#z".into() };
    assert_eq!(store.put(a.clone(), older).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.put(a.clone(), Condition::NotExists).await.unwrap(), WriteOutcome::ConditionFailed);

    let set = item(json!({"order": "2026-11-02T09:00:01.000Z#a", "logged_in": true}));
    let cond = Condition::NewerThan { attr: "order", value: "2026-11-02T09:00:01.000Z#a".into() };
    assert_eq!(store.update("agent-1", "CURRENT", set, &["n"], cond).await.unwrap(), WriteOutcome::Applied);
    let got = store.get("agent-1", "CURRENT").await.unwrap().unwrap();
    assert_eq!(got.get("logged_in"), Some(&json!(true)));
    assert_eq!(got.get("n"), None, "REMOVE applied");

    let claim = || item(json!({"claimed": "lambda-1"}));
    let eq = Condition::Equals { attr: "logged_in", value: json!(false) };
    assert_eq!(store.update("agent-1", "CURRENT", claim(), &[], eq).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.get("agent-1", "CURRENT").await.unwrap().unwrap().get("claimed"), None, "nothing written");
    let eq = Condition::Equals { attr: "logged_in", value: json!(true) };
    assert_eq!(store.update("agent-1", "CURRENT", claim(), &[], eq.clone()).await.unwrap(), WriteOutcome::Applied);
    let got = store.get("agent-1", "CURRENT").await.unwrap().unwrap();
    assert_eq!(got.get("claimed"), Some(&json!("lambda-1")));
    // Equals needs the item to exist: an update under it never creates one.
    assert_eq!(store.update("agent-2", "CURRENT", claim(), &[], eq).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.get("agent-2", "CURRENT").await.unwrap(), None);
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn dynamodb_batch_put_and_queries_round_trip_nested_items() {
    let store = table(&INDEXES).await;
    let items: Vec<Item> = (0..60)
        .map(|i| {
            item(json!({
                "pk": "agent-1", "sk": format!("HIST#{i:03}"), "gsi1pk": if i % 2 == 0 { "blue" } else { "green" },
                "gsi1sk": format!("{i:03}"), "nested": {"list": [1, "two", null], "flag": false}, "expires_at": 1_900_000_000
            }))
        })
        .collect();
    store.batch_put(items.clone()).await.unwrap();
    let all = store.query(Query { pk: "agent-1".into(), ..Query::default() }).await.unwrap();
    assert_eq!(all.len(), 60);
    assert_eq!(all[5], items[5], "nested values survive the round trip");
    let range = store
        .query(Query {
            pk: "agent-1".into(),
            sk_between: Some(("HIST#010".into(), "HIST#019".into())),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(range.len(), 10);
    let blue = store.query(Query { index: Some("by-team"), pk: "blue".into(), ..Query::default() }).await.unwrap();
    assert_eq!(blue.len(), 30);
}

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
