//! One conformance test of DynamoDB's condition and query semantics, run on every [`ItemStore`]: the memory store
//! (unit tests), the embedded SQLite store (the replay tool's local tables) and DynamoDB itself on moto
//! (`scripts/test.sh` starts it; `--include-ignored`). A store that differs from DynamoDB anywhere here fails.
#![cfg(feature = "sqlite")]

use serde_json::json;
use shared::adapters::memory::MemoryItemStore;
use shared::adapters::sqlite::SqliteItemStore;
use shared::ports::*;

fn item(v: serde_json::Value) -> Item {
    v.as_object().unwrap().clone()
}

const INDEXES: [IndexDef; 1] = [IndexDef { name: "by-team", pk_attr: "gsi1pk", sk_attr: "gsi1sk" }];

async fn conditions(store: &impl ItemStore) {
    let a = item(json!({"pk": "agent-1", "sk": "CURRENT", "order": "2026-11-02T09:00:00.000Z#b", "n": 1}));
    let newer = Condition::NewerThan { attr: "order", value: "2026-11-02T09:00:00.000Z#b".into() };
    assert_eq!(store.put(a.clone(), newer.clone()).await.unwrap(), WriteOutcome::Applied);
    // Same order again: not newer → conditional-check failure surfaces as ConditionFailed, not an error.
    assert_eq!(store.put(a.clone(), newer).await.unwrap(), WriteOutcome::ConditionFailed);
    let older = Condition::NewerThan { attr: "order", value: "2026-11-02T08:59:59.999Z#z".into() };
    assert_eq!(store.put(a.clone(), older).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.put(a.clone(), Condition::NotExists).await.unwrap(), WriteOutcome::ConditionFailed);
    // NewerThan on an item without the attribute holds.
    let bare = item(json!({"pk": "agent-9", "sk": "CURRENT"}));
    assert_eq!(store.put(bare, Condition::Always).await.unwrap(), WriteOutcome::Applied);
    let newer = Condition::NewerThan { attr: "order", value: "2026-11-02T09:00:00.000Z#a".into() };
    assert_eq!(
        store.update("agent-9", "CURRENT", item(json!({"x": 1})), &[], newer, Vec::new()).await.unwrap(),
        WriteOutcome::Applied
    );

    let set = item(json!({"order": "2026-11-02T09:00:01.000Z#a", "logged_in": true}));
    let cond = Condition::NewerThan { attr: "order", value: "2026-11-02T09:00:01.000Z#a".into() };
    assert_eq!(store.update("agent-1", "CURRENT", set, &["n"], cond, Vec::new()).await.unwrap(), WriteOutcome::Applied);
    let got = store.get("agent-1", "CURRENT").await.unwrap().unwrap();
    assert_eq!(got.get("logged_in"), Some(&json!(true)));
    assert_eq!(got.get("n"), None, "REMOVE applied");
    assert_eq!(got.get("pk"), Some(&json!("agent-1")), "the key stays");

    let claim = || item(json!({"claimed": "lambda-1"}));
    let eq = Condition::Equals { attr: "logged_in", value: json!(false) };
    assert_eq!(
        store.update("agent-1", "CURRENT", claim(), &[], eq, Vec::new()).await.unwrap(),
        WriteOutcome::ConditionFailed
    );
    assert_eq!(store.get("agent-1", "CURRENT").await.unwrap().unwrap().get("claimed"), None, "nothing written");
    let eq = Condition::Equals { attr: "logged_in", value: json!(true) };
    assert_eq!(
        store.update("agent-1", "CURRENT", claim(), &[], eq.clone(), Vec::new()).await.unwrap(),
        WriteOutcome::Applied
    );
    let got = store.get("agent-1", "CURRENT").await.unwrap().unwrap();
    assert_eq!(got.get("claimed"), Some(&json!("lambda-1")));
    // Equals needs the item to exist: an update under it never creates one.
    assert_eq!(
        store.update("agent-2", "CURRENT", claim(), &[], eq, Vec::new()).await.unwrap(),
        WriteOutcome::ConditionFailed
    );
    assert_eq!(store.get("agent-2", "CURRENT").await.unwrap(), None);
    // An unconditional update creates the item with its key.
    assert_eq!(
        store.update("agent-3", "CURRENT", claim(), &[], Condition::Always, Vec::new()).await.unwrap(),
        WriteOutcome::Applied
    );
    let created = store.get("agent-3", "CURRENT").await.unwrap().unwrap();
    assert_eq!(created, item(json!({"pk": "agent-3", "sk": "CURRENT", "claimed": "lambda-1"})));

    // Conditional deletes: Equals on a value that differs leaves the item; on the held value removes it.
    let wrong = Condition::Equals { attr: "claimed", value: json!("lambda-2") };
    assert_eq!(store.delete("agent-3", "CURRENT", wrong).await.unwrap(), WriteOutcome::ConditionFailed);
    assert!(store.get("agent-3", "CURRENT").await.unwrap().is_some());
    let right = Condition::Equals { attr: "claimed", value: json!("lambda-1") };
    assert_eq!(store.delete("agent-3", "CURRENT", right.clone()).await.unwrap(), WriteOutcome::Applied);
    assert_eq!(store.get("agent-3", "CURRENT").await.unwrap(), None);
    assert_eq!(store.delete("agent-3", "CURRENT", right).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.delete("agent-3", "CURRENT", Condition::Always).await.unwrap(), WriteOutcome::Applied);
}

