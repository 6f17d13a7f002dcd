//! NodeRestriction: the admission plugin that keeps each CEO at their own desk.
//!
//! The Node authorizer ([`crate::node_authz`]) lets every kubelet create and delete pods,
//! update pod and node status, and write Node objects — it has to, because it decides from the
//! URL alone and a kubelet needs those verbs for *its own* objects. kubeadm therefore also
//! turns on the **NodeRestriction** admission plugin (`--enable-admission-plugins=
//! NodeRestriction`), which runs after authorization, sees the object being written, and
//! refuses anything a node does to someone else's things:
//!
//! - a pod may be created only as a **mirror pod** (annotation `kubernetes.io/config.mirror`)
//!   bound to the node, owned by its Node, and using no service account, secret, configmap,
//!   cluster trust bundle or claim;
//! - a pod may be deleted only when it is bound to the node; its status may be updated only
//!   then, and never its labels through the status;
//! - a node may create and modify only its own Node object, may not touch its taints, and may
//!   set only the labels kubelets are allowed to set (`kubernetes.io/hostname`, `*.node.
//!   kubernetes.io/…`; never `node-role.kubernetes.io/…` nor `node-restriction.kubernetes.io/…`);
//! - a node Lease may be created only in `kube-node-lease` and only under the node's name.
//!
//! Its refusals are 403s built by `admission.NewForbidden`: `pods "web" is forbidden: <why>`.
//! Every text below is copied from `plugin/pkg/admission/noderestriction/admission.go`
//! (Kubernetes v1.32), and the kubelet label rules from `staging/src/k8s.io/kubelet/pkg/apis/
//! well_known_labels.go`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::node_authz::{node_name_of, references, Ref, NODE_LEASE_NAMESPACE};
use crate::status;
use crate::user::{UserInfo, NODES, NODE_PREFIX};

/// The annotation that makes a pod a mirror of a static pod the kubelet runs from a file.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// What a request does to an object (`admission.Operation`, printed as Go prints it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    fn go_name(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// One write as the admission chain sees it (`admission.Attributes`).
#[derive(Clone, Copy, Debug)]
pub struct Write<'a> {
    pub user: &'a UserInfo,
    pub operation: Operation,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    /// The name in the URL (empty for a create on the collection).
    pub name: &'a str,
    /// The object being written (create, update).
    pub object: Option<&'a Value>,
    /// The object as stored (update, delete).
    pub old: Option<&'a Value>,
}

/// Why NodeRestriction refused a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403 `<resource> "<name>" is forbidden: <reason>`.
    Forbidden {
        resource: String,
        group: String,
        name: String,
        reason: String,
    },
    /// The pod a node wants to delete does not exist (the plugin returns the lister's 404).
    NotFound {
        resource: String,
        group: String,
        name: String,
    },
}

impl Refusal {
    /// The status code and `metav1.Status` body kube-apiserver answers with.
    pub fn response(&self) -> (u16, String) {
        match self {
            Refusal::Forbidden {
                resource,
                group,
                name,
                reason,
            } => status::forbidden_with(resource, group, name, reason),
            Refusal::NotFound {
                resource,
                group,
                name,
            } => status::not_found(resource, group, name),
        }
    }

    /// The message kubectl prints after `Error from server (Forbidden): `.
    pub fn message(&self) -> String {
        let (_, body) = self.response();
        status::Status::parse(&body)
            .map(|s| s.message)
            .unwrap_or_default()
    }
}

/// What the plugin looks up besides the request: the node's own Node object (to check a
/// mirror pod's owner UID against it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookups<'a> {
    pub node: Option<&'a Value>,
}

/// The node a user speaks for, as `nodeidentifier.NodeIdentity` reads it: `Some(name)` for
/// `system:node:<name>` in `system:nodes`, `None` for everybody else.
pub fn node_of(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_PREFIX)?;
    user.is_in_group(NODES).then_some(name)
}

