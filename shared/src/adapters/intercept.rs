//! One interceptor for every port: [`Intercepted`] wraps an adapter and shows each call to a [`Hook`] before it
//! runs (the hook decides its fate: run it, fail it, run it and lose the answer, or answer a publish per entry)
//! and after (the hook sees the answer the caller gets). Fault injection ([`Faulty`](super::fault::Faulty)), the
//! chaos run's probes and the tests' failing or interleaving stores are hooks, so no test re-implements a port.

use std::future::Future;
use std::sync::Arc;

use crate::ports::*;
use crate::quarantine::{Quarantine, QuarantineEntry};

/// A port call with its arguments, as a hook sees it.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    /// [`ObjectStore::put_if_absent`].
    PutObject(&'a PutObject),
    /// [`ObjectStore::get`].
    GetObject { key: &'a str },
    /// [`ObjectStore::list`].
    ListObjects { prefix: &'a str },
    /// [`ObjectStore::delete`].
    DeleteObject { key: &'a str },
    /// [`ItemStore::put`].
    PutItem { item: &'a Item, condition: &'a Condition },
    /// [`ItemStore::update`].
    UpdateItem {
        pk: &'a str,
        sk: &'a str,
        set: &'a Item,
        remove: &'a [&'static str],
        condition: &'a Condition,
        puts: &'a [Item],
    },
    /// [`ItemStore::get`].
    GetItem { pk: &'a str, sk: &'a str },
    /// [`ItemStore::delete`].
    DeleteItem { pk: &'a str, sk: &'a str, condition: &'a Condition },
    /// [`ItemStore::batch_put`].
    BatchPut { items: &'a [Item] },
    /// [`ItemStore::query`].
    Query(&'a Query),
    /// [`Publisher::publish_batch`].
    Publish { messages: &'a [Message] },
    /// [`Quarantine::quarantine`].
    Quarantine(&'a QuarantineEntry),
}

impl Call<'_> {
    /// The AWS service the call goes to, as [`PortError`]s name it.
    pub fn service(&self) -> &'static str {
        match self {
            Call::PutObject(_)
            | Call::GetObject { .. }
            | Call::ListObjects { .. }
            | Call::DeleteObject { .. }
            | Call::Quarantine(_) => "s3",
            Call::Publish { .. } => "sns",
            _ => "dynamodb",
        }
    }

    /// The port method's name.
    pub fn method(&self) -> &'static str {
        match self {
            Call::PutObject(_) => "put_if_absent",
            Call::GetObject { .. } | Call::GetItem { .. } => "get",
            Call::ListObjects { .. } => "list",
            Call::DeleteObject { .. } | Call::DeleteItem { .. } => "delete",
            Call::PutItem { .. } => "put",
            Call::UpdateItem { .. } => "update",
            Call::BatchPut { .. } => "batch_put",
            Call::Query(_) => "query",
            Call::Publish { .. } => "publish_batch",
            Call::Quarantine(_) => "quarantine",
        }
    }
}

/// What happens to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The call runs and its answer goes back.
    Pass,
    /// The call does not run; the caller gets the error.
    Fail(PortError),
    /// The call runs (its effect is durable), then the answer is lost: the caller gets the error (or the call's
    /// own error, if it failed).
    ApplyThenFail(PortError),
    /// A publish does not run; the caller gets these per-entry results (one per message). For any other call
    /// this is a mistake of the hook, answered with a permanent error.
    Entries(Vec<PortResult<()>>),
}

/// A successful answer, as a hook sees it after the call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer<'a> {
    Put(PutOutcome),
    Object(Option<&'a [u8]>),
    Keys(&'a [String]),
    Write(WriteOutcome),
    Item(Option<&'a Item>),
    Items(&'a [Item]),
    /// `batch_put` and `quarantine`.
    Done,
    Entries(&'a [PortResult<()>]),
}

/// Decides each call's fate before it runs and may observe the result after. Both default to doing nothing.
pub trait Hook: Send + Sync {
    /// Before the call; may wait (e.g. yield to the scheduler so that concurrent callers interleave).
    fn before(&self, call: &Call<'_>) -> impl Future<Output = Verdict> + Send {
        let _ = call;
        async { Verdict::Pass }
    }

    /// After the call, with what the caller gets (an injected error included).
    fn after(&self, call: &Call<'_>, result: Result<Answer<'_>, &PortError>) {
        let _ = (call, result);
    }
}

impl<H: Hook + ?Sized> Hook for Arc<H> {
    fn before(&self, call: &Call<'_>) -> impl Future<Output = Verdict> + Send {
        (**self).before(call)
    }
    fn after(&self, call: &Call<'_>, result: Result<Answer<'_>, &PortError>) {
        (**self).after(call, result)
    }
}

/// Any port, with every call shown to a hook.
#[derive(Debug, Clone, Default)]
pub struct Intercepted<T, H> {
    inner: T,
    hook: H,
}

impl<T, H> Intercepted<T, H> {
    pub fn new(inner: T, hook: H) -> Self {
        Self { inner, hook }
    }
    pub fn inner(&self) -> &T {
        &self.inner
    }
    pub fn hook(&self) -> &H {
        &self.hook
    }
}

fn misused(call: &Call<'_>) -> PortError {
    PortError::permanent(call.service(), format!("hook answered {} with per-entry results", call.method()))
}

impl<T, H: Hook> Intercepted<T, H> {
    /// Runs `inner` (not yet started) under the hook's verdict; `answer` shows its success to `after`.
    async fn run<R>(
        &self,
        call: Call<'_>,
        inner: impl Future<Output = PortResult<R>> + Send,
        answer: impl Fn(&R) -> Answer<'_> + Send,
    ) -> PortResult<R> {
        let result = match self.hook.before(&call).await {
            Verdict::Pass => inner.await,
            Verdict::Fail(e) => Err(e),
            Verdict::ApplyThenFail(e) => inner.await.and(Err(e)),
            Verdict::Entries(_) => Err(misused(&call)),
        };
        self.hook.after(&call, result.as_ref().map(answer));
        result
    }
}

impl<T: ObjectStore, H: Hook> ObjectStore for Intercepted<T, H> {
    async fn put_if_absent(&self, object: PutObject) -> PortResult<PutOutcome> {
        let call = Call::PutObject(&object);
        self.run(call, self.inner.put_if_absent(object.clone()), |o| Answer::Put(*o)).await
    }
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        self.run(Call::GetObject { key }, self.inner.get(key), |o| Answer::Object(o.as_deref())).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        self.run(Call::ListObjects { prefix }, self.inner.list(prefix), |k| Answer::Keys(k)).await
    }
    async fn delete(&self, key: &str) -> PortResult<()> {
        self.run(Call::DeleteObject { key }, self.inner.delete(key), |_| Answer::Done).await
    }
}

impl<T: ItemStore, H: Hook> ItemStore for Intercepted<T, H> {
    async fn put(&self, item: Item, condition: Condition) -> PortResult<WriteOutcome> {
        let call = Call::PutItem { item: &item, condition: &condition };
        self.run(call, self.inner.put(item.clone(), condition.clone()), |o| Answer::Write(*o)).await
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
        let call = Call::UpdateItem { pk, sk, set: &set, remove, condition: &condition, puts: &puts };
        let inner = self.inner.update(pk, sk, set.clone(), remove, condition.clone(), puts.clone());
        self.run(call, inner, |o| Answer::Write(*o)).await
    }
    async fn get(&self, pk: &str, sk: &str) -> PortResult<Option<Item>> {
        self.run(Call::GetItem { pk, sk }, self.inner.get(pk, sk), |i| Answer::Item(i.as_ref())).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> PortResult<WriteOutcome> {
        let call = Call::DeleteItem { pk, sk, condition: &condition };
        self.run(call, self.inner.delete(pk, sk, condition.clone()), |o| Answer::Write(*o)).await
    }
    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        let call = Call::BatchPut { items: &items };
        self.run(call, self.inner.batch_put(items.clone()), |_| Answer::Done).await
    }
    async fn query(&self, query: Query) -> PortResult<Vec<Item>> {
        let call = Call::Query(&query);
        self.run(call, self.inner.query(query.clone()), |i| Answer::Items(i)).await
    }
}

impl<T: Publisher, H: Hook> Publisher for Intercepted<T, H> {
    async fn publish_batch(&self, messages: &[Message]) -> PortResult<Vec<PortResult<()>>> {
        let call = Call::Publish { messages };
        let result = match self.hook.before(&call).await {
            Verdict::Pass => self.inner.publish_batch(messages).await,
            Verdict::Fail(e) => Err(e),
            Verdict::ApplyThenFail(e) => self.inner.publish_batch(messages).await.and(Err(e)),
            Verdict::Entries(entries) if entries.len() == messages.len() => Ok(entries),
            Verdict::Entries(_) => Err(PortError::permanent("sns", "hook answered a publish with a wrong entry count")),
        };
        self.hook.after(&call, result.as_deref().map(Answer::Entries));
        result
    }
}

impl<T: Quarantine, H: Hook> Quarantine for Intercepted<T, H> {
    async fn quarantine(&self, entry: &QuarantineEntry) -> PortResult<()> {
        self.run(Call::Quarantine(entry), self.inner.quarantine(entry), |_| Answer::Done).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::adapters::memory::{MemoryItemStore, MemoryPublisher};

    /// Fails `update`s with a lost response, answers publishes with per-entry failures, and logs what it saw.
    #[derive(Default)]
    struct Script {
        seen: Mutex<Vec<String>>,
    }

    impl Hook for Script {
        async fn before(&self, call: &Call<'_>) -> Verdict {
            match call {
                Call::UpdateItem { .. } => Verdict::ApplyThenFail(PortError::ambiguous("dynamodb", "lost")),
                Call::Publish { messages } => Verdict::Entries(
                    messages.iter().map(|_| Err(PortError::transient("sns", "entry failed"))).collect(),
                ),
                Call::GetItem { .. } => Verdict::Fail(PortError::transient("dynamodb", "throttled")),
                _ => Verdict::Pass,
            }
        }
        fn after(&self, call: &Call<'_>, result: Result<Answer<'_>, &PortError>) {
            let outcome = match result {
                Ok(a) => format!("{a:?}"),
                Err(e) => format!("error: {e}"),
            };
            self.seen.lock().unwrap().push(format!("{} {outcome}", call.method()));
        }
    }

    fn item(pk: &str) -> Item {
        serde_json::json!({"pk": pk, "sk": "-"}).as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn a_lost_response_applies_the_write_and_the_hook_sees_the_error_the_caller_gets() {
        let store = Intercepted::new(MemoryItemStore::new(&[]), Script::default());
        assert!(store.update("a", "-", Item::new(), &[], Condition::Always, Vec::new()).await.is_err());
        assert!(store.get("a", "-").await.is_err(), "the get is failed before it runs");
        assert!(store.inner().get("a", "-").await.unwrap().is_some(), "the update happened");
        assert_eq!(store.put(item("b"), Condition::NotExists).await, Ok(WriteOutcome::Applied));
        assert_eq!(
            *store.hook().seen.lock().unwrap(),
            [
                "update error: transient dynamodb error, outcome unknown: lost",
                "get error: transient dynamodb error: throttled",
                "put Write(Applied)",
            ]
        );
    }

    #[tokio::test]
    async fn per_entry_results_answer_a_publish_without_sending_it() {
        let publisher = Intercepted::new(MemoryPublisher::new(), Script::default());
        let message = Message {
            id: "1".into(),
            subject: "s".into(),
            body: "b".into(),
            attributes: Default::default(),
            per_protocol: false,
        };
        let results = publisher.publish_batch(&[message]).await.unwrap();
        assert_eq!(results, [Err(PortError::transient("sns", "entry failed"))]);
        assert!(publisher.inner().published().is_empty());
        assert_eq!(publisher.hook().seen.lock().unwrap().len(), 1);
    }
}
