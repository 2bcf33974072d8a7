//! Delivery of one batch's messages to one subscription: per key in stream order (the next message of a key is sent
//! only after the previous one was acknowledged), keys in parallel (bounded), retries with exponential backoff and
//! full jitter inside the time budget, `Retry-After` honoured, and parking for whatever cannot be delivered in time
//! — with every later message of that key parked behind it, so order is never broken.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use rand::Rng;
use shared::ports::{ItemStore, ObjectStore, PortError};
use tokio::time::Instant;

use crate::config::Subscription;
use crate::message::Message;
use crate::park::{Parked, Parking, State, key_hash};
use crate::sign::Secrets;
use crate::transport::{NoAnswer, Transport};

/// Keys of one subscription in flight at once.
pub const KEYS_IN_FLIGHT: usize = 32;
/// Consecutive failed attempts (no answer, 5xx, 429) after which a subscription's endpoint is treated as down for
/// the rest of the invocation: its messages park at once instead of each spending the budget.
pub const BREAKER: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// One message to deliver, with where its record came from.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The record's index in the batch.
    pub index: usize,
    pub key: String,
    pub message: Message,
    pub stream_arn: String,
    pub shard_id: String,
    pub sequence_number: String,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    Delivered,
    Parked(String),
    /// Neither delivered nor durably parked: the record is retried (and the key's later ones with it).
    Failed(PortError),
}

/// A subscription as the delivery sees it during one invocation.
pub struct Live<'a> {
    pub subscription: &'a Subscription,
    pub secrets: &'a Secrets,
    pub state: State,
    pub disabled: AtomicBool,
    pub failures: AtomicU32,
    pub deadline: Instant,
}

/// Counts for metrics and logs.
#[derive(Debug, Default)]
pub struct Tally {
    pub delivered: AtomicU32,
    pub parked: AtomicU32,
    pub attempts: AtomicU32,
    pub disabled: AtomicBool,
}

