//! The vault's contents: an in-memory key-value store with etcd's MVCC counters.
//!
//! etcd numbers every change to the whole store with one global **revision**. A fresh etcd
//! stands at revision 1, and each transaction that writes moves it up by exactly one, however
//! many keys it touches. Each key remembers the revision that created it (`create_revision`),
//! the one that last changed it (`mod_revision`) and how many times it was written since it was
//! created (`version`). Kubernetes builds optimistic concurrency on `mod_revision`: an update
//! says "only if the object is still at revision N" (a txn comparing `MOD`), which is the
//! `resourceVersion` a kubectl user sees.
//!
//! The recent past is kept too, as the list of changes since the last **compaction**: a read
//! at an older revision undoes the changes after it, and a watcher that starts at an older
//! revision is sent them. Compacting forgets the changes up to a revision; asking for one
//! before it is then `etcdserver: mvcc: required revision has been compacted`. The lab keeps at
//! most [`MAX_HISTORY`] changes and compacts the oldest away by itself.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

pub use crate::wire::KeyValue;

/// Which keys an operation covers, from etcd's `key` and `range_end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// `range_end` absent: exactly `key`.
    One(Vec<u8>),
    /// `range_end` = `"\0"`: every key ≥ `key`.
    From(Vec<u8>),
    /// Otherwise: `[key, range_end)` (the prefix `/registry/pods/` is
    /// `[/registry/pods/, /registry/pods0)`).
    Between(Vec<u8>, Vec<u8>),
}

impl Default for KeyRange {
    fn default() -> Self {
        KeyRange::One(Vec::new())
    }
}

impl KeyRange {
    pub fn new(key: Vec<u8>, range_end: Vec<u8>) -> KeyRange {
        if range_end.is_empty() {
            KeyRange::One(key)
        } else if range_end == [0] {
            KeyRange::From(key)
        } else {
            KeyRange::Between(key, range_end)
        }
    }

    /// Every key that starts with `prefix`: etcd's `clientv3.WithPrefix()`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange::new(prefix.to_vec(), prefix_end(prefix))
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::One(k) => k.as_slice() == key,
            KeyRange::From(k) => key >= k.as_slice(),
            KeyRange::Between(k, end) => key >= k.as_slice() && key < end.as_slice(),
        }
    }

    fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        match self {
            KeyRange::One(key) => (Bound::Included(key), Bound::Included(key)),
            KeyRange::From(key) => (Bound::Included(key), Bound::Unbounded),
            KeyRange::Between(key, end) => {
                if end.as_slice() <= key.as_slice() {
                    // An empty interval; BTreeMap::range would panic on it.
                    (Bound::Included(key), Bound::Excluded(key))
                } else {
                    (Bound::Included(key), Bound::Excluded(end))
                }
            }
        }
    }

    /// Whether two ranges share a key (etcd refuses a txn that writes one key twice).
    pub fn overlaps(&self, other: &KeyRange) -> bool {
        fn interval(r: &KeyRange) -> (&[u8], Option<Vec<u8>>) {
            match r {
                KeyRange::One(k) => {
                    let mut end = k.clone();
                    end.push(0);
                    (k, Some(end))
                }
                KeyRange::From(k) => (k, None),
                KeyRange::Between(k, e) => (k, Some(e.clone())),
            }
        }
        let (a_start, a_end) = interval(self);
        let (b_start, b_end) = interval(other);
        let a_before_b_ends = b_end.as_deref().is_none_or(|end| a_start < end);
        let b_before_a_ends = a_end.as_deref().is_none_or(|end| b_start < end);
        a_before_b_ends && b_before_a_ends
    }
}

/// The smallest key after every key with this prefix: etcd's `GetPrefixRangeEnd`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): no upper bound.
    vec![0]
}

/// What a range read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// At most `limit` keys, in key order.
    pub kvs: Vec<KeyValue>,
    /// How many keys matched in all.
    pub count: i64,
    /// Whether `limit` cut some off.
    pub more: bool,
}

/// How many changes are kept for reads and watches in the past.
pub const MAX_HISTORY: usize = 10_000;

/// One key written or deleted at one revision: what a watcher is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub revision: i64,
    pub deleted: bool,
    /// The key as written; for a delete, only the key and the deleting revision.
    pub kv: KeyValue,
    /// The key before this change, if it existed.
    pub prev: Option<KeyValue>,
}

