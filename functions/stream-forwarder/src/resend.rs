//! Re-sending a subscription's parked messages (`connect-replay forward resend`): key by key, each key's messages in
//! stream order, exactly as the function would have sent them (same id and body; fresh timestamp and signature).
//! Each object is deleted once acknowledged; a key's mark is deleted when none of its messages is left and only
//! while it still names the sequence read before the last listing, so a message parked meanwhile keeps its key
//! parked. A key whose message is not acknowledged stops there (its later messages stay, in order); the others go
//! on. Running it again sends nothing already acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use shared::ports::{Condition, ItemStore, ObjectStore, PortError, PortResult};
use tokio::time::Instant;

use crate::config::Subscription;
use crate::deliver::{Live, Outgoing, Sent, Tally, batch_body, batch_id, send};
use crate::park::{KEY_PREFIX, LAST_SEQUENCE, Parked, Parking, State};
use crate::sign::Secrets;
use crate::transport::Transport;

/// What a re-send did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resent {
    pub keys: usize,
    pub sent: usize,
    /// Messages left parked (their key stopped at one that was not acknowledged), with the first reason per key.
    pub left: usize,
    pub stopped: Vec<(String, String)>,
    pub keys_cleared: usize,
}

/// Re-sends `subscription`'s parked messages; with `dry_run`, only lists them (`on_message` sees each, in order).
pub async fn resend<T, O, I>(
    subscription: &Subscription,
    secrets: &Secrets,
    transport: &T,
    parking: &Parking<O, I>,
    per_message: Duration,
    dry_run: bool,
    mut on_message: impl FnMut(&Parked),
) -> PortResult<Resent>
where
    T: Transport,
    O: ObjectStore,
    I: ItemStore,
{
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for object in parking.objects.list(&parking.prefix_of(&subscription.name, None)).await? {
        let hash = object.rsplit('/').nth(1).unwrap_or_default().to_owned();
        by_key.entry(hash).or_default().push(object);
    }
    let keys = by_key.len();
    // Keys are independent: several at once; inside a key, strictly in order. `on_message` sees them key by key.
    let mut listed = Vec::new();
    for objects in by_key.values() {
        for object in objects {
            if let Some(bytes) = parking.objects.get(object).await? {
                let parked: Parked = serde_json::from_slice(&bytes)
                    .map_err(|e| PortError::permanent("s3", format!("{object}: not a parked message: {e}")))?;
                on_message(&parked);
                listed.push(parked);
            }
        }
    }
    if dry_run {
        return Ok(Resent { keys, ..Resent::default() });
    }
    let results: Vec<PortResult<KeyResent>> = futures::stream::iter(by_key)
        .map(|(hash, objects)| resend_key(subscription, secrets, transport, parking, per_message, hash, objects))
        .buffer_unordered(KEYS_AT_ONCE)
        .collect()
        .await;
    let mut out = Resent { keys, ..Resent::default() };
    for r in results {
        let r = r?;
        out.sent += r.sent;
        out.left += r.left;
        out.keys_cleared += usize::from(r.cleared);
        if let Some(stop) = r.stopped {
            out.stopped.push(stop);
        }
    }
    out.stopped.sort();
    drop(listed);
    Ok(out)
}

/// Keys re-sent at once.
const KEYS_AT_ONCE: usize = 16;

struct KeyResent {
    sent: usize,
    left: usize,
    cleared: bool,
    stopped: Option<(String, String)>,
}

async fn resend_key<T, O, I>(
    subscription: &Subscription,
    secrets: &Secrets,
    transport: &T,
    parking: &Parking<O, I>,
    per_message: Duration,
    hash: String,
    mut objects: Vec<String>,
) -> PortResult<KeyResent>
where
    T: Transport,
    O: ObjectStore,
    I: ItemStore,
{
    let mut out = KeyResent { sent: 0, left: 0, cleared: false, stopped: None };
    loop {
        for object in &objects {
            let Some(bytes) = parking.objects.get(object).await? else { continue };
            let parked: Parked = serde_json::from_slice(&bytes)
                .map_err(|e| PortError::permanent("s3", format!("{object}: not a parked message: {e}")))?;
            let (id, body) = wire(subscription, &parked);
            let live = Live {
                subscription,
                secrets,
                state: State::default(),
                disabled: AtomicBool::new(false),
                failures: AtomicU32::new(0),
                deadline: Instant::now() + per_message,
            };
            match send(&live, &id, Bytes::from(body), transport, &Tally::default()).await {
                Sent::Delivered => {
                    parking.objects.delete(object).await?;
                    out.sent += 1;
                }
                Sent::Gone(_) => {
                    out.stopped = Some((hash.clone(), "410 Gone".to_owned()));
                    break;
                }
                Sent::Undelivered(reason, _) => {
                    out.stopped = Some((hash.clone(), reason));
                    break;
                }
            }
        }
        if out.stopped.is_some() {
            out.left = parking.objects.list(&parking.prefix_of(&subscription.name, Some(&hash))).await?.len();
            return Ok(out);
        }
        // Every message listed is acknowledged: clear the mark unless something was parked meanwhile.
        let sk = format!("{KEY_PREFIX}{hash}");
        let mark = parking.table.get(&subscription.name, &sk).await?;
        let last = mark.as_ref().and_then(|m| m.get(LAST_SEQUENCE)).cloned().unwrap_or(Value::Null);
        objects = parking.objects.list(&parking.prefix_of(&subscription.name, Some(&hash))).await?;
        if !objects.is_empty() {
            continue;
        }
        if mark.is_none() {
            return Ok(out);
        }
        let condition = Condition::Equals { attr: LAST_SEQUENCE, value: last };
        if parking.table.delete(&subscription.name, &sk, condition).await? == shared::ports::WriteOutcome::Applied {
            out.cleared = true;
            return Ok(out);
        }
        objects = parking.objects.list(&parking.prefix_of(&subscription.name, Some(&hash))).await?;
    }
}

/// The `webhook-id` and body a parked message goes out with: as the function sends to this subscription.
fn wire(subscription: &Subscription, parked: &Parked) -> (String, Vec<u8>) {
    if subscription.batch > 1 {
        let one = [Outgoing {
            index: 0,
            key: parked.key.clone(),
            message: parked.message.clone(),
            stream_arn: parked.stream_arn.clone(),
            shard_id: parked.shard_id.clone(),
            sequence_number: parked.sequence_number.clone(),
        }];
        (batch_id(&one), batch_body(&one))
    } else {
        (parked.message.id.clone(), parked.message.single_body())
    }
}
