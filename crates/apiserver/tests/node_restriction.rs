//! NodeRestriction through Alice's desk, without a socket: what a worker's badge may no longer
//! do to other people's things, in the exact words kube-apiserver v1.32 answers
//! (`plugin/pkg/admission/noderestriction/admission.go`).

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::status::Status;
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

fn admin() -> UserInfo {
    UserInfo::from_cert("kubernetes-admin", ["kubeadm:cluster-admins"]).unwrap()
}

fn kubelet(node: &str) -> UserInfo {
    UserInfo::from_cert(&format!("system:node:{node}"), ["system:nodes"]).unwrap()
}

/// An office's front desk with two registered nodes and a pod `web` running on `n1`.
async fn office() -> Api {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    for node in ["n1", "n2"] {
        let (code, body) = send(
            &api,
            &kubelet(node),
            "POST",
            "/api/v1/nodes",
            Some(&node_object(node)),
        )
        .await;
        assert_eq!(code, 201, "{body}");
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
                     "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}});
    let (code, body) = send(&api, &admin(), "POST", PODS, Some(&pod)).await;
    assert_eq!(code, 201, "{body}");
    api
}

fn node_object(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                        "node.kubernetes.io/exclude-from-external-load-balancers": ""}},
           "spec": {}})
}

async fn send(
    api: &Api,
    user: &UserInfo,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = ApiRequest::json(user, method, path, body);
    if method == "PATCH" {
        req.content_type = "application/merge-patch+json".into();
    }
    let (response, _) = api.handle(req).await;
    (response.code(), response.body_json())
}

/// What kubectl prints for a refused request: `Error from server (Forbidden): <message>`.
async fn refused(
    api: &Api,
    user: &UserInfo,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> String {
    let (code, body) = send(api, user, method, path, body).await;
    assert_eq!(code, 403, "{body}");
    let status = Status::parse(&body.to_string()).expect("a Status body");
    format!("Error from server ({}): {}", status.reason, status.message)
}

fn mirror_pod(name: &str, node: &str, node_uid: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "annotations": {"kubernetes.io/config.mirror": "hash"},
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node,
                                             "uid": node_uid, "controller": true}]},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "etcd"}]}})
}

#[tokio::test]
async fn a_worker_deleting_another_nodes_pod_is_forbidden_and_the_pod_stays() {
    let api = office().await;
    assert_eq!(
        refused(&api, &kubelet("n2"), "DELETE", &format!("{PODS}/web"), None).await,
        "Error from server (Forbidden): pods \"web\" is forbidden: node \"n2\" can only delete pods with spec.nodeName set to itself"
    );
    let (code, _) = send(&api, &admin(), "GET", &format!("{PODS}/web"), None).await;
    assert_eq!(code, 200, "the pod is still there");
    let (code, body) = send(&api, &kubelet("n1"), "DELETE", &format!("{PODS}/web"), None).await;
    assert_eq!(code, 200, "its own node may delete it: {body}");
}

#[tokio::test]
async fn a_worker_creating_an_ordinary_pod_is_told_it_may_create_mirror_pods_only() {
    let api = office().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evil"},
                     "spec": {"nodeName": "n2", "containers": [{"name": "c", "image": "nginx"}]}});
    assert_eq!(
        refused(&api, &kubelet("n2"), "POST", PODS, Some(&pod)).await,
        "Error from server (Forbidden): pods \"evil\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" annotation, node \"n2\" can only create mirror pods"
    );
    let (code, _) = send(&api, &admin(), "GET", &format!("{PODS}/evil"), None).await;
    assert_eq!(code, 404, "nothing was stored");
}

#[tokio::test]
async fn a_mirror_pod_must_be_bound_to_and_owned_by_its_own_node_and_use_no_secrets() {
    let api = office().await;
    let (_, n2) = send(&api, &admin(), "GET", "/api/v1/nodes/n2", None).await;
    let uid = n2["metadata"]["uid"].as_str().unwrap().to_owned();
    let k2 = kubelet("n2");
    let cases = [
        (
            mirror_pod("m", "n1", &uid),
            "node \"n2\" can only create pods with spec.nodeName set to itself",
        ),
        (
            {
                let mut p = mirror_pod("m", "n2", &uid);
                p["metadata"]["ownerReferences"] = json!([]);
                p
            },
            "node \"n2\" can only create pods with an owner reference set to itself",
        ),
        (
            {
                let mut p = mirror_pod("m", "n2", &uid);
                p["metadata"]["ownerReferences"][0]["controller"] = json!(false);
                p
            },
            "node \"n2\" can only create pods with a controller owner reference set to itself",
        ),
        (
            mirror_pod("m", "n2", "0000-not-the-node"),
            &format!("node n2 UID mismatch: expected 0000-not-the-node got {uid}"),
        ),
        (
            {
                let mut p = mirror_pod("m", "n2", &uid);
                p["spec"]["volumes"] = json!([{"name": "s", "secret": {"secretName": "db"}}]);
                p
            },
            "node \"n2\" can not create pods that reference secrets",
        ),
        (
            {
                let mut p = mirror_pod("m", "n2", &uid);
                p["spec"]["serviceAccountName"] = json!("default");
                p
            },
            "node \"n2\" can not create pods that reference a service account",
        ),
    ];
    for (pod, why) in cases {
        assert_eq!(
            refused(&api, &k2, "POST", PODS, Some(&pod)).await,
            format!("Error from server (Forbidden): pods \"m\" is forbidden: {why}")
        );
    }
    let (code, body) = send(&api, &k2, "POST", PODS, Some(&mirror_pod("m", "n2", &uid))).await;
    assert_eq!(code, 201, "a proper mirror pod is admitted: {body}");
}

