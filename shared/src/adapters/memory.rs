//! In-memory adapters: the reference semantics of each port, used by handler tests, the simulator and the replay.
//! They are cheap to clone (shared state behind an `Arc`) and count calls like the AWS adapters cost them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use crate::ports::*;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a test thread panicked while holding it; the data is still usable for assertions.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Calls made against an adapter, as the AWS bill would count them.
#[derive(Debug, Default)]
pub struct CallCounter(AtomicUsize);

impl CallCounter {
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

// -- objects -----------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct MemoryObjectStore {
    objects: Arc<Mutex<BTreeMap<String, PutObject>>>,
    /// PUT requests made (including ones answered "already exists").
    pub puts: Arc<CallCounter>,
}

impl MemoryObjectStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn objects(&self) -> BTreeMap<String, PutObject> {
        lock(&self.objects).clone()
    }
    pub fn len(&self) -> usize {
        lock(&self.objects).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ObjectStore for MemoryObjectStore {
    async fn put_if_absent(&self, object: PutObject) -> PortResult<PutOutcome> {
        self.puts.add(1);
        let mut objects = lock(&self.objects);
        if objects.contains_key(&object.key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        objects.insert(object.key.clone(), object);
        Ok(PutOutcome::Created)
    }
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        Ok(lock(&self.objects).get(key).map(|o| o.body.clone()))
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        Ok(lock(&self.objects)
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
    async fn delete(&self, key: &str) -> PortResult<()> {
        lock(&self.objects).remove(key);
        Ok(())
    }
}

// -- items -------------------------------------------------------------------------------------------------------

/// A table with DynamoDB's condition semantics, keyed by (`pk`, `sk`), with optional GSIs.
#[derive(Debug, Clone, Default)]
pub struct MemoryItemStore {
    items: Arc<Mutex<BTreeMap<(String, String), Item>>>,
    indexes: Arc<Vec<IndexDef>>,
    /// Single-item writes and deletes made (conditional or not), as DynamoDB would bill requests.
    pub writes: Arc<CallCounter>,
    /// BatchWriteItem calls made.
    pub batch_writes: Arc<CallCounter>,
    pub reads: Arc<CallCounter>,
}

fn key_of(item: &Item) -> PortResult<(String, String)> {
    item_key(item, "dynamodb")
}

/// The item UpdateItem starts from when none is stored: its keys alone.
pub fn keys_only(pk: &str, sk: &str) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), Value::String(pk.to_owned()));
    item.insert(SK.into(), Value::String(sk.to_owned()));
    item
}

