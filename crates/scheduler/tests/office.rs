//! Bob against a real office: he binds pending pods over mutual TLS, says why when he cannot,
//! and comes back by himself when his expired badge is renewed.

use kubecorp_client::KubeClient;
use kubecorp_office::Office;
use kubecorp_pki::{fault, Lab};
use kubecorp_scheduler::SchedulerConfig;
use kubecorp_testkit::eventually;
use kubecorp_testkit::office::{assert_never_refused, client, quiet_office, said};
use kubecorp_trust::{Event, Stage};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const NODE: &str = "kubecorp-control-plane";

/// Starts Bob; dropping the sender stops him.
fn start_bob(office: &Office) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let config = SchedulerConfig {
        client: client(office, "scheduler", "scheduler.conf"),
        clock: office.clock.clone(),
        events: office.events.clone(),
    };
    tokio::spawn(kubecorp_scheduler::run(config, async move {
        let _ = stopped.await;
    }));
    stop
}

async fn create_node(admin: &KubeClient, ready: &str) {
    admin
        .create(
            "/api/v1/nodes",
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
                    "status": {"conditions": [{"type": "Ready", "status": ready}]}}),
        )
        .await
        .unwrap();
}

async fn create_pod(admin: &KubeClient, name: &str) {
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
        )
        .await
        .unwrap();
}

async fn node_of(admin: &KubeClient, pod: &str) -> Option<String> {
    let pod: Value = admin
        .get(&format!("/api/v1/namespaces/default/pods/{pod}"))
        .await
        .ok()?;
    pod["spec"]["nodeName"].as_str().map(str::to_owned)
}

/// The Event objects about a pod, as `kubectl describe pod` finds them: `(type, reason, message)`.
async fn pod_events(admin: &KubeClient, pod: &str) -> Vec<(String, String, String)> {
    let list = admin
        .get(&format!(
            "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{pod}"
        ))
        .await
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"]["component"] == "default-scheduler")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("type"), s("reason"), s("message"))
        })
        .collect()
}

async fn bob_says(office: &Office, what: &str, pick: impl Fn(&Event) -> bool) -> Event {
    said(office, "scheduler", what, pick).await
}

#[tokio::test]
async fn the_scheduler_binds_a_pending_pod_to_the_ready_node() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    create_node(&admin, "True").await;
    create_pod(&admin, "web").await;
    let _bob = start_bob(&office);

    let node = eventually("web to be bound", || node_of(&admin, "web")).await;
    assert_eq!(node, NODE);
    let told = bob_says(&office, "the binding event", |e| e.allowed).await;
    assert_eq!(told.stage, Stage::Request);
    assert_eq!(
        told.detail.as_deref(),
        Some("bound default/web to kubecorp-control-plane")
    );
    assert_eq!(
        told.server_log.as_deref(),
        Some("I1129 09:00:00.000000       1 schedule_one.go:314] \"Successfully bound pod to node\" pod=\"default/web\" node=\"kubecorp-control-plane\" evaluatedNodes=1 feasibleNodes=1")
    );
    assert_eq!(
        told.client_text.as_deref(),
        Some("Successfully assigned default/web to kubecorp-control-plane")
    );
    assert_eq!(
        told.identity.map(|i| i.cn).as_deref(),
        Some("system:kube-scheduler")
    );

    assert_eq!(
        pod_events(&admin, "web").await,
        [(
            "Normal".to_owned(),
            "Scheduled".to_owned(),
            "Successfully assigned default/web to kubecorp-control-plane".to_owned()
        )]
    );

    // A pod created while Bob is already watching is bound too.
    create_pod(&admin, "api").await;
    let node = eventually("api to be bound", || node_of(&admin, "api")).await;
    assert_eq!(node, NODE);
    assert_never_refused(&office, "scheduler");
    office.shutdown().await;
}