#[tokio::test]
async fn a_worker_may_not_report_the_status_of_another_nodes_pod() {
    let api = office().await;
    let patch = json!({"status": {"phase": "Failed"}});
    assert_eq!(
        refused(&api, &kubelet("n2"), "PATCH", &format!("{PODS}/web/status"), Some(&patch)).await,
        "Error from server (Forbidden): pods \"web\" is forbidden: node \"n2\" can only update pod status for pods with spec.nodeName set to itself"
    );
    let (code, body) = send(
        &api,
        &kubelet("n1"),
        "PATCH",
        &format!("{PODS}/web/status"),
        Some(&json!({"status": {"phase": "Running"}})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"]["phase"], "Running");
}

#[tokio::test]
async fn a_worker_may_modify_only_its_own_node_and_never_its_taints_or_role() {
    let api = office().await;
    let k2 = kubelet("n2");
    let label = json!({"metadata": {"labels": {"example.com/team": "ops"}}});
    assert_eq!(
        refused(&api, &k2, "PATCH", "/api/v1/nodes/n1", Some(&label)).await,
        "Error from server (Forbidden): nodes \"n1\" is forbidden: node \"n2\" is not allowed to modify node \"n1\""
    );
    assert_eq!(
        refused(&api, &k2, "PATCH", "/api/v1/nodes/n1/status", Some(&json!({"status": {}}))).await,
        "Error from server (Forbidden): nodes \"n1\" is forbidden: node \"n2\" is not allowed to modify node \"n1\""
    );
    let (code, body) = send(&api, &k2, "PATCH", "/api/v1/nodes/n2", Some(&label)).await;
    assert_eq!(
        code, 200,
        "a label outside kubernetes.io is its own business: {body}"
    );
    let untaint = json!({"spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}});
    assert_eq!(
        refused(&api, &k2, "PATCH", "/api/v1/nodes/n2", Some(&untaint)).await,
        "Error from server (Forbidden): nodes \"n2\" is forbidden: node \"n2\" is not allowed to modify taints"
    );
    let role = json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}});
    assert_eq!(
        refused(&api, &k2, "PATCH", "/api/v1/nodes/n2", Some(&role)).await,
        "Error from server (Forbidden): nodes \"n2\" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane"
    );
    let (code, _) = send(&api, &admin(), "PATCH", "/api/v1/nodes/n2", Some(&role)).await;
    assert_eq!(
        code, 200,
        "an admin marks the control plane, as kubeadm does"
    );
}

#[tokio::test]
async fn a_kubelet_registering_under_another_name_or_with_a_role_label_is_refused() {
    let api = office().await;
    assert_eq!(
        refused(&api, &kubelet("n3"), "POST", "/api/v1/nodes", Some(&node_object("n4"))).await,
        "Error from server (Forbidden): nodes \"n4\" is forbidden: node \"n3\" is not allowed to modify node \"n4\""
    );
    let mut with_role = node_object("n3");
    with_role["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("");
    assert_eq!(
        refused(&api, &kubelet("n3"), "POST", "/api/v1/nodes", Some(&with_role)).await,
        "Error from server (Forbidden): nodes \"n3\" is forbidden: node \"n3\" is not allowed to set the following labels: node-role.kubernetes.io/control-plane"
    );
}

#[tokio::test]
async fn a_kubelet_may_create_only_its_own_lease() {
    let api = office().await;
    let lease = |name: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name, "namespace": "kube-node-lease"},
               "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}})
    };
    assert_eq!(
        refused(&api, &kubelet("n2"), "POST", LEASES, Some(&lease("n1"))).await,
        "Error from server (Forbidden): leases.coordination.k8s.io \"n1\" is forbidden: can only access node lease with the same name as the requesting node"
    );
    let (code, body) = send(&api, &kubelet("n2"), "POST", LEASES, Some(&lease("n2"))).await;
    assert_eq!(code, 201, "{body}");
}
