//! The CEO's desk work: the pods bound to this node, reported Running, and their logs.
//!
//! The kubelet watches `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>&watch=true` (the
//! apiserver filters by field selector, so the kubelet only ever hears of its own pods) and
//! "runs" each one: no containers start in the lab, but the pod's status says what a real
//! kubelet would report once they had: phase `Running`, a pod IP from the node's pod range,
//! `Ready` conditions and a running state per container. The status is written through the
//! `pods/status` subresource, which NodeRestriction allows only for pods bound to this node. A
//! report that fails is tried again until it lands, so a kubelet that recovers from an outage
//! brings every pod bound to it up to date.
//!
//! The containers' logs are generated: a few deterministic lines per container, so `kubectl
//! logs` through Alice has something true-looking to show.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::klog;
use crate::{Backoff, Kubelet};

/// `namespace/name`.
pub fn key(pod: &Value) -> String {
    format!(
        "{}/{}",
        pod["metadata"]["namespace"].as_str().unwrap_or("default"),
        pod["metadata"]["name"].as_str().unwrap_or("")
    )
}

fn fnv(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The pod's IP: `10.244.<node>.<pod>`, the same every time for the same node and pod.
pub fn pod_ip(node: &str, namespace: &str, name: &str) -> String {
    let subnet = fnv(node) % 256;
    let host = 2 + fnv(&format!("{namespace}/{name}")) % 253;
    format!("10.244.{subnet}.{host}")
}

fn container_id(namespace: &str, pod: &str, container: &str) -> String {
    let seed = format!("{namespace}/{pod}/{container}");
    let id: String = (0..4)
        .map(|i| format!("{:016x}", fnv(&format!("{i}:{seed}"))))
        .collect();
    format!("containerd://{id}")
}

fn containers(pod: &Value) -> Vec<(String, String)> {
    pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or("").to_owned(),
                        c["image"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the stored status already says what this kubelet reports (Running, Ready, with
/// its IP). The node lifecycle controller marks pods not Ready while their node is silent; a
/// kubelet that is back says Ready again.
fn is_reported(k: &Kubelet, pod: &Value) -> bool {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let ready = pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    pod["status"]["phase"] == "Running"
        && ready
        && pod["status"]["podIP"].as_str() == Some(pod_ip(&k.node, ns, name).as_str())
}

/// The status manager's retry (`syncBatch`): every pod bound to this node whose status is
/// not yet what the kubelet reports is reported again. Without it, a pod whose report failed
/// (a refused badge, Alice away) would stay Pending until something else changed it.
async fn reconcile(k: &Kubelet) {
    for pod in k.pods() {
        if !is_reported(k, &pod) {
            report(k, &pod).await;
        }
    }
}

/// The status a kubelet reports for a pod whose containers all started at `started`.
pub(crate) fn running_status(k: &Kubelet, pod: &Value, started: &str) -> Value {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let ip = pod_ip(&k.node, ns, name);
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": started});
    let statuses: Vec<Value> = containers(pod)
        .into_iter()
        .map(|(c, image)| {
            json!({
                "name": c,
                "image": image,
                "imageID": format!("{image}@sha256:{:016x}", fnv(&image)),
                "containerID": container_id(ns, name, &c),
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
                "lastState": {},
            })
        })
        .collect();
    json!({
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers"),
            condition("Initialized"),
            condition("Ready"),
            condition("ContainersReady"),
            condition("PodScheduled"),
        ],
        "hostIP": k.address.to_string(),
        "hostIPs": [{"ip": k.address.to_string()}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    })
}

/// The kubelet's pod source as client-go names its reflector (`pkg/kubelet/config/apiserver.go`,
/// Kubernetes 1.32).
pub(crate) const POD_SOURCE: &str = "pkg/kubelet/config/apiserver.go:66";

/// Watches this node's pods for ever, reporting each one Running; re-lists after the stream
/// ends and backs off after failures.
pub(crate) async fn watch_loop(k: Arc<Kubelet>) {
    let mut backoff = Backoff::new(k.config.sync_interval);
    loop {
        while !backoff.ready() {
            tokio::time::sleep(k.config.sync_interval / 4).await;
        }
        let client = k.client();
        let path = format!(
            "/api/v1/pods?fieldSelector=spec.nodeName%3D{}&watch=true",
            k.node
        );
        let mut watch = match client.watch(&path).await {
            Ok(w) => w,
            Err(e) => {
                // client-go lists first (`limit=500&resourceVersion=0`), and its error names
                // that URL, as a real kubelet's `failed to list *v1.Pod: Get "…"` does.
                let list = format!(
                    "/api/v1/pods?fieldSelector=spec.nodeName%3D{}&limit=500&resourceVersion=0",
                    k.node
                );
                let line = kubecorp_client::klog::named_reflector_failure(
                    k.now(),
                    POD_SOURCE,
                    "*v1.Pod",
                    true,
                    &klog::request_error(&client, "GET", &list, &e),
                );
                k.client_failure(
                    &e,
                    line,
                    "the kubelet could not watch the pods bound to its node; it keeps retrying",
                );
                backoff.failed();
                continue;
            }
        };
        backoff.succeeded();
        // The real status manager retries every 10 s (`syncPeriod`); the lab follows the
        // kubelet's heartbeat period, which tests shorten.
        let mut retry = tokio::time::interval(k.config.heartbeat_interval);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                event = watch.next() => event,
                _ = retry.tick() => {
                    reconcile(&k).await;
                    continue;
                }
            };
            let Some(Ok(event)) = event else { break };
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" => {
                    if event.object["spec"]["nodeName"].as_str() != Some(k.node.as_str()) {
                        k.forget_pod(&event.object);
                        continue;
                    }
                    k.put_pod(event.object.clone());
                    if !is_reported(&k, &event.object) {
                        report(&k, &event.object).await;
                    }
                }
                "DELETED" => k.forget_pod(&event.object),
                _ => {}
            }
        }
        // The stream ended (Alice closed it, or a timeout): watch again after a pause.
        backoff.wait(k.config.sync_interval);
    }
}

