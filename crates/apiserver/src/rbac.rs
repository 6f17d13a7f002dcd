//! The rulebook: RBAC says what each badge-holder may do once Alice knows who they are.
//!
//! Authentication answered *who*; authorization answers *may they*. kube-apiserver (as kubeadm
//! starts it, `--authorization-mode=Node,RBAC`) asks, in order:
//!
//! 1. the **privileged-group** authorizer: anyone in `system:masters` may do anything. It runs
//!    before RBAC, so deleting bindings cannot lock the break-glass badge out — and a leaked
//!    `system:masters` certificate cannot be revoked. That is why kubeadm 1.29 moved
//!    `admin.conf` to the group `kubeadm:cluster-admins`, which is an ordinary RBAC binding.
//! 2. the **Node** authorizer ([`crate::node_authz`]) for kubelets;
//! 3. **RBAC**: Roles and ClusterRoles hold rules (verbs × API groups × resources, or verbs ×
//!    non-resource URLs); RoleBindings and ClusterRoleBindings hand a role to subjects.
//!
//! RBAC is purely additive. It never says "deny"; it only finds a rule that allows, or has no
//! opinion. A request nobody allows becomes a 403.
//!
//! The first authorizer that says Allow or Deny wins; if all have no opinion, their reasons
//! are joined with newlines and the request is refused ([`union`]).

use serde_json::{json, Value};

use crate::node_authz;
use crate::status::{aggregate, go_quote};
use crate::user::{UserInfo, MASTERS, SERVICE_ACCOUNT_PREFIX};

/// The API group of RBAC objects.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// What a request asks to do, as the apiserver computes it from method and path
/// (Kubernetes' `RequestInfo` turned into `authorizer.Attributes`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or a
    /// special verb such as `approve`, `bind`, `impersonate`.
    pub verb: String,
    /// Empty for cluster-scoped resources and non-resource requests.
    pub namespace: String,
    /// Empty for the core group.
    pub api_group: String,
    pub api_version: String,
    /// Plural and lowercase: `pods`, `certificatesigningrequests`.
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The URL path of a non-resource request (`/healthz`).
    pub path: String,
    pub resource_request: bool,
}

impl Attributes {
    /// A resource request. Use `namespace = ""` for cluster scope and `api_group = ""` for core.
    pub fn resource(
        user: &UserInfo,
        verb: &str,
        namespace: &str,
        api_group: &str,
        resource: &str,
    ) -> Attributes {
        Attributes {
            user: user.clone(),
            verb: verb.to_string(),
            namespace: namespace.to_string(),
            api_group: api_group.to_string(),
            api_version: "v1".to_string(),
            resource: resource.to_string(),
            resource_request: true,
            ..Attributes::default()
        }
    }

    /// A request for a path outside the resource tree (`/healthz`, `/version`, `/api`).
    pub fn non_resource(user: &UserInfo, verb: &str, path: &str) -> Attributes {
        Attributes {
            user: user.clone(),
            verb: verb.to_string(),
            path: path.to_string(),
            resource_request: false,
            ..Attributes::default()
        }
    }

    /// The same request for one named object.
    pub fn with_name(mut self, name: &str) -> Attributes {
        self.name = name.to_string();
        self
    }

    /// The same request on a subresource (`status`, `binding`, `approval`).
    pub fn with_subresource(mut self, subresource: &str) -> Attributes {
        self.subresource = subresource.to_string();
        self
    }

    /// The attributes a SubjectAccessReview spec asks about (`resourceAttributes` or
    /// `nonResourceAttributes`), on behalf of `user`. `None` when neither is present.
    pub fn from_access_review_spec(user: &UserInfo, spec: &Value) -> Option<Attributes> {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
            return Some(Attributes {
                user: user.clone(),
                verb: s(ra, "verb"),
                namespace: s(ra, "namespace"),
                api_group: s(ra, "group"),
                api_version: s(ra, "version"),
                resource: s(ra, "resource"),
                subresource: s(ra, "subresource"),
                name: s(ra, "name"),
                path: String::new(),
                resource_request: true,
            });
        }
        let nra = spec
            .get("nonResourceAttributes")
            .filter(|v| v.is_object())?;
        Some(Attributes::non_resource(
            user,
            &s(nra, "verb"),
            &s(nra, "path"),
        ))
    }
}

/// An authorizer's answer, with its reason (which may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    Deny(String),
    NoOpinion(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason text, appended to a 403 message after `: ` when not empty.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::Deny(r) | Decision::NoOpinion(r) => r,
        }
    }
}

/// kube-apiserver's union authorizer: the first Allow or Deny wins; otherwise NoOpinion with
/// every non-empty reason joined by newlines. Pass a lazy iterator to skip later authorizers.
pub fn union(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    let mut reasons: Vec<String> = Vec::new();
    for d in decisions {
        match d {
            Decision::Allow(_) | Decision::Deny(_) => return d,
            Decision::NoOpinion(r) => {
                if !r.is_empty() {
                    reasons.push(r);
                }
            }
        }
    }
    Decision::NoOpinion(reasons.join("\n"))
}