/// An update with companion items: all of it or none of it, under the update's condition.
async fn atomic(store: &impl ItemStore) {
    let order = |o: &str| Condition::NewerThan { attr: "order", value: o.into() };
    let hist = |n: u32| item(json!({"pk": "agent-7", "sk": format!("HIST#{n:03}"), "end": n, "nested": {"a": [n]}}));
    let set = item(json!({"order": "b", "logged_in": true}));
    let outcome = store.update("agent-7", "CURRENT", set, &[], order("b"), vec![hist(1), hist(2)]).await.unwrap();
    assert_eq!(outcome, WriteOutcome::Applied);
    assert_eq!(store.get("agent-7", "HIST#001").await.unwrap(), Some(hist(1)));
    assert_eq!(store.get("agent-7", "HIST#002").await.unwrap(), Some(hist(2)));
    assert_eq!(store.get("agent-7", "CURRENT").await.unwrap().unwrap().get("logged_in"), Some(&json!(true)));

    // The condition fails: neither the update nor any companion is written.
    let set = item(json!({"order": "a", "logged_in": false}));
    let outcome = store.update("agent-7", "CURRENT", set, &["order"], order("a"), vec![hist(3)]).await.unwrap();
    assert_eq!(outcome, WriteOutcome::ConditionFailed);
    assert_eq!(store.get("agent-7", "HIST#003").await.unwrap(), None, "no companion without the update");
    assert_eq!(store.get("agent-7", "CURRENT").await.unwrap().unwrap().get("logged_in"), Some(&json!(true)));

    // Companions replace whole items, and REMOVE applies with them.
    let replaced = item(json!({"pk": "agent-7", "sk": "HIST#001", "end": 9}));
    let set = item(json!({"order": "c"}));
    let outcome = store.update("agent-7", "CURRENT", set, &["logged_in"], order("c"), vec![replaced.clone()]).await;
    assert_eq!(outcome.unwrap(), WriteOutcome::Applied);
    assert_eq!(store.get("agent-7", "HIST#001").await.unwrap(), Some(replaced));
    assert_eq!(store.get("agent-7", "CURRENT").await.unwrap().unwrap().get("logged_in"), None);

    // What one atomic write cannot hold is refused, permanently, and nothing is written.
    let twice =
        store.update("agent-7", "CURRENT", item(json!({"order": "d"})), &[], order("d"), vec![hist(4), hist(4)]);
    assert!(!twice.await.unwrap_err().is_transient(), "the same item twice");
    let many: Vec<Item> = (10..10 + MAX_ATOMIC_PUTS as u32 + 1).map(hist).collect();
    let over = store.update("agent-7", "CURRENT", item(json!({"order": "d"})), &[], order("d"), many);
    assert!(!over.await.unwrap_err().is_transient(), "more than {MAX_ATOMIC_PUTS} companions");
    assert_eq!(store.get("agent-7", "HIST#004").await.unwrap(), None);
    assert_eq!(store.get("agent-7", "CURRENT").await.unwrap().unwrap().get("order"), Some(&json!("c")));
    let most: Vec<Item> = (10..10 + MAX_ATOMIC_PUTS as u32).map(hist).collect();
    let outcome = store.update("agent-7", "CURRENT", item(json!({"order": "d"})), &[], order("d"), most).await;
    assert_eq!(outcome.unwrap(), WriteOutcome::Applied, "{MAX_ATOMIC_PUTS} companions fit");
    let last = format!("HIST#{:03}", 10 + MAX_ATOMIC_PUTS - 1);
    assert!(store.get("agent-7", &last).await.unwrap().is_some());
}

