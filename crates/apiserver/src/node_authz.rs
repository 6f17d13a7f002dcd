//! The Node authorizer: a kubelet (the CEO's badge reader at each desk) may read a secret only
//! if a pod scheduled on its own node uses it.
//!
//! Every kubelet needs secrets and configmaps for the pods it runs, but a compromised node
//! should not be able to read *every* secret in the cluster. So instead of an RBAC role, kube-
//! apiserver runs a special authorizer (`plugin/pkg/auth/authorizer/node`) that keeps a graph
//! `secret → pod → node` and allows a read only when a path leads to the asking node.
//!
//! It recognises a kubelet by its badge: name `system:node:<nodeName>` **and** group
//! `system:nodes`. Anyone else gets no opinion and falls through to RBAC. For a kubelet:
//!
//! - secrets, configmaps, persistentvolumeclaims: `get` (or list/watch of one named object)
//!   only when referenced by a pod whose `spec.nodeName` is this node; otherwise
//!   `no relationship found between node '<node>' and this object`;
//! - leases: only the node's own lease in `kube-node-lease`;
//! - nodes, pods and pods/status: allowed by the static rules; the NodeRestriction admission
//!   plugin ([`crate::node_restriction`]) keeps each kubelet to its own Node and pods;
//! - everything else: the static `system:node` rules ([`crate::rbac::node_rules`]).
//!
//! Like the real one, it never says Deny: a refusal is "no opinion" with a reason, and the
//! reason ends up after `: ` in the 403 message once RBAC has no opinion either.

use serde_json::Value;

use crate::rbac::{node_rules, rule_allows, Attributes, Decision};
use crate::user::{NODES, NODE_PREFIX};

/// The namespace of node heartbeat leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node a user speaks for: `Some(name)` for `system:node:<name>` in `system:nodes`
/// (`Some("")` when the name part is empty), `None` for everybody else.
pub fn node_identity(attrs: &Attributes) -> Option<&str> {
    let name = attrs.user.name.strip_prefix(NODE_PREFIX)?;
    attrs.user.is_in_group(NODES).then_some(name)
}

