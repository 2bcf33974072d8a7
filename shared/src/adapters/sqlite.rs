//! An embedded table for the replay tool: SQLite (bundled, through rusqlite) as an [`ItemStore`], so a month of a
//! large centre replays in flat memory — the items live in a file, not in the process.
//!
//! Why SQLite: one file, no server, transactions that make a conditional write atomic, B-tree order for sort-key
//! ranges and expression indexes for the GSIs, and the library compiled into the tool (`bundled`), so the demo needs
//! no setup. DynamoDB's condition semantics are kept exactly by evaluating them with the memory store's own
//! [`condition_holds`] on the current item, inside the write's transaction: one definition, three adapters, one
//! conformance test (`shared/tests/item_stores.rs`).
//!
//! Items are stored as their JSON text under (`pk`, `sk`); each GSI is an index on `json_extract` of its two
//! attributes. The connection sits behind a mutex (the functions' calls are short and local); WAL journal and
//! `synchronous=OFF` because the file is a replay's scratch state, rebuilt by replaying again, never the record.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use crate::adapters::memory::{CallCounter, apply_update, condition_holds, keys_only};
use crate::ports::*;

/// An [`ItemStore`] in one SQLite file (or in memory, for tests).
#[derive(Debug, Clone)]
pub struct SqliteItemStore {
    conn: Arc<Mutex<Connection>>,
    indexes: Arc<Vec<IndexDef>>,
    path: Option<PathBuf>,
    /// Single-item writes and deletes made, as DynamoDB would bill requests.
    pub writes: Arc<CallCounter>,
    pub reads: Arc<CallCounter>,
}

fn db_err(e: rusqlite::Error) -> PortError {
    PortError::permanent("sqlite", e.to_string())
}

fn key_of(item: &Item) -> PortResult<(String, String)> {
    item_key(item, "sqlite")
}

/// A GSI attribute as a JSON path (attribute names are the project's own constants: letters, digits, `_`).
fn json_path(attr: &str) -> String {
    format!("'$.\"{attr}\"'")
}

impl SqliteItemStore {
    /// Opens (or creates) the table in `path`, with `indexes`.
    pub fn open(path: &Path, indexes: &[IndexDef]) -> PortResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| PortError::permanent("sqlite", e.to_string()))?;
        }
        let conn =
            Connection::open(path).map_err(|e| PortError::permanent("sqlite", format!("{}: {e}", path.display())))?;
        Self::init(conn, indexes, Some(path.to_owned()))
    }

    /// A table in memory (tests).
    pub fn in_memory(indexes: &[IndexDef]) -> PortResult<Self> {
        Self::init(Connection::open_in_memory().map_err(db_err)?, indexes, None)
    }

    fn init(conn: Connection, indexes: &[IndexDef], path: Option<PathBuf>) -> PortResult<Self> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = OFF;
             PRAGMA cache_size = -16384;
             CREATE TABLE IF NOT EXISTS items (pk TEXT NOT NULL, sk TEXT NOT NULL, body TEXT NOT NULL,
                                               PRIMARY KEY (pk, sk)) WITHOUT ROWID;",
        )
        .map_err(db_err)?;
        for idx in indexes {
            let (p, s) = (json_path(idx.pk_attr), json_path(idx.sk_attr));
            conn.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS \"gsi_{}\" ON items (json_extract(body, {p}), json_extract(body, {s}))",
                idx.name
            ))
            .map_err(db_err)?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            indexes: Arc::new(indexes.to_vec()),
            path,
            writes: Arc::default(),
            reads: Arc::default(),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every item whose `sk` is `sk`, in key order (the replay's board reads the `CURRENT` items this way).
    pub fn with_sort_key(&self, sk: &str) -> PortResult<Vec<Item>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT body FROM items WHERE sk = ?1 ORDER BY pk").map_err(db_err)?;
        let rows = stmt.query_map(params![sk], |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.map(|r| parse(&r.map_err(db_err)?)).collect()
    }

    /// How many items the table holds.
    pub fn len(&self) -> PortResult<usize> {
        let n: i64 = self.conn().query_row("SELECT count(*) FROM items", [], |r| r.get(0)).map_err(db_err)?;
        Ok(usize::try_from(n).unwrap_or_default())
    }

    pub fn is_empty(&self) -> PortResult<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads the current item, checks `condition`, and (if it holds) applies `write` — in one transaction.
    fn conditional(
        &self,
        pk: &str,
        sk: &str,
        condition: &Condition,
        write: impl FnOnce(&Connection, Option<Item>) -> PortResult<()>,
    ) -> PortResult<WriteOutcome> {
        self.writes.add(1);
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db_err)?;
        let current = read(&tx, pk, sk)?;
        if !condition_holds(current.as_ref(), condition) {
            return Ok(WriteOutcome::ConditionFailed);
        }
        write(&tx, current)?;
        tx.commit().map_err(db_err)?;
        Ok(WriteOutcome::Applied)
    }
}

