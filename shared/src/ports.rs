//! One small trait per capability the functions need. Each is implemented once on the AWS SDK client
//! (`adapters::{s3, dynamodb, sns}`) and once in memory or on the local filesystem (`adapters::{memory, fs}`).

use std::collections::BTreeMap;
use std::future::Future;

use serde_json::Value;

/// An error from an adapter. Every error knows whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The request was refused and had no effect (throttling, 4xx): report the record, Lambda delivers it again.
    #[error("transient {service} error: {detail}")]
    Transient { service: &'static str, detail: String },
    /// Timeouts, 5xx, lost connections: retry, but the request may have taken effect (e.g. a message published
    /// whose answer was lost). Callers that must not repeat an effect treat this differently from `Transient`.
    #[error("transient {service} error, outcome unknown: {detail}")]
    Ambiguous { service: &'static str, detail: String },
    /// The request can never succeed for this record (e.g. an item over DynamoDB's 400 KB limit): quarantine it.
    #[error("permanent {service} error: {detail}")]
    Permanent { service: &'static str, detail: String },
}

impl PortError {
    pub fn transient(service: &'static str, detail: impl Into<String>) -> Self {
        Self::Transient { service, detail: detail.into() }
    }
    pub fn ambiguous(service: &'static str, detail: impl Into<String>) -> Self {
        Self::Ambiguous { service, detail: detail.into() }
    }
    pub fn permanent(service: &'static str, detail: impl Into<String>) -> Self {
        Self::Permanent { service, detail: detail.into() }
    }
    /// Retrying can help (both `Transient` and `Ambiguous`).
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Permanent { .. })
    }
    /// The request certainly had no effect.
    pub fn is_definite(&self) -> bool {
        !matches!(self, Self::Ambiguous { .. })
    }
    /// The same error, as a retryable one (for a caller that knows retrying is right anyway).
    pub fn into_transient(self) -> Self {
        match self {
            Self::Permanent { service, detail } => Self::Transient { service, detail },
            other => other,
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;

// ---------------------------------------------------------------------------------------------------------------
// Objects (S3)

#[derive(Debug, Clone, PartialEq)]
pub struct PutObject {
    pub key: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// An object with this key exists already (S3 answered 412 to `If-None-Match: *`).
    AlreadyExists,
}

pub trait ObjectStore: Send + Sync {
    /// Writes the object only if no object has the key (`If-None-Match: *`), with an integrity checksum.
    fn put_if_absent(&self, object: PutObject) -> impl Future<Output = PortResult<PutOutcome>> + Send;
    fn get(&self, key: &str) -> impl Future<Output = PortResult<Option<Vec<u8>>>> + Send;
    /// All keys under a prefix, sorted.
    fn list(&self, prefix: &str) -> impl Future<Output = PortResult<Vec<String>>> + Send;
    /// Deletes the object if it exists (deleting a missing key succeeds, as in S3).
    fn delete(&self, key: &str) -> impl Future<Output = PortResult<()>> + Send;
}

// ---------------------------------------------------------------------------------------------------------------
// Items (DynamoDB). Every table has a string partition key `pk` and sort key `sk`; items are JSON objects
// (strings → S, numbers → N, objects → M, arrays → L, booleans → BOOL, null → NULL).

pub type Item = serde_json::Map<String, Value>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// The TTL attribute of every table (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";

/// A global secondary index: items that carry `pk_attr` appear in it, ordered by `sk_attr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub pk_attr: &'static str,
    pub sk_attr: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Always,
    /// No item with this key exists.
    NotExists,
    /// No item exists, or its string attribute `attr` is absent or sorts before `value`.
    NewerThan {
        attr: &'static str,
        value: String,
    },
    /// The item exists and `attr` equals `value`.
    Equals {
        attr: &'static str,
        value: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    ConditionFailed,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// `None` for the table itself.
    pub index: Option<&'static str>,
    pub pk: String,
    /// Inclusive sort-key range.
    pub sk_between: Option<(String, String)>,
    pub sk_prefix: Option<String>,
    pub limit: Option<usize>,
}

/// An item's `(pk, sk)`; an item without both as strings is refused (permanently, as `service` would refuse it).
pub fn item_key(item: &Item, service: &'static str) -> PortResult<(String, String)> {
    let key = |name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| PortError::permanent(service, format!("item lacks string key attribute {name}")))
    };
    Ok((key(PK)?, key(SK)?))
}

/// Most companion items one [`ItemStore::update`] writes atomically (DynamoDB's 100 actions per
/// `TransactWriteItems`, less the update itself).
pub const MAX_ATOMIC_PUTS: usize = 99;

/// The keys of an atomic update's companion items, checked as DynamoDB checks a `TransactWriteItems`: at most
/// [`MAX_ATOMIC_PUTS`], each with its own key, none the updated item's (the reference for every store).
pub fn atomic_put_keys(updated: (&str, &str), puts: &[Item]) -> PortResult<Vec<(String, String)>> {
    if puts.len() > MAX_ATOMIC_PUTS {
        return Err(PortError::permanent("dynamodb", format!("{} items in one atomic write", puts.len() + 1)));
    }
    let mut keys: Vec<(String, String)> = Vec::with_capacity(puts.len());
    for item in puts {
        let key = item_key(item, "dynamodb")?;
        if (key.0.as_str(), key.1.as_str()) == updated || keys.contains(&key) {
            return Err(PortError::permanent("dynamodb", "one atomic write names an item twice"));
        }
        keys.push(key);
    }
    Ok(keys)
}

pub trait ItemStore: Send + Sync {
    fn put(&self, item: Item, condition: Condition) -> impl Future<Output = PortResult<WriteOutcome>> + Send;
    /// Sets the given attributes (creating the item if absent), leaving every other attribute as it is
    /// (DynamoDB `UpdateItem` with `SET`); `remove` names attributes to delete.
    ///
    /// `puts` are other whole items (keys other than `pk`/`sk`, at most [`MAX_ATOMIC_PUTS`]) written in the same
    /// atomic write: all of it happens only if `condition` holds, or none of it. Empty, this is one `UpdateItem`;
    /// otherwise one `TransactWriteItems`, which DynamoDB bills at twice the write units — so only for writes whose
    /// companions must not exist without them.
    fn update(
        &self,
        pk: &str,
        sk: &str,
        set: Item,
        remove: &[&'static str],
        condition: Condition,
        puts: Vec<Item>,
    ) -> impl Future<Output = PortResult<WriteOutcome>> + Send;
    fn get(&self, pk: &str, sk: &str) -> impl Future<Output = PortResult<Option<Item>>> + Send;
    /// Unconditional idempotent puts, sent in groups of 25; unprocessed items are retried within the call.
    fn batch_put(&self, items: Vec<Item>) -> impl Future<Output = PortResult<()>> + Send;
    fn query(&self, query: Query) -> impl Future<Output = PortResult<Vec<Item>>> + Send;
    /// Deletes the item if `condition` holds (DynamoDB `DeleteItem`; a missing item with `Always` is applied).
    fn delete(&self, pk: &str, sk: &str, condition: Condition)
    -> impl Future<Output = PortResult<WriteOutcome>> + Send;
}

// ---------------------------------------------------------------------------------------------------------------
// Messages (SNS)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique within one publish call (SNS batch entry id: alphanumeric, `-`, `_`, ≤ 80 chars).
    pub id: String,
    pub subject: String,
    pub body: String,
    /// String message attributes that subscription filter policies match on.
    pub attributes: BTreeMap<String, String>,
    /// `body` is a JSON object of one message per protocol (`default`, `https`, …): SNS `MessageStructure=json`.
    pub per_protocol: bool,
}

/// SNS accepts at most 10 entries per `PublishBatch`.
pub const MAX_PUBLISH_BATCH: usize = 10;

pub trait Publisher: Send + Sync {
    /// Publishes up to [`MAX_PUBLISH_BATCH`] messages; one result per message, in order.
    fn publish_batch(&self, messages: &[Message]) -> impl Future<Output = PortResult<Vec<PortResult<()>>>> + Send;
}
