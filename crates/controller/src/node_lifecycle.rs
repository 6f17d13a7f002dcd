//! The controller manager's node lifecycle controller: who notices that a CEO stopped coming in.
//!
//! A kubelet proves it is alive twice: it renews its Lease in `kube-node-lease` and posts its
//! Node's `Ready` condition with a fresh `lastHeartbeatTime`. Every `--node-monitor-period`
//! (5 s) kube-controller-manager looks at both (`pkg/controller/nodelifecycle/
//! node_lifecycle_controller.go`, v1.32). Whenever either has moved it notes the time it saw
//! the change; when nothing has moved for `--node-monitor-grace-period` (50 s since v1.32, 40 s
//! before), it writes the node's status itself:
//!
//! - `Ready`, `MemoryPressure`, `DiskPressure` and `PIDPressure` become `Unknown`, reason
//!   `NodeStatusUnknown`, message `Kubelet stopped posting node status.` — `kubectl get nodes`
//!   prints `NotReady`;
//! - the node gets the taint `node.kubernetes.io/unreachable:NoSchedule`, so Bob places nothing
//!   new there, and `node.kubernetes.io/unreachable:NoExecute`, after which the pods on it are
//!   evicted once their toleration runs out (300 s, the toleration every pod gets by default;
//!   the lab evicts nothing). When *every* node is unreachable the controller suspects itself
//!   rather than the nodes: it logs `Controller detected that all Nodes are not-Ready. Entering
//!   master disruption mode` and puts no NoExecute taint anywhere;
//! - the pods bound to the node are marked not Ready, so the endpoints controller takes them
//!   out of their Services.
//!
//! When the kubelet posts `Ready=True` again, the controller removes both taints ("Node is
//! healthy again, removed all taints") and the kubelet re-reports its pods.
//!
//! Time here is the lab clock, which a trainer can move by hours in one step. A real controller
//! watches a clock that only runs, so the lab adds one rule of its own: a node is declared
//! unreachable only once it has also missed a heartbeat in real time (`missed_heartbeat`, 15 s:
//! a kubelet posts every 10 s). Moving the clock a day ahead then does not make healthy nodes
//! flap, while a stopped kubelet is still found out.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use kubecorp_client::klog::{self, Severity};
use kubecorp_client::KubeClient;
use kubecorp_trust::{Event, Events, LabClock, Stage};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// `node.kubernetes.io/unreachable`: the node stopped posting its status.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/not-ready`: the kubelet posts `Ready=False`.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The message every condition gets when the kubelet went silent.
pub const STOPPED_POSTING: &str = "Kubelet stopped posting node status.";

const SOURCE: &str = "node_lifecycle_controller.go";

/// What the node lifecycle controller needs.
#[derive(Clone, Debug)]
pub struct NodeLifecycleConfig {
    pub client: KubeClient,
    pub clock: LabClock,
    pub events: Events,
    /// `--node-monitor-period`: how often nodes are looked at (5 s, real time).
    pub monitor_period: Duration,
    /// `--node-monitor-grace-period`: silence after which a node is unreachable, on the lab
    /// clock (50 s in kube-controller-manager v1.32).
    pub grace_period: time::Duration,
    /// The lab's rule: how long, in real time, a node must also have been silent (15 s).
    pub missed_heartbeat: Duration,
}

impl NodeLifecycleConfig {
    /// kube-controller-manager's defaults.
    pub fn new(client: KubeClient, clock: LabClock, events: Events) -> NodeLifecycleConfig {
        NodeLifecycleConfig {
            client,
            clock,
            events,
            monitor_period: Duration::from_secs(5),
            grace_period: time::Duration::seconds(50),
            missed_heartbeat: Duration::from_secs(15),
        }
    }
}

/// The last heartbeat seen from one node, and when the controller saw it change.
struct Health {
    /// The Ready condition's `lastHeartbeatTime`, and the Lease's `renewTime` and version.
    seen: (String, String),
    at_lab: OffsetDateTime,
    at_real: Instant,
}

/// What the Ready condition says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Readiness {
    Ready,
    NotReady,
    Unknown,
}

fn readiness(node: &Value) -> Readiness {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    match ready.and_then(|c| c["status"].as_str()) {
        Some("True") => Readiness::Ready,
        Some("False") => Readiness::NotReady,
        _ => Readiness::Unknown,
    }
}

