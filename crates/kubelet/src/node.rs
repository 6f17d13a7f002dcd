//! The CEO signs in: registering the Node and posting its heartbeat.
//!
//! A kubelet creates its own Node object (`POST /api/v1/nodes`; a 409 means it registered
//! before), then every `nodeStatusUpdateFrequency` reads it back and patches its status: the
//! `Ready` condition with a fresh `lastHeartbeatTime`, its addresses, and the port of its
//! door (`daemonEndpoints.kubeletEndpoint.Port`), which is where Alice dials for `kubectl logs`.
//! It also renews its Lease in `kube-node-lease`, the cheap heartbeat. Failures are logged the
//! way the real kubelet logs them and retried.

use serde_json::{json, Value};

use crate::klog;
use crate::{Kubelet, KUBELET_VERSION};

/// The three identities a real kubelet reads from its host and reports in `nodeInfo`
/// (`/etc/machine-id`, `/sys/class/dmi/id/product_uuid`, `/proc/sys/kernel/random/boot_id`).
/// The lab derives the first two from the node's name, so they outlast a restart as a
/// machine's do, and draws the boot ID once per start of the program. Clients such as the
/// official Python client refuse a Node without them.
struct HostIds {
    machine_id: String,
    system_uuid: String,
    boot_id: String,
}

fn host_ids(node: &str) -> HostIds {
    static BOOT: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();
    let boot = BOOT.get_or_init(|| {
        let mut b = [0u8; 16];
        // A failed draw leaves zeros: still a well-formed ID.
        let _ = aws_lc_rs::rand::fill(&mut b);
        b
    });
    let digest = |parts: &[&[u8]]| {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for p in parts {
            ctx.update(p);
        }
        let d = ctx.finish();
        d.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let uuid = |hex: String| {
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    };
    HostIds {
        machine_id: digest(&[b"machine-id/", node.as_bytes()]),
        system_uuid: uuid(digest(&[b"product_uuid/", node.as_bytes()])),
        boot_id: uuid(digest(&[b"boot_id/", boot, node.as_bytes()])),
    }
}

fn node_status(k: &Kubelet, transition: &str) -> Value {
    let now = kubecorp_trust::go_time(k.now());
    let ids = host_ids(&k.node);
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "lastHeartbeatTime": now,
               "lastTransitionTime": transition, "reason": reason, "message": message})
    };
    json!({
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": k.address.to_string()},
            {"type": "Hostname", "address": k.node},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": k.port}},
        "nodeInfo": {
            "machineID": ids.machine_id,
            "systemUUID": ids.system_uuid,
            "bootID": ids.boot_id,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
            "containerRuntimeVersion": "containerd://1.7.24",
            "osImage": "KubeCorp lab node",
            "kernelVersion": "6.1.0",
        },
        "capacity": {"cpu": "2", "memory": "4015852Ki", "pods": "110", "ephemeral-storage": "20463184Ki"},
        "allocatable": {"cpu": "2", "memory": "3913452Ki", "pods": "110", "ephemeral-storage": "18859308663"},
    })
}

fn node_object(k: &Kubelet) -> Value {
    let now = kubecorp_trust::go_time(k.now());
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": k.node,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": k.node,
                "kubernetes.io/os": "linux",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {},
        "status": node_status(k, &now),
    });
    for (key, value) in &k.config.node_labels {
        node["metadata"]["labels"][key] = json!(value);
    }
    if !k.config.register_with_taints.is_empty() {
        node["spec"]["taints"] = json!(k.config.register_with_taints);
    }
    node
}

/// `POST /api/v1/nodes`; an existing Node gets its status refreshed instead.
pub async fn register(k: &Kubelet) -> Result<(), ()> {
    let client = k.client();
    let path = "/api/v1/nodes";
    match client.create(path, &node_object(k)).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(409) => heartbeat(k).await,
        Err(e) => {
            let err = klog::request_error(&client, "POST", path, &e);
            let line = klog::line(
                "Unable to register node with API server",
                &[("err", &err), ("node", &k.node)],
            );
            k.client_failure(
                &e,
                line,
                "the kubelet could not create its Node object at Alice's door; it keeps retrying",
            );
            Err(())
        }
    }
}

