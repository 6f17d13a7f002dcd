//! Alice's watch cache: the recent changes, each at its revision, that every `?watch=true` is served from.
//!
//! kube-apiserver keeps a ring of the latest changes it saw in etcd (`storage/cacher/
//! watch_cache.go`) and serves watches from it, which is what gives a watch its meaning:
//!
//! - `resourceVersion` unset or `0`: ADDED for every object there is now, then every change
//!   (kube-apiserver 1.32, with its `WatchList` gate on, turns such a watch into
//!   `sendInitialEvents=true`: with `allowWatchBookmarks=true` the initial events end with a
//!   BOOKMARK annotated `k8s.io/initial-events-end`).
//! - `resourceVersion=N`: every change newer than N, as it happened (ADDED, MODIFIED,
//!   DELETED), then every later one. If the ring no longer reaches back to N, the stream's one
//!   event is an ERROR with the 410 Status `too old resource version: N (M)` (M: the oldest
//!   revision it can still start after). A plain watch from an N the cache has not reached yet
//!   opens and stays quiet until changes newer than N come (the cacher does not wait, it
//!   filters); `sendInitialEvents=true` waits up to [`FRESHNESS_WAIT`] for the cache to reach
//!   N, then answers the 504 `Too large resource version` as its ERROR event.
//! - Label and field selectors apply to each change: an object that stops matching is sent as
//!   DELETED (its last matching state, at the change's revision), one that starts matching as
//!   ADDED.
//! - `allowWatchBookmarks=true`: a BOOKMARK carrying the cache's current resourceVersion about
//!   every [`BOOKMARK_PERIOD`], and one 2 s before the watch's deadline.
//! - `timeoutSeconds=N` ends the stream after N seconds; without it a watch ends after a random
//!   time between one and two `--min-request-timeout`s ([`MIN_REQUEST_TIMEOUT`]).
//! - A watcher that falls so far behind that the changes it has not sent yet were pushed out of
//!   the ring is ended, as the cacher terminates a watcher that cannot keep up: its client lists
//!   and watches again. Nothing is ever skipped silently.
//!
//! Changes enter the ring in revision order through one door: etcd's own watch stream when
//! Alice stores in etcd (`store::feed`, as the real cacher is fed), or `Api::publish`, holding
//! the apiserver's write lock, for the in-memory store.
//!
//! The ring is here; what a watch request asks in `watch/options.rs`, one watcher's stream of
//! lines in `watch/stream.rs`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch as tick;
use tokio::time::Instant;

use crate::status::{self, Status};

mod options;
mod stream;
#[cfg(test)]
mod tests;

pub use options::WatchOptions;
pub use stream::{Start, Target, WatchStream};

/// How many changes the ring holds. kube-apiserver sizes each resource's ring between 100 and
/// 102400 events by how fast it turns over (about 75 s of history); the lab keeps one ring for
/// every resource, and this many changes are minutes of a busy lab's writes.
pub const CAPACITY: usize = 1024;

/// How many bytes of objects (as JSON, previous states included) the ring keeps at most, so a
/// caller allowed to write large objects cannot make it hold gigabytes: the oldest changes go
/// first, as when the count is reached.
pub const BYTE_BUDGET: usize = 64 * 1024 * 1024;

/// `timeoutSeconds` too large for the clock: a century.
const FAR_FUTURE_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// How often a watcher that allows bookmarks gets one (`defaultBookmarkFrequency`, 1 minute).
pub const BOOKMARK_PERIOD: Duration = Duration::from_secs(60);

/// How long a `sendInitialEvents=true` watch waits for the cache to reach its resourceVersion
/// before the 504 (the watch cache's `blockTimeout`, 3 s).
pub const FRESHNESS_WAIT: Duration = Duration::from_secs(3);

/// kube-apiserver's `--min-request-timeout` default (1800 s): a watch without `timeoutSeconds`
/// lasts a random time between this and twice this.
pub const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1800);

/// The annotation of the BOOKMARK that ends a watch's initial events
/// (`metav1.InitialEventsAnnotationKey`).
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// A bookmark is sent this long before a watch's deadline (the cacher's pre-timeout bookmark).
const PRE_TIMEOUT_BOOKMARK: Duration = Duration::from_secs(2);

/// One change as the cache keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The revision the change was written at: its resourceVersion.
    pub revision: i64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object's key, `/registry/<resource>/…`.
    pub key: String,
    /// The object after the change. For DELETED, its last state with the deletion's
    /// resourceVersion, as Kubernetes sends it.
    pub object: Value,
    /// For MODIFIED, the object before: a watcher whose selector matched it and no longer
    /// matches the new state is sent a DELETED.
    pub prev: Option<Value>,
}

struct Ring {
    /// The store revision the cache began after; every change newer than it is replayable
    /// until one is pushed out.
    began_after: Option<i64>,
    /// A change has been pushed out since the cache began.
    evicted: bool,
    /// The sequence number of `changes[0]`.
    first: u64,
    changes: VecDeque<Arc<Change>>,
    capacity: usize,
    /// The JSON size of each change in `changes`, and their sum.
    sizes: VecDeque<usize>,
    bytes: usize,
    byte_budget: usize,
}

impl Ring {
    fn end(&self) -> u64 {
        self.first + self.changes.len() as u64
    }

    /// The newest revision the cache knows of.
    fn current(&self) -> i64 {
        self.changes
            .back()
            .map(|c| c.revision)
            .or(self.began_after)
            .unwrap_or(0)
    }