/// The whole chain kubeadm configures: privileged group, then Node, then RBAC.
/// `pods` are the current pods (the Node authorizer's graph).
pub fn authorize_request(state: &RbacState, pods: &[Value], attrs: &Attributes) -> Decision {
    let steps: [&dyn Fn() -> Decision; 3] = [
        &|| privileged_group(attrs).unwrap_or(Decision::NoOpinion(String::new())),
        &|| node_authz::authorize(attrs, pods),
        &|| authorize(state, attrs),
    ];
    union(steps.iter().map(|step| step()))
}

/// The privileged-group authorizer in front of everything: `system:masters` may do anything.
/// Allows with an empty reason, as Kubernetes does; `None` for everyone else.
pub fn privileged_group(attrs: &Attributes) -> Option<Decision> {
    attrs
        .user
        .is_in_group(MASTERS)
        .then(|| Decision::Allow(String::new()))
}

/// The RBAC objects in the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RbacState {
    pub cluster_roles: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
    pub roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
}

impl RbacState {
    /// Sorts objects into the four lists by `kind`; other kinds are ignored.
    pub fn from_objects(objects: impl IntoIterator<Item = Value>) -> RbacState {
        let mut state = RbacState::default();
        for o in objects {
            match o.get("kind").and_then(Value::as_str) {
                Some("ClusterRole") => state.cluster_roles.push(o),
                Some("ClusterRoleBinding") => state.cluster_role_bindings.push(o),
                Some("Role") => state.roles.push(o),
                Some("RoleBinding") => state.role_bindings.push(o),
                _ => {}
            }
        }
        state
    }

    /// The rulebook of a fresh kubeadm 1.32 cluster.
    pub fn bootstrap() -> RbacState {
        RbacState::from_objects(bootstrap_policy())
    }

    fn cluster_role(&self, name: &str) -> Option<&Value> {
        self.cluster_roles
            .iter()
            .find(|r| meta_str(r, "name") == name)
    }

    fn role(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.roles
            .iter()
            .find(|r| meta_str(r, "name") == name && meta_str(r, "namespace") == namespace)
    }
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn str_list(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// One grant found while walking the bindings: the binding, the role it names, the subject
/// that matched, and the role's rules (or why the role could not be found).
struct Grant<'a> {
    describe: String,
    rules: Result<&'a [Value], String>,
}

/// Walks the bindings that apply to `user` in `namespace` in Kubernetes' order: every
/// ClusterRoleBinding first, then the RoleBindings of the namespace. `visit` returns `false`
/// to stop early.
fn visit_grants<'a>(
    state: &'a RbacState,
    user: &UserInfo,
    namespace: &str,
    mut visit: impl FnMut(Grant<'a>) -> bool,
) {
    for crb in &state.cluster_role_bindings {
        let Some(subject) = applies_to(user, crb, "") else {
            continue;
        };
        let (kind, name) = role_ref(crb);
        // A ClusterRoleBinding can only name a ClusterRole.
        let rules = if kind == "ClusterRole" {
            role_rules(state.cluster_role(name), "clusterrole", name)
        } else {
            Err(format!(
                "clusterrolebinding {} references kind {kind}",
                meta_str(crb, "name")
            ))
        };
        let describe = format!(
            "ClusterRoleBinding {} of {kind} {} to {}",
            go_quote(meta_str(crb, "name")),
            go_quote(name),
            describe_subject(subject, "")
        );
        if !visit(Grant { describe, rules }) {
            return;
        }
    }
    if namespace.is_empty() {
        return;
    }
    for rb in &state.role_bindings {
        if meta_str(rb, "namespace") != namespace {
            continue;
        }
        let Some(subject) = applies_to(user, rb, namespace) else {
            continue;
        };
        let (kind, name) = role_ref(rb);
        // A RoleBinding may name a Role of its own namespace, or a ClusterRole whose rules
        // then apply only inside this namespace.
        let rules = match kind {
            "ClusterRole" => role_rules(state.cluster_role(name), "clusterrole", name),
            "Role" => role_rules(state.role(namespace, name), "role", name),
            other => Err(format!("rolebinding references unknown kind {other}")),
        };
        let describe = format!(
            "RoleBinding {} of {kind} {} to {}",
            go_quote(&format!("{}/{}", meta_str(rb, "name"), namespace)),
            go_quote(name),
            describe_subject(subject, namespace)
        );
        if !visit(Grant { describe, rules }) {
            return;
        }
    }
}

fn role_ref(binding: &Value) -> (&str, &str) {
    let r = binding.get("roleRef");
    let f = |k: &str| {
        r.and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    (f("kind"), f("name"))
}

fn role_rules<'a>(role: Option<&'a Value>, what: &str, name: &str) -> Result<&'a [Value], String> {
    match role {
        Some(r) => Ok(r
            .get("rules")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])),
        None => Err(format!("{what}.{RBAC_GROUP} {} not found", go_quote(name))),
    }
}

