//! Parked messages and the forwarder's state: what could not be delivered in time goes to S3 with everything needed
//! to send it later, and the key is marked parked so its later messages park behind it; a subscription an endpoint
//! answered `410 Gone` is marked disabled.
//!
//! S3: `<prefix><subscription>/<key hash>/<sequence number, 40 digits>.json` — listed in key-then-sequence order,
//! which is the order to re-send in. State table: `pk = <subscription>`, `sk = KEY#<key hash>` (a parked key) or
//! `DISABLED`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::ports::{Condition, Item, ItemStore, ObjectStore, PortResult, PutObject, Query};

use crate::message::Message;

pub const DISABLED_SK: &str = "DISABLED";
pub const KEY_PREFIX: &str = "KEY#";
/// The mark's attribute holding the sequence number of the key's latest parked message.
pub const LAST_SEQUENCE: &str = "last_sequence";

/// A parked message: the message as it would have been sent, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    pub subscription: String,
    pub key: String,
    pub message: Message,
    pub stream_arn: String,
    pub shard_id: String,
    pub sequence_number: String,
    pub reason: String,
    pub attempts: u32,
    pub parked_at: String,
}

/// The hash a key is filed under (agent ARNs and contact ids are long and may hold `/`).
pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// A sequence number left-padded to 40 digits, so that string order is stream order.
pub fn padded(sequence_number: &str) -> String {
    format!("{sequence_number:0>40}")
}

/// A subscription's state at the start of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub disabled: bool,
    pub parked_keys: BTreeSet<String>,
}

/// Where parked messages and the state live.
pub struct Parking<O, I> {
    pub objects: O,
    pub prefix: String,
    pub table: I,
}

impl<O: ObjectStore, I: ItemStore> Parking<O, I> {
    /// The subscription's parked keys and whether it is disabled: one Query of its partition.
    pub async fn state(&self, subscription: &str) -> PortResult<State> {
        let items = self.table.query(Query { pk: subscription.to_owned(), ..Query::default() }).await?;
        let mut state = State::default();
        for item in items {
            match item.get(shared::ports::SK).and_then(Value::as_str) {
                Some(DISABLED_SK) => state.disabled = true,
                Some(sk) if sk.starts_with(KEY_PREFIX) => {
                    state.parked_keys.insert(sk[KEY_PREFIX.len()..].to_owned());
                }
                _ => {}
            }
        }
        Ok(state)
    }

    /// Parks a message: the object first (written once: a redelivery finds it there), then the key's mark with the
    /// message's sequence number. If the mark cannot be written the record is retried (and with it every later record
    /// of the key), so nothing of the key is sent past a parked message. `resend` deletes a mark only while it still
    /// names the sequence it read, so a message parked while it works is never stranded.
    pub async fn park(&self, parked: &Parked) -> PortResult<()> {
        let hash = key_hash(&parked.key);
        let body = serde_json::to_vec(parked).map_err(|e| shared::ports::PortError::permanent("s3", e.to_string()))?;
        let key = format!("{}{}/{hash}/{}.json", self.prefix, parked.subscription, padded(&parked.sequence_number));
        self.objects
            .put_if_absent(PutObject { key, body, content_type: "application/json", content_encoding: None })
            .await?;
        let mut set = Item::new();
        set.insert("key".into(), parked.key.clone().into());
        set.insert(LAST_SEQUENCE.into(), parked.sequence_number.clone().into());
        set.insert("reason".into(), parked.reason.clone().into());
        self.table
            .update(&parked.subscription, &format!("{KEY_PREFIX}{hash}"), set, &[], Condition::Always, Vec::new())
            .await?;
        Ok(())
    }

    /// The prefix of a subscription's parked objects (and of one key's, with `key_hash`).
    pub fn prefix_of(&self, subscription: &str, key_hash: Option<&str>) -> String {
        match key_hash {
            Some(hash) => format!("{}{subscription}/{hash}/", self.prefix),
            None => format!("{}{subscription}/", self.prefix),
        }
    }

    /// Marks a subscription disabled (an endpoint answered `410 Gone`).
    pub async fn disable(&self, subscription: &str, reason: &str, at: &str) -> PortResult<()> {
        let mut item = Item::new();
        item.insert(shared::ports::PK.into(), subscription.into());
        item.insert(shared::ports::SK.into(), DISABLED_SK.into());
        item.insert("reason".into(), reason.into());
        item.insert("at".into(), at.into());
        self.table.put(item, Condition::Always).await.map(|_| ())
    }
}
