//! Alice's filing cabinet: objects kept under `/registry/…` keys, in etcd or (for tests) in memory.
//!
//! Every write gets a revision, as etcd gives one; an object's `resourceVersion` is the
//! revision of its last write, so an update that names an older one is a Conflict.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

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
    /// The storage backend could not be reached or refused us (etcd over mTLS).
    #[error("{0}")]
    Backend(String),
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
}

#[derive(Default)]
struct MemoryInner {
    revision: i64,
    items: BTreeMap<String, (Value, i64)>,
}

/// An in-memory store with etcd's revision semantics, for tests and `--storage memory`.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str) -> Option<Stored> {
        self.lock().items.get(key).map(|(v, r)| Stored {
            key: key.into(),
            value: v.clone(),
            revision: *r,
        })
    }

    fn list(&self, prefix: &str) -> (Vec<Stored>, i64) {
        let inner = self.lock();
        let items = inner
            .items
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (v, r))| Stored {
                key: k.clone(),
                value: v.clone(),
                revision: *r,
            })
            .collect();
        (items, inner.revision)
    }

    fn create(&self, key: &str, value: &Value) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        if inner.items.contains_key(key) {
            return Err(StoreError::Exists(key.into()));
        }
        inner.revision += 1;
        let rev = inner.revision;
        inner.items.insert(key.into(), (value.clone(), rev));
        Ok(rev)
    }

    fn update(&self, key: &str, value: &Value, expected: Option<i64>) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        let actual = match inner.items.get(key) {
            Some((_, r)) => *r,
            None => return Err(StoreError::NotFound(key.into())),
        };
        if let Some(expected) = expected {
            if expected != actual {
                return Err(StoreError::Conflict {
                    key: key.into(),
                    expected,
                    actual,
                });
            }
        }
        inner.revision += 1;
        let rev = inner.revision;
        inner.items.insert(key.into(), (value.clone(), rev));
        Ok(rev)
    }

    fn delete(&self, key: &str) -> Option<(Stored, i64)> {
        let mut inner = self.lock();
        let (value, revision) = inner.items.remove(key)?;
        inner.revision += 1;
        let stored = Stored {
            key: key.into(),
            value,
            revision,
        };
        Some((stored, inner.revision))
    }
}

/// Objects in etcd, reached over mutual TLS with `apiserver-etcd-client` (JSON values; the
/// real apiserver stores protobuf, which changes nothing about who may read them).
#[derive(Clone)]
pub struct EtcdStore {
    client: Box<kubecorp_etcd::EtcdClient>,
}

fn backend(e: kubecorp_etcd::ClientError) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn decode(key: &str, kv: &kubecorp_etcd::KeyValue) -> Result<Stored, StoreError> {
    let value = serde_json::from_slice(&kv.value)
        .map_err(|e| StoreError::Backend(format!("{key}: stored value is not JSON: {e}")))?;
    Ok(Stored {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value,
        revision: kv.mod_revision,
    })
}

impl EtcdStore {
    pub fn new(client: kubecorp_etcd::EtcdClient) -> EtcdStore {
        EtcdStore {
            client: Box::new(client),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        match self.client.get(key.as_bytes()).await.map_err(backend)? {
            Some(kv) => decode(key, &kv).map(Some),
            None => Ok(None),
        }
    }

    async fn list(&self, prefix: &str) -> Result<(Vec<Stored>, i64), StoreError> {
        let found = self
            .client
            .range_prefix(prefix.as_bytes())
            .await
            .map_err(backend)?;
        let revision = found.header.as_ref().map_or(0, |h| h.revision);
        let items = found
            .kvs
            .iter()
            .map(|kv| decode(prefix, kv))
            .collect::<Result<_, _>>()?;
        Ok((items, revision))
    }

    async fn create(&self, key: &str, value: &Value) -> Result<i64, StoreError> {
        let bytes = value.to_string();
        match self
            .client
            .txn_create_if_absent(key.as_bytes(), bytes.as_bytes())
            .await
            .map_err(backend)?
        {
            kubecorp_etcd::TxnOutcome::Written { revision } => Ok(revision),
            kubecorp_etcd::TxnOutcome::Conflict { .. } => Err(StoreError::Exists(key.into())),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: &Value,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
        let expected = match expected {
            Some(rev) => rev,
            None => match self.get(key).await? {
                Some(current) => current.revision,
                None => return Err(StoreError::NotFound(key.into())),
            },
        };
        let bytes = value.to_string();
        match self
            .client
            .txn_update_if_mod_revision(key.as_bytes(), bytes.as_bytes(), expected)
            .await
            .map_err(backend)?
        {
            kubecorp_etcd::TxnOutcome::Written { revision } => Ok(revision),
            kubecorp_etcd::TxnOutcome::Conflict { current: None, .. } => {
                Err(StoreError::NotFound(key.into()))
            }
            kubecorp_etcd::TxnOutcome::Conflict {
                current: Some(kv), ..
            } => Err(StoreError::Conflict {
                key: key.into(),
                expected,
                actual: kv.mod_revision,
            }),
        }
    }

    async fn delete(&self, key: &str) -> Result<Option<(Stored, i64)>, StoreError> {
        let Some(current) = self.get(key).await? else {
            return Ok(None);
        };
        let deleted = self.client.delete(key.as_bytes()).await.map_err(backend)?;
        let revision = deleted.header.as_ref().map_or(0, |h| h.revision);
        Ok((deleted.deleted > 0).then_some((current, revision)))
    }

    async fn revision(&self) -> Result<i64, StoreError> {
        // A range over a prefix nothing lives under: only the header's revision is wanted.
        let found = self
            .client
            .range_prefix(b"/kubecorp-revision-probe/")
            .await
            .map_err(backend)?;
        Ok(found.header.as_ref().map_or(0, |h| h.revision))
    }
}