/// `Plugin.Admit`: `Ok` for anyone who is not a node, and for what a node may do.
pub fn admit(w: &Write<'_>, lookups: Lookups<'_>) -> Result<(), Refusal> {
    let Some(node) = node_of(w.user) else {
        return Ok(());
    };
    if node.is_empty() {
        return Err(forbidden(
            w,
            format!("could not determine node from user {:?}", w.user.name),
        ));
    }
    match (w.group, w.resource) {
        ("", "pods") => match w.subresource {
            "" => admit_pod(node, w, lookups),
            "status" => admit_pod_status(node, w),
            "eviction" => admit_pod_eviction(node, w),
            other => Err(forbidden(
                w,
                format!("unexpected pod subresource {other:?}, only 'status' and 'eviction' are allowed"),
            )),
        },
        ("", "nodes") => admit_node(node, w),
        ("", "persistentvolumeclaims") => match w.subresource {
            // The lab keeps no claims' status; a node may write nothing else of a claim.
            "status" => Ok(()),
            _ => Err(forbidden(w, "may only update PVC status".into())),
        },
        ("coordination.k8s.io", "leases") => admit_lease(node, w),
        _ => Ok(()),
    }
}

/// `admission.NewForbidden`: the name from the URL, else from the object, else `Unknown`.
fn forbidden(w: &Write<'_>, reason: String) -> Refusal {
    let name = if !w.name.is_empty() {
        w.name.to_string()
    } else {
        let meta = |k: &str| {
            w.object
                .and_then(|o| o["metadata"][k].as_str())
                .unwrap_or("")
                .to_string()
        };
        [meta("name"), meta("generateName")]
            .into_iter()
            .find(|n| !n.is_empty())
            .unwrap_or_else(|| "Unknown".into())
    };
    Refusal::Forbidden {
        resource: w.resource.into(),
        group: w.group.into(),
        name,
        reason,
    }
}

fn admit_pod(node: &str, w: &Write<'_>, lookups: Lookups<'_>) -> Result<(), Refusal> {
    match w.operation {
        Operation::Create => admit_mirror_pod(node, w, lookups),
        Operation::Delete => {
            let Some(existing) = w.old else {
                return Err(Refusal::NotFound {
                    resource: w.resource.into(),
                    group: w.group.into(),
                    name: w.name.into(),
                });
            };
            if node_name_of(existing) != node {
                return Err(forbidden(
                    w,
                    format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
                ));
            }
            Ok(())
        }
        op => Err(forbidden(
            w,
            format!(
                "unexpected operation {:?}, node {node:?} can only create and delete mirror pods",
                op.go_name()
            ),
        )),
    }
}

fn admit_mirror_pod(node: &str, w: &Write<'_>, lookups: Lookups<'_>) -> Result<(), Refusal> {
    let empty = Value::Null;
    let pod = w.object.unwrap_or(&empty);
    let deny = |reason: String| Err(forbidden(w, reason));
    if pod["metadata"]["annotations"]
        .get(MIRROR_POD_ANNOTATION)
        .is_none()
    {
        return deny(format!(
            "pod does not have {MIRROR_POD_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"
        ));
    }
    if node_name_of(pod) != node {
        return deny(format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        ));
    }
    let owners = pod["metadata"]["ownerReferences"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    match owners {
        [] => {
            return deny(format!(
                "node {node:?} can only create pods with an owner reference set to itself"
            ))
        }
        [owner] => {
            let field = |k: &str| owner[k].as_str().unwrap_or("");
            if field("apiVersion") != "v1" || field("kind") != "Node" || field("name") != node {
                return deny(format!(
                    "node {node:?} can only create pods with an owner reference set to itself"
                ));
            }
            if owner["controller"] != Value::Bool(true) {
                return deny(format!(
                    "node {node:?} can only create pods with a controller owner reference set to itself"
                ));
            }
            if owner["blockOwnerDeletion"] == Value::Bool(true) {
                return deny(format!(
                    "node {node:?} must not set blockOwnerDeletion on an owner reference"
                ));
            }
            let Some(node_obj) = lookups.node else {
                return Err(Refusal::NotFound {
                    resource: "nodes".into(),
                    group: String::new(),
                    name: node.into(),
                });
            };
            let uid = node_obj["metadata"]["uid"].as_str().unwrap_or("");
            if field("uid") != uid {
                // Go's text has the two UIDs the other way round; it is kept as it is.
                return deny(format!(
                    "node {node} UID mismatch: expected {} got {uid}",
                    field("uid")
                ));
            }
        }
        _ => {
            return deny(format!(
                "node {node:?} can only create pods with a single owner reference set to itself"
            ))
        }
    }
    if pod["spec"]["serviceAccountName"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        return deny(format!(
            "node {node:?} can not create pods that reference a service account"
        ));
    }
    if !references(pod, Ref::Secret).is_empty() {
        return deny(format!(
            "node {node:?} can not create pods that reference secrets"
        ));
    }
    if !references(pod, Ref::ConfigMap).is_empty() {
        return deny(format!(
            "node {node:?} can not create pods that reference configmaps"
        ));
    }
    let volumes = pod["spec"]["volumes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let trust_bundle = volumes.iter().any(|v| {
        v["projected"]["sources"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| !s["clusterTrustBundle"].is_null()))
    });
    if trust_bundle {
        return deny(format!(
            "node {node:?} can not create pods that reference clustertrustbundles"
        ));
    }
    if volumes
        .iter()
        .any(|v| !v["persistentVolumeClaim"].is_null())
    {
        return deny(format!(
            "node {node:?} can not create pods that reference persistentvolumeclaims"
        ));
    }
    Ok(())
}