/// The first subject of `binding` that names `user` (Kubernetes' `appliesTo`).
fn applies_to<'a>(user: &UserInfo, binding: &'a Value, namespace: &str) -> Option<&'a Value> {
    binding
        .get("subjects")
        .and_then(Value::as_array)?
        .iter()
        .find(|s| subject_matches(user, s, namespace))
}

fn subject_matches(user: &UserInfo, subject: &Value, binding_namespace: &str) -> bool {
    let f = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("");
    match f("kind") {
        "User" => user.name == f("name"),
        "Group" => user.is_in_group(f("name")),
        "ServiceAccount" => {
            // A ServiceAccount subject without a namespace means "in the binding's namespace".
            let ns = if f("namespace").is_empty() {
                binding_namespace
            } else {
                f("namespace")
            };
            !ns.is_empty() && user.name == format!("{SERVICE_ACCOUNT_PREFIX}{ns}:{}", f("name"))
        }
        _ => false,
    }
}

fn describe_subject(subject: &Value, binding_namespace: &str) -> String {
    let f = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("");
    match f("kind") {
        "ServiceAccount" => {
            let ns = if f("namespace").is_empty() {
                binding_namespace
            } else {
                f("namespace")
            };
            format!(
                "ServiceAccount {}",
                go_quote(&format!("{}/{ns}", f("name")))
            )
        }
        kind => format!("{kind} {}", go_quote(f("name"))),
    }
}

/// Whether one PolicyRule allows the request (Kubernetes' `RuleAllows`).
pub fn rule_allows(attrs: &Attributes, rule: &Value) -> bool {
    let verbs = str_list(rule, "verbs");
    if !verbs.iter().any(|v| v == "*" || *v == attrs.verb) {
        return false;
    }
    if attrs.resource_request {
        let groups = str_list(rule, "apiGroups");
        let group_ok = groups.iter().any(|g| g == "*" || *g == attrs.api_group);
        let combined = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        let resources = str_list(rule, "resources");
        let resource_ok = resources.iter().any(|r| {
            r == "*"
                || *r == combined
                // `*/status` grants the status subresource of every resource.
                || (!attrs.subresource.is_empty()
                    && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
        });
        let names = str_list(rule, "resourceNames");
        // resourceNames restricts a rule to named objects; a list or create has no name and
        // therefore never matches a rule that lists names.
        let name_ok = names.is_empty() || names.contains(&attrs.name);
        group_ok && resource_ok && name_ok
    } else {
        let urls = str_list(rule, "nonResourceURLs");
        urls.iter().any(|u| {
            u == "*"
                || *u == attrs.path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| attrs.path.starts_with(prefix))
        })
    }
}

/// RBAC's decision: Allow with `RBAC: allowed by <binding>` when some bound rule matches,
/// otherwise NoOpinion (with `RBAC: <errors>` if roles named by bindings were missing).
pub fn authorize(state: &RbacState, attrs: &Attributes) -> Decision {
    let mut allowed: Option<String> = None;
    let mut errors: Vec<String> = Vec::new();
    visit_grants(state, &attrs.user, &attrs.namespace, |grant| {
        match grant.rules {
            Ok(rules) => {
                if rules.iter().any(|r| rule_allows(attrs, r)) {
                    allowed = Some(format!("RBAC: allowed by {}", grant.describe));
                    false
                } else {
                    true
                }
            }
            Err(e) => {
                errors.push(e);
                true
            }
        }
    });
    match allowed {
        Some(reason) => Decision::Allow(reason),
        None if errors.is_empty() => Decision::NoOpinion(String::new()),
        None => Decision::NoOpinion(format!("RBAC: {}", aggregate(&errors))),
    }
}

/// The rules that apply to `user` in `namespace`, split as a SelfSubjectRulesReview reports
/// them: `(resourceRules, nonResourceRules)`, each in the review's JSON shape.
pub fn rules_for(state: &RbacState, user: &UserInfo, namespace: &str) -> (Vec<Value>, Vec<Value>) {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    visit_grants(state, user, namespace, |grant| {
        for rule in grant.rules.unwrap_or(&[]) {
            let verbs = str_list(rule, "verbs");
            let resources = str_list(rule, "resources");
            if !resources.is_empty() {
                let mut r = serde_json::Map::new();
                r.insert("verbs".into(), json!(verbs));
                let groups = str_list(rule, "apiGroups");
                if !groups.is_empty() {
                    r.insert("apiGroups".into(), json!(groups));
                }
                r.insert("resources".into(), json!(resources));
                let names = str_list(rule, "resourceNames");
                if !names.is_empty() {
                    r.insert("resourceNames".into(), json!(names));
                }
                resource_rules.push(Value::Object(r));
            }
            let urls = str_list(rule, "nonResourceURLs");
            if !urls.is_empty() {
                non_resource_rules.push(json!({"verbs": verbs, "nonResourceURLs": urls}));
            }
        }
        true
    });
    (resource_rules, non_resource_rules)
}

// ---------------------------------------------------------------------------------------------
// The default rulebook (kube-apiserver bootstrap policy + what `kubeadm init` adds)
// ---------------------------------------------------------------------------------------------

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const READ_UPDATE: &[&str] = &["get", "list", "watch", "update", "patch"];

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn named_rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources, "resourceNames": names})
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