    /// The oldest resourceVersion a watch may start after (`oldest - 1` in watch_cache.go).
    fn floor(&self) -> i64 {
        match (self.evicted, self.began_after, self.changes.front()) {
            (false, Some(began), _) => began,
            (_, _, Some(first)) => first.revision - 1,
            (_, began, None) => began.unwrap_or(0),
        }
    }

    fn trim(&mut self) {
        // The newest change always stays, however large.
        while self.changes.len() > self.capacity
            || (self.bytes > self.byte_budget && self.changes.len() > 1)
        {
            self.changes.pop_front();
            self.bytes -= self.sizes.pop_front().unwrap_or(0);
            self.first += 1;
            self.evicted = true;
        }
    }
}

/// What a watcher reads from the ring.
enum Read {
    /// The changes it had not read were pushed out: it cannot go on without a gap.
    Lagged,
    Changes {
        changes: Vec<Arc<Change>>,
        next: u64,
        /// The cache's revision once these are read.
        current: i64,
    },
}

/// How many bytes `value` takes as compact JSON, counted without keeping them.
fn json_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The ring of recent changes, and the signal that wakes watchers when one arrives.
pub struct WatchCache {
    ring: Mutex<Ring>,
    tick: tick::Sender<u64>,
    bookmark_period: Mutex<Duration>,
}

impl Default for WatchCache {
    fn default() -> Self {
        WatchCache::new(CAPACITY)
    }
}

impl WatchCache {
    pub fn new(capacity: usize) -> WatchCache {
        WatchCache::with_byte_budget(capacity, BYTE_BUDGET)
    }

    /// A ring that holds at most `capacity` changes and about `byte_budget` bytes of them.
    pub fn with_byte_budget(capacity: usize, byte_budget: usize) -> WatchCache {
        WatchCache {
            ring: Mutex::new(Ring {
                began_after: None,
                evicted: false,
                first: 0,
                changes: VecDeque::new(),
                capacity: capacity.max(1),
                sizes: VecDeque::new(),
                bytes: 0,
                byte_budget,
            }),
            tick: tick::Sender::new(0),
            bookmark_period: Mutex::new(BOOKMARK_PERIOD),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps at most `capacity` changes (tests shrink it to see a resourceVersion expire).
    pub fn set_capacity(&self, capacity: usize) {
        let mut ring = self.lock();
        ring.capacity = capacity.max(1);
        ring.trim();
    }

    /// How often watchers started from now on get a bookmark (tests shorten the minute).
    pub fn set_bookmark_period(&self, period: Duration) {
        *self
            .bookmark_period
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = period;
    }

    fn bookmark_period(&self) -> Duration {
        *self
            .bookmark_period
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the cache knows the revision it began after.
    pub fn started(&self) -> bool {
        self.lock().began_after.is_some()
    }

    /// Begins the cache after store revision `revision`, unless it has begun already.
    pub fn begin_after(&self, revision: i64) {
        let mut ring = self.lock();
        if ring.began_after.is_none() {
            ring.began_after = Some(revision);
        }
    }

    /// Records one change; the caller holds the write lock, so revisions arrive in order.
    pub fn record(&self, change: Change) {
        let end = {
            let mut ring = self.lock();
            if ring.began_after.is_none() {
                // Writes are serialized: the store stood at the revision just before this one.
                ring.began_after = Some(change.revision - 1);
            }
            let size = json_size(&change.object) + change.prev.as_ref().map_or(0, json_size);
            ring.changes.push_back(Arc::new(change));
            ring.sizes.push_back(size);
            ring.bytes += size;
            ring.trim();
            ring.end()
        };
        self.tick.send_replace(end);
    }

    /// The newest revision the cache knows of.
    pub fn current(&self) -> i64 {
        self.lock().current()
    }

    /// The changes recorded so far (tests and narration).
    pub fn changes(&self) -> Vec<Change> {
        self.lock().changes.iter().map(|c| (**c).clone()).collect()
    }

    /// Where a watcher that wants everything after now starts, and the revision it is at
    /// (read under the write lock, with a list of the store, it is a consistent snapshot).
    pub(crate) fn position_now(&self) -> (u64, i64) {
        let ring = self.lock();
        (ring.end(), ring.current())
    }

    /// Where a watcher that wants every change after `revision` starts, or the revision the
    /// cache can start after at the earliest when `revision` is older than that.
    fn position_after(&self, revision: i64) -> Result<u64, i64> {
        let ring = self.lock();
        let floor = ring.floor();
        if revision < floor {
            return Err(floor);
        }
        let skip = ring.changes.partition_point(|c| c.revision <= revision);
        Ok(ring.first + skip as u64)
    }

    fn read(&self, from: u64) -> Read {
        let ring = self.lock();
        if from < ring.first {
            return Read::Lagged;
        }
        let skip = usize::try_from(from - ring.first).unwrap_or(usize::MAX);
        Read::Changes {
            changes: ring.changes.iter().skip(skip).cloned().collect(),
            next: ring.end().max(from),
            current: ring.current(),
        }
    }

    /// Waits (at most [`FRESHNESS_WAIT`]) until the cache has reached `revision`.
    pub(crate) async fn wait_until_fresh(&self, revision: u64) -> Result<(), Status> {
        let mut tick = self.tick.subscribe();
        let deadline = Instant::now() + FRESHNESS_WAIT;
        loop {
            tick.borrow_and_update();
            let current = self.current();
            if u64::try_from(current).unwrap_or(0) >= revision {
                return Ok(());
            }
            let woke = tokio::time::timeout_at(deadline, tick.changed()).await;
            if !matches!(woke, Ok(Ok(()))) {
                let current = u64::try_from(self.current()).unwrap_or(0);
                return Err(status::too_large_resource_version(revision, current));
            }
        }
    }
}