fn admit_pod_status(node: &str, w: &Write<'_>) -> Result<(), Refusal> {
    if w.operation != Operation::Update {
        return Err(forbidden(
            w,
            format!("unexpected operation {:?}", w.operation.go_name()),
        ));
    }
    let empty = Value::Null;
    let old = w.old.unwrap_or(&empty);
    let new = w.object.unwrap_or(&empty);
    if node_name_of(old) != node {
        return Err(forbidden(
            w,
            format!("node {node:?} can only update pod status for pods with spec.nodeName set to itself"),
        ));
    }
    if labels(old) != labels(new) {
        return Err(forbidden(
            w,
            format!("node {node:?} cannot update labels through pod status"),
        ));
    }
    if old["status"]["resourceClaimStatuses"] != new["status"]["resourceClaimStatuses"] {
        // "statues" is Go's spelling.
        return Err(forbidden(
            w,
            format!("node {node:?} cannot update resource claim statues"),
        ));
    }
    Ok(())
}

fn admit_pod_eviction(node: &str, w: &Write<'_>) -> Result<(), Refusal> {
    if w.operation != Operation::Create {
        return Err(forbidden(
            w,
            format!("unexpected operation {}", w.operation.go_name()),
        ));
    }
    match w.old {
        None => Err(Refusal::NotFound {
            resource: w.resource.into(),
            group: w.group.into(),
            name: w.name.into(),
        }),
        Some(pod) if node_name_of(pod) != node => Err(forbidden(
            w,
            format!("node {node} can only evict pods with spec.nodeName set to itself"),
        )),
        Some(_) => Ok(()),
    }
}