fn events_rule() -> Value {
    rule(
        &["create", "update", "patch"],
        &["", "events.k8s.io"],
        &["events"],
    )
}

/// Objects the apiserver itself creates carry these marks; kubeadm's own objects do not.
fn bootstrap_meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    })
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole",
           "metadata": bootstrap_meta(name), "rules": rules})
}

fn kubeadm_cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole",
           "metadata": {"name": name}, "rules": rules})
}

/// A subject: `("User"|"Group", name)` or `("ServiceAccount", "ns/name")`.
fn subject(kind: &str, name: &str) -> Value {
    match (kind, name.split_once('/')) {
        ("ServiceAccount", Some((ns, sa))) => {
            json!({"kind": "ServiceAccount", "name": sa, "namespace": ns})
        }
        _ => json!({"apiGroup": RBAC_GROUP, "kind": kind, "name": name}),
    }
}

fn binding_json(metadata: Value, role: &str, subjects: Vec<Value>) -> Value {
    let mut b = json!({
        "apiVersion": RBAC_API_VERSION, "kind": "ClusterRoleBinding", "metadata": metadata,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
    });
    // Go omits an empty subjects list (the system:node binding has none).
    if !subjects.is_empty() {
        b["subjects"] = Value::Array(subjects);
    }
    b
}

fn cluster_role_binding(name: &str, role: &str, subjects: Vec<Value>) -> Value {
    binding_json(bootstrap_meta(name), role, subjects)
}

fn kubeadm_binding(name: &str, role: &str, subjects: Vec<Value>) -> Value {
    binding_json(json!({"name": name}), role, subjects)
}

/// The core-group objects a namespace user works with.
const CORE_WORKLOAD: &[&str] = &[
    "pods",
    "pods/status",
    "pods/log",
    "services",
    "services/status",
    "endpoints",
    "configmaps",
    "persistentvolumeclaims",
    "persistentvolumeclaims/status",
    "replicationcontrollers",
    "replicationcontrollers/scale",
    "serviceaccounts",
];

fn view_rules() -> Vec<Value> {
    vec![
        rule(READ, &[""], CORE_WORKLOAD),
        rule(
            READ,
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
        ),
        rule(READ, &[""], &["namespaces"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
        ),
        rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
        ),
        rule(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
        ),
    ]
}

