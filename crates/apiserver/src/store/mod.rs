//! Alice's filing cabinet: objects kept under `/registry/…` keys, in etcd or (for tests) in memory.
//!
//! Every write gets a revision, as etcd gives one; an object's `resourceVersion` is the
//! revision of its last write, so an update that names an older one is a Conflict.
//!
//! # Layout
//!
//! - this file: [`Store`], what the desk calls, and [`StoreError`];
//! - [`etcd`]: objects in etcd as kube-apiserver's etcd3 store keeps them (Get = Range, Create,
//!   GuaranteedUpdate and Delete = Txn, a lease for each Event's TTL);
//! - [`grpc`]: the one kept HTTP/2 connection to etcd and its gRPC calls;
//! - [`feed`]: etcd's watch stream feeding the watch cache;
//! - [`memory`]: the in-memory store.

pub mod etcd;
pub mod feed;
pub mod grpc;
pub mod memory;

use std::sync::Arc;

use serde_json::Value;

pub use etcd::EtcdStore;
pub use memory::MemoryStore;

use crate::watch::WatchCache;

/// An object as stored, with the revision of its last write.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub key: String,
    pub value: Value,
    pub revision: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {0} already exists")]
    Exists(String),
    #[error("key {0} not found")]
    NotFound(String),
    #[error("key {key} was modified (revision {actual}, expected {expected})")]
    Conflict {
        key: String,
        expected: i64,
        actual: i64,
    },
    /// etcd could not be reached, refused Alice's badge, or answered with an error: the text
    /// is what kube-apiserver's etcd client returns (`context deadline exceeded`, …).
    #[error(transparent)]
    Etcd(#[from] grpc::GrpcError),
    /// The endpoint given for etcd is not `https://host:port`.
    #[error("invalid etcd endpoint {endpoint:?}: {problem}")]
    Endpoint { endpoint: String, problem: String },
    /// Anything else the store could not do, in its own words.
    #[error("{0}")]
    Backend(String),
}

impl StoreError {
    /// Whether etcd gave no answer (see [`grpc::GrpcError::unanswered`]): the call may be tried
    /// again. A refused badge, a conflict or an existing key is an answer.
    pub fn unanswered(&self) -> bool {
        matches!(self, StoreError::Etcd(e) if e.unanswered())
    }
}

/// What the apiserver stores objects in.
#[derive(Clone)]
pub enum Store {
    Memory(MemoryStore),
    Etcd(EtcdStore),
}

impl Store {
    pub fn memory() -> Store {
        Store::Memory(MemoryStore::default())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.get(key)),
            Store::Etcd(e) => e.get(key).await,
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<(Vec<Stored>, i64), StoreError> {
        match self {
            Store::Memory(m) => Ok(m.list(prefix)),
            Store::Etcd(e) => e.list(prefix).await,
        }
    }

    pub async fn create(&self, key: &str, value: &Value) -> Result<i64, StoreError> {
        match self {
            Store::Memory(m) => m.create(key, value),
            Store::Etcd(e) => e.create(key, value).await,
        }
    }

    /// Writes `value` if the stored revision is still `expected` (or unconditionally with None).
    pub async fn update(
        &self,
        key: &str,
        value: &Value,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
        match self {
            Store::Memory(m) => m.update(key, value, expected),
            Store::Etcd(e) => e.update(key, value, expected).await,
        }
    }

    /// Deletes `key`: the object as it was (with the revision of its last write), and the
    /// revision of the deletion itself (what a watcher's DELETED event carries).
    pub async fn delete(&self, key: &str) -> Result<Option<(Stored, i64)>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.delete(key)),
            Store::Etcd(e) => e.delete(key).await,
        }
    }

    /// The store's current revision (etcd's header revision): where a watch cache starts.
    pub async fn revision(&self) -> Result<i64, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.lock().revision),
            Store::Etcd(e) => e.revision().await,
        }
    }

    /// Feeds `cache` with every change after `revision` from the store's own watch, as
    /// kube-apiserver's cacher is fed from etcd's: etcd only (see [`feed`]). The memory store
    /// has no watch; the desk records its writes itself.
    pub fn feed(&self, cache: &Arc<WatchCache>, revision: i64) {
        if let Store::Etcd(e) = self {
            e.feed(cache, revision);
        }
    }

    /// Closes the store when the apiserver shuts down, as kube-apiserver's `Destroy` closes
    /// its etcd client: the kept connection and its watch end at once, so etcd is not left
    /// waiting for them; calls after it fail with grpc-go's `the client connection is
    /// closing`. The memory store has nothing to close.
    pub async fn close(&self) {
        if let Store::Etcd(e) = self {
            e.close().await;
        }
    }

    /// Whether the watch cache hears of changes from the store's watch (not from the desk).
    pub fn feeds_watch_cache(&self) -> bool {
        matches!(self, Store::Etcd(e) if e.feeding())
    }
}