fn parse(body: &str) -> PortResult<Item> {
    serde_json::from_str(body).map_err(|e| PortError::permanent("sqlite", format!("stored item is not JSON: {e}")))
}

fn read(conn: &Connection, pk: &str, sk: &str) -> PortResult<Option<Item>> {
    let mut stmt = conn.prepare_cached("SELECT body FROM items WHERE pk = ?1 AND sk = ?2").map_err(db_err)?;
    let body: Option<String> = stmt.query_row(params![pk, sk], |r| r.get(0)).optional().map_err(db_err)?;
    body.as_deref().map(parse).transpose()
}

fn store(conn: &Connection, pk: &str, sk: &str, item: &Item) -> PortResult<()> {
    let body = serde_json::to_string(item).map_err(|e| PortError::permanent("sqlite", e.to_string()))?;
    let mut stmt =
        conn.prepare_cached("INSERT OR REPLACE INTO items (pk, sk, body) VALUES (?1, ?2, ?3)").map_err(db_err)?;
    stmt.execute(params![pk, sk, body]).map_err(db_err)?;
    Ok(())
}

impl ItemStore for SqliteItemStore {
    async fn put(&self, item: Item, condition: Condition) -> PortResult<WriteOutcome> {
        let (pk, sk) = key_of(&item)?;
        self.conditional(&pk, &sk, &condition, |conn, _| store(conn, &pk, &sk, &item))
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
        let companions: Vec<_> = atomic_put_keys((pk, sk), &puts)?.into_iter().zip(puts).collect();
        self.conditional(pk, sk, &condition, |conn, current| {
            let mut item = current.unwrap_or_else(|| keys_only(pk, sk));
            apply_update(&mut item, set, remove);
            store(conn, pk, sk, &item)?;
            companions.iter().try_for_each(|((pk, sk), item)| store(conn, pk, sk, item))
        })
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> PortResult<WriteOutcome> {
        self.conditional(pk, sk, &condition, |conn, _| {
            let mut stmt = conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2").map_err(db_err)?;
            stmt.execute(params![pk, sk]).map_err(db_err)?;
            Ok(())
        })
    }

    async fn get(&self, pk: &str, sk: &str) -> PortResult<Option<Item>> {
        self.reads.add(1);
        read(&self.conn(), pk, sk)
    }

    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        self.writes.add(items.len().div_ceil(25));
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db_err)?;
        for item in &items {
            let (pk, sk) = key_of(item)?;
            store(&tx, &pk, &sk, item)?;
        }
        tx.commit().map_err(db_err)
    }

    async fn query(&self, query: Query) -> PortResult<Vec<Item>> {
        self.reads.add(1);
        let (pk_col, sk_col) = match query.index {
            None => ("pk".to_owned(), "sk".to_owned()),
            Some(name) => {
                let idx = self
                    .indexes
                    .iter()
                    .find(|i| i.name == name)
                    .ok_or_else(|| PortError::permanent("sqlite", format!("no index {name}")))?;
                (
                    format!("json_extract(body, {})", json_path(idx.pk_attr)),
                    format!("json_extract(body, {})", json_path(idx.sk_attr)),
                )
            }
        };
        // An item without the index's sort key is not in the index (DynamoDB: sparse GSIs).
        let mut sql = format!("SELECT body FROM items WHERE {pk_col} = ?1 AND {sk_col} IS NOT NULL");
        let mut args: Vec<String> = vec![query.pk.clone()];
        if let Some((lo, hi)) = &query.sk_between {
            args.push(lo.clone());
            args.push(hi.clone());
            sql.push_str(&format!(" AND {sk_col} >= ?{} AND {sk_col} <= ?{}", args.len() - 1, args.len()));
        }
        if let Some(prefix) = &query.sk_prefix {
            // substr compares bytes as the memory store's starts_with does (no LIKE wildcards or case folding).
            args.push(prefix.clone());
            sql.push_str(&format!(" AND substr({sk_col}, 1, length(?{n})) = ?{n}", n = args.len()));
        }
        sql.push_str(&format!(" ORDER BY {sk_col}"));
        if let Some(limit) = query.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
        let rows =
            stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.map(|r| parse(&r.map_err(db_err)?)).collect()
    }
}