/// UpdateItem's REMOVE then SET on `item` (one definition for the memory and SQLite stores).
pub fn apply_update(item: &mut Item, set: Item, remove: &[&'static str]) {
    for attr in remove {
        item.remove(*attr);
    }
    item.extend(set);
}

/// Whether `condition` holds for the current item (`None` = no item).
pub fn condition_holds(current: Option<&Item>, condition: &Condition) -> bool {
    match condition {
        Condition::Always => true,
        Condition::NotExists => current.is_none(),
        Condition::NewerThan { attr, value } => match current.and_then(|c| c.get(*attr)) {
            None => true,
            Some(Value::String(held)) => held.as_str() < value.as_str(),
            Some(_) => false,
        },
        Condition::Equals { attr, value } => current.and_then(|c| c.get(*attr)) == Some(value),
    }
}

impl MemoryItemStore {
    pub fn new(indexes: &[IndexDef]) -> Self {
        Self { indexes: Arc::new(indexes.to_vec()), ..Self::default() }
    }
    pub fn all(&self) -> Vec<Item> {
        lock(&self.items).values().cloned().collect()
    }
    /// Replaces the contents (used to load a saved local store).
    pub fn load(&self, items: Vec<Item>) -> PortResult<()> {
        let mut map = lock(&self.items);
        map.clear();
        for item in items {
            map.insert(key_of(&item)?, item);
        }
        Ok(())
    }
}

impl ItemStore for MemoryItemStore {
    async fn put(&self, item: Item, condition: Condition) -> PortResult<WriteOutcome> {
        self.writes.add(1);
        let key = key_of(&item)?;
        let mut items = lock(&self.items);
        if !condition_holds(items.get(&key), &condition) {
            return Ok(WriteOutcome::ConditionFailed);
        }
        items.insert(key, item);
        Ok(WriteOutcome::Applied)
    }
    async fn update(
        &self,
        pk: &str,
        sk: &str,
        set: Item,
        remove: &[&'static str],
        condition: Condition,
        puts: Vec<Item>,
    ) -> PortResult<WriteOutcome> {
        self.writes.add(1);
        let companions = atomic_put_keys((pk, sk), &puts)?.into_iter().zip(puts);
        let key = (pk.to_owned(), sk.to_owned());
        let mut items = lock(&self.items);
        if !condition_holds(items.get(&key), &condition) {
            return Ok(WriteOutcome::ConditionFailed);
        }
        apply_update(items.entry(key).or_insert_with(|| keys_only(pk, sk)), set, remove);
        items.extend(companions);
        Ok(WriteOutcome::Applied)
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> PortResult<WriteOutcome> {
        self.writes.add(1);
        let key = (pk.to_owned(), sk.to_owned());
        let mut items = lock(&self.items);
        if !condition_holds(items.get(&key), &condition) {
            return Ok(WriteOutcome::ConditionFailed);
        }
        items.remove(&key);
        Ok(WriteOutcome::Applied)
    }
    async fn get(&self, pk: &str, sk: &str) -> PortResult<Option<Item>> {
        self.reads.add(1);
        Ok(lock(&self.items).get(&(pk.to_owned(), sk.to_owned())).cloned())
    }
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        self.batch_writes.add(items.len().div_ceil(25));
        let mut map = lock(&self.items);
        for item in items {
            map.insert(key_of(&item)?, item);
        }
        Ok(())
    }
    async fn query(&self, query: Query) -> PortResult<Vec<Item>> {
        self.reads.add(1);
        let (pk_attr, sk_attr) = match query.index {
            None => (PK, SK),
            Some(name) => {
                let idx = self
                    .indexes
                    .iter()
                    .find(|i| i.name == name)
                    .ok_or_else(|| PortError::permanent("dynamodb", format!("no index {name}")))?;
                (idx.pk_attr, idx.sk_attr)
            }
        };
        let items = lock(&self.items);
        let mut out: Vec<Item> = items
            .values()
            .filter(|i| i.get(pk_attr).and_then(Value::as_str) == Some(query.pk.as_str()))
            .filter(|i| {
                let sk = i.get(sk_attr).and_then(Value::as_str);
                let Some(sk) = sk else { return query.index.is_none() };
                query.sk_between.as_ref().is_none_or(|(lo, hi)| lo.as_str() <= sk && sk <= hi.as_str())
                    && query.sk_prefix.as_ref().is_none_or(|p| sk.starts_with(p.as_str()))
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            let k = |i: &Item| i.get(sk_attr).and_then(Value::as_str).map(str::to_owned);
            k(a).cmp(&k(b))
        });
        if let Some(limit) = query.limit {
            out.truncate(limit);
        }
        Ok(out)
    }
}

// -- messages ----------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct MemoryPublisher {
    published: Arc<Mutex<Vec<Message>>>,
    pub calls: Arc<CallCounter>,
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn published(&self) -> Vec<Message> {
        lock(&self.published).clone()
    }
}

impl Publisher for MemoryPublisher {
    async fn publish_batch(&self, messages: &[Message]) -> PortResult<Vec<PortResult<()>>> {
        if messages.len() > MAX_PUBLISH_BATCH {
            return Err(PortError::permanent("sns", "more than 10 entries in one PublishBatch"));
        }
        self.calls.add(1);
        lock(&self.published).extend(messages.iter().cloned());
        Ok(messages.iter().map(|_| Ok(())).collect())
    }
}