/// Watches over the nodes until `shutdown` completes; failures are narrated and retried.
pub async fn run(config: NodeLifecycleConfig, shutdown: impl Future) {
    let mut controller = Controller {
        config,
        health: BTreeMap::new(),
        disrupted: false,
    };
    let work = async {
        loop {
            controller.pass().await;
            tokio::time::sleep(controller.config.monitor_period).await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = shutdown => {}
    }
}

struct Controller {
    config: NodeLifecycleConfig,
    health: BTreeMap<String, Health>,
    /// "master disruption mode": every node is not Ready.
    disrupted: bool,
}

impl Controller {
    /// One `monitorNodeHealth` pass.
    async fn pass(&mut self) {
        let client = self.config.client.clone();
        let nodes = match client.get("/api/v1/nodes").await {
            Ok(list) => list["items"].as_array().cloned().unwrap_or_default(),
            Err(e) => return self.failed("GET", "/api/v1/nodes", &e),
        };
        let leases = client
            .get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
            .await
            .map(|l| l["items"].as_array().cloned().unwrap_or_default())
            .unwrap_or_default();
        let now = self.config.clock.now();
        self.health
            .retain(|name, _| nodes.iter().any(|n| meta_name(n) == name));
        let mut states = Vec::with_capacity(nodes.len());
        for node in &nodes {
            let name = meta_name(node).to_owned();
            // A renewal is a write even when a standing lab clock gives it the same
            // renewTime, so the Lease's resourceVersion counts as a heartbeat too.
            let lease = leases
                .iter()
                .find(|l| meta_name(l) == name)
                .map(|l| {
                    format!(
                        "{} {}",
                        l["spec"]["renewTime"].as_str().unwrap_or(""),
                        l["metadata"]["resourceVersion"].as_str().unwrap_or("")
                    )
                })
                .unwrap_or_default();
            let heartbeat = node["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .and_then(|c| c["lastHeartbeatTime"].as_str())
                .unwrap_or("")
                .to_owned();
            let seen = (heartbeat, lease);
            let health = self.health.entry(name.clone()).or_insert(Health {
                // A node seen for the first time is given the benefit of the doubt from now.
                seen: seen.clone(),
                at_lab: now,
                at_real: Instant::now(),
            });
            if health.seen != seen {
                *health = Health {
                    seen,
                    at_lab: now,
                    at_real: Instant::now(),
                };
            }
            let silent_for = now - health.at_lab;
            let mut state = readiness(node);
            let silent = silent_for > self.config.grace_period
                && health.at_real.elapsed() >= self.config.missed_heartbeat;
            if state != Readiness::Unknown && silent && self.mark_unknown(node, silent_for).await {
                state = Readiness::Unknown;
            }
            states.push((node, state));
        }
        let all_down = !states.is_empty() && states.iter().all(|(_, s)| *s != Readiness::Ready);
        if all_down != self.disrupted {
            self.disrupted = all_down;
            let message = if all_down {
                "\"Controller detected that all Nodes are not-Ready. Entering master disruption mode\""
            } else {
                "\"Controller detected that some Nodes are Ready. Exiting master disruption mode\""
            };
            let explanation = if all_down {
                "every node is silent, which looks more like a problem on the controller's side than on every node at once: the controller puts no NoExecute taint anywhere (nothing will be evicted) until a node is Ready again"
            } else {
                "a node is Ready again: the controller goes back to tainting silent nodes NoExecute"
            };
            self.say(now, Some((Severity::Info, message)), explanation, None);
        }
        for (node, state) in states {
            self.taint(node, state).await;
        }
    }

    /// Writes the four kubelet conditions as `Unknown`; `false` if the write failed.
    async fn mark_unknown(&self, node: &Value, silent_for: time::Duration) -> bool {
        let name = meta_name(node);
        let now = kubecorp_trust::go_time(self.config.clock.now());
        let mut conditions = node["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in &mut conditions {
            let kind = c["type"].as_str().unwrap_or("");
            if matches!(
                kind,
                "Ready" | "MemoryPressure" | "DiskPressure" | "PIDPressure"
            ) && c["status"] != "Unknown"
            {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!(STOPPED_POSTING);
                c["lastTransitionTime"] = json!(now);
            }
        }
        let path = format!("/api/v1/nodes/{name}/status");
        let patch = json!({"status": {"conditions": conditions}});
        if let Err(e) = self.config.client.merge_patch(&path, &patch).await {
            self.failed("PATCH", &path, &e);
            return false;
        }
        let seconds = silent_for.whole_seconds();
        let line = format!(
            "\"Node is unresponsive. Adding it to the Taint queue\" node=\"{name}\" timeStamp=\"{now}\""
        );
        self.say(
            self.config.clock.now(),
            Some((Severity::Info, &line)),
            &format!(
                "node {name} has sent no heartbeat (Node status or Lease) for {seconds}s of lab time, past the {}s grace period: the controller marks it Ready=Unknown (NodeStatusUnknown, \"{STOPPED_POSTING}\"), kubectl shows NotReady, and its pods are marked not Ready",
                self.config.grace_period.whole_seconds()
            ),
            Some(format!(
                "find out why {name}'s kubelet went silent: is it running, and is its badge (kubelet.conf, kubelet-client-current.pem) still good? `kubecorp certs check-expiration`; the node comes back by itself at its next heartbeat"
            )),
        );
        self.mark_pods_not_ready(name).await;
        true
    }

    /// `MarkPodsNotReady`: every pod bound to the node loses its Ready condition.
    async fn mark_pods_not_ready(&self, node: &str) {
        let client = &self.config.client;
        let path = format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}");
        let pods = match client.get(&path).await {
            Ok(list) => list["items"].as_array().cloned().unwrap_or_default(),
            Err(e) => return self.failed("GET", &path, &e),
        };
        let now = kubecorp_trust::go_time(self.config.clock.now());
        for pod in pods {
            let mut conditions = pod["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut changed = false;
            for c in &mut conditions {
                if c["type"] == "Ready" && c["status"] != "False" {
                    c["status"] = json!("False");
                    c["lastTransitionTime"] = json!(now);
                    changed = true;
                }
            }
            if !changed {
                continue;
            }
            let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
            let name = meta_name(&pod);
            let status_path = format!("/api/v1/namespaces/{ns}/pods/{name}/status");
            match client
                .merge_patch(&status_path, &json!({"status": {"conditions": conditions}}))
                .await
            {
                Ok(_) => self.say(
                    self.config.clock.now(),
                    Some((
                        Severity::Info,
                        &format!("\"Updating ready status of pod to false\" pod=\"{ns}/{name}\""),
                    )),
                    &format!("pod {ns}/{name} runs on {node}, which is unreachable: it is no longer Ready, and its Services stop sending it traffic"),
                    None,
                ),
                Err(e) => self.failed("PATCH", &status_path, &e),
            }
        }
    }

    /// The taints the node's Ready condition calls for, written when they differ.
    async fn taint(&self, node: &Value, state: Readiness) {
        let name = meta_name(node);
        let current: Vec<Value> = node["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ours = |t: &Value| t["key"] == UNREACHABLE || t["key"] == NOT_READY;
        let mut desired: Vec<Value> = current.iter().filter(|t| !ours(t)).cloned().collect();
        let key = match state {
            Readiness::Ready => None,
            Readiness::Unknown => Some(UNREACHABLE),
            Readiness::NotReady => Some(NOT_READY),
        };
        if let Some(key) = key {
            desired.push(json!({"key": key, "effect": "NoSchedule"}));
            if !self.disrupted {
                // A NoExecute taint keeps the time it was first added.
                let existing = current
                    .iter()
                    .find(|t| t["key"] == key && t["effect"] == "NoExecute")
                    .cloned();
                desired.push(existing.unwrap_or_else(|| {
                    json!({"key": key, "effect": "NoExecute",
                           "timeAdded": kubecorp_trust::go_time(self.config.clock.now())})
                }));
            }
        }
        let same = desired.len() == current.len() && desired.iter().all(|t| current.contains(t));
        if same {
            return;
        }
        let path = format!("/api/v1/nodes/{name}");
        if let Err(e) = self
            .config
            .client
            .merge_patch(&path, &json!({"spec": {"taints": desired}}))
            .await
        {
            return self.failed("PATCH", &path, &e);
        }
        let now = self.config.clock.now();
        let listed = |taints: &[Value]| -> Vec<String> {
            taints
                .iter()
                .filter(|t| ours(t))
                .map(|t| {
                    format!(
                        "{}:{}",
                        t["key"].as_str().unwrap_or(""),
                        t["effect"].as_str().unwrap_or("")
                    )
                })
                .collect()
        };
        if state == Readiness::Ready {
            self.say(
                now,
                Some((
                    Severity::Info,
                    &format!("\"Node is healthy again, removed all taints\" node=\"{name}\""),
                )),
                &format!("{name}'s kubelet posts Ready=True again: the controller removes {} and Bob may place pods there again", listed(&current).join(", ")),
                None,
            );
        } else {
            self.say(
                now,
                None,
                &format!("{name} is tainted {}: NoSchedule keeps new pods away; NoExecute (only while some node is still Ready) would evict its pods once their 300 s default toleration runs out", listed(&desired).join(", ")),
                None,
            );
        }
    }

    /// An event for what the controller did; `log` is the line kube-controller-manager logs
    /// (none when it logs nothing at its default verbosity).
    fn say(
        &self,
        at: OffsetDateTime,
        log: Option<(Severity, &str)>,
        explanation: &str,
        hint: Option<String>,
    ) {
        let mut event = Event::new(
            at,
            self.config.client.component(),
            "apiserver",
            Stage::Request,
        )
        .allowed(true)
        .identity(self.config.client.identity())
        .explanation(explanation.to_owned())
        .detail(format!("node lifecycle: {explanation}"));
        if let Some((severity, message)) = log {
            event = event.caller_log(klog::line(severity, at, SOURCE, message));
        }
        if let Some(hint) = hint {
            event = event.hint(hint);
        }
        self.config.events.emit(event);
    }

    fn failed(&self, method: &str, path: &str, error: &kubecorp_client::ClientError) {
        let at = self.config.clock.now();
        self.config.events.emit(
            Event::new(at, self.config.client.component(), "apiserver", Stage::Request)
                .allowed(false)
                .identity(self.config.client.identity())
                .detail(format!("node lifecycle: {method} {path}: {error}"))
                .explanation(
                    "the node lifecycle controller could not read or write the nodes; it tries again at its next pass (every 5 s)",
                ),
        );
    }
}

fn meta_name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}
