//! Bob, the scheduler: finds every pod without a node and binds it to a Ready one.
//!
//! kube-scheduler is a client of the apiserver like any other. It dials Alice with the badge in
//! `scheduler.conf` (`CN=system:kube-scheduler`, which the bootstrap ClusterRoleBinding
//! `system:kube-scheduler` lets list and watch pods and nodes and create `pods/binding`), keeps
//! a cache of both by listing and watching them ([`reflector`]), and for each pod whose
//! `spec.nodeName` is empty picks a node and POSTs a `Binding`:
//!
//! ```text
//! POST /api/v1/namespaces/default/pods/web/binding
//! {"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},
//!  "target":{"apiVersion":"v1","kind":"Node","name":"kubecorp-control-plane"}}
//! ```
//!
//! Bob's filter is the lab's short version of the real plugins: a node must be Ready
//! (on a real cluster the node lifecycle controller taints a NotReady node with
//! `node.kubernetes.io/not-ready:NoSchedule` and the TaintToleration plugin rejects it, so Bob
//! reports it the same way) and not cordoned; among those he takes the one with the fewest pods.
//! With no fitting node the pod stays Pending and Bob says why in the real scheduler's words
//! (`0/1 nodes are available: …`, or `no nodes available to schedule pods` with none at all).
//!
//! A failed call never stops Bob: he emits one event carrying the line kube-scheduler logs
//! (client-go's reflector `"Unhandled Error"` line for a list or watch, `"Error scheduling pod;
//! retrying"` for a binding) and tries again after a backoff (100 ms doubling to 5 s, reset by a
//! success). His badge is read from disk at every call, so a renewed `scheduler.conf` counts at
//! the next retry; a real kube-scheduler reads it only at start and needs a restart.
//!
//! Bob also keeps a door of his own, the secure port :10259 ([`serving`], [`serve_secure`]):
//! `/healthz`, `/readyz` and `/livez` answer `ok` to anyone over a self-signed certificate;
//! every other path needs a badge from the cluster CA and Alice's yes to a SubjectAccessReview
//! ([`Delegation`]), and is refused to an anonymous caller with the apiserver library's `403`.
#![forbid(unsafe_code)]

pub mod serving;

pub use serving::{serve_secure, Delegation, ServingError, SECURE_PORT};

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use kubecorp_client::ClientError;
use kubecorp_client::{klog, reflector};
use kubecorp_trust::{Event, Stage};
use serde_json::{json, Value};

use kubecorp_client::klog::{quote, Backoff, Severity};
use kubecorp_client::reflector::{apply, Failure, NODES, PODS};

/// The badge Bob dials with, named in explanations.
pub const BADGE: klog::Badge = klog::Badge {
    file: "scheduler.conf",
    renew: "`kubeadm certs renew scheduler.conf`; in the lab `kubecorp certs renew scheduler.conf` or `kubecorp break --undo scheduler.conf`",
};

/// The pods Bob schedules name this scheduler (or none, which means the same).
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// What Bob needs: a client carrying `scheduler.conf`'s badge, the lab clock and the events.
///
/// Events are emitted as `client.component()`; the office names the client `scheduler`.
pub type SchedulerConfig = kubecorp_client::StaffConfig;

/// Why a scheduling round stopped: a list or watch failed, or a binding did.
#[derive(Debug)]
enum RoundError {
    Reflector(Failure),
    Bind {
        pod: String,
        node: String,
        error: ClientError,
    },
}

/// A failed list or watch ends the round; `?` says so.
impl From<Failure> for RoundError {
    fn from(failure: Failure) -> Self {
        RoundError::Reflector(failure)
    }
}

/// Schedules pods until `shutdown` completes. Failures are retried, never returned.
pub async fn run(config: SchedulerConfig, shutdown: impl Future) {
    let mut bob = Scheduler {
        config,
        pods: BTreeMap::new(),
        nodes: BTreeMap::new(),
        reported: HashMap::new(),
        sequence: 0,
    };
    reflector::run_rounds(&mut bob, shutdown).await;
}

impl reflector::Rounds for Scheduler {
    type Error = RoundError;

