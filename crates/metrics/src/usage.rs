//! The figures: NodeMetrics and PodMetrics made from the nodes and pods Alice lists.
//!
//! Real metrics-server scrapes every kubelet's `/metrics/resource` every 15 s. In the lab no
//! container runs, so the figures are the lab's own, and say so: each running pod's containers
//! get a steady CPU and memory figure made from the pod's namespace, name and container (so two
//! pods differ, and one pod reads the same from one minute to the next), and a node reads a base
//! load plus its pods'. The shapes are metrics-server v0.7's: CPU in nanocores (`…n`), memory in
//! kibibytes (`…Ki`), a 15 s window, the node's or pod's labels.

use serde_json::{json, Value};
use time::OffsetDateTime;

/// The annotation that says whose figures these are.
pub const ANNOTATION: &str = "kubecorp.io/figures";
const ANNOTATION_TEXT: &str =
    "made by the lab from the pod's name (no container runs); the shape is metrics-server's";
/// What a node reads with no pods: the kubelet, the runtime and the system.
const NODE_BASE_MILLICORES: u64 = 85;
const NODE_BASE_KIB: u64 = 712 * 1024;
/// metrics-server's `--metric-resolution`, as each object's window.
const WINDOW: &str = "15s";

/// One container's figures: millicores and KiB.
fn container_usage(namespace: &str, pod: &str, container: &str) -> (u64, u64) {
    // FNV-1a: a steady number from the names.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in namespace
        .bytes()
        .chain([b'/'])
        .chain(pod.bytes())
        .chain([b'/'])
        .chain(container.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let millicores = 1 + h % 40;
    let kib = (4 + (h >> 16) % 60) * 1024 + (h >> 32) % 1024;
    (millicores, kib)
}

fn cpu(millicores: u64) -> String {
    // Nanocores, with a steady fraction so it reads like a measurement.
    format!(
        "{}n",
        millicores * 1_000_000 + millicores * 7_919 % 1_000_000
    )
}

fn memory(kib: u64) -> String {
    format!("{kib}Ki")
}

fn stamp(now: OffsetDateTime) -> String {
    kubecorp_trust::go_time(now.replace_nanosecond(0).unwrap_or(now))
}

fn labels(object: &Value) -> Value {
    object["metadata"]["labels"].clone()
}

/// Whether a pod is running (metrics-server has figures only for running containers).
fn running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
}

fn containers(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// One PodMetrics, or `None` for a pod that is not running.
pub fn pod_metrics(pod: &Value, now: OffsetDateTime) -> Option<Value> {
    if !running(pod) {
        return None;
    }
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str()?;
    let containers: Vec<Value> = containers(pod)
        .iter()
        .map(|c| {
            let (m, k) = container_usage(ns, name, c);
            json!({"name": c, "usage": {"cpu": cpu(m), "memory": memory(k)}})
        })
        .collect();
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": name, "namespace": ns, "creationTimestamp": stamp(now),
            "labels": labels(pod), "annotations": {ANNOTATION: ANNOTATION_TEXT},
        },
        "timestamp": stamp(now),
        "window": WINDOW,
        "containers": containers,
    }))
}

/// Whether a node's Ready condition is True (metrics-server reports only nodes it scraped).
fn ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// One NodeMetrics, or `None` for a node that is not Ready.
pub fn node_metrics(node: &Value, pods: &[Value], now: OffsetDateTime) -> Option<Value> {
    if !ready(node) {
        return None;
    }
    let name = node["metadata"]["name"].as_str()?;
    let (mut m, mut k) = (NODE_BASE_MILLICORES, NODE_BASE_KIB);
    for pod in pods
        .iter()
        .filter(|p| p["spec"]["nodeName"] == name && running(p))
    {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
        for c in containers(pod) {
            let (cm, ck) = container_usage(ns, pod_name, &c);
            m += cm;
            k += ck;
        }
    }
    Some(json!({
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {
            "name": name, "creationTimestamp": stamp(now),
            "labels": labels(node), "annotations": {ANNOTATION: ANNOTATION_TEXT},
        },
        "timestamp": stamp(now),
        "window": WINDOW,
        "usage": {"cpu": cpu(m), "memory": memory(k)},
    }))
}

/// A `…List` of `items`.
pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({
        "kind": format!("{kind}List"),
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn pod(name: &str, node: &str, phase: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
               "spec": {"nodeName": node, "containers": [{"name": "main"}]},
               "status": {"phase": phase}})
    }

    #[test]
    fn a_running_pod_reads_the_same_figures_every_time_and_another_pod_reads_others() {
        let now = datetime!(2026-06-01 09:00:00.5 UTC);
        let a = pod_metrics(&pod("web", "n1", "Running"), now).unwrap();
        assert_eq!(a, pod_metrics(&pod("web", "n1", "Running"), now).unwrap());
        let b = pod_metrics(&pod("api", "n1", "Running"), now).unwrap();
        assert_ne!(a["containers"], b["containers"]);
        assert_eq!(a["timestamp"], "2026-06-01T09:00:00Z");
        assert_eq!(a["window"], "15s");
        assert!(a["containers"][0]["usage"]["cpu"]
            .as_str()
            .unwrap()
            .ends_with('n'));
        assert!(a["containers"][0]["usage"]["memory"]
            .as_str()
            .unwrap()
            .ends_with("Ki"));
        assert!(pod_metrics(&pod("wait", "n1", "Pending"), now).is_none());
    }

    #[test]
    fn a_node_reads_its_base_load_plus_its_running_pods() {
        let now = datetime!(2026-06-01 09:00 UTC);
        let node = json!({"metadata": {"name": "n1"},
                          "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let idle = node_metrics(&node, &[], now).unwrap();
        assert_eq!(idle["usage"]["cpu"], cpu(NODE_BASE_MILLICORES));
        let busy = node_metrics(&node, &[pod("web", "n1", "Running")], now).unwrap();
        assert_ne!(idle["usage"], busy["usage"]);
        let elsewhere = node_metrics(&node, &[pod("web", "n2", "Running")], now).unwrap();
        assert_eq!(idle["usage"], elsewhere["usage"]);
        let not_ready = json!({"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert!(node_metrics(&not_ready, &[], now).is_none());
    }
}
