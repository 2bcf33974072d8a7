//! The forwarder's batch against scripted endpoints (in memory, on tokio's paused clock, so budgets and backoff
//! take no real time): order per key, retries, Retry-After, 410, parking behind a key, isolation between
//! subscriptions, batching, signatures and what bodies leave out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use shared::adapters::memory::{MemoryItemStore, MemoryObjectStore};
use shared::batch::{Disposition, Processor};
use shared::kinesis::{KinesisItem, SeqNo};
use shared::ports::{ItemStore, ObjectStore};
use stream_forwarder::StreamForwarder;
use stream_forwarder::config::subscriptions;
use stream_forwarder::park::{Parked, Parking};
use stream_forwarder::secrets::EnvSecrets;
use stream_forwarder::sign::Secrets;
use stream_forwarder::transport::{Answer, NoAnswer, Transport};
use tokio::time::Instant;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const INSTANCE: &str = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-bbbb-cccc-dddd-111111111111";

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
struct Seen {
    url: String,
    headers: HeaderMap,
    body: Value,
    raw: Bytes,
    at: Instant,
}

type Script = Box<dyn Fn(&str, usize) -> (Duration, Result<Answer, NoAnswer>) + Send + Sync>;

/// Endpoints that answer by script: per URL, the n-th request's delay and answer.
#[derive(Clone)]
struct Scripted {
    seen: Arc<Mutex<Vec<Seen>>>,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    script: Arc<Script>,
}

impl Scripted {
    fn new(script: impl Fn(&str, usize) -> (Duration, Result<Answer, NoAnswer>) + Send + Sync + 'static) -> Self {
        Self { seen: Arc::default(), counts: Arc::default(), script: Arc::new(Box::new(script)) }
    }
    fn ok() -> Self {
        Self::new(|_, _| (Duration::ZERO, Ok(status(200))))
    }
    fn seen(&self, url: &str) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|s| s.url == url).cloned().collect()
    }
}

fn status(code: u16) -> Answer {
    Answer { status: StatusCode::from_u16(code).unwrap(), retry_after: None }
}

impl Transport for Scripted {
    async fn post(&self, url: &str, headers: HeaderMap, body: Bytes, timeout: Duration) -> Result<Answer, NoAnswer> {
        let n = {
            let mut counts = self.counts.lock().unwrap();
            let n = counts.entry(url.to_owned()).or_insert(0);
            *n += 1;
            *n
        };
        let (delay, answer) = (self.script)(url, n);
        if delay >= timeout {
            tokio::time::sleep(timeout).await;
            return Err(NoAnswer::Timeout(timeout));
        }
        tokio::time::sleep(delay).await;
        if answer.as_ref().is_ok_and(|a| a.status.is_success()) {
            let parsed = serde_json::from_slice(&body).unwrap();
            self.seen.lock().unwrap().push(Seen {
                url: url.to_owned(),
                headers,
                body: parsed,
                raw: body,
                at: Instant::now(),
            });
        }
        answer
    }
}

fn agent_event(agent: usize, n: usize) -> Vec<u8> {
    let mut e: Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/raw/agent/status-break.json")).unwrap(),
    )
    .unwrap();
    e["AgentARN"] = json!(format!("{INSTANCE}/agent/00000000-0000-4000-8000-{agent:012}"));
    e["EventId"] = json!(format!("e0000000-0000-4000-8000-{:06}{n:06}", agent));
    e["EventTimestamp"] = json!(format!("2026-12-04T09:{:02}:00.000Z", n % 60));
    serde_json::to_vec(&e).unwrap()
}

fn contact_record() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/raw/ctr/voice-inbound.json")).unwrap()
}

fn batch(records: &[Vec<u8>]) -> Vec<KinesisItem> {
    batch_from(records, 1)
}

/// A batch whose sequence numbers start at `first`.
fn batch_from(records: &[Vec<u8>], first: usize) -> Vec<KinesisItem> {
    records
        .iter()
        .enumerate()
        .map(|(index, data)| KinesisItem {
            index,
            seq: SeqNo::parse(&format!("4965{:052}", index + first)),
            shard_id: "shardId-000000000000".into(),
            partition_key: "k".into(),
            arrival: chrono::Utc::now(),
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/connect".into(),
            data: data.clone(),
        })
        .collect()
}