fn admit_node(node: &str, w: &Write<'_>) -> Result<(), Refusal> {
    let requested = match w.operation {
        // On create the authorizer knew no name; the plugin compares the object's.
        Operation::Create if w.name.is_empty() => w
            .object
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap_or(""),
        _ => w.name,
    };
    if requested != node {
        return Err(forbidden(
            w,
            format!("node {node:?} is not allowed to modify node {requested:?}"),
        ));
    }
    let empty = Value::Null;
    let new = w.object.unwrap_or(&empty);
    match w.operation {
        Operation::Create => {
            if !new["spec"]["configSource"].is_null() {
                return Err(forbidden(
                    w,
                    format!(
                        "node {node:?} is not allowed to create pods with a non-nil configSource"
                    ),
                ));
            }
            let forbidden_labels = forbidden_labels(&modified_labels(&labels(new), &[]));
            if !forbidden_labels.is_empty() {
                return Err(forbidden(
                    w,
                    format!(
                        "node {node:?} is not allowed to set the following labels: {}",
                        forbidden_labels.join(", ")
                    ),
                ));
            }
        }
        Operation::Update => {
            let old = w.old.unwrap_or(&empty);
            let source = &new["spec"]["configSource"];
            if !source.is_null() && *source != old["spec"]["configSource"] {
                return Err(forbidden(
                    w,
                    format!("node {node:?} is not allowed to update configSource to a new non-nil configSource"),
                ));
            }
            if taints(new) != taints(old) {
                return Err(forbidden(
                    w,
                    format!("node {node:?} is not allowed to modify taints"),
                ));
            }
            let forbidden_labels = forbidden_labels(&modified_labels(&labels(new), &labels(old)));
            if !forbidden_labels.is_empty() {
                // Go's text names no node here.
                return Err(forbidden(
                    w,
                    format!(
                        "is not allowed to modify labels: {}",
                        forbidden_labels.join(", ")
                    ),
                ));
            }
        }
        Operation::Delete => {}
    }
    Ok(())
}

fn admit_lease(node: &str, w: &Write<'_>) -> Result<(), Refusal> {
    if w.namespace != NODE_LEASE_NAMESPACE {
        return Err(forbidden(
            w,
            format!("can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"),
        ));
    }
    let name = match w.operation {
        Operation::Create => w
            .object
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap_or(""),
        _ => w.name,
    };
    if name != node {
        return Err(forbidden(
            w,
            "can only access node lease with the same name as the requesting node".into(),
        ));
    }
    Ok(())
}

fn labels(obj: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Taints compared as the API compares them: an absent list equals an empty one.
fn taints(node: &Value) -> Vec<Value> {
    node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `getModifiedLabels`: keys added, removed or changed between the two sets.
fn modified_labels(a: &[(String, String)], b: &[(String, String)]) -> BTreeSet<String> {
    let value = |set: &[(String, String)], k: &str| {
        set.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
    };
    let mut modified = BTreeSet::new();
    for (k, v) in a {
        if value(b, k).as_ref() != Some(v) {
            modified.insert(k.clone());
        }
    }
    for (k, v) in b {
        if value(a, k).as_ref() != Some(v) {
            modified.insert(k.clone());
        }
    }
    modified
}

/// The label keys a kubelet may set on its own Node (`IsKubeletLabel`).
const KUBELET_LABELS: &[&str] = &[
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map(|(ns, _)| ns).unwrap_or("")
}

fn in_namespace(namespace: &str, suffix: &str) -> bool {
    namespace == suffix
        || namespace
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'))
}

fn is_kubelet_label(key: &str) -> bool {
    let ns = label_namespace(key);
    KUBELET_LABELS.contains(&key)
        || in_namespace(ns, "kubelet.kubernetes.io")
        || in_namespace(ns, "node.kubernetes.io")
}

/// `getForbiddenLabels`, sorted as Go's `sets.String.List()`.
fn forbidden_labels(modified: &BTreeSet<String>) -> Vec<String> {
    modified
        .iter()
        .filter(|label| {
            let ns = label_namespace(label);
            let restricted = in_namespace(ns, "node-restriction.kubernetes.io");
            let kubernetes = in_namespace(ns, "kubernetes.io") || in_namespace(ns, "k8s.io");
            restricted || (kubernetes && !is_kubelet_label(label))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelets_may_set_their_own_label_namespaces_but_not_a_role() {
        assert!(is_kubelet_label("kubernetes.io/hostname"));
        assert!(is_kubelet_label(
            "node.kubernetes.io/exclude-from-external-load-balancers"
        ));
        assert!(is_kubelet_label("x.kubelet.kubernetes.io/anything"));
        let modified: BTreeSet<String> = [
            "node-role.kubernetes.io/control-plane",
            "node-restriction.kubernetes.io/pci",
            "example.com/team",
            "kubernetes.io/hostname",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            forbidden_labels(&modified),
            [
                "node-restriction.kubernetes.io/pci",
                "node-role.kubernetes.io/control-plane"
            ]
        );
    }
}