/// Why a revision cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevisionError {
    /// Before the compaction revision (which is given).
    Compacted(i64),
    /// After the current revision.
    Future,
}

/// The store: the current revision, every live key, and the changes since the compaction.
#[derive(Clone, Debug)]
pub struct Store {
    revision: i64,
    kvs: BTreeMap<Vec<u8>, KeyValue>,
    history: VecDeque<Change>,
    compacted: i64,
}

impl Default for Store {
    fn default() -> Self {
        // A fresh etcd member starts at revision 1; its first write makes revision 2.
        Store {
            revision: 1,
            kvs: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
        }
    }
}

impl Store {
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The last compaction's revision (0 before any).
    pub fn compacted(&self) -> i64 {
        self.compacted
    }

    /// How many live keys, and roughly how many bytes they take.
    pub fn size(&self) -> (usize, usize) {
        let bytes = self
            .kvs
            .values()
            .map(|kv| kv.key.len() + kv.value.len() + 40)
            .sum();
        (self.kvs.len(), bytes)
    }

    /// Every live key in key order.
    pub fn all(&self) -> impl Iterator<Item = &KeyValue> {
        self.kvs.values()
    }

    /// Checks that `revision` (0: the present) can still be read.
    pub fn check_revision(&self, revision: i64) -> Result<(), RevisionError> {
        if revision > self.revision {
            return Err(RevisionError::Future);
        }
        if revision > 0 && revision < self.compacted {
            return Err(RevisionError::Compacted(self.compacted));
        }
        Ok(())
    }

    /// Reads keys in `range` as they were at `revision` (0: now).
    pub fn range_at(
        &self,
        range: &KeyRange,
        limit: i64,
        revision: i64,
    ) -> Result<Found, RevisionError> {
        self.check_revision(revision)?;
        if revision == 0 || revision == self.revision {
            return Ok(self.range(range, limit));
        }
        let mut then: BTreeMap<Vec<u8>, KeyValue> = self
            .kvs
            .range::<[u8], _>(range.bounds())
            .map(|(k, kv)| (k.clone(), kv.clone()))
            .collect();
        for change in self.history.iter().rev() {
            if change.revision <= revision {
                break;
            }
            if !range.contains(&change.kv.key) {
                continue;
            }
            match &change.prev {
                Some(prev) => then.insert(prev.key.clone(), prev.clone()),
                None => then.remove(&change.kv.key),
            };
        }
        Ok(found(then.values(), limit))
    }

    /// The changes made at `from` and after, oldest first.
    pub fn changes_since(&self, from: i64) -> Result<Vec<Change>, RevisionError> {
        if from > 0 && from < self.compacted {
            return Err(RevisionError::Compacted(self.compacted));
        }
        Ok(self
            .history
            .iter()
            .filter(|c| c.revision >= from)
            .cloned()
            .collect())
    }

    /// The changes the last write txn made.
    pub fn last_changes(&self) -> Vec<Change> {
        self.history
            .iter()
            .rev()
            .take_while(|c| c.revision == self.revision)
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    }

    /// Forgets the changes up to `revision`.
    pub fn compact(&mut self, revision: i64) -> Result<(), RevisionError> {
        if revision > self.revision {
            return Err(RevisionError::Future);
        }
        if revision <= self.compacted {
            return Err(RevisionError::Compacted(self.compacted));
        }
        while self.history.front().is_some_and(|c| c.revision <= revision) {
            self.history.pop_front();
        }
        self.compacted = revision;
        Ok(())
    }

    fn record(&mut self, change: Change) {
        self.history.push_back(change);
        while self.history.len() > MAX_HISTORY {
            if let Some(old) = self.history.pop_front() {
                self.compacted = self.compacted.max(old.revision);
            }
        }
    }

    /// Reads keys in `range`; `limit` 0 means no limit.
    pub fn range(&self, range: &KeyRange, limit: i64) -> Found {
        found(
            self.kvs.range::<[u8], _>(range.bounds()).map(|(_, kv)| kv),
            limit,
        )
    }

    /// Starts a write transaction: its writes all get revision `current + 1`, and the
    /// revision moves only if something was written.
    pub fn write(&mut self) -> Write<'_> {
        Write {
            store: self,
            wrote: false,
        }
    }
}

fn found<'a>(matched: impl Iterator<Item = &'a KeyValue>, limit: i64) -> Found {
    let matched: Vec<&KeyValue> = matched.collect();
    let count = matched.len() as i64;
    let keep = if limit > 0 {
        usize::try_from(limit).unwrap_or(usize::MAX)
    } else {
        usize::MAX
    };
    Found {
        more: matched.len() > keep,
        kvs: matched.into_iter().take(keep).cloned().collect(),
        count,
    }
}