/// `n` events each for `agents` agents, interleaved as a shard would carry them.
fn day(agents: usize, n: usize) -> Vec<Vec<u8>> {
    events(agents, 0..n)
}

/// The agents' events numbered `range`.
fn events(agents: usize, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.flat_map(|i| (0..agents).map(move |a| agent_event(a, i))).collect()
}

struct Rig {
    forwarder: StreamForwarder<Scripted, MemoryObjectStore, MemoryItemStore, EnvSecrets>,
    objects: MemoryObjectStore,
    table: MemoryItemStore,
}

async fn rig(document: &str, transport: Scripted, budget: Duration) -> Rig {
    // SAFETY: tests set one variable to one value before any thread reads it.
    unsafe { std::env::set_var("FORWARDER_TEST_SECRET", SECRET) };
    let objects = MemoryObjectStore::new();
    let table = MemoryItemStore::new(&[]);
    let parking = Parking { objects: objects.clone(), prefix: "parked/".into(), table: table.clone() };
    let subs = subscriptions(document).unwrap();
    let forwarder = StreamForwarder::new(subs, EnvSecrets, transport, parking, budget).await.unwrap();
    Rig { forwarder, objects, table }
}

fn doc(subs: &[(&str, &str, &str)]) -> String {
    let subs: Vec<String> = subs
        .iter()
        .map(|(name, url, extra)| {
            format!(r#"{{"name": "{name}", "url": "{url}", "kinds": ["agent_event", "contact_record"], "secret_arn": "env:FORWARDER_TEST_SECRET", "timeout_ms": 1000{extra}}}"#)
        })
        .collect();
    format!(r#"{{"subscriptions": [{}]}}"#, subs.join(","))
}

const A: &str = "https://a.example/hook";
const B: &str = "https://b.example/hook";

fn ids_by_key(seen: &[Seen]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in seen {
        let messages: Vec<Value> = if s.body["type"] == "connect.batch" {
            s.body["data"].as_array().unwrap().clone()
        } else {
            vec![json!({"id": s.headers["webhook-id"].to_str().unwrap(), "data": s.body["data"]})]
        };
        for m in messages {
            let key = m["data"]["AgentARN"].as_str().or(m["data"]["ContactId"].as_str()).unwrap().to_owned();
            out.entry(key).or_default().push(m["id"].as_str().unwrap().to_owned());
        }
    }
    out
}

fn expected_ids(records: &[Vec<u8>]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in records {
        let v: Value = serde_json::from_slice(r).unwrap();
        out.entry(v["AgentARN"].as_str().unwrap().to_owned())
            .or_default()
            .push(format!("ae_{}", v["EventId"].as_str().unwrap()));
    }
    out
}

async fn parked(objects: &MemoryObjectStore) -> Vec<Parked> {
    let mut out = Vec::new();
    for key in objects.list("parked/").await.unwrap() {
        out.push(serde_json::from_slice(&objects.get(&key).await.unwrap().unwrap()).unwrap());
    }
    out
}

#[tokio::test(start_paused = true)]
async fn every_message_is_delivered_signed_in_order_per_key() {
    let transport = Scripted::ok();
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(20)).await;
    let records = day(5, 6);
    let dispositions = rig.forwarder.process(&batch(&records)).await;
    assert!(dispositions.iter().all(|d| *d == Disposition::Done), "{dispositions:?}");
    let seen = transport.seen(A);
    assert_eq!(seen.len(), 30);
    assert_eq!(ids_by_key(&seen), expected_ids(&records), "every message once, in stream order per key");
    let secrets = Secrets::parse(SECRET).unwrap();
    for s in &seen {
        let id = s.headers["webhook-id"].to_str().unwrap();
        let ts: i64 = s.headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(s.headers["webhook-signature"].to_str().unwrap(), secrets.sign(id, ts, &s.raw));
        assert_eq!(s.body["type"], "connect.agent_event.state_change");
        assert_eq!(s.body.as_object().unwrap().len(), 3, "a single message's body is type, timestamp and data");
        assert_eq!(s.body["timestamp"], s.body["data"]["EventTimestamp"]);
    }
}

#[tokio::test(start_paused = true)]
async fn server_errors_and_429_are_retried_with_retry_after_honoured() {
    // The first two requests: 500, then 429 with Retry-After 3 s; then everything succeeds.
    let transport = Scripted::new(|_, n| match n {
        1 => (Duration::ZERO, Ok(status(500))),
        2 => (
            Duration::ZERO,
            Ok(Answer { status: StatusCode::TOO_MANY_REQUESTS, retry_after: Some(Duration::from_secs(3)) }),
        ),
        _ => (Duration::ZERO, Ok(status(204))),
    });
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(20)).await;
    let started = Instant::now();
    let dispositions = rig.forwarder.process(&batch(&day(1, 3))).await;
    assert!(dispositions.iter().all(|d| *d == Disposition::Done));
    let seen = transport.seen(A);
    assert_eq!(seen.len(), 3);
    assert!(
        seen[0].at - started >= Duration::from_secs(3),
        "the first delivery waited for Retry-After: {:?}",
        seen[0].at - started
    );
    assert!(parked(&rig.objects).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_dead_endpoint_parks_in_order_and_does_not_hold_the_healthy_one() {
    // A never answers; B answers in 20 ms.
    let transport = Scripted::new(|url, _| {
        if url == A {
            (Duration::from_secs(3600), Ok(status(200)))
        } else {
            (Duration::from_millis(20), Ok(status(200)))
        }
    });
    let rig = rig(&doc(&[("a", A, ""), ("b", B, "")]), transport.clone(), Duration::from_secs(20)).await;
    let records = day(4, 5);
    let started = Instant::now();
    let dispositions = rig.forwarder.process(&batch(&records)).await;
    let took = started.elapsed();
    assert!(dispositions.iter().all(|d| *d == Disposition::Done), "parked counts as done: {dispositions:?}");
    // B got everything, in order, long before A's budget ran out.
    let b = transport.seen(B);
    assert_eq!(ids_by_key(&b), expected_ids(&records));
    let b_done = b.iter().map(|s| s.at).max().unwrap() - started;
    assert!(b_done < Duration::from_secs(2), "the healthy subscription finished after {b_done:?}");
    assert!(took <= Duration::from_secs(21), "the invocation is bounded by the budget: {took:?}");
    // A: nothing delivered, everything parked with what is needed to send it later, key by key in order.
    assert!(transport.seen(A).is_empty());
    let parked = parked(&rig.objects).await;
    assert_eq!(parked.len(), 20);
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &parked {
        assert_eq!(p.subscription, "a");
        by_key.entry(p.key.clone()).or_default().push(p.message.id.clone());
    }
    assert_eq!(by_key, expected_ids(&records), "listing order is stream order per key");
    // Each key is marked parked, so the next batch's messages park behind them without being sent.
    let transport_calls = *transport.counts.lock().unwrap().get(A).unwrap();
    rig.forwarder.process(&batch_from(&events(4, 5..6), 100)).await;
    assert_eq!(*transport.counts.lock().unwrap().get(A).unwrap(), transport_calls, "nothing sent for a parked key");
    assert_eq!(parked_len(&rig.objects).await, 24);
}

async fn parked_len(objects: &MemoryObjectStore) -> usize {
    objects.list("parked/").await.unwrap().len()
}

#[tokio::test(start_paused = true)]
async fn a_refused_message_parks_and_its_key_waits_while_other_keys_go_on() {
    // The first request of agent 0 is refused (400); everything else is accepted.
    let first = Arc::new(Mutex::new(true));
    let transport = {
        let first = Arc::clone(&first);
        Scripted::new(move |_, _| (Duration::ZERO, Ok(status(200)))).with_refusal(first)
    };
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(20)).await;
    let records = day(3, 4);
    rig.forwarder.process(&batch(&records)).await;
    let seen = ids_by_key(&transport.seen(A));
    let expected = expected_ids(&records);
    let agent0 = expected.keys().next().unwrap().clone();
    assert!(!seen.contains_key(&agent0), "agent 0's later messages wait behind its parked one");
    for (key, ids) in &expected {
        if *key != agent0 {
            assert_eq!(&seen[key], ids);
        }
    }
    let parked = parked(&rig.objects).await;
    assert_eq!(parked.len(), 4);
    assert!(parked[0].reason.contains("HTTP 400"), "{:?}", parked[0].reason);
    assert!(parked[1..].iter().all(|p| p.reason.contains("behind")));
}

trait WithRefusal {
    fn with_refusal(self, first: Arc<Mutex<bool>>) -> Self;
}

impl WithRefusal for Scripted {
    /// Refuses (400) the very first request that carries agent 0's first event, once.
    fn with_refusal(self, first: Arc<Mutex<bool>>) -> Self {
        let inner = Arc::clone(&self.script);
        let seen = Arc::clone(&self.seen);
        let _ = seen;
        Self {
            script: Arc::new(Box::new(move |url, n| {
                let mut f = first.lock().unwrap();
                if *f {
                    *f = false;
                    return (Duration::ZERO, Ok(status(400)));
                }
                inner(url, n)
            })),
            ..self
        }
    }
}

#[tokio::test(start_paused = true)]
async fn gone_disables_the_subscription_and_parks_the_rest() {
    let transport = Scripted::new(|_, _| (Duration::ZERO, Ok(status(410))));
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(20)).await;
    rig.forwarder.process(&batch(&day(2, 3))).await;
    assert_eq!(parked_len(&rig.objects).await, 6);
    let disabled = rig.table.get("a", "DISABLED").await.unwrap().expect("disabled mark");
    assert_eq!(disabled["reason"], "410 Gone");
    let calls = *transport.counts.lock().unwrap().get(A).unwrap();
    assert!(calls <= 2, "after the first 410 nothing more is sent ({calls} requests; two keys were in flight)");
    // Next batch: the subscription stays disabled, nothing is sent.
    rig.forwarder.process(&batch_from(&events(2, 3..4), 100)).await;
    assert_eq!(*transport.counts.lock().unwrap().get(A).unwrap(), calls);
    assert_eq!(parked_len(&rig.objects).await, 8);
}

