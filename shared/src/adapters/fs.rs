//! Local-filesystem adapters for the replay tool: a directory standing in for S3 (same key layout), alerts as
//! JSON lines, and a saved item table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::adapters::memory::MemoryItemStore;
use crate::ports::*;

fn io_err(e: std::io::Error) -> PortError {
    PortError::transient("fs", e.to_string())
}

/// A directory as an object store: key `a/b/c` is file `ROOT/a/b/c`. `create_new` gives `If-None-Match` semantics.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: PathBuf,
}

impl FsObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    fn path(&self, key: &str) -> PortResult<PathBuf> {
        if key.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(PortError::permanent("fs", "object key with an empty or '..' segment"));
        }
        Ok(self.root.join(key))
    }
}

impl ObjectStore for FsObjectStore {
    async fn put_if_absent(&self, object: PutObject) -> PortResult<PutOutcome> {
        let path = self.path(&object.key)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        // Write to a temporary name, then link it into place only if the key is free: readers never see a partial
        // object, and a concurrent writer of the same key loses cleanly.
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, &object.body).map_err(io_err)?;
        let linked = std::fs::hard_link(&tmp, &path);
        std::fs::remove_file(&tmp).map_err(io_err)?;
        match linked {
            Ok(()) => Ok(PutOutcome::Created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(io_err(e)),
        }
    }
    async fn delete(&self, key: &str) -> PortResult<()> {
        match std::fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            for entry in entries {
                let path = entry.map_err(io_err)?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) && !key.contains(".tmp-") {
                        out.push(key);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Alerts appended to a JSON-lines file, one message per line.
#[derive(Debug, Clone)]
pub struct JsonlPublisher {
    file: Arc<Mutex<std::fs::File>>,
}

impl JsonlPublisher {
    /// Starts a new file (truncating an old one).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self { file: Arc::new(Mutex::new(std::fs::File::create(path)?)) })
    }

    /// Appends to a file, creating it if needed.
    pub fn append(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { file: Arc::new(Mutex::new(file)) })
    }
}

impl Publisher for JsonlPublisher {
    async fn publish_batch(&self, messages: &[Message]) -> PortResult<Vec<PortResult<()>>> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            let line = serde_json::json!({"subject": m.subject, "attributes": m.attributes, "body": serde_json::from_str::<serde_json::Value>(&m.body).unwrap_or(serde_json::Value::String(m.body.clone()))});
            out.push(writeln!(file, "{line}").map_err(io_err));
        }
        Ok(out)
    }
}

/// Saves a memory table as a JSON array (the replay's stand-in for a DynamoDB table between commands).
pub fn save_items(store: &MemoryItemStore, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let items = store.all();
    std::fs::write(path, serde_json::to_vec(&items).map_err(std::io::Error::other)?)
}

pub fn load_items(store: &MemoryItemStore, path: &Path) -> std::io::Result<()> {
    let items: Vec<Item> = serde_json::from_slice(&std::fs::read(path)?).map_err(std::io::Error::other)?;
    store.load(items).map_err(std::io::Error::other)
}
