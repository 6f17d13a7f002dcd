//! The rulebook's cluster-wide pages: every ClusterRole and ClusterRoleBinding a kubeadm 1.32
//! cluster has after `kubeadm init`.
//!
//! Three sources, kept as data in `data/rbac/`:
//!
//! - kube-apiserver's bootstrap policy, which it writes at every start (and reconciles, the
//!   `rbac.authorization.kubernetes.io/autoupdate: "true"` annotation): upstream's own fixtures
//!   `cluster-roles.yaml`, `cluster-role-bindings.yaml`, `controller-roles.yaml` and
//!   `controller-role-bindings.yaml` (each file names its source and version). The
//!   `system:controller:*` roles are what each of kube-controller-manager's controllers may do
//!   under its own service account;
//! - what `kubeadm init` adds (`kubeadm-cluster.yaml`): admin.conf's `kubeadm:cluster-admins`,
//!   the bootstrap-token and node-certificate bindings, kube-proxy's and CoreDNS's;
//! - what the lab adds (`kubecorp-lab.yaml`): three bindings its single-certificate controller
//!   manager needs, each saying why in a `kubecorp/why` annotation.
//!
//! `admin`, `edit` and `view` are written as kube-apiserver writes them: an `aggregationRule`
//! and no rules (its `rbac/bootstrap-roles` hook, `pkg/registry/rbac/rest/storage_rbac.go`
//! v1.32, never fills them). Filling them is the clusterrole-aggregation controller's job, in
//! the controller manager (`kubecorp_controller::clusterrole_aggregation`).

use std::sync::LazyLock;

use serde_json::Value;

use crate::meta::meta_str;
use crate::namespaced_policy::items;

const SOURCES: &[(&str, &str)] = &[
    (
        "cluster-roles.yaml",
        include_str!("../data/rbac/cluster-roles.yaml"),
    ),
    (
        "controller-roles.yaml",
        include_str!("../data/rbac/controller-roles.yaml"),
    ),
    (
        "cluster-role-bindings.yaml",
        include_str!("../data/rbac/cluster-role-bindings.yaml"),
    ),
    (
        "controller-role-bindings.yaml",
        include_str!("../data/rbac/controller-role-bindings.yaml"),
    ),
    (
        "kubeadm-cluster.yaml",
        include_str!("../data/rbac/kubeadm-cluster.yaml"),
    ),
    (
        "kubecorp-lab.yaml",
        include_str!("../data/rbac/kubecorp-lab.yaml"),
    ),
];

/// The pages, read once: the files are part of the program.
pub(crate) static OBJECTS: LazyLock<Vec<Value>> = LazyLock::new(read);

/// Every ClusterRole and ClusterRoleBinding, upstream's first, then kubeadm's, then the lab's.
pub fn objects() -> Vec<Value> {
    OBJECTS.clone()
}

/// The rules of one bootstrap ClusterRole (`system:node` for the Node authorizer's static
/// rules). Empty when there is no such role.
pub fn rules_of(name: &str) -> &'static [Value] {
    OBJECTS
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && meta_str(o, "name") == name)
        .and_then(|o| o.get("rules").and_then(Value::as_array))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The fixtures' `creationTimestamp: null` is dropped (the store stamps each object as it
/// writes it).
fn read() -> Vec<Value> {
    SOURCES
        .iter()
        .flat_map(|(file, text)| items(file, text))
        .map(|mut o| {
            if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("creationTimestamp");
            }
            o
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(kind: &str) -> Vec<String> {
        objects()
            .iter()
            .filter(|o| o["kind"] == kind)
            .map(|o| meta_str(o, "name").to_string())
            .collect()
    }

    #[test]
    fn the_cluster_pages_hold_upstreams_kubeadms_and_the_labs_objects_once_each() {
        let roles = names("ClusterRole");
        let bindings = names("ClusterRoleBinding");
        // 31 bootstrap roles + 33 controller roles + kubeadm:get-nodes + system:coredns.
        assert_eq!(roles.len(), 31 + 33 + 2, "{roles:?}");
        // 12 bootstrap + 33 controller + 7 kubeadm + 3 lab bindings.
        assert_eq!(bindings.len(), 12 + 33 + 7 + 3, "{bindings:?}");
        for list in [&roles, &bindings] {
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len(), "a name appears twice");
        }
    }

    #[test]
    fn every_binding_names_a_role_that_exists() {
        let roles = names("ClusterRole");
        for b in objects()
            .iter()
            .filter(|o| o["kind"] == "ClusterRoleBinding")
        {
            let role = b["roleRef"]["name"].as_str().unwrap();
            assert!(
                roles.iter().any(|r| r == role),
                "{} → {role}",
                meta_str(b, "name")
            );
        }
    }

    #[test]
    fn view_edit_and_admin_carry_an_aggregation_rule_and_no_rules_as_kube_apiserver_writes_them() {
        let all = objects();
        for (name, label) in [
            ("admin", "aggregate-to-admin"),
            ("edit", "aggregate-to-edit"),
            ("view", "aggregate-to-view"),
        ] {
            let role = all
                .iter()
                .find(|o| o["kind"] == "ClusterRole" && meta_str(o, "name") == name)
                .unwrap();
            assert!(role["rules"].is_null(), "{name}: {role}");
            assert_eq!(
                role["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
                    [format!("rbac.authorization.k8s.io/{label}")],
                "true",
                "{name}"
            );
        }
    }
}
