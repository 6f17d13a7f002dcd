//! A `?watch=true` stream read as the apiserver writes it: one JSON object per line.

use crate::*;

/// One event of a `?watch=true` stream.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` (with `allowWatchBookmarks=true`) or `ERROR`
    /// (a Status, e.g. 410 Expired, after which the apiserver ends the stream).
    pub kind: String,
    pub object: Value,
}

/// A `?watch=true` stream: one JSON object per line.
pub struct Watch {
    pub(crate) body: Incoming,
    pub(crate) buffer: Vec<u8>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// The next event; `None` when the server ends the stream (a watcher then lists again).
    pub async fn next(&mut self) -> Option<Result<WatchEvent, String>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                return Some(match serde_json::from_slice::<Value>(line) {
                    Ok(v) => Ok(WatchEvent {
                        kind: v["type"].as_str().unwrap_or_default().to_owned(),
                        object: v["object"].clone(),
                    }),
                    Err(e) => Err(format!("unreadable watch event: {e}")),
                });
            }
            if self.buffer.len() > MAX_BODY {
                return Some(Err(format!(
                    "a watch event longer than {MAX_BODY} bytes without a line end"
                )));
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Err(e) => return Some(Err(e.to_string())),
            }
        }
    }
    /// Waits for the next event and applies it to `cache`, as an informer's store takes it
    /// ([`crate::reflector::apply`]): `Some(changed)`, or `None` once the stream has ended or
    /// broken (the round then lists again).
    pub async fn apply_next(
        &mut self,
        cache: &mut std::collections::BTreeMap<String, Value>,
    ) -> Option<bool> {
        match self.next().await {
            Some(Ok(e)) => Some(crate::reflector::apply(cache, &e.kind, e.object)),
            _ => None,
        }
    }
}