    /// List both, schedule, then watch both and schedule after every change, until a watch
    /// ends (`Ok`, list again) or a call fails.
    async fn round(&mut self, backoff: &mut Backoff) -> Result<(), RoundError> {
        let client = self.config.client.clone();
        let (pods, pods_rv) = PODS.list(&client).await?;
        let (nodes, nodes_rv) = NODES.list(&client).await?;
        self.nodes = nodes;
        self.pods = pods;
        backoff.reset();
        self.schedule_pending().await?;
        let mut node_watch = NODES.watch(&client, &nodes_rv).await?;
        let mut pod_watch = PODS.watch(&client, &pods_rv).await?;
        loop {
            let changed = tokio::select! {
                changed = node_watch.apply_next(&mut self.nodes) => changed,
                event = pod_watch.next() => match event {
                    Some(Ok(e)) => {
                        if e.kind == "DELETED" {
                            self.reported.remove(&reflector::key(&e.object));
                        }
                        Some(apply(&mut self.pods, &e.kind, e.object))
                    }
                    _ => None,
                },
            };
            let Some(changed) = changed else {
                return Ok(());
            };
            if changed {
                self.schedule_pending().await?;
            }
        }
    }

    fn report(&mut self, error: &RoundError) {
        let config = &self.config;
        let event = match error {
            RoundError::Reflector(failure) => failure.event(&config.client, &config.clock, BADGE),
            RoundError::Bind { pod, node, error } => {
                let at = config.clock.now();
                let (namespace, name) = pod.split_once('/').unwrap_or(("", pod));
                let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/binding");
                let go = klog::go_error(&config.client, "Post", &path, error);
                let err = format!("running Bind plugin \"DefaultBinder\": {go}");
                // utilruntime.HandleErrorWithContext in handleSchedulingFailure; the line
                // number is the no-fit line's neighbour (inferred, not seen in a log).
                let log = klog::line(
                    Severity::Error,
                    at,
                    "schedule_one.go:1057",
                    &format!(
                        "\"Error scheduling pod; retrying\" err={} pod={} logger=\"UnhandledError\"",
                        quote(&err),
                        quote(pod)
                    ),
                );
                klog::failed_call(&config.client, at, BADGE, error)
                    .client_text(err)
                    .caller_log(log)
                    .detail(format!("binding {pod} to {node} failed: {error}"))
            }
        };
        config.events.emit(event);
    }
}

struct Scheduler {
    config: SchedulerConfig,
    pods: BTreeMap<String, Value>,
    nodes: BTreeMap<String, Value>,
    /// The last FailedScheduling message told for each pod, so a pod is not re-reported for
    /// every unrelated change.
    reported: HashMap<String, String>,
    /// Tells apart Event objects written in the same instant (the lab clock may stand still).
    sequence: u64,
}

