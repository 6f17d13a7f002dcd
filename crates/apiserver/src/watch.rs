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
//! Changes enter the ring through one door (`Api::publish`, holding the apiserver's write
//! lock), so they enter in revision order, as etcd's watch delivers them to the real cacher.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch as tick;
use tokio::time::Instant;

use crate::api::Selectors;
use crate::request::query_param;
use crate::status::{self, Cause, Status};

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

/// The list options a watch reads, decoded, defaulted and validated as kube-apiserver 1.32's
/// `ListResource` handler does (with the `WatchList` feature gate on, its 1.32 default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// `resourceVersion` as sent ("" when absent).
    pub resource_version: String,
    /// `resourceVersionMatch` ("" when absent).
    pub resource_version_match: String,
    /// `sendInitialEvents`, after `SetListOptionsDefaults`.
    pub send_initial_events: Option<bool>,
    pub allow_watch_bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<i64>,
}

/// Go's query-parameter bool (`Convert_Slice_string_To_bool`): false only for `0`, `f`, `false`.
fn go_bool(value: &str) -> bool {
    !(value == "0" || value.eq_ignore_ascii_case("f") || value.eq_ignore_ascii_case("false"))
}

/// Why Go's `strconv` refuses a number: `invalid syntax` or `value out of range`.
fn strconv_reason(digits_only: bool) -> &'static str {
    if digits_only {
        "value out of range"
    } else {
        "invalid syntax"
    }
}