#[tokio::test]
async fn the_scheduler_with_an_expired_badge_logs_the_401_and_recovers_once_it_is_renewed() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    create_node(&admin, "True").await;
    create_pod(&admin, "web").await;
    let lab = Lab::new(&office.dir);
    fault::inflict(
        &lab,
        fault::Fault::Expire,
        "scheduler.conf",
        office.clock.now(),
    )
    .unwrap();
    let _bob = start_bob(&office);

    let refused = bob_says(&office, "the 401", |e| e.stage == Stage::Authn).await;
    assert!(!refused.allowed);
    assert_eq!(refused.log_owner(), "scheduler");
    assert_eq!(
        refused.server_log.as_deref(),
        Some("W1129 09:00:00.000000       1 reflector.go:569] k8s.io/client-go/informers/factory.go:160: failed to list *v1.Pod: Unauthorized\n\
              E1129 09:00:00.000000       1 reflector.go:166] \"Unhandled Error\" err=\"k8s.io/client-go/informers/factory.go:160: Failed to watch *v1.Pod: failed to list *v1.Pod: Unauthorized\" logger=\"UnhandledError\"")
    );
    assert_eq!(
        refused.client_text.as_deref(),
        Some("failed to list *v1.Pod: Unauthorized")
    );
    assert!(refused
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("kubeadm certs renew scheduler.conf")));
    assert_eq!(node_of(&admin, "web").await, None, "no badge, no binding");

    // The badge is put back on disk; Bob is not restarted.
    fault::undo(&lab, "scheduler.conf").unwrap();
    let node = eventually("web to be bound after the renewal", || {
        node_of(&admin, "web")
    })
    .await;
    assert_eq!(node, NODE);
    office.shutdown().await;
}

#[tokio::test]
async fn a_pod_stays_pending_with_the_failed_scheduling_text_while_no_node_is_ready() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    create_node(&admin, "False").await;
    create_pod(&admin, "web").await;
    let _bob = start_bob(&office);

    let told = bob_says(&office, "FailedScheduling", |e| {
        e.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("FailedScheduling"))
    })
    .await;
    assert_eq!(
        told.client_text.as_deref(),
        Some("0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
    );
    assert_eq!(
        told.server_log.as_deref(),
        Some("I1129 09:00:00.000000       1 schedule_one.go:1055] \"Unable to schedule pod; no fit; waiting\" pod=\"default/web\" err=\"0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.\"")
    );
    assert_eq!(node_of(&admin, "web").await, None);
    // What `kubectl describe pod web` shows: the Warning event and the PodScheduled condition.
    let message = "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
    let warned = eventually("the FailedScheduling Event object", || async {
        let events = pod_events(&admin, "web").await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(
        warned,
        [(
            "Warning".to_owned(),
            "FailedScheduling".to_owned(),
            message.to_owned()
        )]
    );
    let pod = admin
        .get("/api/v1/namespaces/default/pods/web")
        .await
        .unwrap();
    assert_eq!(
        pod["status"]["conditions"][0],
        json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
               "message": message, "lastProbeTime": null,
               "lastTransitionTime": "2026-11-29T09:00:00Z"})
    );

    // The node turns Ready: Bob binds without being asked.
    admin
        .merge_patch(
            &format!("/api/v1/nodes/{NODE}/status"),
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .await
        .unwrap();
    let node = eventually("web to be bound once the node is Ready", || {
        node_of(&admin, "web")
    })
    .await;
    assert_eq!(node, NODE);
    office.shutdown().await;
}

#[tokio::test]
async fn a_cluster_without_nodes_says_no_nodes_available_to_schedule_pods() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    create_pod(&admin, "web").await;
    let _bob = start_bob(&office);

    let told = bob_says(&office, "FailedScheduling", |e| !e.allowed).await;
    assert_eq!(
        told.detail.as_deref(),
        Some("FailedScheduling default/web: no nodes available to schedule pods")
    );
    assert_eq!(
        told.server_log.as_deref(),
        Some("I1129 09:00:00.000000       1 schedule_one.go:1051] \"Unable to schedule pod; no nodes are registered to the cluster; waiting\" pod=\"default/web\"")
    );
    office.shutdown().await;
}
