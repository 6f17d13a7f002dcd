//! One watcher's stream: the changes of the ring that are its own, as JSON lines in Go's key
//! order, with its bookmarks and its deadline, ended when it falls out of the ring.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch as tick;
use tokio::time::Instant;

use super::{Change, Read, WatchCache, WatchOptions, INITIAL_EVENTS_END, PRE_TIMEOUT_BOOKMARK};
use crate::api::Selectors;
use crate::status::{self, Status};

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