impl WatchOptions {
    /// Reads the query: a `timeoutSeconds` that is not an integer is 400 (the parameter codec's
    /// error); option combinations the validation forbids are 422 `ListOptions.meta.k8s.io ""
    /// is invalid`.
    pub fn parse(query: &str) -> Result<WatchOptions, (u16, String)> {
        let timeout_seconds = match query_param(query, "timeoutSeconds") {
            None => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    let body = raw.strip_prefix(['+', '-']).unwrap_or(&raw);
                    let digits = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit());
                    return Err(status::bad_request(&format!(
                        "strconv.ParseInt: parsing {}: {}",
                        status::go_quote(&raw),
                        strconv_reason(digits)
                    )));
                }
            },
        };
        let mut options = WatchOptions {
            resource_version: query_param(query, "resourceVersion").unwrap_or_default(),
            resource_version_match: query_param(query, "resourceVersionMatch").unwrap_or_default(),
            send_initial_events: query_param(query, "sendInitialEvents").map(|v| go_bool(&v)),
            allow_watch_bookmarks: query_param(query, "allowWatchBookmarks")
                .is_some_and(|v| go_bool(&v)),
            timeout_seconds,
        };
        // SetListOptionsDefaults: a watch from "" or "0" that says nothing else gets the
        // initial events the WatchList way.
        if options.send_initial_events.is_none()
            && options.resource_version_match.is_empty()
            && (options.resource_version.is_empty() || options.resource_version == "0")
        {
            options.send_initial_events = Some(true);
            options.resource_version_match = "NotOlderThan".into();
        }
        let causes = options.violations(&query_param(query, "continue").unwrap_or_default());
        if causes.is_empty() {
            Ok(options)
        } else {
            Err(status::invalid("ListOptions", "meta.k8s.io", "", &causes))
        }
    }

    /// `validateWatchOptions`, in its order.
    fn violations(&self, continue_token: &str) -> Vec<Cause> {
        const FIELD: &str = "resourceVersionMatch";
        let matched = self.resource_version_match.as_str();
        let mut causes = Vec::new();
        if self.send_initial_events.is_some() && matched != "NotOlderThan" {
            causes.push(Cause::forbidden(
                FIELD,
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !matched.is_empty() {
            if self.send_initial_events.is_none() {
                causes.push(Cause::forbidden(
                    FIELD,
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if matched != "NotOlderThan" {
                causes.push(Cause::not_supported(
                    FIELD,
                    &status::go_quote(matched),
                    &["NotOlderThan"],
                ));
            }
            if !continue_token.is_empty() {
                causes.push(Cause::forbidden(
                    FIELD,
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
        causes
    }

    /// The resourceVersion as the storage layer parses it (`ParseResourceVersion`): "" and "0"
    /// are 0; anything but an unsigned decimal is the 500 kube-apiserver 1.32 answers.
    pub fn requested_revision(&self) -> Result<u64, (u16, String)> {
        let raw = self.resource_version.as_str();
        if raw.is_empty() || raw == "0" {
            return Ok(0);
        }
        let digits = raw.bytes().all(|b| b.is_ascii_digit());
        match raw.parse::<u64>() {
            Ok(n) if digits => Ok(n),
            _ => {
                let quoted = status::go_quote(raw);
                Err(status::internal_unknown(&format!(
                    "resourceVersion: Invalid value: {quoted}: strconv.ParseUint: parsing {quoted}: {}",
                    strconv_reason(digits)
                )))
            }
        }
    }

    /// When the watch ends.
    fn deadline(&self, now: Instant) -> Instant {
        match self.timeout_seconds {
            // A deadline past what the clock can hold is no deadline at all.
            Some(n) if n > 0 => now
                .checked_add(Duration::from_secs(n.unsigned_abs()))
                .unwrap_or_else(|| now + Duration::from_secs(FAR_FUTURE_SECONDS)),
            // Go's context deadline in the past: the watch ends at once.
            Some(n) if n < 0 => now,
            _ => {
                let mut b = [0u8; 2];
                crate::meta::fill_random(&mut b);
                let share = f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX);
                now + MIN_REQUEST_TIMEOUT.mul_f64(1.0 + share)
            }
        }
    }
}

/// What a watch is about: the keys under `prefix` that the selectors pick, of one kind.
#[derive(Debug, Clone)]
pub struct Target {
    pub prefix: String,
    pub selectors: Selectors,
    pub kind: &'static str,
    pub api_version: String,
}

impl Target {
    /// The watch event a change is for this watcher, if any (`cacheWatcher.convertToWatchEvent`).
    fn event(&self, change: &Change) -> Option<String> {
        if !change.key.starts_with(&self.prefix) {
            return None;
        }
        if change.kind == "DELETED" {
            return self
                .selectors
                .matches(&change.object)
                .then(|| event_line("DELETED", &change.object));
        }
        let now = self.selectors.matches(&change.object);
        let before = change
            .prev
            .as_ref()
            .is_some_and(|p| self.selectors.matches(p));
        match (now, before) {
            (true, false) => Some(event_line("ADDED", &change.object)),
            (true, true) => Some(event_line("MODIFIED", &change.object)),
            (false, true) => {
                // The previous content, at the change's resourceVersion.
                let mut gone = change.prev.clone()?;
                if let Some(meta) = gone.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("resourceVersion".into(), json!(change.revision.to_string()));
                }
                Some(event_line("DELETED", &gone))
            }
            (false, false) => None,
        }
    }

    fn bookmark(&self, revision: i64, initial_events_end: bool) -> String {
        let annotations = if initial_events_end {
            format!(r#","annotations":{{"{INITIAL_EVENTS_END}":"true"}}"#)
        } else {
            String::new()
        };
        format!(
            r#"{{"type":"BOOKMARK","object":{{"kind":{},"apiVersion":{},"metadata":{{"resourceVersion":"{revision}"{annotations}}}}}}}"#,
            json!(self.kind),
            json!(self.api_version),
        )
    }
}

/// One line of a watch stream: `{"type":…,"object":…}`, in Go's key order.
fn event_line(kind: &str, object: &Value) -> String {
    format!(r#"{{"type":"{kind}","object":{object}}}"#)
}

/// The one ERROR event of a watch that cannot be served.
fn error_line(status: &Status) -> String {
    format!(r#"{{"type":"ERROR","object":{}}}"#, status.to_json())
}

/// The live part of a stream: where it reads the ring, and its bookmarks.
struct Live {
    cache: Arc<WatchCache>,
    tick: tick::Receiver<u64>,
    cursor: u64,
    /// Only changes newer than this are sent (the resourceVersion asked for).
    after: i64,
    target: Target,
    /// The bookmark period, when bookmarks were allowed.
    bookmarks: Option<Duration>,
    next_bookmark: Option<Instant>,
    bookmark_due: bool,
    deadline: Instant,
}

impl Live {
    /// `cacheWatcher.nextBookmarkTime`: a period from now, or 2 s before the deadline if that
    /// comes first; none if that moment has passed.
    fn schedule_bookmark(&mut self, now: Instant) {
        self.next_bookmark = self.bookmarks.and_then(|period| {
            let mut at = now + period;
            if let Some(pre) = self.deadline.checked_sub(PRE_TIMEOUT_BOOKMARK) {
                at = at.min(pre);
            }
            (at >= now).then_some(at)
        });
    }
}

/// A watch's events, one JSON line each, until the watch ends.
pub struct WatchStream {
    pending: VecDeque<String>,
    live: Option<Live>,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefix = self.live.as_ref().map(|l| l.target.prefix.as_str());
        write!(f, "watch {}", prefix.unwrap_or("(ended)"))
    }
}

impl WatchStream {
    /// A stream whose first and only event is an ERROR carrying `status`.
    pub fn error(status: &Status) -> WatchStream {
        WatchStream {
            pending: VecDeque::from([error_line(status)]),
            live: None,
        }
    }

    /// The next line to send; `None` when the watch is over (its deadline came, its watcher
    /// fell out of the ring, or the apiserver is gone).
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some(line);
            }
            let live = self.live.as_mut()?;
            if Instant::now() >= live.deadline {
                self.live = None;
                return None;
            }
            live.tick.borrow_and_update();
            match live.cache.read(live.cursor) {
                Read::Lagged => {
                    self.live = None;
                    return None;
                }
                Read::Changes {
                    changes,
                    next,
                    current,
                } => {
                    live.cursor = next;
                    if !changes.is_empty() {
                        self.pending.extend(
                            changes
                                .iter()
                                .filter(|c| c.revision > live.after)
                                .filter_map(|c| live.target.event(c)),
                        );
                        continue;
                    }
                    if live.bookmark_due {
                        // Everything up to `current` has been sent: a resume from it loses nothing.
                        live.bookmark_due = false;
                        live.schedule_bookmark(Instant::now());
                        if current > live.after {
                            self.pending.push_back(live.target.bookmark(current, false));
                        }
                        continue;
                    }
                }
            }
            let deadline = live.deadline;
            let bookmark_at = live.next_bookmark;
            tokio::select! {
                changed = live.tick.changed() => {
                    if changed.is_err() {
                        self.live = None;
                        return None;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.live = None;
                    return None;
                }
                _ = tokio::time::sleep_until(bookmark_at.unwrap_or(deadline)), if bookmark_at.is_some() => {
                    live.bookmark_due = true;
                    live.next_bookmark = None;
                }
            }
        }
    }
}

/// How a watch begins, once its options are read and the cache has begun.
pub enum Start {
    /// ADDED for each of these objects (the state at the cache's `current` revision, which the
    /// caller listed under the write lock), then every change after `cursor`.
    Initial {
        objects: Vec<Value>,
        cursor: u64,
        current: i64,
    },
    /// Every change after `revision`.
    After(u64),
}

impl WatchCache {
    /// The stream of one watch.
    pub fn stream(
        self: &Arc<Self>,
        target: Target,
        options: &WatchOptions,
        start: Start,
    ) -> WatchStream {
        let now = Instant::now();
        let mut pending = VecDeque::new();
        let (cursor, after) = match start {
            Start::Initial {
                objects,
                cursor,
                current,
            } => {
                pending.extend(objects.iter().map(|o| event_line("ADDED", o)));
                if options.send_initial_events == Some(true) && options.allow_watch_bookmarks {
                    pending.push_back(target.bookmark(current, true));
                }
                (cursor, current)
            }
            Start::After(revision) => {
                let after = i64::try_from(revision).unwrap_or(i64::MAX);
                match self.position_after(after) {
                    Ok(cursor) => (cursor, after),
                    Err(floor) => {
                        return WatchStream::error(&status::expired(&format!(
                            "too old resource version: {revision} ({floor})"
                        )))
                    }
                }
            }
        };
        let mut live = Live {
            cache: Arc::clone(self),
            tick: self.tick.subscribe(),
            cursor,
            after,
            target,
            bookmarks: options
                .allow_watch_bookmarks
                .then(|| self.bookmark_period()),
            next_bookmark: None,
            bookmark_due: false,
            deadline: options.deadline(now),
        };
        live.schedule_bookmark(now);
        WatchStream {
            pending,
            live: Some(live),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(revision: i64, kind: &'static str, name: &str) -> Change {
        Change {
            revision,
            kind,
            key: format!("/registry/configmaps/default/{name}"),
            object: json!({"metadata": {"name": name, "resourceVersion": revision.to_string()}}),
            prev: None,
        }
    }

    #[test]
    fn the_ring_replays_what_is_newer_and_expires_what_it_pushed_out() {
        let cache = WatchCache::new(3);
        cache.begin_after(10);
        for rev in 11..=13 {
            cache.record(change(rev, "ADDED", &format!("c{rev}")));
        }
        assert_eq!(cache.position_after(10), Ok(0));
        assert_eq!(cache.position_after(12), Ok(2));
        assert_eq!(cache.position_after(9), Err(10));
        cache.record(change(14, "ADDED", "c14"));
        assert_eq!(
            cache.position_after(10),
            Err(11),
            "11 was pushed out: 12 is the oldest change, 11 the oldest start"
        );
        assert_eq!(cache.position_after(11), Ok(1));
        assert!(matches!(cache.read(0), Read::Lagged));
    }

    #[test]
    fn large_objects_push_old_changes_out_before_the_count_is_reached() {
        let one = json_size(&change(11, "ADDED", "c11").object);
        // Room for two changes of this size, not three.
        let cache = WatchCache::with_byte_budget(1024, 2 * one + one / 2);
        cache.begin_after(10);
        for rev in 11..=13 {
            cache.record(change(rev, "ADDED", &format!("c{rev}")));
        }
        assert_eq!(cache.changes().len(), 2);
        assert_eq!(cache.position_after(10), Err(11));
        // Positions count every change since the start: 12 is the second one recorded.
        assert_eq!(cache.position_after(11), Ok(1));
        // However large, the newest change stays.
        let tiny = WatchCache::with_byte_budget(1024, 1);
        tiny.record(change(20, "ADDED", "c20"));
        tiny.record(change(21, "ADDED", "c21"));
        assert_eq!(tiny.changes().len(), 1);
        assert_eq!(tiny.current(), 21);
    }

    #[test]
    fn a_timeout_too_large_for_the_clock_is_no_deadline_rather_than_a_panic() {
        let options = WatchOptions::parse("watch=true&timeoutSeconds=9223372036854775807").unwrap();
        let now = Instant::now();
        assert!(options.deadline(now) > now + Duration::from_secs(365 * 24 * 3600));
    }

    #[test]
    fn watch_options_are_validated_with_the_apiserver_s_words() {
        let (code, body) = WatchOptions::parse("watch=true&sendInitialEvents=true").unwrap_err();
        assert_eq!(code, 422);
        let status = Status::parse(&body).unwrap();
        assert_eq!(status.message, "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
        let (code, body) =
            WatchOptions::parse("watch=true&sendInitialEvents=true&resourceVersionMatch=Exact")
                .unwrap_err();
        assert_eq!(code, 422);
        assert_eq!(Status::parse(&body).unwrap().message, "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]");
        let (code, body) =
            WatchOptions::parse("watch=true&resourceVersion=5&resourceVersionMatch=NotOlderThan")
                .unwrap_err();
        assert_eq!(code, 422);
        assert!(
            body.contains(
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
            ),
            "{body}"
        );
        let (code, body) = WatchOptions::parse("watch=true&timeoutSeconds=1.5s").unwrap_err();
        assert_eq!(
            (code, Status::parse(&body).unwrap().message),
            (
                400,
                "strconv.ParseInt: parsing \"1.5s\": invalid syntax".into()
            )
        );
        let defaulted = WatchOptions::parse("watch=true&resourceVersion=0").unwrap();
        assert_eq!(defaulted.send_initial_events, Some(true));
        let from_n = WatchOptions::parse("watch=true&resourceVersion=7").unwrap();
        assert_eq!(from_n.send_initial_events, None);
        assert_eq!(from_n.requested_revision(), Ok(7));
    }

    #[test]
    fn an_unparsable_resource_version_is_the_500_kube_apiserver_answers() {
        let options = WatchOptions::parse("watch=true&resourceVersion=abc").unwrap();
        let (code, body) = options.requested_revision().unwrap_err();
        assert_eq!(code, 500);
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax","code":500}"#
        );
        let options =
            WatchOptions::parse("watch=true&resourceVersion=99999999999999999999").unwrap();
        assert!(options
            .requested_revision()
            .unwrap_err()
            .1
            .contains("value out of range"));
    }
}
