//! The rulebook a fresh office serves, compared with Kubernetes' own fixtures.
//!
//! `data/rbac/namespace-roles.yaml` and `namespace-role-bindings.yaml` are upstream's
//! `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata` files (kubernetes/kubernetes,
//! stored version 008b3652959ca58af8be3fb5b6ecfe9ae7638282, whose leader-locking roles carry
//! the `leasecandidates` rule of 1.31 and later). Every object in them must be served after
//! `bootstrap`, with the same rules, roleRef, subjects, labels and annotations, and must decide
//! requests as in a kubeadm 1.32 cluster.

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use serde_json::Value;

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