impl Scheduler {
    /// Tries every pod that has no node yet.
    async fn schedule_pending(&mut self) -> Result<(), RoundError> {
        let pending: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, pod)| is_pending(pod))
            .map(|(key, _)| key.clone())
            .collect();
        for key in pending {
            let pod = self.pods.get(&key).cloned().unwrap_or(Value::Null);
            match pick_node(&self.nodes, &self.pods, &pod) {
                Ok(choice) => self.bind(&key, choice).await?,
                Err(message) => self.failed_scheduling(&key, message).await,
            }
        }
        Ok(())
    }

    async fn bind(&mut self, key: &str, choice: Choice) -> Result<(), RoundError> {
        let Some((namespace, name)) = key.split_once('/') else {
            return Ok(());
        };
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": choice.node},
        });
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/binding");
        match self.config.client.create(&path, &binding).await {
            Ok(_) => {}
            // Already bound (by someone else, or our cache is behind) or gone: the watch will
            // bring the truth.
            Err(e) if matches!(e.code(), Some(404 | 409)) => return Ok(()),
            Err(error) => {
                return Err(RoundError::Bind {
                    pod: key.to_owned(),
                    node: choice.node,
                    error,
                })
            }
        }
        // Assume the binding, as the scheduler cache does, so the next pod counts it.
        if let Some(spec) = self
            .pods
            .get_mut(key)
            .and_then(|pod| pod.get_mut("spec"))
            .and_then(Value::as_object_mut)
        {
            spec.insert("nodeName".into(), json!(choice.node));
        }
        self.reported.remove(key);
        // The Event object first, so `kubectl describe` already shows what the lab event tells.
        let message = format!("Successfully assigned {key} to {}", choice.node);
        self.record(key, "Normal", "Scheduled", "Binding", &message)
            .await;
        let at = self.config.clock.now();
        // Verified text: kube-scheduler 1.31/1.32 logs this at schedule_one.go:314 (V(2)).
        let log = klog::line(
            Severity::Info,
            at,
            "schedule_one.go:314",
            &format!(
                "\"Successfully bound pod to node\" pod={} node={} evaluatedNodes={} feasibleNodes={}",
                quote(key),
                quote(&choice.node),
                choice.evaluated,
                choice.feasible
            ),
        );
        self.config.events.emit(
            Event::new(at, self.config.client.component(), "apiserver", Stage::Request)
                .allowed(true)
                .identity(self.config.client.identity())
                .client_text(format!("Successfully assigned {key} to {}", choice.node))
                .caller_log(log)
                .explanation(format!(
                    "Bob chose {} ({} of {} nodes fit; the fewest pods wins) and posted a Binding; the kubelet on {} starts the pod from here. `kubectl describe pod` shows the Normal Scheduled event with the same words.",
                    choice.node, choice.feasible, choice.evaluated, choice.node
                ))
                .detail(format!("bound {key} to {}", choice.node)),
        );
        Ok(())
    }

    async fn failed_scheduling(&mut self, key: &str, message: String) {
        if self.reported.get(key) == Some(&message) {
            return;
        }
        // Remember first: the status patch below comes back through the watch.
        self.reported.insert(key.to_owned(), message.clone());
        self.record(key, "Warning", "FailedScheduling", "Scheduling", &message)
            .await;
        self.mark_unschedulable(key, &message).await;
        let at = self.config.clock.now();
        // handleSchedulingFailure's V(2) lines. The no-fit line is at schedule_one.go:1055 in
        // 1.31/1.32 logs; the no-nodes line sits four lines above it in the same function.
        let log = if message == NO_NODES {
            klog::line(
                Severity::Info,
                at,
                "schedule_one.go:1051",
                &format!(
                    "\"Unable to schedule pod; no nodes are registered to the cluster; waiting\" pod={}",
                    quote(key)
                ),
            )
        } else {
            klog::line(
                Severity::Info,
                at,
                "schedule_one.go:1055",
                &format!(
                    "\"Unable to schedule pod; no fit; waiting\" pod={} err={}",
                    quote(key),
                    quote(&message)
                ),
            )
        };
        let explanation = if message == NO_NODES {
            "No node has registered with Alice yet, so Bob has nowhere to put the pod. It stays Pending until a kubelet registers its Node; Bob then tries again by himself."
        } else {
            "Every node was filtered out: a node must be Ready (a NotReady node carries the node.kubernetes.io/not-ready taint on a real cluster) and not cordoned. The pod stays Pending until a node fits; Bob then tries again by himself."
        };
        self.config.events.emit(
            Event::new(
                at,
                self.config.client.component(),
                "apiserver",
                Stage::Request,
            )
            .allowed(false)
            .identity(self.config.client.identity())
            .client_text(message.clone())
            .caller_log(log)
            .explanation(explanation)
            .hint("`kubectl get nodes`: is a kubelet running and its node Ready?")
            .detail(format!("FailedScheduling {key}: {message}")),
        );
    }

    /// Writes a core/v1 Event about the pod, as kube-scheduler's event recorder does, so
    /// `kubectl describe pod` lists it. Like the recorder, Bob drops an event he cannot write.
    async fn record(&mut self, key: &str, kind: &str, reason: &str, action: &str, message: &str) {
        let Some(pod) = self.pods.get(key) else {
            return;
        };
        let meta = &pod["metadata"];
        let (Some(namespace), Some(name)) = (meta["namespace"].as_str(), meta["name"].as_str())
        else {
            return;
        };
        let at = self.config.clock.now();
        self.sequence += 1;
        let stamp = at.unix_timestamp_nanos().unsigned_abs() + u128::from(self.sequence);
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{stamp:x}"), "namespace": namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace,
                               "name": name, "uid": meta["uid"],
                               "resourceVersion": meta["resourceVersion"]},
            "type": kind, "reason": reason, "action": action, "message": message,
            "source": {"component": SCHEDULER_NAME},
            "reportingComponent": SCHEDULER_NAME,
            "eventTime": kubecorp_trust::gotime::rfc3339_micro(at),
            "firstTimestamp": kubecorp_trust::go_time(at),
            "lastTimestamp": kubecorp_trust::go_time(at),
            "count": 1,
        });
        let path = format!("/api/v1/namespaces/{namespace}/events");
        let _ = self.config.client.create(&path, &event).await;
    }

    /// Sets the pod's `PodScheduled` condition to False/Unschedulable with the message, as
    /// handleSchedulingFailure does (`kubectl describe pod` shows it under Conditions).
    async fn mark_unschedulable(&self, key: &str, message: &str) {
        let Some((namespace, name)) = key.split_once('/') else {
            return;
        };
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": null,
            "lastTransitionTime": kubecorp_trust::go_time(self.config.clock.now()),
        }]}});
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/status");
        let _ = self.config.client.merge_patch(&path, &patch).await;
    }
}

