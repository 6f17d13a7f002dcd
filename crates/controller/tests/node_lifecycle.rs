//! The node lifecycle controller against a real office, on the lab clock: a node whose
//! heartbeats stop goes NotReady and is tainted unreachable, and is restored when its kubelet
//! posts Ready again.

use std::time::Duration;

use kubecorp_client::KubeClient;
use kubecorp_controller::node_lifecycle::{self, NodeLifecycleConfig};
use kubecorp_office::Office;
use kubecorp_testkit::eventually;
use kubecorp_testkit::office::{client, quiet_office};
use serde_json::{json, Value};
use tokio::sync::oneshot;

fn start(office: &Office) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let mut config = NodeLifecycleConfig::new(
        client(office, "controller-manager", "controller-manager.conf"),
        office.clock.clone(),
        office.events.clone(),
    );
    config.monitor_period = Duration::from_millis(50);
    // No kubelet runs here: a silent node is silent in real time from the start.
    config.missed_heartbeat = Duration::ZERO;
    tokio::spawn(node_lifecycle::run(config, async move {
        let _ = stopped.await;
    }));
    stop
}

/// What a kubelet's heartbeat writes: the four conditions, fresh, and a renewed Lease.
async fn heartbeat(office: &Office, admin: &KubeClient, node: &str) {
    let now = kubecorp_trust::go_time(office.clock.now());
    let condition = |kind: &str, status: &str, reason: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": "",
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let conditions = json!([
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID"),
        condition("Ready", "True", "KubeletReady"),
    ]);
    if admin.get(&format!("/api/v1/nodes/{node}")).await.is_err() {
        admin
            .create(
                "/api/v1/nodes",
                &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}),
            )
            .await
            .unwrap();
    }
    admin
        .merge_patch(
            &format!("/api/v1/nodes/{node}/status"),
            &json!({"status": {"conditions": conditions}}),
        )
        .await
        .unwrap();
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": node, "namespace": "kube-node-lease"},
                       "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now}});
    if admin.create(leases, &lease).await.is_err() {
        admin
            .merge_patch(
                &format!("{leases}/{node}"),
                &json!({"spec": {"renewTime": now}}),
            )
            .await
            .unwrap();
    }
}

async fn node(admin: &KubeClient, name: &str) -> Value {
    admin.get(&format!("/api/v1/nodes/{name}")).await.unwrap()
}

fn condition(node: &Value, kind: &str) -> Value {
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .cloned()
        .unwrap_or(Value::Null)
}

fn taints(node: &Value) -> Vec<String> {
    node["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    format!(
                        "{}:{}",
                        t["key"].as_str().unwrap(),
                        t["effect"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn controller_logged(office: &Office, text: &str) -> bool {
    office
        .events
        .snapshot()
        .iter()
        .filter_map(|e| e.server_log.as_deref())
        .any(|l| l.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_node_goes_not_ready_and_unreachable_after_the_grace_period_and_comes_back() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    for n in ["desk-a", "desk-b"] {
        heartbeat(&office, &admin, n).await;
    }
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                    "spec": {"nodeName": "desk-a", "containers": [{"name": "c", "image": "nginx"}]}}),
        )
        .await
        .unwrap();
    admin
        .merge_patch(
            "/api/v1/namespaces/default/pods/web/status",
            &json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .await
        .unwrap();
    let _controller = start(&office);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 40 s of lab time: within the grace period, nothing happens.
    office.clock.advance(time::Duration::seconds(40));
    heartbeat(&office, &admin, "desk-b").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        condition(&node(&admin, "desk-a").await, "Ready")["status"],
        "True"
    );

    // 15 s more: desk-a has been silent for 55 s, past v1.32's 50 s; desk-b keeps posting.
    office.clock.advance(time::Duration::seconds(15));
    heartbeat(&office, &admin, "desk-b").await;
    let a = eventually("desk-a is tainted unreachable", || {
        let admin = admin.clone();
        async move {
            let n = node(&admin, "desk-a").await;
            (taints(&n).len() == 2).then_some(n)
        }
    })
    .await;
    let ready = condition(&a, "Ready");
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    assert_eq!(condition(&a, "MemoryPressure")["status"], "Unknown");
    assert_eq!(
        taints(&a),
        [
            "node.kubernetes.io/unreachable:NoSchedule",
            "node.kubernetes.io/unreachable:NoExecute"
        ]
    );
    assert!(controller_logged(
        &office,
        "\"Node is unresponsive. Adding it to the Taint queue\" node=\"desk-a\""
    ));
    let web = admin
        .get("/api/v1/namespaces/default/pods/web")
        .await
        .unwrap();
    assert_eq!(
        condition(&web, "Ready")["status"],
        "False",
        "a pod on an unreachable node is taken out of its Services"
    );
    assert_eq!(
        condition(&node(&admin, "desk-b").await, "Ready")["status"],
        "True"
    );

    // The kubelet is back: it posts Ready=True, and the controller lifts the taints.
    heartbeat(&office, &admin, "desk-a").await;
    eventually("desk-a's taints are removed", || {
        let admin = admin.clone();
        async move {
            taints(&node(&admin, "desk-a").await)
                .is_empty()
                .then_some(())
        }
    })
    .await;
    // The controller logs it once its write is answered: a moment after the taints are gone.
    eventually("the controller says desk-a is healthy again", || {
        let logged = controller_logged(
            &office,
            "\"Node is healthy again, removed all taints\" node=\"desk-a\"",
        );
        async move { logged.then_some(()) }
    })
    .await;
    office.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_node_is_silent_the_controller_enters_disruption_mode_and_evicts_nothing() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    heartbeat(&office, &admin, "desk-a").await;
    let _controller = start(&office);
    tokio::time::sleep(Duration::from_millis(300)).await;
    office.clock.advance(time::Duration::seconds(60));
    let a = eventually("desk-a is tainted", || {
        let admin = admin.clone();
        async move {
            let n = node(&admin, "desk-a").await;
            (!taints(&n).is_empty()).then_some(n)
        }
    })
    .await;
    assert_eq!(condition(&a, "Ready")["status"], "Unknown");
    assert_eq!(taints(&a), ["node.kubernetes.io/unreachable:NoSchedule"]);
    assert!(controller_logged(
        &office,
        "\"Controller detected that all Nodes are not-Ready. Entering master disruption mode\""
    ));
    office.shutdown().await;
}
