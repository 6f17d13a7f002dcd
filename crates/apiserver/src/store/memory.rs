//! The in-memory store (tests and `--storage memory`): etcd's revision semantics without etcd.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{StoreError, Stored};

#[derive(Default)]
pub(super) struct MemoryInner {
    pub(super) revision: i64,
    items: BTreeMap<String, (Value, i64)>,
}

/// An in-memory store with etcd's revision semantics, for tests and `--storage memory`.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

impl MemoryStore {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, key: &str) -> Option<Stored> {
        self.lock().items.get(key).map(|(v, r)| Stored {
            key: key.into(),
            value: v.clone(),
            revision: *r,
        })
    }

    pub(super) fn list(&self, prefix: &str) -> (Vec<Stored>, i64) {
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

    pub(super) fn create(&self, key: &str, value: &Value) -> Result<i64, StoreError> {
        let mut inner = self.lock();
        if inner.items.contains_key(key) {
            return Err(StoreError::Exists(key.into()));
        }
        inner.revision += 1;
        let rev = inner.revision;
        inner.items.insert(key.into(), (value.clone(), rev));
        Ok(rev)
    }

    pub(super) fn update(
        &self,
        key: &str,
        value: &Value,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
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

    pub(super) fn delete(&self, key: &str) -> Option<(Stored, i64)> {
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
