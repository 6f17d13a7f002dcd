//! The whole office at work: a pod is scheduled by Bob, run by the CEO, given endpoints by the
//! controller manager and routed by Dave, and its logs come back through Alice.

use std::time::Duration;

use kubecorp_client::KubeClient;
use kubecorp_office::{Office, OfficeOptions};
use serde_json::{json, Value};

async fn open(nodes: usize) -> (tempfile::TempDir, Office) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = OfficeOptions::ephemeral(dir.path().join("lab"));
    opts.nodes = kubecorp_office::node_names(kubecorp_office::CONTROL_PLANE_NODE, nodes);
    let office = Office::start(opts).await.unwrap();
    (dir, office)
}

fn admin(office: &Office) -> KubeClient {
    office.client("kubectl", "admin.conf").unwrap()
}

/// Polls `path` as the admin until `done` holds, for up to fifteen seconds (three kubelets,
/// the staff and kubeadm's marking start together on two busy cores).
async fn until(admin: &KubeClient, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        if let Ok(v) = admin.get(path).await {
            if done(&v) {
                return v;
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never got there; last seen:\n{last:#}");
}

#[tokio::test]
async fn a_pod_is_scheduled_run_given_endpoints_routed_and_its_logs_read() {
    let (_dir, office) = open(1).await;
    let admin = admin(&office);
    until(&admin, "/api/v1/nodes/kubecorp-control-plane", |n| {
        n["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
    .await;
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}),
        )
        .await
        .unwrap();
    admin
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                             "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}]}}),
        )
        .await
        .unwrap();
    let pod = until(&admin, "/api/v1/namespaces/default/pods/web", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
    assert_eq!(pod["spec"]["nodeName"], "kubecorp-control-plane");
    let conditions = pod["status"]["conditions"].to_string();
    assert!(
        pod["status"]["conditions"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["type"] == "PodScheduled" && c["status"] == "True")),
        "the binding marks the pod scheduled and the kubelet keeps it: {conditions}"
    );
    let ip = pod["status"]["podIP"].as_str().unwrap().to_owned();
    let endpoints = until(&admin, "/api/v1/namespaces/default/endpoints/web", |e| {
        e["subsets"][0]["addresses"][0]["ip"].is_string()
    })
    .await;
    assert_eq!(endpoints["subsets"][0]["addresses"][0]["ip"], ip.as_str());

    // Dave narrates the route to the pod.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let routed = office.events.snapshot().into_iter().any(|e| {
            e.from == "kube-proxy"
                && e.detail
                    .as_deref()
                    .is_some_and(|d| d.contains("default/web") && d.contains(&ip))
        });
        if routed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kube-proxy never narrated a route to {ip}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // `kubectl logs`: Alice dials the CEO's :10250 with apiserver-kubelet-client.
    let reply = admin
        .send(
            http::Method::GET,
            "/api/v1/namespaces/default/pods/web/log",
            None,
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(reply.code, 200, "{}", reply.text());
    assert!(
        reply.text().contains(&format!(
            "pod default/web on node kubecorp-control-plane has IP {ip}"
        )),
        "the kubelet's own log lines for this pod: {}",
        reply.text()
    );
    office.shutdown().await;
}

#[tokio::test]
async fn three_nodes_register_each_on_its_own_loopback_address() {
    let (_dir, office) = open(3).await;
    let admin = admin(&office);
    for (i, (node, addr)) in office.kubelets.iter().enumerate() {
        assert_eq!(addr.ip().to_string(), format!("127.0.0.{}", i + 1));
        let n = until(&admin, &format!("/api/v1/nodes/{node}"), |n| {
            n["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .await;
        let addresses = n["status"]["addresses"].to_string();
        assert!(
            addresses.contains(&addr.ip().to_string()),
            "{node}: {addresses}"
        );
    }
    let names: Vec<_> = office.kubelets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "kubecorp-control-plane",
            "kubecorp-worker",
            "kubecorp-worker2"
        ]
    );
    // kubeadm's control-plane node keeps pods off once there are workers; its role label comes
    // from kubeadm (admin.conf), since NodeRestriction refuses it to the kubelet.
    let cp = until(&admin, "/api/v1/nodes/kubecorp-control-plane", |n| {
        !n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"].is_null()
    })
    .await;
    assert_eq!(
        cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert_eq!(
        cp["spec"]["taints"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    for name in ["a", "b"] {
        admin
            .create(
                "/api/v1/namespaces/default/pods",
                &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
            )
            .await
            .unwrap();
    }
    let mut placed = Vec::new();
    for name in ["a", "b"] {
        let pod = until(
            &admin,
            &format!("/api/v1/namespaces/default/pods/{name}"),
            |p| p["spec"]["nodeName"].is_string(),
        )
        .await;
        placed.push(pod["spec"]["nodeName"].as_str().unwrap_or("").to_owned());
    }
    placed.sort();
    assert_eq!(placed, ["kubecorp-worker", "kubecorp-worker2"]);
    office.shutdown().await;
}

/// The etcd handshakes Alice has made so far, by the serial of the badge she showed.
fn alices_etcd_handshakes(office: &Office) -> Vec<String> {
    office
        .events
        .snapshot()
        .into_iter()
        .filter(|e| e.to == "etcd" && e.stage == kubecorp_trust::Stage::Tls && e.allowed)
        .filter_map(|e| e.identity)
        .filter(|i| i.cn == "kube-apiserver-etcd-client")
        .map(|i| i.serial)
        .collect()
}

#[tokio::test]
async fn alice_keeps_her_connection_to_etcd_and_dials_again_once_her_badge_is_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = OfficeOptions::ephemeral(dir.path().join("lab"));
    opts.staff = kubecorp_office::Staff::NONE;
    let office = Office::start(opts).await.unwrap();
    let admin = admin(&office);
    admin.get("/api/v1/namespaces").await.unwrap();
    let before = alices_etcd_handshakes(&office);

    // One call after another: each reads etcd, all on the connection she already holds.
    for _ in 0..5 {
        admin.get("/api/v1/namespaces").await.unwrap();
    }
    assert_eq!(alices_etcd_handshakes(&office), before, "no new handshake");

    // `kubecorp certs renew apiserver-etcd-client`: the next call shows the new badge.
    let lab = kubecorp_pki::Lab::new(&office.dir);
    kubecorp_pki::renew::renew(&lab, "apiserver-etcd-client", office.clock.now()).unwrap();
    admin.get("/api/v1/namespaces").await.unwrap();
    let after = alices_etcd_handshakes(&office);
    assert_eq!(after.len(), before.len() + 1, "one new handshake");
    let renewed = kubecorp_trust::tls::CertSource::pem_files(
        lab.cert_path("apiserver-etcd-client"),
        lab.key_path("apiserver-etcd-client"),
    )
    .identity()
    .unwrap();
    assert_eq!(after.last(), Some(&renewed.serial));
    assert!(!before.contains(&renewed.serial));
}

/// Charlie drains open conversations at shutdown for up to his deadline, then cuts them. Alice's
/// storage closes with her (her watch stream included), so nothing is left for him to wait on.
#[tokio::test]
async fn the_office_closes_without_charlie_waiting_out_his_drain_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let opts = OfficeOptions {
        staff: kubecorp_office::Staff::NONE,
        ..OfficeOptions::ephemeral(dir.path().join("lab"))
    };
    let office = Office::start(opts).await.unwrap();
    // Alice's watch cache is fed by a Watch stream on her kept connection to Charlie.
    admin(&office).get("/api/v1/namespaces").await.unwrap();
    let started = std::time::Instant::now();
    office.shutdown().await;
    let took = started.elapsed();
    assert!(
        took < kubecorp_door::DRAIN_DEADLINE,
        "closing took {took:?}: Charlie waited for a connection nobody closed"
    );
}

/// A member of staff keeps its connection to Alice between calls, as client-go does; when her
/// serving badge changes on disk (here it expires, `kubecorp break expire apiserver`) she closes
/// the connections made with the old one, as the restart that puts a new badge on a real
/// kube-apiserver does, so the staff meet the broken badge at their next call.
#[tokio::test]
async fn a_kept_connection_ends_when_alices_badge_changes_and_the_next_call_meets_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = kubecorp_trust::LabClock::real();
    let office = Office::start(OfficeOptions {
        staff: kubecorp_office::Staff::NONE,
        clock: clock.clone(),
        ..OfficeOptions::ephemeral(dir.path().join("lab"))
    })
    .await
    .unwrap();
    let bob = office
        .client("scheduler", "scheduler.conf")
        .unwrap()
        .keep_alive();
    bob.get("/api/v1/nodes").await.unwrap();
    kubecorp_pki::fault::inflict(
        &kubecorp_pki::Lab::new(dir.path().join("lab")),
        kubecorp_pki::fault::Fault::Expire,
        "apiserver",
        clock.now(),
    )
    .unwrap();
    // Calls every 20 ms keep a connection from ever idling out: only Alice can end it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let refused = loop {
        match bob.get("/api/v1/nodes").await {
            Err(e) => break e.kubectl_text(),
            Ok(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Ok(_) => panic!("Bob's kept connection still works 5 s after Alice's badge expired"),
        }
    };
    assert!(
        refused.contains("x509: certificate has expired or is not yet valid"),
        "{refused}"
    );
    office.shutdown().await;
}