/// The scheduler's event text when the cluster has no nodes at all (`ErrNoNodesAvailable`).
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// Whether Bob should schedule this pod: no node yet, not finished, not being deleted, and
/// meant for the default scheduler.
pub fn is_pending(pod: &Value) -> bool {
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    let scheduler = pod["spec"]["schedulerName"]
        .as_str()
        .unwrap_or(SCHEDULER_NAME);
    pod.is_object()
        && node.is_empty()
        && phase != "Succeeded"
        && phase != "Failed"
        && pod["metadata"]["deletionTimestamp"].is_null()
        && scheduler == SCHEDULER_NAME
}

/// The node Bob picked and how many he looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub node: String,
    pub evaluated: usize,
    pub feasible: usize,
}

/// Why a node does not fit `pod`, in the words of the plugin that would reject it on a real
/// cluster.
pub fn unfit_reason(node: &Value, pod: &Value) -> Option<String> {
    if node["spec"]["unschedulable"].as_bool() == Some(true) {
        // NodeUnschedulable plugin (a cordoned node).
        return Some("node(s) were unschedulable".into());
    }
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str());
    match ready {
        Some("True") => {}
        // The node lifecycle controller's taints, rejected by TaintToleration.
        Some("Unknown") => {
            return Some("node(s) had untolerated taint {node.kubernetes.io/unreachable: }".into())
        }
        _ => return Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }".into()),
    }
    // TaintToleration: the first NoSchedule/NoExecute taint the pod does not tolerate, e.g.
    // kubeadm's `node-role.kubernetes.io/control-plane:NoSchedule`.
    let tolerations = pod["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .map(|t| {
            format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t["key"].as_str().unwrap_or(""),
                t["value"].as_str().unwrap_or("")
            )
        })
}

/// `Toleration.ToleratesTaint`: same effect (or any), and the key matched by `Exists` or by an
/// equal value.
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect = toleration["effect"].as_str().unwrap_or("");
    if !effect.is_empty() && Some(effect) != taint["effect"].as_str() {
        return false;
    }
    let key = toleration["key"].as_str().unwrap_or("");
    if !key.is_empty() && Some(key) != taint["key"].as_str() {
        return false;
    }
    match toleration["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" => {
            !key.is_empty()
                && toleration["value"].as_str().unwrap_or("")
                    == taint["value"].as_str().unwrap_or("")
        }
        _ => false,
    }
}