fn edit_rules() -> Vec<Value> {
    let mut rules = vec![
        rule(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
        ),
        rule(
            &["create"],
            &[""],
            &["pods/eviction", "serviceaccounts/token"],
        ),
        rule(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(
            WRITE,
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(
            WRITE,
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
        ),
        rule(WRITE, &["discovery.k8s.io"], &["endpointslices"]),
    ];
    rules.extend(view_rules());
    rules
}

fn admin_rules() -> Vec<Value> {
    let mut rules = vec![
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
        ),
        rule(READ_WRITE, &[RBAC_GROUP], &["rolebindings", "roles"]),
    ];
    rules.extend(edit_rules());
    rules
}

/// The rules of the (unbound) `system:node` ClusterRole; the Node authorizer applies the same
/// static rules to kubelets (`bootstrappolicy.NodeRules`).
pub fn node_rules() -> Vec<Value> {
    vec![
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews", "subjectaccessreviews"],
        ),
        rule(READ, &[""], &["services"]),
        rule(&["create", "get", "list", "watch"], &[""], &["nodes"]),
        rule(&["patch", "update"], &[""], &["nodes/status"]),
        rule(&["patch", "update"], &[""], &["nodes"]),
        rule(&["create", "patch", "update"], &[""], &["events"]),
        rule(READ, &[""], &["pods"]),
        rule(&["create", "delete"], &[""], &["pods"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(READ, &[""], &["configmaps", "secrets"]),
        rule(
            &["get"],
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(&["get"], &[""], &["endpoints"]),
        rule(
            &["create", "get", "list", "watch"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests"],
        ),
        rule(
            &["create", "delete", "get", "patch", "update"],
            &["coordination.k8s.io"],
            &["leases"],
        ),
        rule(&["get"], &["storage.k8s.io"], &["volumeattachments"]),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(
            &["get", "patch", "update"],
            &[""],
            &["persistentvolumeclaims/status"],
        ),
        rule(
            &["create", "delete", "get", "patch", "update"],
            &["storage.k8s.io"],
            &["csinodes"],
        ),
        rule(READ, &["storage.k8s.io"], &["csidrivers"]),
        rule(READ, &["node.k8s.io"], &["runtimeclasses"]),
    ]
}

/// The ClusterRoles and ClusterRoleBindings a kubeadm 1.32 cluster has right after
/// `kubeadm init` (a realistic subset: every object the lab's identities touch).
pub fn bootstrap_policy() -> Vec<Value> {
    let certs = "certificates.k8s.io";
    let auth_n = "authentication.k8s.io";
    let auth_z = "authorization.k8s.io";
    let coord = "coordination.k8s.io";
    let storage = "storage.k8s.io";
    let csr_creator = &["create", "get", "list", "watch"];
    let mut policy = vec![
        // ---- ClusterRoles of the apiserver's bootstrap policy ----
        cluster_role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        cluster_role("admin", admin_rules()),
        cluster_role("edit", edit_rules()),
        cluster_role("view", view_rules()),
        cluster_role(
            "system:basic-user",
            vec![
                rule(&["create"], &[auth_n], &["selfsubjectreviews"]),
                rule(
                    &["create"],
                    &[auth_z],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
            ],
        ),
        cluster_role(
            "system:discovery",
            vec![url_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        cluster_role(
            "system:public-info-viewer",
            vec![url_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        // Who may read the token issuer's discovery document and keys
        // (`bootstrappolicy/policy.go`): every service account, through the binding below.
        cluster_role(
            "system:service-account-issuer-discovery",
            vec![url_rule(
                &["get"],
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )],
        ),
        cluster_role(
            "system:kube-scheduler",
            vec![
                events_rule(),
                rule(&["create"], &[coord], &["leases"]),
                named_rule(
                    &["get", "update"],
                    &[coord],
                    &["leases"],
                    &["kube-scheduler"],
                ),
                rule(&["create"], &[""], &["endpoints"]),
                named_rule(
                    &["get", "update"],
                    &[""],
                    &["endpoints"],
                    &["kube-scheduler"],
                ),
                rule(READ, &[""], &["nodes"]),
                rule(&["delete", "get", "list", "watch"], &[""], &["pods"]),
                rule(&["create"], &[""], &["bindings", "pods/binding"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(READ, &[""], &["replicationcontrollers", "services"]),
                rule(READ, &["apps", "extensions"], &["replicasets"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(
                    READ,
                    &[""],
                    &["persistentvolumeclaims", "persistentvolumes"],
                ),
                rule(&["create"], &[auth_n], &["tokenreviews"]),
                rule(&["create"], &[auth_z], &["subjectaccessreviews"]),
                rule(READ, &[storage], &["csinodes"]),
                rule(READ, &[""], &["namespaces"]),
                rule(READ, &[storage], &["csidrivers"]),
                rule(READ, &[storage], &["csistoragecapacities"]),
            ],
        ),
        cluster_role(
            "system:volume-scheduler",
            vec![
                rule(READ_UPDATE, &[""], &["persistentvolumes"]),
                rule(READ, &[storage], &["storageclasses"]),
                rule(READ_UPDATE, &[""], &["persistentvolumeclaims"]),
            ],
        ),
        cluster_role(
            "system:kube-controller-manager",
            vec![
                events_rule(),
                rule(&["create"], &[coord], &["leases"]),
                named_rule(
                    &["get", "update"],
                    &[coord],
                    &["leases"],
                    &["kube-controller-manager"],
                ),
                rule(&["create"], &[""], &["endpoints"]),
                named_rule(
                    &["get", "update"],
                    &[""],
                    &["endpoints"],
                    &["kube-controller-manager"],
                ),
                rule(&["create"], &[""], &["secrets", "serviceaccounts"]),
                rule(&["delete"], &[""], &["secrets"]),
                rule(
                    &["get"],
                    &[""],
                    &["configmaps", "namespaces", "secrets", "serviceaccounts"],
                ),
                rule(&["update"], &[""], &["secrets", "serviceaccounts"]),
                rule(&["create"], &[auth_n], &["tokenreviews"]),
                rule(&["create"], &[auth_z], &["subjectaccessreviews"]),
                rule(&["list", "watch"], &["*"], &["*"]),
                rule(&["create"], &[""], &["serviceaccounts/token"]),
            ],
        ),
        // kube-controller-manager runs each controller with its own service account
        // (`--use-service-account-credentials`, which kubeadm sets); the endpoints controller's
        // role (`bootstrappolicy/controller_policy.go`).
        cluster_role(
            "system:controller:endpoint-controller",
            vec![
                rule(READ, &[""], &["pods", "services"]),
                rule(
                    &["create", "delete", "get", "list", "update"],
                    &[""],
                    &["endpoints"],
                ),
                rule(&["create"], &[""], &["endpoints/restricted"]),
                events_rule(),
            ],
        ),
        // The node lifecycle controller's role (`bootstrappolicy/controller_policy.go`).
        cluster_role(
            "system:controller:node-controller",
            vec![
                rule(
                    &["delete", "get", "list", "patch", "update"],
                    &[""],
                    &["nodes"],
                ),
                rule(&["patch", "update"], &[""], &["nodes/status"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(&["delete", "list"], &[""], &["pods"]),
                events_rule(),
            ],
        ),
        // The EndpointSlice controller's role (`bootstrappolicy/controller_policy.go`).
        cluster_role(
            "system:controller:endpointslice-controller",
            vec![
                rule(READ, &[""], &["nodes", "pods", "services"]),
                rule(&["update"], &[""], &["services/finalizers"]),
                rule(
                    &["create", "delete", "get", "list", "update"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
                events_rule(),
            ],
        ),
        cluster_role(
            "system:node-proxier",
            vec![
                rule(&["list", "watch"], &[""], &["endpoints", "services"]),
                rule(READ, &[""], &["nodes"]),
                events_rule(),
                rule(
                    &["list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
        ),
        cluster_role("system:node", node_rules()),
        cluster_role(
            "system:node-bootstrapper",
            vec![rule(csr_creator, &[certs], &["certificatesigningrequests"])],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![rule(
                &["create"],
                &[certs],
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![rule(
                &["create"],
                &[certs],
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
        cluster_role(
            "system:kubelet-api-admin",
            vec![
                rule(READ, &[""], &["nodes"]),
                rule(&["proxy"], &[""], &["nodes"]),
                rule(
                    &["*"],
                    &[""],
                    &[
                        "nodes/log",
                        "nodes/metrics",
                        "nodes/proxy",
                        "nodes/spec",
                        "nodes/stats",
                    ],
                ),
            ],
        ),
        // The built-in signers, so approvers can be granted `approve` on `signers`.
        cluster_role(
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            vec![named_rule(
                &["approve"],
                &[certs],
                &["signers"],
                &["kubernetes.io/kube-apiserver-client"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            vec![named_rule(
                &["approve"],
                &[certs],
                &["signers"],
                &["kubernetes.io/kube-apiserver-client-kubelet"],
            )],
        ),
        cluster_role(
            "system:certificates.k8s.io:kubelet-serving-approver",
            vec![named_rule(
                &["approve"],
                &[certs],
                &["signers"],
                &["kubernetes.io/kubelet-serving"],
            )],
        ),
        // ---- ClusterRoleBindings of the apiserver's bootstrap policy ----
        cluster_role_binding(
            "cluster-admin",
            "cluster-admin",
            vec![subject("Group", MASTERS)],
        ),
        cluster_role_binding(
            "system:basic-user",
            "system:basic-user",
            vec![subject("Group", "system:authenticated")],
        ),
        cluster_role_binding(
            "system:discovery",
            "system:discovery",
            vec![subject("Group", "system:authenticated")],
        ),
        cluster_role_binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            vec![
                subject("Group", "system:authenticated"),
                subject("Group", "system:unauthenticated"),
            ],
        ),
        cluster_role_binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            vec![subject("Group", "system:serviceaccounts")],
        ),
        cluster_role_binding(
            "system:kube-scheduler",
            "system:kube-scheduler",
            vec![subject("User", "system:kube-scheduler")],
        ),
        cluster_role_binding(
            "system:volume-scheduler",
            "system:volume-scheduler",
            vec![subject("User", "system:kube-scheduler")],
        ),
        cluster_role_binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            vec![subject("User", "system:kube-controller-manager")],
        ),
        cluster_role_binding(
            "system:node-proxier",
            "system:node-proxier",
            vec![subject("User", "system:kube-proxy")],
        ),
        cluster_role_binding(
            "system:controller:endpoint-controller",
            "system:controller:endpoint-controller",
            vec![subject("ServiceAccount", "kube-system/endpoint-controller")],
        ),
        cluster_role_binding(
            "system:controller:endpointslice-controller",
            "system:controller:endpointslice-controller",
            vec![subject(
                "ServiceAccount",
                "kube-system/endpointslice-controller",
            )],
        ),
        cluster_role_binding(
            "system:controller:node-controller",
            "system:controller:node-controller",
            vec![subject("ServiceAccount", "kube-system/node-controller")],
        ),
        // Kept for compatibility; the Node authorizer does the real work.
        cluster_role_binding("system:node", "system:node", vec![]),
        // ---- What `kubeadm init` adds ----
        kubeadm_binding(
            "kubeadm:cluster-admins",
            "cluster-admin",
            vec![subject("Group", "kubeadm:cluster-admins")],
        ),
        kubeadm_binding(
            "kubeadm:node-proxier",
            "system:node-proxier",
            vec![subject("ServiceAccount", "kube-system/kube-proxy")],
        ),
        kubeadm_binding(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            vec![subject(
                "Group",
                "system:bootstrappers:kubeadm:default-node-token",
            )],
        ),
        kubeadm_binding(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![subject(
                "Group",
                "system:bootstrappers:kubeadm:default-node-token",
            )],
        ),
        kubeadm_binding(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![subject("Group", "system:nodes")],
        ),
        kubeadm_cluster_role("kubeadm:get-nodes", vec![rule(&["get"], &[""], &["nodes"])]),
        kubeadm_binding(
            "kubeadm:get-nodes",
            "kubeadm:get-nodes",
            vec![subject(
                "Group",
                "system:bootstrappers:kubeadm:default-node-token",
            )],
        ),
        // ---- What the lab adds (not in a kubeadm cluster) ----
        // The lab's controller manager runs without --use-service-account-credentials, so the
        // endpoints controller presents no `endpoint-controller` token; it dials with
        // controller-manager.conf (CN=system:kube-controller-manager), whose own role may
        // create endpoints but update only the one named kube-controller-manager. This is what
        // the RBAC docs ask of a controller manager started without
        // --use-service-account-credentials: grant its user the controller roles.
        binding_json(
            json!({"name": "kubecorp:endpoint-controller", "annotations": {
                "kubecorp/why": "the lab's controller manager runs the endpoints controller with its own certificate (CN=system:kube-controller-manager) instead of the endpoint-controller service-account token, as --use-service-account-credentials=false would"
            }}),
            "system:controller:endpoint-controller",
            vec![subject("User", "system:kube-controller-manager")],
        ),
        // Likewise for the EndpointSlice controller, which the lab runs in the same loop.
        binding_json(
            json!({"name": "kubecorp:endpointslice-controller", "annotations": {
                "kubecorp/why": "the lab's controller manager runs the EndpointSlice controller with its own certificate (CN=system:kube-controller-manager) instead of the endpointslice-controller service-account token, as --use-service-account-credentials=false would"
            }}),
            "system:controller:endpointslice-controller",
            vec![subject("User", "system:kube-controller-manager")],
        ),
        // Likewise for the node lifecycle controller.
        binding_json(
            json!({"name": "kubecorp:node-controller", "annotations": {
                "kubecorp/why": "the lab's controller manager runs the node lifecycle controller with its own certificate (CN=system:kube-controller-manager) instead of the node-controller service-account token, as --use-service-account-credentials=false would"
            }}),
            "system:controller:node-controller",
            vec![subject("User", "system:kube-controller-manager")],
        ),
    ];
    // The Roles and RoleBindings of kube-system and kube-public.
    policy.extend(crate::namespaced_policy::objects());
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo::from_cert(name, groups.iter().copied()).unwrap()
    }

    #[test]
    fn cluster_admin_allows_everything_through_the_kubeadm_group_with_the_kubernetes_reason() {
        let admin = user("kubernetes-admin", &["kubeadm:cluster-admins"]);
        let d = authorize(
            &RbacState::bootstrap(),
            &Attributes::resource(&admin, "delete", "kube-system", "", "secrets"),
        );
        assert_eq!(d, Decision::Allow("RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"".into()));
    }

    #[test]
    fn every_authenticated_user_may_read_version_and_create_self_reviews() {
        let state = RbacState::bootstrap();
        let nobody = user("nobody", &[]);
        assert!(authorize(
            &state,
            &Attributes::non_resource(&nobody, "get", "/version")
        )
        .is_allowed());
        assert!(authorize(
            &state,
            &Attributes::non_resource(&nobody, "get", "/apis/apps/v1")
        )
        .is_allowed());
        assert!(!authorize(
            &state,
            &Attributes::non_resource(&nobody, "post", "/version")
        )
        .is_allowed());
        assert!(!authorize(
            &state,
            &Attributes::non_resource(&nobody, "get", "/metrics")
        )
        .is_allowed());
        assert!(authorize(
            &state,
            &Attributes::resource(
                &nobody,
                "create",
                "",
                "authorization.k8s.io",
                "selfsubjectaccessreviews"
            )
        )
        .is_allowed());
        assert!(!authorize(
            &state,
            &Attributes::resource(&nobody, "list", "default", "", "pods")
        )
        .is_allowed());
    }

    #[test]
    fn resource_names_and_subresource_wildcards_match_as_in_kubernetes() {
        let u = user("u", &[]);
        let r = named_rule(&["get"], &[""], &["endpoints"], &["kube-scheduler"]);
        let a = Attributes::resource(&u, "get", "kube-system", "", "endpoints");
        assert!(!rule_allows(&a, &r), "no name never matches a named rule");
        assert!(rule_allows(&a.clone().with_name("kube-scheduler"), &r));
        let status = rule(&["update"], &[""], &["*/status"]);
        let s = Attributes::resource(&u, "update", "d", "", "pods").with_subresource("status");
        assert!(rule_allows(&s, &status));
        assert!(!rule_allows(
            &Attributes::resource(&u, "update", "d", "", "pods"),
            &status
        ));
    }

    #[test]
    fn a_rolebinding_to_a_missing_role_reports_it_in_the_reason() {
        let mut state = RbacState::default();
        state.role_bindings.push(json!({
            "kind": "RoleBinding", "metadata": {"name": "x", "namespace": "default"},
            "roleRef": {"kind": "Role", "name": "ghost"},
            "subjects": [{"kind": "User", "name": "u"}]
        }));
        let d = authorize(
            &state,
            &Attributes::resource(&user("u", &[]), "get", "default", "", "pods"),
        );
        assert_eq!(
            d,
            Decision::NoOpinion("RBAC: role.rbac.authorization.k8s.io \"ghost\" not found".into())
        );
    }

    #[test]
    fn a_service_account_subject_without_namespace_uses_the_binding_namespace() {
        let mut state = RbacState::bootstrap();
        state.role_bindings.push(json!({
            "kind": "RoleBinding", "metadata": {"name": "sa-view", "namespace": "team"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot"}]
        }));
        let robot = UserInfo::service_account("team", "robot");
        let d = authorize(
            &state,
            &Attributes::resource(&robot, "list", "team", "", "pods"),
        );
        assert_eq!(d, Decision::Allow("RBAC: allowed by RoleBinding \"sa-view/team\" of ClusterRole \"view\" to ServiceAccount \"robot/team\"".into()));
        // A RoleBinding grants nothing outside its namespace.
        assert!(!authorize(
            &state,
            &Attributes::resource(&robot, "list", "other", "", "pods")
        )
        .is_allowed());
    }

    #[test]
    fn system_masters_is_allowed_before_rbac_even_with_an_empty_rulebook() {
        let root = user("kubernetes-super-admin", &["system:masters"]);
        let a = Attributes::resource(&root, "delete", "", "", "nodes");
        assert_eq!(privileged_group(&a), Some(Decision::Allow(String::new())));
        assert!(authorize_request(&RbacState::default(), &[], &a).is_allowed());
        assert_eq!(
            privileged_group(&Attributes::resource(
                &user("j", &[]),
                "get",
                "",
                "",
                "nodes"
            )),
            None
        );
    }

    #[test]
    fn union_joins_no_opinion_reasons_and_stops_at_the_first_verdict() {
        assert_eq!(
            union([
                Decision::NoOpinion("a".into()),
                Decision::NoOpinion(String::new()),
                Decision::NoOpinion("b".into())
            ]),
            Decision::NoOpinion("a\nb".into())
        );
        assert_eq!(
            union([
                Decision::NoOpinion("a".into()),
                Decision::Deny("no".into()),
                Decision::Allow(String::new())
            ]),
            Decision::Deny("no".into())
        );
    }

    #[test]
    fn rules_for_a_basic_user_lists_discovery_urls_and_self_reviews() {
        let (res, nonres) = rules_for(&RbacState::bootstrap(), &user("john", &[]), "default");
        assert!(res
            .iter()
            .any(|r| r["resources"]
                == json!(["selfsubjectaccessreviews", "selfsubjectrulesreviews"])));
        assert!(nonres.iter().any(|r| r["nonResourceURLs"]
            .as_array()
            .unwrap()
            .contains(&json!("/version"))));
        assert!(res.iter().all(|r| r.get("resourceNames").is_none()));
    }

    #[test]
    fn the_endpoints_controller_may_write_endpoints_as_its_service_account_and_in_the_lab_as_the_controller_manager(
    ) {
        let state = RbacState::bootstrap();
        let update = |u: &UserInfo| {
            authorize(
                &state,
                &Attributes::resource(u, "update", "default", "", "endpoints").with_name("web"),
            )
        };
        assert_eq!(
            update(&UserInfo::service_account("kube-system", "endpoint-controller")),
            Decision::Allow("RBAC: allowed by ClusterRoleBinding \"system:controller:endpoint-controller\" of ClusterRole \"system:controller:endpoint-controller\" to ServiceAccount \"endpoint-controller/kube-system\"".into())
        );
        assert_eq!(
            update(&user("system:kube-controller-manager", &[])),
            Decision::Allow("RBAC: allowed by ClusterRoleBinding \"kubecorp:endpoint-controller\" of ClusterRole \"system:controller:endpoint-controller\" to User \"system:kube-controller-manager\"".into())
        );
        assert!(!update(&user("system:kube-scheduler", &[])).is_allowed());
    }

    #[test]
    fn endpointslices_are_written_by_their_controller_and_read_by_kube_proxy() {
        let state = RbacState::bootstrap();
        let can = |u: &UserInfo, verb: &str| {
            authorize(
                &state,
                &Attributes::resource(u, verb, "default", "discovery.k8s.io", "endpointslices"),
            )
            .is_allowed()
        };
        let lab_controller = user("system:kube-controller-manager", &[]);
        assert!(can(&lab_controller, "create") && can(&lab_controller, "update"));
        assert!(can(
            &UserInfo::service_account("kube-system", "endpointslice-controller"),
            "delete"
        ));
        let proxy = user("system:kube-proxy", &[]);
        assert!(can(&proxy, "list") && can(&proxy, "watch"));
        assert!(!can(&proxy, "create"));
    }

    #[test]
    fn bootstrap_objects_carry_the_rbac_defaults_marks_and_kubeadm_objects_do_not() {
        let policy = bootstrap_policy();
        let find = |name: &str| {
            policy
                .iter()
                .find(|o| meta_str(o, "name") == name && o["kind"] == "ClusterRoleBinding")
                .unwrap()
        };
        assert_eq!(
            find("cluster-admin")["metadata"]["labels"]["kubernetes.io/bootstrapping"],
            "rbac-defaults"
        );
        assert_eq!(
            find("cluster-admin")["metadata"]["annotations"]
                ["rbac.authorization.kubernetes.io/autoupdate"],
            "true"
        );
        assert!(find("kubeadm:cluster-admins")["metadata"]
            .get("labels")
            .is_none());
        assert!(find("system:node").get("subjects").is_none());
        assert_eq!(
            find("kubeadm:node-proxier")["subjects"][0],
            json!({"kind": "ServiceAccount", "name": "kube-proxy", "namespace": "kube-system"})
        );
    }
}
