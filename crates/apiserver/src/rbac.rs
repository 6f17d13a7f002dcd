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

use crate::meta::{meta_str, str_list};
use crate::node_authz;
use crate::status::{aggregate, go_quote};
use crate::user::{UserInfo, MASTERS, SERVICE_ACCOUNT_PREFIX};

mod state;
pub use state::RbacState;

/// The API group of RBAC objects.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

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
// The default rulebook (kube-apiserver's bootstrap policy + what `kubeadm init` adds), kept as
// data: see [`crate::cluster_policy`] and [`crate::namespaced_policy`].
// ---------------------------------------------------------------------------------------------

/// The rules of the (unbound) `system:node` ClusterRole; the Node authorizer applies the same
/// static rules to kubelets (`bootstrappolicy.NodeRules`).
pub fn node_rules() -> &'static [Value] {
    crate::cluster_policy::rules_of("system:node")
}

/// Reads the bootstrap policy's data files (some 4,000 lines of YAML, read once per process)
/// now rather than at Alice's first start: a caller with other work to do first, such as a
/// scenario making its PKI, has them read on another core meanwhile.
pub fn read_ahead() {
    std::sync::LazyLock::force(&crate::cluster_policy::OBJECTS);
    std::sync::LazyLock::force(&crate::namespaced_policy::OBJECTS);
}

/// Every RBAC object a kubeadm 1.32 cluster has right after `kubeadm init`: the cluster-wide
/// pages, then the Roles and RoleBindings of kube-system and kube-public.
pub fn bootstrap_policy() -> Vec<Value> {
    let mut policy = crate::cluster_policy::objects();
    policy.extend(crate::namespaced_policy::objects());
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
        json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
    }

    fn named_rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Value {
        json!({"verbs": verbs, "apiGroups": groups, "resources": resources, "resourceNames": names})
    }

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
        // view as the clusterrole-aggregation controller fills it: system:aggregate-to-view's rules.
        let view_rules = json!(crate::cluster_policy::rules_of("system:aggregate-to-view"));
        if let Some(view) = state
            .cluster_roles
            .iter_mut()
            .find(|r| meta_str(r, "name") == "view")
        {
            view["rules"] = view_rules;
        }
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
