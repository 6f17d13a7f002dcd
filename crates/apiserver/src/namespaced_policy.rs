//! The rulebook's namespaced pages: the Roles and RoleBindings of kube-system and kube-public.
//!
//! Two sources, kept as data in `data/rbac/`:
//!
//! - the apiserver's bootstrap policy for namespaces, verbatim from Kubernetes'
//!   `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/namespace-roles.yaml` and
//!   `namespace-role-bindings.yaml` (the upstream fixtures its own tests compare against):
//!   `extension-apiserver-authentication-reader`, the leader-locking roles of the scheduler and
//!   the controller manager, and the bootstrap-signer, cloud-provider and token-cleaner
//!   controllers' roles;
//! - what `kubeadm init` 1.32 adds (`kubeadm-namespaced.yaml`): the ConfigMaps a joining node
//!   may read (`kubeadm-config`, `kubelet-config`, `kube-proxy`) and the public `cluster-info`
//!   that anonymous callers may read to discover the cluster.

use std::sync::LazyLock;

use serde_json::Value;

const SOURCES: &[(&str, &str)] = &[
    (
        "namespace-roles.yaml",
        include_str!("../data/rbac/namespace-roles.yaml"),
    ),
    (
        "namespace-role-bindings.yaml",
        include_str!("../data/rbac/namespace-role-bindings.yaml"),
    ),
    (
        "kubeadm-namespaced.yaml",
        include_str!("../data/rbac/kubeadm-namespaced.yaml"),
    ),
];

/// The pages, read once: the files are part of the program.
pub(crate) static OBJECTS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .flat_map(|(file, text)| items(file, text))
        .collect()
});

/// Every Role and RoleBinding, upstream's first, then kubeadm's.
pub fn objects() -> Vec<Value> {
    OBJECTS.clone()
}

/// The `items` of a `kind: List` document.
pub(crate) fn items(file: &str, text: &str) -> Vec<Value> {
    // The files are part of the program, and a test reads each one.
    let list: Value = serde_saphyr::from_str(text)
        .unwrap_or_else(|e| panic!("data/rbac/{file} is not valid YAML: {e}"));
    list.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_file_parses_into_roles_and_bindings() {
        let all = objects();
        assert_eq!(all.len(), 7 + 7 + 8);
        assert!(all
            .iter()
            .all(|o| matches!(o["kind"].as_str(), Some("Role" | "RoleBinding"))));
    }
}
