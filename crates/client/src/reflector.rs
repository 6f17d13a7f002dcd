//! List, then watch: how every client-go informer learns the apiserver's objects, and the one
//! event a component emits when it cannot.
//!
//! A reflector lists a resource (`GET /api/v1/pods?limit=500&resourceVersion=0`), then watches
//! from the list's `resourceVersion`. When the watch ends it lists again. When either call fails,
//! client-go logs the failure through `utilruntime.HandleError` (the `"Unhandled Error"` line)
//! and tries again after a backoff; a component never dies of it.

use std::collections::BTreeMap;

use crate::{ClientError, KubeClient, Watch};
use kubecorp_trust::{Event, LabClock};
use serde_json::Value;

use crate::klog;
use crate::klog::Backoff;

/// The pause between two list-and-watch rounds when a watch simply ended, so a server that
/// closes every watch at once does not get a storm of handshakes.
pub const ROUND_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// A member of staff that works in list-and-watch rounds (Bob, Dave, the controllers).
pub trait Rounds {
    type Error;
    /// Lists, acts, then watches until the watch ends (`Ok`) or a call fails (`Err`).
    fn round(
        &mut self,
        backoff: &mut Backoff,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
    /// Says what failed, on the event stream.
    fn report(&mut self, error: &Self::Error);
}

/// Runs `worker` round after round until `shutdown`: a failed round is reported and retried
/// after the backoff; a watch that simply ended is listed again after [`ROUND_PAUSE`]. Failures
/// are never returned: a broken badge must not stop the component.
pub async fn run_rounds<W: Rounds>(worker: &mut W, shutdown: impl std::future::Future) {
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        let round = tokio::select! {
            _ = &mut shutdown => return,
            round = worker.round(&mut backoff) => round,
        };
        let wait = match round {
            Err(error) => {
                worker.report(&error);
                backoff.next_wait()
            }
            Ok(()) => ROUND_PAUSE,
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One resource a component lists and watches.
#[derive(Clone, Copy, Debug)]
pub struct Reflector {
    /// Go's type name in log lines: `*v1.Pod`.
    pub kind: &'static str,
    /// The collection: `/api/v1/pods`.
    pub path: &'static str,
}

/// The resources the staff list and watch, one copy each.
pub const PODS: Reflector = Reflector::new("*v1.Pod", "/api/v1/pods");
pub const NODES: Reflector = Reflector::new("*v1.Node", "/api/v1/nodes");
pub const SERVICES: Reflector = Reflector::new("*v1.Service", "/api/v1/services");
pub const ENDPOINTS: Reflector = Reflector::new("*v1.Endpoints", "/api/v1/endpoints");
pub const SLICES: Reflector = Reflector::new(
    "*v1.EndpointSlice",
    "/apis/discovery.k8s.io/v1/endpointslices",
);

/// A list or watch that failed.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: &'static str,
    /// The failing call was the list (else the watch).
    pub list: bool,
    /// `GET /api/v1/pods?…`.
    pub path: String,
    pub error: ClientError,
}

impl Failure {
    /// The component's own event for this failure: the client-go line it logs, the Go error,
    /// and the lab's explanation.
    pub fn event(&self, client: &KubeClient, clock: &LabClock, badge: klog::Badge) -> Event {
        let at = clock.now();
        let go = klog::go_error(client, "Get", &self.path, &self.error);
        let log = klog::reflector_failure(at, self.kind, self.list, &go);
        let client_text = if self.list {
            format!("failed to list {}: {go}", self.kind)
        } else {
            go
        };
        klog::failed_call(client, at, badge, &self.error)
            .client_text(client_text)
            .caller_log(log)
            .detail(format!("GET {} failed: {}", self.path, self.error))
    }
}

/// `namespace/name`, or `name` for cluster-scoped objects.
pub fn key(obj: &Value) -> String {
    let meta = &obj["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    match meta["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

impl Reflector {
    /// The resource Go calls `kind` in its log lines, whose collection is at `path`.
    pub const fn new(kind: &'static str, path: &'static str) -> Reflector {
        Reflector { kind, path }
    }

    /// Lists the collection: its objects by key, and the list's resourceVersion.
    pub async fn list(
        &self,
        client: &KubeClient,
    ) -> Result<(BTreeMap<String, Value>, String), Failure> {
        let path = format!("{}?limit=500&resourceVersion=0", self.path);
        let list = client.get(&path).await.map_err(|error| Failure {
            kind: self.kind,
            list: true,
            path: path.clone(),
            error,
        })?;
        let items = list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|o| o.is_object())
                    .map(|o| (key(o), o.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_owned();
        Ok((items, rv))
    }

    /// Watches the collection from `resource_version`.
    pub async fn watch(
        &self,
        client: &KubeClient,
        resource_version: &str,
    ) -> Result<Watch, Failure> {
        let path = format!(
            "{}?allowWatchBookmarks=true&resourceVersion={resource_version}&watch=true",
            self.path
        );
        client.watch(&path).await.map_err(|error| Failure {
            kind: self.kind,
            list: false,
            path,
            error,
        })
    }
}

/// Applies one watch event to a cache; `false` for an event that changes nothing: one without
/// an object, a BOOKMARK (only a resourceVersion), or an ERROR (a Status such as the 410
/// `too old resource version`; the apiserver then ends the stream, and the next round lists
/// again, as client-go's reflector does on a 410).
pub fn apply(cache: &mut BTreeMap<String, Value>, kind: &str, object: Value) -> bool {
    if !object.is_object() {
        return false;
    }
    let k = key(&object);
    match kind {
        "ADDED" | "MODIFIED" => {
            cache.insert(k, object);
            true
        }
        "DELETED" => {
            cache.remove(&k);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bookmarks_and_errors_leave_the_cache_as_it_was() {
        let mut cache = BTreeMap::new();
        let pod =
            json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "5"}});
        assert!(apply(&mut cache, "ADDED", pod.clone()));
        let bookmark =
            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}});
        assert!(!apply(&mut cache, "BOOKMARK", bookmark));
        let expired = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version: 1 (4)", "reason": "Expired", "code": 410});
        assert!(!apply(&mut cache, "ERROR", expired));
        assert_eq!(
            cache.into_iter().collect::<Vec<_>>(),
            [("default/web".to_owned(), pod)]
        );
    }
}