#[tokio::test(start_paused = true)]
async fn when_parking_fails_the_record_and_its_keys_later_records_are_retried() {
    let transport = Scripted::new(|_, _| (Duration::ZERO, Ok(status(500))));
    // A parking store that always fails (the state table answers; the object store throttles).
    unsafe { std::env::set_var("FORWARDER_TEST_SECRET", SECRET) };
    let objects = shared::adapters::intercept::Intercepted::new(MemoryObjectStore::new(), FailPuts);
    let table = MemoryItemStore::new(&[]);
    let parking = Parking { objects, prefix: "parked/".into(), table };
    let forwarder = StreamForwarder::new(
        subscriptions(&doc(&[("a", A, "")])).unwrap(),
        EnvSecrets,
        transport,
        parking,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let mut records = day(2, 2);
    records.insert(1, b"not json".to_vec());
    let dispositions = forwarder.process(&batch(&records)).await;
    assert!(matches!(dispositions[1], Disposition::Poison(_)), "bad input is quarantined, not retried");
    for (i, d) in dispositions.iter().enumerate() {
        if i != 1 {
            assert!(d.is_retry(), "{i}: {d:?}");
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct FailPuts;

impl shared::adapters::intercept::Hook for FailPuts {
    async fn before(&self, call: &shared::adapters::intercept::Call<'_>) -> shared::adapters::intercept::Verdict {
        match call {
            shared::adapters::intercept::Call::PutObject { .. } => {
                shared::adapters::intercept::Verdict::Fail(shared::ports::PortError::transient("s3", "SlowDown"))
            }
            _ => shared::adapters::intercept::Verdict::Pass,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn batches_hold_at_most_n_messages_in_order_with_inner_ids() {
    let transport = Scripted::ok();
    let rig =
        rig(&doc(&[("a", A, r#", "batch": {"max_messages": 7}"#)]), transport.clone(), Duration::from_secs(20)).await;
    let records = day(3, 10);
    rig.forwarder.process(&batch(&records)).await;
    let seen = transport.seen(A);
    assert_eq!(seen.len(), 5, "30 messages in batches of at most 7");
    for s in &seen {
        assert_eq!(s.body["type"], "connect.batch");
        assert!(s.body["data"].as_array().unwrap().len() <= 7);
        assert!(s.headers["webhook-id"].to_str().unwrap().starts_with("batch_"));
    }
    assert_eq!(ids_by_key(&seen), expected_ids(&records));
}

#[tokio::test(start_paused = true)]
async fn bodies_leave_out_the_phone_number_and_attributes_unless_listed() {
    let transport = Scripted::ok();
    let listed = r#", "fields": ["ContactId", "CustomerEndpoint.Address"]"#;
    let rig = rig(&doc(&[("a", A, ""), ("b", B, listed)]), transport.clone(), Duration::from_secs(20)).await;
    let ctr = contact_record();
    assert!(String::from_utf8_lossy(&ctr).contains("+15555550123"));
    rig.forwarder.process(&batch(&[ctr])).await;
    let a = &transport.seen(A)[0];
    let text = a.body.to_string();
    assert!(!text.contains("+15555550123") && a.body["data"].get("Attributes").is_none(), "{text}");
    assert!(a.body["data"].get("Queue").is_some());
    assert!(a.headers["webhook-id"].to_str().unwrap().starts_with("cr_"));
    let b = &transport.seen(B)[0];
    assert_eq!(
        b.body["data"],
        json!({"ContactId": b.body["data"]["ContactId"], "CustomerEndpoint": {"Address": "+15555550123"}})
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_record_always_gets_the_same_webhook_id() {
    let transport = Scripted::ok();
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(20)).await;
    let records = vec![agent_event(0, 1), contact_record()];
    rig.forwarder.process(&batch(&records)).await;
    rig.forwarder.process(&batch(&records)).await;
    let ids: Vec<String> =
        transport.seen(A).iter().map(|s| s.headers["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[..2].iter().collect::<std::collections::BTreeSet<_>>(), ids[2..].iter().collect());
}

#[tokio::test(start_paused = true)]
async fn resend_sends_the_parked_messages_in_order_once_and_frees_their_keys() {
    // The endpoint is down for the first batch, then up.
    let down = Arc::new(Mutex::new(true));
    let transport = {
        let down = Arc::clone(&down);
        Scripted::new(move |_, _| {
            if *down.lock().unwrap() { (Duration::ZERO, Ok(status(503))) } else { (Duration::ZERO, Ok(status(200))) }
        })
    };
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(5)).await;
    let first = day(3, 4);
    rig.forwarder.process(&batch(&first)).await;
    assert_eq!(parked_len(&rig.objects).await, 12);
    *down.lock().unwrap() = false;
    // While the key is parked, a new batch parks behind (not sent), so order holds.
    let second = events(3, 4..5);
    rig.forwarder.process(&batch_from(&second, 100)).await;
    assert!(transport.seen(A).is_empty());
    assert_eq!(parked_len(&rig.objects).await, 15);

    let sub = &subscriptions(&doc(&[("a", A, "")])).unwrap()[0];
    let secrets = Secrets::parse(SECRET).unwrap();
    let parking = Parking { objects: rig.objects.clone(), prefix: "parked/".into(), table: rig.table.clone() };
    let mut listed = Vec::new();
    let dry =
        stream_forwarder::resend::resend(sub, &secrets, &transport, &parking, Duration::from_secs(10), true, |p| {
            listed.push(p.message.id.clone())
        })
        .await
        .unwrap();
    assert_eq!((dry.sent, listed.len()), (0, 15), "a dry run sends nothing and lists everything");
    assert!(transport.seen(A).is_empty());

    let done =
        stream_forwarder::resend::resend(sub, &secrets, &transport, &parking, Duration::from_secs(10), false, |_| {})
            .await
            .unwrap();
    assert_eq!((done.keys, done.sent, done.left, done.keys_cleared), (3, 15, 0, 3));
    let all: Vec<Vec<u8>> = first.iter().chain(&second).cloned().collect();
    assert_eq!(ids_by_key(&transport.seen(A)), expected_ids(&all), "every parked message once, in order per key");
    assert_eq!(parked_len(&rig.objects).await, 0);
    let again =
        stream_forwarder::resend::resend(sub, &secrets, &transport, &parking, Duration::from_secs(10), false, |_| {})
            .await
            .unwrap();
    assert_eq!(again.sent, 0, "running it again sends nothing");
    // The keys are free: once the warm function's breaker (tripped by the outage) has cooled down, the next batch is
    // delivered directly, after the re-sent ones.
    tokio::time::sleep(stream_forwarder::handler::COOL_DOWN).await;
    let third = events(3, 5..6);
    rig.forwarder.process(&batch_from(&third, 200)).await;
    let all: Vec<Vec<u8>> = first.iter().chain(&second).chain(&third).cloned().collect();
    assert_eq!(ids_by_key(&transport.seen(A)), expected_ids(&all));
}

#[tokio::test(start_paused = true)]
async fn messages_parked_by_later_batches_are_resent_behind_the_first() {
    let transport = Scripted::new(|_, _| (Duration::ZERO, Ok(status(503))));
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(2)).await;
    rig.forwarder.process(&batch(&day(1, 1))).await;
    assert_eq!(parked_len(&rig.objects).await, 1);
    let sub = &subscriptions(&doc(&[("a", A, "")])).unwrap()[0];
    let secrets = Secrets::parse(SECRET).unwrap();
    let parking = Parking { objects: rig.objects.clone(), prefix: "parked/".into(), table: rig.table.clone() };
    let ok = Scripted::ok();
    rig.forwarder.process(&batch_from(&events(1, 1..2), 50)).await;
    let done = stream_forwarder::resend::resend(sub, &secrets, &ok, &parking, Duration::from_secs(10), false, |_| {})
        .await
        .unwrap();
    assert_eq!((done.sent, done.keys_cleared), (2, 1), "both re-sent in order, the key cleared after the last");
    assert_eq!(ids_by_key(&ok.seen(A)), expected_ids(&events(1, 0..2)));
}

#[tokio::test(start_paused = true)]
async fn a_tripped_breaker_sends_nothing_during_its_cool_down_then_tries_again() {
    let transport = Scripted::new(|_, _| (Duration::from_secs(3600), Ok(status(200))));
    let rig = rig(&doc(&[("a", A, "")]), transport.clone(), Duration::from_secs(20)).await;
    let started = Instant::now();
    rig.forwarder.process(&batch(&day(8, 1))).await;
    let first = started.elapsed();
    let calls = *transport.counts.lock().unwrap().get(A).unwrap();
    assert!(calls >= stream_forwarder::deliver::BREAKER as usize);
    // New keys within the cool-down: parked at once, no request, no waiting.
    let t = Instant::now();
    let more: Vec<Vec<u8>> = (100..108).map(|a| agent_event(a, 0)).collect();
    rig.forwarder.process(&batch_from(&more, 50)).await;
    assert_eq!(*transport.counts.lock().unwrap().get(A).unwrap(), calls, "no request while the breaker is open");
    assert_eq!(t.elapsed(), Duration::ZERO, "parking at once costs no time (first batch took {first:?})");
    assert_eq!(parked_len(&rig.objects).await, 16);
    // After the cool-down, requests are tried again.
    tokio::time::sleep(stream_forwarder::handler::COOL_DOWN).await;
    let later: Vec<Vec<u8>> = (200..202).map(|a| agent_event(a, 0)).collect();
    rig.forwarder.process(&batch_from(&later, 80)).await;
    assert!(*transport.counts.lock().unwrap().get(A).unwrap() > calls);
}
