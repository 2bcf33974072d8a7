//! Secret rotation without a deploy: a warm forwarder re-reads its signing secrets every `REFRESH`, signs with both
//! `current` and `previous` during a rotation, and keeps the old secrets when a re-read fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore};
use shared::batch::Processor;
use shared::kinesis::{KinesisItem, SeqNo};
use stream_forwarder::StreamForwarder;
use stream_forwarder::config::subscriptions;
use stream_forwarder::park::Parking;
use stream_forwarder::secrets::{REFRESH, SecretSource};
use stream_forwarder::sign::Secrets;
use stream_forwarder::transport::{Answer, NoAnswer, Transport};

const OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const NEW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A secret whose value the test changes, or makes unreadable.
#[derive(Clone)]
struct Stored(Arc<Mutex<Option<String>>>);

impl SecretSource for Stored {
    async fn fetch(&self, _: &str) -> Result<String, String> {
        self.0.lock().unwrap().clone().ok_or_else(|| "AccessDenied".to_owned())
    }
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

impl Transport for Recorder {
    async fn post(&self, _: &str, headers: HeaderMap, body: Bytes, _: Duration) -> Result<Answer, NoAnswer> {
        self.0.lock().unwrap().push((headers, body));
        Ok(Answer { status: StatusCode::OK, retry_after: None })
    }
}

fn record(n: usize) -> Vec<KinesisItem> {
    let mut e: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/raw/agent/status-break.json")).unwrap(),
    )
    .unwrap();
    e["EventId"] = serde_json::json!(format!("e0000000-0000-4000-8000-{n:012}"));
    vec![KinesisItem {
        index: 0,
        seq: SeqNo::parse(&format!("4965{n:052}")),
        shard_id: "shardId-000000000000".into(),
        partition_key: "k".into(),
        arrival: chrono::Utc::now(),
        stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/connect".into(),
        data: serde_json::to_vec(&e).unwrap(),
    }]
}

/// Whether the request's signature verifies with `secret` (one of its space-separated signatures matches).
fn signed_with(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let id = headers["webhook-id"].to_str().unwrap();
    let ts: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let expected = Secrets::parse(secret).unwrap().sign(id, ts, body);
    headers["webhook-signature"].to_str().unwrap().split(' ').any(|s| s == expected)
}

#[tokio::test(start_paused = true)]
async fn a_rotation_takes_effect_without_a_restart_and_a_failed_reread_keeps_the_old_secret() {
    let stored = Stored(Arc::new(Mutex::new(Some(OLD.to_owned()))));
    let sent = Recorder::default();
    let doc = r#"{"subscriptions": [{"name": "a", "url": "https://a.example/hook", "kinds": ["agent_event"], "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf"}]}"#;
    let parking =
        Parking { objects: MemoryObjectStore::new(), prefix: "parked/".into(), table: MemoryItemStore::new(&[]) };
    let forwarder = StreamForwarder::new(
        subscriptions(doc).unwrap(),
        stored.clone(),
        sent.clone(),
        parking,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let last = |sent: &Recorder| sent.0.lock().unwrap().last().cloned().unwrap();

    forwarder.process(&record(1)).await;
    let (h, b) = last(&sent);
    assert!(signed_with(&h, &b, OLD));

    // Rotation: both sign. Not read before REFRESH has passed.
    *stored.0.lock().unwrap() = Some(format!(r#"{{"current": "{NEW}", "previous": "{OLD}"}}"#));
    forwarder.process(&record(2)).await;
    let (h, b) = last(&sent);
    assert!(!signed_with(&h, &b, NEW), "secrets are not re-read on every batch");
    tokio::time::sleep(REFRESH).await;
    forwarder.process(&record(3)).await;
    let (h, b) = last(&sent);
    assert!(signed_with(&h, &b, NEW) && signed_with(&h, &b, OLD), "during the rotation both sign");
    assert_eq!(h["webhook-signature"].to_str().unwrap().split(' ').count(), 2);

    // The secret becomes unreadable: the ones read before stay.
    *stored.0.lock().unwrap() = None;
    tokio::time::sleep(REFRESH).await;
    forwarder.process(&record(4)).await;
    let (h, b) = last(&sent);
    assert!(signed_with(&h, &b, NEW));

    // The rotation ends: the new secret alone.
    *stored.0.lock().unwrap() = Some(NEW.to_owned());
    tokio::time::sleep(REFRESH).await;
    forwarder.process(&record(5)).await;
    let (h, b) = last(&sent);
    assert!(signed_with(&h, &b, NEW) && !signed_with(&h, &b, OLD));
}

#[tokio::test]
async fn an_unreadable_or_malformed_secret_stops_the_start_naming_the_secret_not_its_value() {
    let doc = r#"{"subscriptions": [{"name": "a", "url": "https://a.example/hook", "kinds": ["agent_event"], "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf"}]}"#;
    for (value, expected) in [(None, "AccessDenied"), (Some("not-a-secret".to_owned()), "whsec_")] {
        let parking =
            Parking { objects: MemoryObjectStore::new(), prefix: "parked/".into(), table: MemoryItemStore::new(&[]) };
        let err = StreamForwarder::new(
            subscriptions(doc).unwrap(),
            Stored(Arc::new(Mutex::new(value))),
            Recorder::default(),
            parking,
            Duration::from_secs(5),
        )
        .await
        .err()
        .expect("refused");
        assert!(err.contains(expected) && err.contains("secret:a-AbCdEf") && !err.contains("not-a-secret"), "{err}");
    }
}
