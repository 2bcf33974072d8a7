//! The AWS path against moto: the DynamoDB state table (conditional claims, cooldown gates, versioned windows,
//! joins) and SNS `PublishBatch` with message attributes, delivered to SQS queues subscribed with filter policies.
//! SQS is driven with `curl` (moto's JSON protocol): aws-sdk-sqs is not a workspace dependency.
//!
//! Run with `scripts/test.sh` (or `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` plus dummy credentials and
//! `cargo test -p supervisor-alerts -- --include-ignored`).

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use common::*;
use serde_json::{Value, json};
use shared::adapters::aws::dynamodb::DynamoItemStore;
use shared::adapters::aws::sns::SnsPublisher;
use shared::adapters::intercept::{Call, Hook, Intercepted, Verdict};
use shared::batch::{Disposition, Processor};
use shared::ports::{ItemStore, PortError};
use supervisor_alerts::handler::SupervisorAlerts;
use supervisor_alerts::rules::Rules;

fn endpoint() -> String {
    let e = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL must point at moto (scripts/test.sh sets it)");
    assert!(
        e.starts_with("http://127.0.0.1:") || e.starts_with("http://localhost:"),
        "emulator tests only talk to 127.0.0.1: {e}"
    );
    e
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

/// One call of moto's SQS JSON protocol.
fn sqs(action: &str, body: Value) -> Value {
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", &format!("{}/", endpoint())])
        .args(["-H", &format!("X-Amz-Target: AmazonSQS.{action}")])
        .args(["-H", "Content-Type: application/x-amz-json-1.0"])
        .args(["-H", "Authorization: AWS4-HMAC-SHA256 Credential=testing/20261102/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"])
        .args(["-d", &body.to_string()])
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {action} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("SQS {action} answered {:?}: {e}", String::from_utf8_lossy(&out.stdout)))
}

struct Queue {
    url: String,
    arn: String,
}

fn create_queue(name: &str) -> Queue {
    let url = sqs("CreateQueue", json!({"QueueName": name}))["QueueUrl"].as_str().unwrap().to_owned();
    let arn =
        sqs("GetQueueAttributes", json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}))["Attributes"]["QueueArn"]
            .as_str()
            .unwrap()
            .to_owned();
    Queue { url, arn }
}

/// Every SNS notification waiting in the queue (received once: they stay invisible for the rest of the test).
fn drain_queue(q: &Queue) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = sqs("ReceiveMessage", json!({"QueueUrl": q.url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 600}));
        let Some(messages) = r["Messages"].as_array().filter(|m| !m.is_empty()) else {
            break;
        };
        for m in messages {
            out.push(serde_json::from_str(m["Body"].as_str().unwrap()).unwrap());
        }
    }
    out
}

struct Aws {
    ddb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    table: String,
    topic: String,
}