/// Reads the Node back and patches its status with a fresh heartbeat.
pub async fn heartbeat(k: &Kubelet) -> Result<(), ()> {
    let client = k.client();
    let get_path = format!("/api/v1/nodes/{}?resourceVersion=0&timeout=10s", k.node);
    let fail = |e: &kubecorp_client::ClientError, err: String| {
        let line = klog::line("Error updating node status, will retry", &[("err", &err)]);
        k.client_failure(
            e,
            line,
            "the kubelet could not post its heartbeat; if neither it nor the Lease gets through for 50 s (kube-controller-manager's --node-monitor-grace-period), the node lifecycle controller marks the node Ready=Unknown (NotReady), taints it node.kubernetes.io/unreachable and marks its pods not Ready",
        );
    };
    let current = match client.get(&get_path).await {
        Ok(node) => node,
        Err(e) => {
            let err = format!(
                "error getting node {}: {}",
                klog::quote(&k.node),
                klog::request_error(&client, "GET", &get_path, &e)
            );
            fail(&e, err);
            return Err(());
        }
    };
    // The Ready condition keeps the time it last changed.
    let transition = current["status"]["conditions"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| kubecorp_trust::go_time(k.now()));
    let patch_path = format!("/api/v1/nodes/{}/status?timeout=10s", k.node);
    match client
        .merge_patch(&patch_path, &json!({"status": node_status(k, &transition)}))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = format!(
                "error patching node status: {}",
                klog::request_error(&client, "PATCH", &patch_path, &e)
            );
            fail(&e, err);
            Err(())
        }
    }
}

/// The node's Lease in `kube-node-lease`: the cheap heartbeat the node lifecycle controller
/// reads (renewed every 10 s; `leaseDurationSeconds: 40`, while the controller waits 50 s). Read it, create it if missing, else renew it.
pub async fn renew_lease(k: &Kubelet) -> Result<(), ()> {
    let client = k.client();
    let base = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let path = format!("{base}/{}", k.node);
    let now = k.now();
    let renew_time = format!(
        "{}.{:06}Z",
        kubecorp_trust::go_time(now).trim_end_matches('Z'),
        now.microsecond()
    );
    let result = match client.get(&format!("{path}?timeout=10s")).await {
        Ok(mut lease) => {
            lease["spec"]["holderIdentity"] = json!(k.node);
            lease["spec"]["leaseDurationSeconds"] = json!(40);
            lease["spec"]["renewTime"] = json!(renew_time);
            client
                .replace(&format!("{path}?timeout=10s"), &lease)
                .await
                .map_err(|e| ("Failed to update lease", "PUT", path.clone(), e))
        }
        Err(e) if e.code() == Some(404) => {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": k.node, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": k.node, "leaseDurationSeconds": 40, "renewTime": renew_time},
            });
            client
                .create(&format!("{base}?timeout=10s"), &lease)
                .await
                .map_err(|e| {
                    (
                        "Failed to ensure lease exists, will retry",
                        "POST",
                        base.to_owned(),
                        e,
                    )
                })
        }
        Err(e) => Err((
            "Failed to ensure lease exists, will retry",
            "GET",
            format!("{path}?timeout=10s"),
            e,
        )),
    };
    match result {
        Ok(_) => Ok(()),
        Err((message, method, path, e)) => {
            let err = klog::request_error(&client, method, &path, &e);
            let line = if message.starts_with("Failed to ensure") {
                klog::line(message, &[("err", &err), ("interval", "7s")])
            } else {
                klog::line(message, &[("err", &err)])
            };
            k.client_failure(
                &e,
                line,
                "the kubelet could not renew its node lease; after 50 s without a renewal or a status heartbeat, the node lifecycle controller marks the node NotReady and taints it node.kubernetes.io/unreachable",
            );
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_ids;

    #[test]
    fn a_nodes_machine_and_system_ids_are_its_own_and_stable_and_the_boot_id_is_a_uuid() {
        let (a, b) = (host_ids("worker-1"), host_ids("worker-2"));
        assert_eq!(a.machine_id, host_ids("worker-1").machine_id);
        assert_ne!(a.machine_id, b.machine_id);
        assert_eq!(a.machine_id.len(), 32);
        for id in [&a.system_uuid, &a.boot_id] {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        }
        assert_eq!(
            a.boot_id,
            host_ids("worker-1").boot_id,
            "one boot per start"
        );
    }
}
