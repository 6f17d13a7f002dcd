//! What `kubectl apply -f components.yaml` (metrics-server v0.7) creates, for the lab.
//!
//! The objects are the release manifest's, with two changes the lab needs and says so: the
//! Service has no selector and its Endpoints are written here (no pod runs metrics-server, so
//! no controller would find one), naming the loopback address the server really listens on;
//! Alice routes to that endpoint as `--enable-aggregator-routing=true` makes kube-apiserver do
//! (the lab's cluster IPs lead nowhere). Like the release manifest, the APIService says
//! `insecureSkipTLSVerify: true`: metrics-server serves a badge it signed itself, and Alice does
//! not check it.

use std::net::SocketAddr;

use serde_json::{json, Value};

const LABELS: &str = "metrics-server";

fn labels() -> Value {
    json!({"k8s-app": LABELS})
}

/// Every object, in the order `kubectl apply` would create them, with the REST collection each
/// is created in.
pub fn objects(listening: SocketAddr) -> Vec<(&'static str, Value)> {
    vec![
        (
            "/api/v1/namespaces/kube-system/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels()}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "system:aggregated-metrics-reader", "labels": {
                       "k8s-app": LABELS,
                       "rbac.authorization.k8s.io/aggregate-to-admin": "true",
                       "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                       "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                   "rules": [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"],
                              "verbs": ["get", "list", "watch"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "system:metrics-server", "labels": labels()},
                   "rules": [{"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                             {"apiGroups": [""], "resources": ["pods", "nodes"],
                              "verbs": ["get", "list", "watch"]}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "metrics-server-auth-reader", "namespace": "kube-system", "labels": labels()},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": "extension-apiserver-authentication-reader"},
                   "subjects": [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "metrics-server:system:auth-delegator", "labels": labels()},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "system:auth-delegator"},
                   "subjects": [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "system:metrics-server", "labels": labels()},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "system:metrics-server"},
                   "subjects": [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]}),
        ),
        (
            "/api/v1/namespaces/kube-system/services",
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels()},
                   "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]}}),
        ),
        (
            "/api/v1/namespaces/kube-system/endpoints",
            endpoints(listening),
        ),
        (
            "/apis/apiregistration.k8s.io/v1/apiservices",
            json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                   "metadata": {"name": crate::APISERVICE, "labels": labels()},
                   "spec": {"service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
                            "group": crate::GROUP, "version": crate::VERSION,
                            "insecureSkipTLSVerify": true,
                            "groupPriorityMinimum": 100, "versionPriority": 100}}),
        ),
    ]
}

/// The Endpoints naming where metrics-server listens.
pub fn endpoints(listening: SocketAddr) -> Value {
    json!({"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": labels()},
           "subsets": [{"addresses": [{"ip": listening.ip().to_string()}],
                        "ports": [{"name": "https", "port": listening.port(), "protocol": "TCP"}]}]})
}