/// `PATCH pods/NAME/status` with the Running status.
async fn report(k: &Kubelet, pod: &Value) {
    let client = k.client();
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let started = pod["status"]["startTime"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| kubecorp_trust::go_time(k.now()));
    let status = running_status(k, pod, &started);
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}/status");
    match client.merge_patch(&path, &json!({"status": status})).await {
        Ok(updated) => k.put_pod(updated),
        Err(e) => {
            let err = klog::request_error(&client, "PATCH", &path, &e);
            let line = klog::line(
                "Failed to update status for pod",
                &[("pod", &format!("{ns}/{name}")), ("err", &err)],
            );
            k.client_failure(
                &e,
                line,
                "the kubelet could not report the pod's status; it tries again at the next change",
            );
        }
    }
}

/// The simulated log of one container: deterministic lines stamped with its start time.
pub(crate) fn container_log(k: &Kubelet, pod: &Value, container: &str) -> Vec<String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let image = containers(pod)
        .into_iter()
        .find(|(c, _)| c == container)
        .map(|(_, image)| image)
        .unwrap_or_default();
    let started = pod["status"]["startTime"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| kubecorp_trust::go_time(k.now()));
    let ip = pod_ip(&k.node, ns, name);
    vec![
        format!("{started} kubecorp: container {container} started from image {image}"),
        format!(
            "{started} kubecorp: pod {ns}/{name} on node {} has IP {ip}",
            k.node
        ),
        format!("{started} kubecorp: {container} is listening on {ip}:80"),
        format!("{started} kubecorp: {container} readiness check passed"),
        format!("{started} kubecorp: {container} is serving requests"),
    ]
}

/// The last `tail` lines (all of them when `tail` is `None`).
pub fn tail(lines: Vec<String>, tail: Option<usize>) -> Vec<String> {
    match tail {
        Some(n) if n < lines.len() => lines[lines.len() - n..].to_vec(),
        _ => lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_ip_is_the_same_every_time_and_inside_the_pod_range() {
        let a = pod_ip("kubecorp-control-plane", "default", "web");
        assert_eq!(a, pod_ip("kubecorp-control-plane", "default", "web"));
        assert!(a.starts_with("10.244."));
        let last: u32 = a.rsplit('.').next().unwrap().parse().unwrap();
        assert!((2..=254).contains(&last));
    }

    #[test]
    fn tail_lines_keeps_the_last_lines() {
        let lines: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
        assert_eq!(tail(lines.clone(), Some(2)), vec!["4", "5"]);
        assert_eq!(tail(lines.clone(), Some(9)).len(), 5);
        assert_eq!(tail(lines, None).len(), 5);
    }
}
