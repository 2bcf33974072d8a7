//! A port hook that meters AWS calls as the AWS adapters would make them, optionally delaying each by a fixed
//! latency (a stand-in for the network): the in-memory adapters behind an [`Intercepted`] hook.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shared::adapters::intercept::{Answer, Call, Hook, Intercepted, Verdict};
use shared::ports::{Item, PortError};

/// A port behind the meter.
pub type Metered<T> = Intercepted<T, Arc<Meter>>;

/// Counts by what each costs at list prices, plus requests in flight.
#[derive(Debug, Default)]
pub struct Meter {
    delay: Duration,
    /// Whether to size items (serialising each: CPU a timed run must not include).
    sizes: bool,
    /// AWS requests (a batch put counts one `BatchWriteItem` per 25 items).
    pub requests: AtomicUsize,
    in_flight: AtomicUsize,
    pub peak: AtomicUsize,
    /// DynamoDB write request units of single-item writes and batch-put items (1 per started KB of the item
    /// written; an `UpdateItem` is charged on the item's size after the update — counted here on what it sets, a
    /// lower bound; the table's GSIs are charged by the caller).
    pub write_units: AtomicUsize,
    /// Of those, the units of `UpdateItem`s (what a table's GSIs are written again).
    pub update_units: AtomicUsize,
    pub item_writes: AtomicUsize,
    /// DynamoDB reads (`GetItem` strongly consistent: 1 read unit per started 4 KB; `Query` counted as 1 per call).
    pub reads: AtomicUsize,
    pub s3_puts: AtomicUsize,
    pub sns_publishes: AtomicUsize,
}

impl Meter {
    /// Counts requests (cheap: for timed runs), delaying each by `delay`.
    pub fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self { delay, ..Self::default() })
    }

    /// Also sizes every item written (write units), without delay.
    pub fn sizing() -> Arc<Self> {
        Arc::new(Self { sizes: true, ..Self::default() })
    }

    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }
}

/// AWS requests a port call makes: `DynamoItemStore::batch_put` sends one `BatchWriteItem` per 25 items, all at
/// once (so the delay is one round trip); every other call is one request.
pub fn requests(call: &Call<'_>) -> usize {
    match call {
        Call::BatchPut { items } => items.len().div_ceil(25).max(1),
        _ => 1,
    }
}

/// DynamoDB's item size, approximated by the JSON size of its attributes (names and values).
pub fn item_kb(item: &Item) -> usize {
    // (A JSON string per item: only for sizing runs.)
    serde_json::to_vec(item).map_or(1, |v| v.len().div_ceil(1024).max(1))
}

impl Hook for Meter {
    fn before(&self, call: &Call<'_>) -> impl Future<Output = Verdict> + Send {
        let n = requests(call);
        self.requests.fetch_add(n, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
        let kb = |item: &Item| if self.sizes { item_kb(item) } else { 1 };
        match call {
            Call::PutItem { item, .. } => {
                self.write_units.fetch_add(kb(item), Ordering::Relaxed);
                self.item_writes.fetch_add(1, Ordering::Relaxed);
            }
            Call::UpdateItem { set, puts, .. } => {
                // With companion items it is one TransactWriteItems: twice the write units of each item.
                let factor = if puts.is_empty() { 1 } else { 2 };
                self.write_units.fetch_add(factor * (kb(set) + puts.iter().map(kb).sum::<usize>()), Ordering::Relaxed);
                self.update_units.fetch_add(kb(set), Ordering::Relaxed);
                self.item_writes.fetch_add(1 + puts.len(), Ordering::Relaxed);
            }
            Call::DeleteItem { .. } => {
                self.write_units.fetch_add(1, Ordering::Relaxed);
                self.item_writes.fetch_add(1, Ordering::Relaxed);
            }
            Call::BatchPut { items } => {
                self.write_units.fetch_add(items.iter().map(kb).sum(), Ordering::Relaxed);
                self.item_writes.fetch_add(items.len(), Ordering::Relaxed);
            }
            Call::GetItem { .. } | Call::Query(_) => {
                self.reads.fetch_add(1, Ordering::Relaxed);
            }
            Call::PutObject(_) | Call::Quarantine(_) => {
                self.s3_puts.fetch_add(1, Ordering::Relaxed);
            }
            Call::Publish { messages } => {
                self.sns_publishes.fetch_add(messages.len(), Ordering::Relaxed);
            }
            _ => {}
        }
        let delay = self.delay;
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Verdict::Pass
        }
    }

    fn after(&self, call: &Call<'_>, _result: Result<Answer<'_>, &PortError>) {
        self.in_flight.fetch_sub(requests(call), Ordering::Relaxed);
    }
}
