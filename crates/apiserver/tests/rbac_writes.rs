//! Alice keeps the rulebook she read and takes each RBAC write into it, as kube-apiserver's
//! RBAC authorizer follows its informers: a binding written through her decides the very next
//! request, its deletion the one after, and a decision names the same binding as a fresh read
//! of the store would.

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::rbac::{Attributes, Decision};
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

fn admin() -> UserInfo {
    UserInfo::from_cert("kubernetes-admin", ["kubeadm:cluster-admins"]).unwrap()
}

fn pat() -> UserInfo {
    UserInfo::from_cert("pat", ["developers"]).unwrap()
}

async fn office() -> Api {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    api
}

async fn call(api: &Api, user: &UserInfo, method: &str, path: &str, body: Option<Value>) -> u16 {
    let (response, _) = api
        .handle(ApiRequest::json(user, method, path, body.as_ref()))
        .await;
    response.code()
}

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// The administrator writes `body` to the RBAC path `path` with `method`; the answer's code.
async fn admin_writes(api: &Api, method: &str, path: &str, body: Option<Value>) -> u16 {
    call(api, &admin(), method, &format!("{RBAC}/{path}"), body).await
}

fn pod_reader() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    })
}

fn binding_for_pat(name: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "pat"}]
    })
}

#[tokio::test]
async fn a_binding_written_through_alice_decides_the_next_request_and_its_deletion_the_one_after() {
    let api = office().await;
    let pods = "/api/v1/namespaces/default/pods";
    // The first request reads the rulebook; every later one uses what Alice holds.
    assert_eq!(call(&api, &pat(), "GET", pods, None).await, 403);
    let role = admin_writes(&api, "POST", "clusterroles", Some(pod_reader())).await;
    assert_eq!(role, 201);
    assert_eq!(call(&api, &pat(), "GET", pods, None).await, 403);
    let binding = Some(binding_for_pat("pat-reads-pods"));
    assert_eq!(
        admin_writes(&api, "POST", "clusterrolebindings", binding).await,
        201
    );
    assert_eq!(call(&api, &pat(), "GET", pods, None).await, 200);
    let gone = admin_writes(&api, "DELETE", "clusterrolebindings/pat-reads-pods", None).await;
    assert_eq!(gone, 200);
    assert_eq!(call(&api, &pat(), "GET", pods, None).await, 403);
}

#[tokio::test]
async fn a_role_changed_through_alice_changes_what_its_binding_allows_at_once() {
    let api = office().await;
    admin_writes(&api, "POST", "clusterroles", Some(pod_reader())).await;
    let binding = Some(binding_for_pat("pat-reads-pods"));
    admin_writes(&api, "POST", "clusterrolebindings", binding).await;
    let secrets = "/api/v1/namespaces/default/secrets";
    assert_eq!(call(&api, &pat(), "GET", secrets, None).await, 403);
    let mut wider = pod_reader();
    wider["rules"][0]["resources"] = json!(["pods", "secrets"]);
    let changed = admin_writes(&api, "PUT", "clusterroles/pod-reader", Some(wider)).await;
    assert_eq!(changed, 200);
    assert_eq!(call(&api, &pat(), "GET", secrets, None).await, 200);
}

#[tokio::test]
async fn after_writes_a_decision_names_the_binding_a_fresh_read_would_name_first() {
    let api = office().await;
    let attrs = Attributes::resource(&pat(), "get", "default", "", "pods");
    // Read now, so the writes below go into the rulebook held rather than a fresh read.
    assert!(!api.authorize(&attrs).await.unwrap().is_allowed());
    admin_writes(&api, "POST", "clusterroles", Some(pod_reader())).await;
    // Written in the opposite order to their names: the store lists `a-…` first.
    for name in ["b-pat-reads-pods", "a-pat-reads-pods"] {
        let written = admin_writes(
            &api,
            "POST",
            "clusterrolebindings",
            Some(binding_for_pat(name)),
        );
        assert_eq!(written.await, 201);
    }
    let want = Decision::Allow(
        "RBAC: allowed by ClusterRoleBinding \"a-pat-reads-pods\" of ClusterRole \"pod-reader\" to User \"pat\"".into(),
    );
    assert_eq!(api.authorize(&attrs).await.unwrap(), want);
}