/// Delivers `messages` (batch order) for one subscription; one fate per message, in the order given.
pub async fn deliver<T, O, I>(
    live: &Live<'_>,
    messages: Vec<Outgoing>,
    transport: &T,
    parking: &Parking<O, I>,
    tally: &Tally,
) -> Vec<(usize, Fate)>
where
    T: Transport,
    O: ObjectStore,
    I: ItemStore,
{
    let mut lanes: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
    if live.subscription.batch > 1 {
        // Batches: one lane, in batch order (keys stay in order inside it).
        lanes.insert(String::new(), messages);
    } else {
        for m in messages {
            lanes.entry(m.key.clone()).or_default().push(m);
        }
    }
    let results: Vec<Vec<(usize, Fate)>> = futures::stream::iter(lanes.into_values())
        .map(|lane| async move {
            if live.subscription.batch > 1 {
                batched_lane(live, lane, transport, parking, tally).await
            } else {
                lane_of_key(live, lane, transport, parking, tally).await
            }
        })
        .buffer_unordered(KEYS_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().flatten().collect()
}

/// One key's messages, in order.
async fn lane_of_key<T: Transport, O: ObjectStore, I: ItemStore>(
    live: &Live<'_>,
    lane: Vec<Outgoing>,
    transport: &T,
    parking: &Parking<O, I>,
    tally: &Tally,
) -> Vec<(usize, Fate)> {
    let mut parked_key = lane.first().is_some_and(|m| live.state.parked_keys.contains(&key_hash(&m.key)));
    let mut stopped: Option<PortError> = None;
    let mut out = Vec::with_capacity(lane.len());
    for m in lane {
        if let Some(error) = &stopped {
            out.push((m.index, Fate::Failed(error.clone())));
            continue;
        }
        let (reason, attempts) = if live.disabled.load(Ordering::Relaxed) || live.state.disabled {
            ("subscription disabled (410 Gone)".to_owned(), 0)
        } else if parked_key {
            ("behind an earlier parked message of this key".to_owned(), 0)
        } else {
            let body = Bytes::from(m.message.single_body());
            match send(live, &m.message.id, body, transport, tally).await {
                Sent::Delivered => {
                    tally.delivered.fetch_add(1, Ordering::Relaxed);
                    out.push((m.index, Fate::Delivered));
                    continue;
                }
                Sent::Gone(attempts) => {
                    disable(live, parking, tally).await;
                    ("410 Gone: subscription disabled".to_owned(), attempts)
                }
                Sent::Undelivered(reason, attempts) => (reason, attempts),
            }
        };
        let fate = park(live, parking, &m, &reason, attempts, tally).await;
        if let Fate::Failed(e) = &fate {
            stopped = Some(e.clone());
        }
        parked_key = true;
        out.push((m.index, fate));
    }
    out
}

/// A subscription with `batch > 1`: chunks of messages in batch order; messages of parked keys park.
async fn batched_lane<T: Transport, O: ObjectStore, I: ItemStore>(
    live: &Live<'_>,
    lane: Vec<Outgoing>,
    transport: &T,
    parking: &Parking<O, I>,
    tally: &Tally,
) -> Vec<(usize, Fate)> {
    let mut parked: std::collections::BTreeSet<String> = live.state.parked_keys.clone();
    let mut stopped: BTreeMap<String, PortError> = BTreeMap::new();
    let mut out = Vec::with_capacity(lane.len());
    let mut pending: Vec<Outgoing> = Vec::new();
    let mut rest = lane.into_iter().peekable();
    while rest.peek().is_some() || !pending.is_empty() {
        // Fill a chunk with messages whose key may be sent; the others park (or fail) in their place.
        while pending.len() < live.subscription.batch
            && let Some(m) = rest.next()
        {
            let hash = key_hash(&m.key);
            if let Some(e) = stopped.get(&hash) {
                out.push((m.index, Fate::Failed(e.clone())));
            } else if parked.contains(&hash) || live.disabled.load(Ordering::Relaxed) || live.state.disabled {
                let fate = park(live, parking, &m, "behind an earlier parked message of this key", 0, tally).await;
                if let Fate::Failed(e) = &fate {
                    stopped.insert(hash, e.clone());
                }
                out.push((m.index, fate));
            } else {
                pending.push(m);
            }
        }
        if pending.is_empty() {
            continue;
        }
        let chunk = std::mem::take(&mut pending);
        let body = Bytes::from(batch_body(&chunk));
        let id = batch_id(&chunk);
        let (reason, attempts) = match send(live, &id, body, transport, tally).await {
            Sent::Delivered => {
                tally.delivered.fetch_add(chunk.len() as u32, Ordering::Relaxed);
                out.extend(chunk.iter().map(|m| (m.index, Fate::Delivered)));
                continue;
            }
            Sent::Gone(attempts) => {
                disable(live, parking, tally).await;
                ("410 Gone: subscription disabled".to_owned(), attempts)
            }
            Sent::Undelivered(reason, attempts) => (reason, attempts),
        };
        for m in &chunk {
            let hash = key_hash(&m.key);
            let fate = if let Some(e) = stopped.get(&hash) {
                Fate::Failed(e.clone())
            } else {
                park(live, parking, m, &reason, attempts, tally).await
            };
            if let Fate::Failed(e) = &fate {
                stopped.insert(hash.clone(), e.clone());
            }
            parked.insert(hash);
            out.push((m.index, fate));
        }
    }
    out
}

/// The body of a batch request: `{"type": "connect.batch", "timestamp", "data": [{id, type, timestamp, data}…]}`.
pub fn batch_body(chunk: &[Outgoing]) -> Vec<u8> {
    let timestamp = chunk.first().map(|m| m.message.timestamp.clone()).unwrap_or_default();
    let data: Vec<&Message> = chunk.iter().map(|m| &m.message).collect();
    serde_json::to_vec(&serde_json::json!({"type": "connect.batch", "timestamp": timestamp, "data": data}))
        .unwrap_or_default()
}

/// A batch's `webhook-id`: stable when the batch holds the same messages.
pub fn batch_id(chunk: &[Outgoing]) -> String {
    use sha2::Digest;
    let joined: Vec<&str> = chunk.iter().map(|m| m.message.id.as_str()).collect();
    let digest = sha2::Sha256::digest(joined.join("\n").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("batch_{hex}")
}

pub(crate) enum Sent {
    Delivered,
    Gone(u32),
    Undelivered(String, u32),
}

/// Sends one request until it is acknowledged, refused for good, or the budget is spent.
pub(crate) async fn send<T: Transport>(live: &Live<'_>, id: &str, body: Bytes, transport: &T, tally: &Tally) -> Sent {
    let sub = live.subscription;
    let mut attempt = 0u32;
    loop {
        if live.failures.load(Ordering::Relaxed) >= BREAKER {
            return Sent::Undelivered(
                format!("endpoint failing ({BREAKER} attempts in a row without success)"),
                attempt,
            );
        }
        let now = Instant::now();
        if now >= live.deadline {
            return Sent::Undelivered("time budget spent".to_owned(), attempt);
        }
        let timeout = sub.timeout.min(live.deadline - now);
        attempt += 1;
        tally.attempts.fetch_add(1, Ordering::Relaxed);
        let timestamp = chrono::Utc::now().timestamp();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(http::header::USER_AGENT, HeaderValue::from_static("connect-stream-forwarder"));
        if let Ok(v) = HeaderValue::from_str(id) {
            headers.insert("webhook-id", v);
        }
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        if let Ok(v) = HeaderValue::from_str(&live.secrets.sign(id, timestamp, &body)) {
            headers.insert("webhook-signature", v);
        }
        let wait = match transport.post(&sub.url.url, headers, body.clone(), timeout).await {
            Ok(answer) if answer.status.is_success() => {
                live.failures.store(0, Ordering::Relaxed);
                return Sent::Delivered;
            }
            Ok(answer) if answer.status == StatusCode::GONE => return Sent::Gone(attempt),
            Ok(answer) if matches!(answer.status.as_u16(), 429 | 503) => {
                live.failures.fetch_add(1, Ordering::Relaxed);
                answer.retry_after.unwrap_or_else(|| backoff(attempt))
            }
            Ok(answer) if answer.status.is_server_error() || matches!(answer.status.as_u16(), 408 | 409 | 425) => {
                live.failures.fetch_add(1, Ordering::Relaxed);
                backoff(attempt)
            }
            Ok(answer) => {
                // Any other answer (4xx, a redirect, 1xx) will not change by sending the same request again.
                return Sent::Undelivered(format!("refused: HTTP {}", answer.status.as_u16()), attempt);
            }
            Err(NoAnswer::Timeout(_) | NoAnswer::Connection(_)) => {
                live.failures.fetch_add(1, Ordering::Relaxed);
                backoff(attempt)
            }
        };
        if Instant::now() + wait >= live.deadline {
            return Sent::Undelivered(
                format!("not delivered within the time budget after {attempt} attempts"),
                attempt,
            );
        }
        tokio::time::sleep(wait).await;
    }
}

/// Exponential backoff with full jitter: uniform in [0, min(cap, base × 2^(attempt-1))].
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(BACKOFF_CAP);
    Duration::from_millis(rand::rng().random_range(0..=ceiling.as_millis() as u64))
}

async fn disable<O: ObjectStore, I: ItemStore>(live: &Live<'_>, parking: &Parking<O, I>, tally: &Tally) {
    if !live.disabled.swap(true, Ordering::SeqCst) {
        tally.disabled.store(true, Ordering::Relaxed);
        let at = shared::model::time::canonical(&chrono::Utc::now());
        tracing::error!(subscription = %live.subscription.name, "endpoint answered 410 Gone: subscription disabled");
        // If this write fails, the subscription is disabled for this invocation only; the next 410 disables it again.
        if let Err(e) = parking.disable(&live.subscription.name, "410 Gone", &at).await {
            tracing::warn!(subscription = %live.subscription.name, error = %e, "could not record the disabled subscription");
        }
    }
}

async fn park<O: ObjectStore, I: ItemStore>(
    live: &Live<'_>,
    parking: &Parking<O, I>,
    m: &Outgoing,
    reason: &str,
    attempts: u32,
    tally: &Tally,
) -> Fate {
    let parked = Parked {
        subscription: live.subscription.name.clone(),
        key: m.key.clone(),
        message: m.message.clone(),
        stream_arn: m.stream_arn.clone(),
        shard_id: m.shard_id.clone(),
        sequence_number: m.sequence_number.clone(),
        reason: reason.to_owned(),
        attempts,
        parked_at: shared::model::time::canonical(&chrono::Utc::now()),
    };
    match parking.park(&parked).await {
        Ok(()) => {
            tally.parked.fetch_add(1, Ordering::Relaxed);
            Fate::Parked(reason.to_owned())
        }
        Err(e) => Fate::Failed(e.into_transient()),
    }
}