/// Picks the fitting node with the fewest pods (ties: by name), or says why none fits in the
/// scheduler's FailedScheduling words.
pub fn pick_node(
    nodes: &BTreeMap<String, Value>,
    pods: &BTreeMap<String, Value>,
    pod: &Value,
) -> Result<Choice, String> {
    if nodes.is_empty() {
        return Err(NO_NODES.to_owned());
    }
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible = Vec::new();
    for (name, node) in nodes {
        match unfit_reason(node, pod) {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => feasible.push(name.as_str()),
        }
    }
    let load = |node: &str| {
        pods.values()
            .filter(|p| p["spec"]["nodeName"].as_str() == Some(node))
            .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
            .count()
    };
    if let Some(best) = feasible.iter().min_by_key(|n| (load(n), **n)) {
        return Ok(Choice {
            node: (*best).to_owned(),
            evaluated: nodes.len(),
            feasible: feasible.len(),
        });
    }
    // framework.FitError.Error(): the sorted histogram, then DefaultPreemption's verdict
    // (taints and cordons are unresolvable, so preemption cannot help).
    let total = nodes.len();
    let mut histogram: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    histogram.sort();
    Err(format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
        histogram.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ready: &str) -> (String, Value) {
        (
            name.to_owned(),
            json!({"metadata": {"name": name},
                   "status": {"conditions": [{"type": "Ready", "status": ready}]}}),
        )
    }

    #[test]
    fn a_cluster_without_nodes_gets_the_no_nodes_message() {
        assert_eq!(
            pick_node(&BTreeMap::new(), &BTreeMap::new(), &Value::Null),
            Err("no nodes available to schedule pods".into())
        );
    }

    #[test]
    fn a_not_ready_node_is_rejected_as_the_taint_plugin_words_it() {
        let nodes = BTreeMap::from([node("n1", "False")]);
        assert_eq!(
            pick_node(&nodes, &BTreeMap::new(), &Value::Null),
            Err("0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".into())
        );
    }

    #[test]
    fn the_ready_node_with_the_fewest_pods_wins() {
        let nodes = BTreeMap::from([node("a", "True"), node("b", "True"), node("c", "False")]);
        let pods = BTreeMap::from([(
            "default/x".to_owned(),
            json!({"spec": {"nodeName": "a"}, "status": {"phase": "Running"}}),
        )]);
        assert_eq!(
            pick_node(&nodes, &pods, &Value::Null),
            Ok(Choice {
                node: "b".into(),
                evaluated: 3,
                feasible: 2
            })
        );
    }

    #[test]
    fn a_control_plane_taint_keeps_pods_off_unless_they_tolerate_it() {
        let (name, mut cp) = node("cp", "True");
        cp["spec"]["taints"] =
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        let nodes = BTreeMap::from([(name, cp)]);
        assert_eq!(
            pick_node(&nodes, &BTreeMap::new(), &json!({"spec": {}})),
            Err("0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".into())
        );
        let tolerant = json!({"spec": {"tolerations": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}});
        assert_eq!(
            pick_node(&nodes, &BTreeMap::new(), &tolerant).map(|c| c.node),
            Ok("cp".into())
        );
    }

    #[test]
    fn odd_objects_from_the_apiserver_are_judged_not_panicked_over() {
        let nodes = BTreeMap::from([
            ("a".to_owned(), json!("garbage")),
            (
                "b".to_owned(),
                json!({"status": {"conditions": "x"}, "spec": []}),
            ),
        ]);
        let pods = BTreeMap::from([("p".to_owned(), json!([1, 2]))]);
        assert!(pick_node(&nodes, &pods, &Value::Null).is_err());
        assert!(!is_pending(&json!("pod")));
        let mut cache = BTreeMap::new();
        assert!(!apply(&mut cache, "ADDED", json!(null)));
        assert!(cache.is_empty());
    }

    #[test]
    fn only_unbound_live_pods_for_the_default_scheduler_are_pending() {
        assert!(is_pending(
            &json!({"spec": {}, "status": {"phase": "Pending"}})
        ));
        assert!(!is_pending(&json!({"spec": {"nodeName": "a"}})));
        assert!(!is_pending(&json!({"spec": {"schedulerName": "other"}})));
        assert!(!is_pending(
            &json!({"spec": {}, "status": {"phase": "Succeeded"}})
        ));
    }
}