/// One write transaction in progress.
pub struct Write<'s> {
    store: &'s mut Store,
    wrote: bool,
}

impl Write<'_> {
    fn next_revision(&self) -> i64 {
        self.store.revision + 1
    }

    /// The revision reads inside this txn report: the new one once something was written.
    pub fn revision(&self) -> i64 {
        if self.wrote {
            self.next_revision()
        } else {
            self.store.revision
        }
    }

    /// Reads, seeing this txn's own writes.
    pub fn range(&self, range: &KeyRange, limit: i64) -> Found {
        self.store.range(range, limit)
    }

    /// Writes `key`; returns the previous value.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Option<KeyValue> {
        self.put_with_lease(key, value, 0)
    }

    /// Writes `key` attached to `lease` (0: none); returns the previous value.
    pub fn put_with_lease(&mut self, key: Vec<u8>, value: Vec<u8>, lease: i64) -> Option<KeyValue> {
        let revision = self.next_revision();
        self.wrote = true;
        let previous = self.store.kvs.get(&key).cloned();
        let (create_revision, version) = match &previous {
            Some(old) => (old.create_revision, old.version + 1),
            None => (revision, 1),
        };
        let kv = KeyValue {
            key: key.clone(),
            create_revision,
            mod_revision: revision,
            version,
            value,
            lease,
        };
        self.store.kvs.insert(key, kv.clone());
        self.store.record(Change {
            revision,
            deleted: false,
            kv,
            prev: previous.clone(),
        });
        previous
    }

    /// Deletes every key in `range`; returns what was deleted.
    pub fn delete(&mut self, range: &KeyRange) -> Vec<KeyValue> {
        let doomed: Vec<Vec<u8>> = self
            .store
            .kvs
            .range::<[u8], _>(range.bounds())
            .map(|(k, _)| k.clone())
            .collect();
        if !doomed.is_empty() {
            self.wrote = true;
        }
        let revision = self.next_revision();
        let deleted: Vec<KeyValue> = doomed
            .into_iter()
            .filter_map(|k| self.store.kvs.remove(&k))
            .collect();
        for prev in &deleted {
            self.store.record(Change {
                revision,
                deleted: true,
                kv: KeyValue {
                    key: prev.key.clone(),
                    mod_revision: revision,
                    ..KeyValue::default()
                },
                prev: Some(prev.clone()),
            });
        }
        deleted
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if self.wrote {
            self.store.revision += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_write_txn_moves_the_revision_by_one_and_counts_versions_per_key() {
        let mut store = Store::default();
        store.write().put(b"a".to_vec(), b"1".to_vec());
        {
            let mut txn = store.write();
            txn.put(b"a".to_vec(), b"2".to_vec());
            txn.put(b"b".to_vec(), b"1".to_vec());
        }
        assert_eq!(store.revision(), 3);
        let a = &store.range(&KeyRange::One(b"a".to_vec()), 0).kvs[0];
        assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 3, 2));
    }

    #[test]
    fn deleting_nothing_does_not_move_the_revision() {
        let mut store = Store::default();
        assert!(store
            .write()
            .delete(&KeyRange::One(b"x".to_vec()))
            .is_empty());
        assert_eq!(store.revision(), 1);
    }

    #[test]
    fn a_prefix_covers_its_keys_and_nothing_after() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0");
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b");
        let mut store = Store::default();
        for key in ["/registry/pods/a", "/registry/pods/b", "/registry/podsx"] {
            store.write().put(key.into(), vec![]);
        }
        let found = store.range(&KeyRange::prefix(b"/registry/pods/"), 1);
        assert_eq!((found.count, found.more, found.kvs.len()), (2, true, 1));
    }

    #[test]
    fn overlapping_ranges_are_recognised() {
        let one = |k: &str| KeyRange::One(k.as_bytes().to_vec());
        assert!(one("a").overlaps(&one("a")));
        assert!(!one("a").overlaps(&one("b")));
        assert!(KeyRange::prefix(b"a").overlaps(&one("ab")));
        assert!(KeyRange::From(b"b".to_vec()).overlaps(&one("z")));
        assert!(!KeyRange::From(b"b".to_vec()).overlaps(&one("a")));
    }
}
