//! The rulebook a fresh office serves, compared with Kubernetes' own fixtures.
//!
//! `data/rbac/namespace-roles.yaml` and `namespace-role-bindings.yaml` are upstream's
//! `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata` files (kubernetes/kubernetes,
//! stored version 008b3652959ca58af8be3fb5b6ecfe9ae7638282, whose leader-locking roles carry
//! the `leasecandidates` rule of 1.31 and later). Every object in them must be served after
//! `bootstrap`, with the same rules, roleRef, subjects, labels and annotations, and must decide
//! requests as in a kubeadm 1.32 cluster.
//!
//! The cluster-wide fixtures (`cluster-roles.yaml`, `controller-roles.yaml`,
//! `cluster-role-bindings.yaml`, `controller-role-bindings.yaml`) are upstream's v1.32 files, each
//! naming its stored version and the one gate-dependent correction. Alice serves them as
//! written, `admin`, `edit` and `view` included (an `aggregationRule`, no rules): filling those
//! is the controller manager's clusterrole-aggregation controller's job, not hers.

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

fn admin() -> UserInfo {
    UserInfo::from_cert("kubernetes-admin", ["kubeadm:cluster-admins"]).unwrap()
}

async fn office() -> Api {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    api
}

async fn get(api: &Api, user: &UserInfo, path: &str) -> (u16, Value) {
    let (response, _) = api.handle(ApiRequest::json(user, "GET", path, None)).await;
    (response.code(), response.body_json())
}

fn fixture(text: &str) -> Vec<Value> {
    let list: Value = serde_saphyr::from_str(text).unwrap();
    list["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_role_and_binding_of_upstreams_namespace_fixtures_is_served_as_written() {
    let api = office().await;
    let upstream = [
        fixture(include_str!("../data/rbac/namespace-roles.yaml")),
        fixture(include_str!("../data/rbac/namespace-role-bindings.yaml")),
    ]
    .concat();
    assert_eq!(upstream.len(), 14);
    for want in upstream {
        let (ns, name) = (
            want["metadata"]["namespace"].as_str().unwrap(),
            want["metadata"]["name"].as_str().unwrap(),
        );
        let plural = match want["kind"].as_str().unwrap() {
            "Role" => "roles",
            _ => "rolebindings",
        };
        let (code, got) = get(
            &api,
            &admin(),
            &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{plural}/{name}"),
        )
        .await;
        assert_eq!(code, 200, "{plural} {ns}/{name}: {got}");
        for field in ["rules", "roleRef", "subjects"] {
            assert_eq!(got[field], want[field], "{plural} {ns}/{name}: {field}");
        }
        for field in ["labels", "annotations"] {
            assert_eq!(
                got["metadata"][field], want["metadata"][field],
                "{plural} {ns}/{name}: metadata.{field}"
            );
        }
    }
}

#[tokio::test]
async fn kubeadms_namespaced_roles_let_nodes_read_their_config_and_anyone_read_cluster_info() {
    let api = office().await;
    let node = UserInfo::from_cert("system:node:w1", ["system:nodes"]).unwrap();
    // kubeadm:nodes-kubeadm-config and kubeadm:kubelet-config: the named ConfigMaps only
    // (404: allowed, the lab has no such ConfigMap), nothing else.
    for allowed in ["kubeadm-config", "kubelet-config"] {
        let (code, body) = get(
            &api,
            &node,
            &format!("/api/v1/namespaces/kube-system/configmaps/{allowed}"),
        )
        .await;
        assert_eq!(code, 404, "{allowed}: {body}");
    }
    let (code, body) = get(
        &api,
        &node,
        "/api/v1/namespaces/kube-system/configmaps/coredns",
    )
    .await;
    assert_eq!(code, 403, "{body}");
    // kubeadm:bootstrap-signer-clusterinfo: cluster-info is public.
    let (code, body) = get(
        &api,
        &UserInfo::anonymous(),
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
    )
    .await;
    assert_eq!(code, 404, "{body}");
    // system::leader-locking-kube-scheduler: the scheduler may list leases in kube-system.
    let scheduler = UserInfo::from_cert("system:kube-scheduler", Vec::<&str>::new()).unwrap();
    let (code, body) = get(
        &api,
        &scheduler,
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = get(
        &api,
        &scheduler,
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
    )
    .await;
    assert_eq!(code, 403);
}

#[tokio::test]
async fn every_clusterrole_and_binding_of_upstreams_v1_32_fixtures_is_served_as_written() {
    let api = office().await;
    let roles = [
        fixture(include_str!("../data/rbac/cluster-roles.yaml")),
        fixture(include_str!("../data/rbac/controller-roles.yaml")),
    ]
    .concat();
    let bindings = [
        fixture(include_str!("../data/rbac/cluster-role-bindings.yaml")),
        fixture(include_str!("../data/rbac/controller-role-bindings.yaml")),
    ]
    .concat();
    assert_eq!((roles.len(), bindings.len()), (31 + 33, 12 + 33));
    for want in roles {
        let name = want["metadata"]["name"].as_str().unwrap();
        let (code, got) = get(
            &api,
            &admin(),
            &format!("/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"),
        )
        .await;
        assert_eq!(code, 200, "clusterrole {name}: {got}");
        assert_eq!(got["rules"], want["rules"], "clusterrole {name}: rules");
        assert_eq!(
            got["aggregationRule"], want["aggregationRule"],
            "clusterrole {name}"
        );
        for field in ["labels", "annotations"] {
            assert_eq!(
                got["metadata"][field], want["metadata"][field],
                "clusterrole {name}: metadata.{field}"
            );
        }
    }
    for want in bindings {
        let name = want["metadata"]["name"].as_str().unwrap();
        let (code, got) = get(
            &api,
            &admin(),
            &format!("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}"),
        )
        .await;
        assert_eq!(code, 200, "clusterrolebinding {name}: {got}");
        for field in ["roleRef", "subjects"] {
            assert_eq!(
                got[field], want[field],
                "clusterrolebinding {name}: {field}"
            );
        }
        for field in ["labels", "annotations"] {
            assert_eq!(
                got["metadata"][field], want["metadata"][field],
                "clusterrolebinding {name}: metadata.{field}"
            );
        }
    }
}

#[tokio::test]
async fn alice_alone_does_not_extend_view_with_a_role_labelled_aggregate_to_view() {
    let api = office().await;
    let jane = UserInfo::from_cert("jane", Vec::<&str>::new()).unwrap();
    let post = |path: &str, body: Value| {
        let (api, path) = (&api, path.to_string());
        async move {
            let (r, _) = api
                .handle(ApiRequest::json(&admin(), "POST", &path, Some(&body)))
                .await;
            assert!(r.code() < 300, "{path}: {}", r.body_json());
        }
    };
    post(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "jane-view", "namespace": "default"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}]}),
    )
    .await;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    assert_eq!(
        get(&api, &jane, leases).await.0,
        403,
        "view reads no leases"
    );
    post(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "lease-reader", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
               "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list"]}]}),
    )
    .await;
    // No controller manager here: view keeps the rules it had (none, as Alice wrote it), and
    // jane still may not read leases.
    let (code, body) = get(&api, &jane, leases).await;
    assert_eq!(code, 403, "{body}");
    let (_, view) = get(
        &api,
        &admin(),
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
    )
    .await;
    assert_eq!(view["rules"], Value::Null, "{view}");
}