fn no_path(node: &str) -> Decision {
    Decision::NoOpinion(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

fn no_opinion(reason: &str) -> Decision {
    Decision::NoOpinion(reason.to_string())
}

/// The Node authorizer's decision for `attrs`, given the pods currently stored.
pub fn authorize(attrs: &Attributes, pods: &[Value]) -> Decision {
    let Some(node) = node_identity(attrs) else {
        return no_opinion("");
    };
    if node.is_empty() {
        return Decision::NoOpinion(format!("unknown node for user {:?}", attrs.user.name));
    }
    if attrs.resource_request {
        match (attrs.api_group.as_str(), attrs.resource.as_str()) {
            ("", "secrets") => return read_namespaced(node, Ref::Secret, attrs, pods),
            ("", "configmaps") => return read_namespaced(node, Ref::ConfigMap, attrs, pods),
            ("", "persistentvolumeclaims") if attrs.subresource.is_empty() => {
                return get_only(node, Ref::Claim, attrs, pods)
            }
            ("", "persistentvolumes") => {
                // The lab keeps no PV → PVC edges; a kubelet reading a PV finds no path.
                if attrs.verb != "get" {
                    return no_opinion("can only get individual resources of this type");
                }
                return no_path(node);
            }
            ("coordination.k8s.io", "leases") => return lease(node, attrs),
            // Writes to nodes, pods and pods/status are allowed for every kubelet by the
            // static rules below; the NodeRestriction admission plugin
            // ([`crate::node_restriction`]) then looks at the object and keeps each kubelet
            // to its own Node and its own pods.
            _ => {}
        }
    }
    if node_rules().iter().any(|r| rule_allows(attrs, r)) {
        Decision::Allow(String::new())
    } else {
        no_opinion("")
    }
}

/// The kinds of object a pod refers to by name.
#[derive(Clone, Copy)]
pub(crate) enum Ref {
    Secret,
    ConfigMap,
    Claim,
}

fn read_namespaced(node: &str, kind: Ref, attrs: &Attributes, pods: &[Value]) -> Decision {
    if !matches!(attrs.verb.as_str(), "get" | "list" | "watch") {
        return no_opinion("can only read resources of this type");
    }
    if !attrs.subresource.is_empty() {
        return no_opinion("cannot read subresource");
    }
    if attrs.namespace.is_empty() {
        return no_opinion("can only read namespaced object of this type");
    }
    has_path(node, kind, attrs, pods)
}

fn get_only(node: &str, kind: Ref, attrs: &Attributes, pods: &[Value]) -> Decision {
    if attrs.verb != "get" {
        return no_opinion("can only get individual resources of this type");
    }
    has_path(node, kind, attrs, pods)
}

fn has_path(node: &str, kind: Ref, attrs: &Attributes, pods: &[Value]) -> Decision {
    if attrs.name.is_empty() {
        return no_opinion("No Object name found");
    }
    let connected = pods.iter().any(|pod| {
        node_name_of(pod) == node
            && meta(pod, "namespace") == attrs.namespace
            && references(pod, kind).contains(&attrs.name)
    });
    if connected {
        Decision::Allow(String::new())
    } else {
        no_path(node)
    }
}

fn lease(node: &str, attrs: &Attributes) -> Decision {
    if !matches!(
        attrs.verb.as_str(),
        "get" | "create" | "update" | "patch" | "delete"
    ) {
        return no_opinion("can only get, create, update, patch, or delete a node lease");
    }
    if attrs.namespace != NODE_LEASE_NAMESPACE {
        return Decision::NoOpinion(format!(
            "can only access leases in the {:?} system namespace",
            NODE_LEASE_NAMESPACE
        ));
    }
    // On create the name is not known to the authorizer (admission checks it).
    if attrs.verb != "create" && attrs.name != node {
        return no_opinion("can only access node lease with the same name as the requesting node");
    }
    Decision::Allow(String::new())
}

fn meta<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A pod's `spec.nodeName` (`""` while unscheduled).
pub(crate) fn node_name_of(pod: &Value) -> &str {
    pod.get("spec")
        .and_then(|s| s.get("nodeName"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

/// The names of objects of `kind` a pod uses: volumes (incl. projected sources), env
/// `valueFrom`, `envFrom`, and for secrets `imagePullSecrets`, across all container lists.
pub(crate) fn references(pod: &Value, kind: Ref) -> Vec<String> {
    let mut out: Vec<&str> = Vec::new();
    let mut owned: Vec<String> = Vec::new();
    let Some(spec) = pod.get("spec") else {
        return owned;
    };
    for vol in items(spec.get("volumes")) {
        match kind {
            Ref::Secret => out.extend(at(vol, &["secret", "secretName"])),
            Ref::ConfigMap => out.extend(at(vol, &["configMap", "name"])),
            Ref::Claim => {
                out.extend(at(vol, &["persistentVolumeClaim", "claimName"]));
                // A generic ephemeral volume creates the claim `<pod>-<volume>`.
                if vol.get("ephemeral").is_some() {
                    if let Some(v) = at(vol, &["name"]) {
                        owned.push(format!("{}-{v}", meta(pod, "name")));
                    }
                }
            }
        }
        for src in items(vol.get("projected").and_then(|p| p.get("sources"))) {
            match kind {
                Ref::Secret => out.extend(at(src, &["secret", "name"])),
                Ref::ConfigMap => out.extend(at(src, &["configMap", "name"])),
                Ref::Claim => {}
            }
        }
    }
    if matches!(kind, Ref::Secret) {
        out.extend(items(spec.get("imagePullSecrets")).filter_map(|s| at(s, &["name"])));
    }
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(|k| items(spec.get(k)));
    for c in containers {
        for env in items(c.get("env")) {
            match kind {
                Ref::Secret => out.extend(at(env, &["valueFrom", "secretKeyRef", "name"])),
                Ref::ConfigMap => out.extend(at(env, &["valueFrom", "configMapKeyRef", "name"])),
                Ref::Claim => {}
            }
        }
        for env_from in items(c.get("envFrom")) {
            match kind {
                Ref::Secret => out.extend(at(env_from, &["secretRef", "name"])),
                Ref::ConfigMap => out.extend(at(env_from, &["configMapRef", "name"])),
                Ref::Claim => {}
            }
        }
    }
    owned.extend(out.into_iter().map(str::to_string));
    owned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::UserInfo;
    use serde_json::json;

    fn kubelet(node: &str) -> UserInfo {
        UserInfo::from_cert(&format!("system:node:{node}"), ["system:nodes"]).unwrap()
    }

    fn pods() -> Vec<Value> {
        vec![json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "nodeName": "n1",
                "volumes": [
                    {"name": "tls", "secret": {"secretName": "web-tls"}},
                    {"name": "cfg", "configMap": {"name": "web-config"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "projected-s"}}]}}
                ],
                "imagePullSecrets": [{"name": "regcred"}],
                "containers": [{
                    "name": "c",
                    "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
                    "envFrom": [{"configMapRef": {"name": "env-cm"}}]
                }]
            }
        })]
    }

    fn get(node: &str, ns: &str, resource: &str, name: &str) -> Attributes {
        Attributes::resource(&kubelet(node), "get", ns, "", resource).with_name(name)
    }

    #[test]
    fn a_kubelet_reads_every_secret_and_configmap_its_own_pods_use() {
        for (res, name) in [
            ("secrets", "web-tls"),
            ("secrets", "db"),
            ("secrets", "regcred"),
            ("secrets", "projected-s"),
            ("configmaps", "web-config"),
            ("configmaps", "env-cm"),
            ("persistentvolumeclaims", "web-data"),
        ] {
            assert!(
                authorize(&get("n1", "default", res, name), &pods()).is_allowed(),
                "{res}/{name}"
            );
        }
    }

    #[test]
    fn another_node_finds_no_relationship() {
        assert_eq!(
            authorize(&get("n2", "default", "secrets", "db"), &pods()),
            Decision::NoOpinion("no relationship found between node 'n2' and this object".into())
        );
        assert_eq!(
            authorize(&get("n1", "other", "secrets", "db"), &pods()),
            Decision::NoOpinion("no relationship found between node 'n1' and this object".into())
        );
    }

    #[test]
    fn listing_all_secrets_is_not_possible_for_a_kubelet() {
        let a = Attributes::resource(&kubelet("n1"), "list", "default", "", "secrets");
        assert_eq!(
            authorize(&a, &pods()),
            Decision::NoOpinion("No Object name found".into())
        );
        let a = Attributes::resource(&kubelet("n1"), "delete", "default", "", "secrets")
            .with_name("db");
        assert_eq!(
            authorize(&a, &pods()),
            Decision::NoOpinion("can only read resources of this type".into())
        );
    }

    #[test]
    fn a_kubelet_writes_its_own_node_lease_and_pod_status_only() {
        let k = kubelet("n1");
        let own = Attributes::resource(
            &k,
            "update",
            NODE_LEASE_NAMESPACE,
            "coordination.k8s.io",
            "leases",
        )
        .with_name("n1");
        assert!(authorize(&own, &[]).is_allowed());
        let other = own.clone().with_name("n2");
        assert_eq!(
            authorize(&other, &[]),
            Decision::NoOpinion(
                "can only access node lease with the same name as the requesting node".into()
            )
        );
        let status = Attributes::resource(&k, "patch", "", "", "nodes")
            .with_name("n1")
            .with_subresource("status");
        assert!(authorize(&status, &[]).is_allowed());
    }

    #[test]
    fn whose_node_or_pod_a_write_touches_is_left_to_node_restriction() {
        // The authorizer sees only the URL; NodeRestriction sees the object and refuses.
        let foreign =
            Attributes::resource(&kubelet("n1"), "patch", "", "", "nodes").with_name("n2");
        assert!(authorize(&foreign, &[]).is_allowed());
        let pod_status = Attributes::resource(&kubelet("n2"), "patch", "default", "", "pods")
            .with_name("web")
            .with_subresource("status");
        assert!(authorize(&pod_status, &pods()).is_allowed());
    }

    #[test]
    fn a_kubelet_reads_pods_nodes_and_services_and_makes_csrs() {
        let k = kubelet("n1");
        for (verb, group, res) in [
            ("list", "", "pods"),
            ("watch", "", "services"),
            ("get", "", "nodes"),
            ("create", "", "events"),
            (
                "create",
                "certificates.k8s.io",
                "certificatesigningrequests",
            ),
            ("create", "authentication.k8s.io", "tokenreviews"),
        ] {
            assert!(
                authorize(&Attributes::resource(&k, verb, "", group, res), &[]).is_allowed(),
                "{verb} {res}"
            );
        }
    }

    #[test]
    fn a_non_node_user_gets_no_opinion() {
        let john = UserInfo::from_cert("john", ["developers"]).unwrap();
        let fake = UserInfo::from_cert("system:node:n1", ["developers"]).unwrap();
        for u in [john, fake] {
            let a = Attributes::resource(&u, "get", "default", "", "secrets").with_name("db");
            assert_eq!(authorize(&a, &pods()), Decision::NoOpinion(String::new()));
        }
    }
}