async fn setup() -> Aws {
    endpoint();
    let cfg = shared::adapters::aws::sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    let sns = aws_sdk_sns::Client::new(&cfg);
    let table = unique("alert-state");
    ddb.create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("sk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("sk").key_type(KeyType::Range).build().unwrap())
        .send()
        .await
        .unwrap();
    let topic = sns.create_topic().name(unique("alerts")).send().await.unwrap().topic_arn.unwrap();
    Aws { ddb, sns, table, topic }
}

impl Aws {
    fn store(&self) -> DynamoItemStore {
        DynamoItemStore::new(self.ddb.clone(), self.table.clone(), &[])
    }
    fn publisher(&self) -> SnsPublisher {
        SnsPublisher::new(self.sns.clone(), self.topic.clone())
    }
    async fn subscribe(&self, queue: &Queue, filter_policy: Value) {
        self.sns
            .subscribe()
            .topic_arn(&self.topic)
            .protocol("sqs")
            .endpoint(&queue.arn)
            .attributes("FilterPolicy", filter_policy.to_string())
            .send()
            .await
            .unwrap();
    }
}

fn example_rules() -> Rules {
    rules(include_str!("../rules.example.json"))
}

fn attribute(notification: &Value, name: &str) -> Option<String> {
    notification["MessageAttributes"][name]["Value"].as_str().map(str::to_owned)
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn each_team_queue_receives_only_its_own_alerts_exactly_once() {
    let aws = setup().await;
    let blue = create_queue(&unique("team-blue"));
    let green = create_queue(&unique("team-green"));
    aws.subscribe(&blue, json!({"hierarchyLevel3": ["Team Blue"]})).await;
    aws.subscribe(&green, json!({"hierarchyLevel3": ["Team Green"]})).await;

    let rules = example_rules();
    let handler = SupervisorAlerts::new(rules.clone(), aws.store(), aws.publisher(), Settings::replay());
    let items = envelope("envelopes/supervisor-alerts.json");
    let d = handler.process(&items).await;
    assert!(d.iter().all(|d| *d == Disposition::Done), "{d:?}");

    let blue_alerts = drain_queue(&blue);
    let green_alerts = drain_queue(&green);
    let rules_of = |alerts: &[Value]| {
        let mut r: Vec<String> = alerts.iter().map(|n| attribute(n, "rule").unwrap()).collect();
        r.sort();
        r
    };
    assert_eq!(rules_of(&blue_alerts), ["angry-customer", "break-too-long", "escalation-requested", "unplanned-break"]);
    assert_eq!(rules_of(&green_alerts), ["low-csat"]);
    for n in &blue_alerts {
        assert_eq!(attribute(n, "hierarchyLevel3").as_deref(), Some("Team Blue"));
        assert_eq!(attribute(n, "agentUsername").as_deref(), Some("jdoe"));
        assert!(n["Subject"].as_str().unwrap().starts_with('['), "{n}");
        let body: Value = serde_json::from_str(n["Message"].as_str().unwrap()).unwrap();
        assert_eq!(body["agent"]["username"], "jdoe");
    }

    // The same batch again (a Lambda retry, a replay) in a new instance, which reads the claims from DynamoDB:
    // nothing new reaches anyone; the claims are SENT.
    let handler = SupervisorAlerts::new(rules.clone(), aws.store(), aws.publisher(), Settings::replay());
    let d = handler.process(&items).await;
    assert!(d.iter().all(|d| *d == Disposition::Done), "{d:?}");
    assert!(drain_queue(&blue).is_empty());
    assert!(drain_queue(&green).is_empty());
    let claim = aws
        .store()
        .get("alert#break-too-long#f7fd8b2d-fc26-45b7-90fb-8b8d91076163", "2026-11-02T10:00:00.731Z")
        .await
        .unwrap()
        .expect("the claim item exists");
    assert_eq!(claim["status"], "SENT");
    assert!(claim["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());
}

/// Fails the first publish as a transient per-entry failure, then lets calls through.
#[derive(Clone, Default)]
struct FailOnce {
    failed: Arc<AtomicUsize>,
}

impl Hook for FailOnce {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        match call {
            Call::Publish { messages } if self.failed.fetch_add(1, Ordering::Relaxed) == 0 => Verdict::Entries(
                messages.iter().map(|_| Err(PortError::transient("sns", "entry failed: InternalError"))).collect(),
            ),
            _ => Verdict::Pass,
        }
    }
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn a_publish_failing_once_is_delivered_exactly_once_on_redelivery() {
    let aws = setup().await;
    let all = create_queue(&unique("all-alerts"));
    aws.subscribe(&all, json!({"severity": ["info", "warning", "critical"]})).await;

    let rules = one_rule(
        r#"{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15m","cooldown":"30m","scope":{}}"#,
    );
    let publisher = Intercepted::new(aws.publisher(), FailOnce::default());
    let handler = SupervisorAlerts::new(rules.clone(), aws.store(), publisher, Settings::replay());
    let items = batch(vec![item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z")]);

    let d = handler.process(&items).await;
    assert!(matches!(d[0], Disposition::Retry(_)), "{d:?}");
    assert!(drain_queue(&all).is_empty());
    let claim_key = ("alert#break-too-long#f7fd8b2d-fc26-45b7-90fb-8b8d91076163", "2026-11-02T10:00:00.731Z");
    assert_eq!(aws.store().get(claim_key.0, claim_key.1).await.unwrap().unwrap()["status"], "RETRYABLE");

    for _ in 0..2 {
        let d = handler.process(&items).await;
        assert!(d.iter().all(|d| *d == Disposition::Done), "{d:?}");
    }
    let received = drain_queue(&all);
    assert_eq!(received.len(), 1);
    assert_eq!(attribute(&received[0], "rule").as_deref(), Some("break-too-long"));
    assert_eq!(aws.store().get(claim_key.0, claim_key.1).await.unwrap().unwrap()["status"], "SENT");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn missed_contact_and_sentiment_windows_round_trip_through_dynamodb() {
    let aws = setup().await;
    let rules = rules(
        r#"{"rules":[
          {"name":"missed","kind":"missed_contacts","severity":"warning","count":2,"within":"30m","cooldown":"0s","scope":{}},
          {"name":"angry","kind":"negative_sentiment","severity":"critical","consecutive":4,"cooldown":"0s","scope":{}}]}"#,
    );
    let publisher = shared::adapters::memory::MemoryPublisher::new();
    let handler = SupervisorAlerts::new(rules.clone(), aws.store(), publisher.clone(), Settings::replay());
    let mut second = agent_event_at("raw/agent/contact-missed.json", "STATE_CHANGE", "2026-11-02T11:25:00.000Z");
    second["CurrentAgentSnapshot"]["Contacts"][0]["ContactId"] =
        Value::String("11111111-2222-3333-4444-555555555555".into());
    second["CurrentAgentSnapshot"]["Contacts"][0]["StateStartTimestamp"] =
        Value::String("2026-11-02T11:25:00.000Z".into());
    let negative = fixture("raw/segments/voice-segments-negative.json");
    for round in 0..2 {
        let d = handler
            .process(&batch(vec![
                item(fixture("raw/agent/contact-connected.json"), "2026-11-02T08:05:15Z"),
                item(negative.clone(), "2026-11-02T08:07:00Z"),
                item(fixture("raw/agent/contact-missed.json"), "2026-11-02T11:20:27Z"),
                json_item(&second, "2026-11-02T11:25:01Z"),
            ]))
            .await;
        assert!(d.iter().all(|d| *d == Disposition::Done), "round {round}: {d:?}");
    }
    // Two missed contacts → one alert; three negative turns (counted once despite the second round) → none.
    assert_eq!(rule_names(&publisher.published()), ["missed"]);
    let sentiment = aws.store().get("sentiment#ad92bd21-3930-4256-a9c6-2e3d1e90e82b", "window").await.unwrap().unwrap();
    assert_eq!(sentiment["state"]["turns"], 3);
    let join = aws.store().get("contact#ad92bd21-3930-4256-a9c6-2e3d1e90e82b", "agent").await.unwrap().unwrap();
    assert_eq!((join["username"].as_str(), join["h3"].as_str()), (Some("jdoe"), Some("Team Blue")));
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn a_batch_s_contact_joins_reach_dynamodb_one_per_contact_in_chunks_of_25() {
    let aws = setup().await;
    let rules = one_rule(
        r#"{"name":"angry","kind":"negative_sentiment","severity":"critical","consecutive":3,"cooldown":"0s","scope":{}}"#,
    );
    let handler = SupervisorAlerts::new(
        rules.clone(),
        aws.store(),
        shared::adapters::memory::MemoryPublisher::new(),
        Settings::replay(),
    );
    // 60 agents, each on its own contact (three BatchWriteItem calls), and an older event of another agent naming
    // the first contact again: DynamoDB refuses a batch that holds one key twice, so it must not be sent.
    let on_contact = |agent: usize, contact: usize, at: &str| {
        let mut v = agent_event_at("raw/agent/contact-connected.json", "STATE_CHANGE", at);
        v["AgentARN"] = Value::String(format!(
            "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111/agent/00000000-0000-4000-8000-{agent:012}"
        ));
        v["CurrentAgentSnapshot"]["Configuration"]["Username"] = Value::String(format!("agent{agent}"));
        v["CurrentAgentSnapshot"]["Contacts"][0]["ContactId"] =
            Value::String(format!("c0000000-0000-4000-8000-{contact:012}"));
        json_item(&v, "2026-11-02T08:06:00Z")
    };
    let mut items: Vec<_> = (0..60).map(|k| on_contact(k, k, "2026-11-02T08:05:14.209Z")).collect();
    items.push(on_contact(99, 0, "2026-11-02T08:04:00.000Z"));
    let d = handler.process(&batch(items)).await;
    assert!(d.iter().all(|d| *d == Disposition::Done), "{d:?}");
    for k in 0..60 {
        let join = aws
            .store()
            .get(&format!("contact#c0000000-0000-4000-8000-{k:012}"), "agent")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("join of contact {k}"));
        assert_eq!(join["username"].as_str(), Some(format!("agent{k}").as_str()), "the newest event's agent");
    }
}