async fn queries(store: &impl ItemStore) {
    let items: Vec<Item> = (0..60)
        .map(|i| {
            item(json!({
                "pk": "agent-1", "sk": format!("HIST#{i:03}"), "gsi1pk": if i % 2 == 0 { "blue" } else { "green" },
                "gsi1sk": format!("{i:03}"), "nested": {"list": [1, "two", null], "flag": false}, "expires_at": 1_900_000_000
            }))
        })
        .collect();
    store.batch_put(items.clone()).await.unwrap();
    // Not in the index: no index sort key.
    store.put(item(json!({"pk": "agent-1", "sk": "CURRENT", "gsi1pk": "blue"})), Condition::Always).await.unwrap();
    store
        .put(item(json!({"pk": "agent-2", "sk": "HIST#000", "gsi1pk": "blue", "gsi1sk": "999"})), Condition::Always)
        .await
        .unwrap();

    let all = store.query(Query { pk: "agent-1".into(), ..Query::default() }).await.unwrap();
    assert_eq!(all.len(), 61);
    assert_eq!(all[0].get("sk"), Some(&json!("CURRENT")), "in sort-key order");
    assert_eq!(all[6], items[5], "nested values survive the round trip");
    let range =
        Query { pk: "agent-1".into(), sk_between: Some(("HIST#010".into(), "HIST#019".into())), ..Query::default() };
    assert_eq!(store.query(range).await.unwrap().len(), 10, "between is inclusive");
    let prefix = Query { pk: "agent-1".into(), sk_prefix: Some("HIST#05".into()), limit: Some(3), ..Query::default() };
    let got: Vec<_> = store.query(prefix).await.unwrap().iter().map(|i| i["sk"].clone()).collect();
    assert_eq!(got, [json!("HIST#050"), json!("HIST#051"), json!("HIST#052")]);
    let odd = Query { pk: "agent-1".into(), sk_prefix: Some("hist#".into()), ..Query::default() };
    assert!(store.query(odd).await.unwrap().is_empty(), "prefixes are case-sensitive");

    let blue = store.query(Query { index: Some("by-team"), pk: "blue".into(), ..Query::default() }).await.unwrap();
    assert_eq!(blue.len(), 31, "an item without the index's sort key is not in the index");
    assert_eq!(blue.last().unwrap().get("pk"), Some(&json!("agent-2")), "ordered by the index's sort key");
    let few = Query {
        index: Some("by-team"),
        pk: "green".into(),
        sk_between: Some(("010".into(), "020".into())),
        ..Query::default()
    };
    assert_eq!(store.query(few).await.unwrap().len(), 5);
}

#[tokio::test]
async fn the_memory_store() {
    let store = MemoryItemStore::new(&INDEXES);
    conditions(&store).await;
    atomic(&store).await;
    queries(&MemoryItemStore::new(&INDEXES)).await;
}

#[tokio::test]
async fn the_embedded_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteItemStore::open(&dir.path().join("t.sqlite"), &INDEXES).unwrap();
    conditions(&store).await;
    atomic(&store).await;
    queries(&SqliteItemStore::in_memory(&INDEXES).unwrap()).await;
    // What was written is there after reopening the file.
    drop(store);
    let again = SqliteItemStore::open(&dir.path().join("t.sqlite"), &INDEXES).unwrap();
    assert_eq!(again.get("agent-1", "CURRENT").await.unwrap().unwrap().get("claimed"), Some(&json!("lambda-1")));
    assert_eq!(again.with_sort_key("CURRENT").unwrap().len(), 3, "agent-1, agent-7, agent-9");
}

#[cfg(feature = "dynamodb")]
mod dynamodb {
    use super::*;
    use shared::adapters::aws::dynamodb::{DynamoItemStore, create_table};

    async fn table() -> DynamoItemStore {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("needs moto: run scripts/test.sh");
        assert!(endpoint.contains("127.0.0.1") || endpoint.contains("localhost"), "loopback only");
        let cfg = shared::adapters::aws::sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&cfg);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("conformance-{}", nanos % 1_000_000_000_000);
        create_table(&client, &name, &INDEXES).await.unwrap();
        DynamoItemStore::new(client, name, &INDEXES)
    }

    #[tokio::test]
    #[ignore = "needs moto: run scripts/test.sh"]
    async fn dynamodb_on_moto() {
        let store = table().await;
        conditions(&store).await;
        atomic(&store).await;
        queries(&table().await).await;
    }
}
