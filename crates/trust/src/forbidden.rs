//! A 403 read back: who was refused what, which guard refused it, and the fix that fits.
//!
//! kube-apiserver words every authorization refusal the same way
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go`,
//! `forbiddenMessage`, v1.32):
//!
//! ```text
//! pods is forbidden: User "john" cannot list resource "pods" in API group "" in the namespace "default"
//! nodes "n1" is forbidden: User "system:node:n2" cannot get resource "nodes" in API group "" at the cluster scope: <authorizer's reason>
//! forbidden: User "system:anonymous" cannot get path "/"
//! ```
//!
//! and NodeRestriction, an admission plugin, answers after authorization with its own words
//! (`plugin/pkg/admission/noderestriction/admission.go`: `node %q is not allowed to modify node
//! %q`). Three guards, three fixes, and they must not be confused:
//!
//! - **RBAC** refuses a person or a service account: grant exactly the verb and resource, in
//!   the namespace (a Role) or cluster-wide (a ClusterRole). The aggregated `view` role does
//!   *not* cover secrets, so a hint must never offer `view` for them.
//! - the **Node authorizer** refuses a kubelet (`system:node:NAME` in `system:nodes`): it only
//!   lets a node touch its own Node and what its own pods use. No RoleBinding changes that; the
//!   fix is the node's identity (or scheduling the pod there).
//! - **anonymous** (`system:anonymous`): no badge or token was shown at all. Binding a role to
//!   `system:anonymous` opens the cluster to everyone; authenticate instead.

/// The facts of one refusal, as read from the 403 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    /// The user name in `User "…"`.
    pub user: String,
    /// The verb (`get`, `list`, `create`, …).
    pub verb: String,
    /// What was asked for.
    pub target: Target,
    /// What the authorizer added after `: ` (the Node authorizer's `no relationship found …`).
    pub reason: String,
}

/// What a refused request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A resource, with its subresource after `/` (`pods/log`), its API group (empty for the
    /// core group) and its namespace (`None` at the cluster scope).
    Resource {
        resource: String,
        api_group: String,
        namespace: Option<String>,
    },
    /// A URL outside the resource tree (`/healthz`).
    Path(String),
}

/// Who said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refuser {
    /// RBAC found no rule for this person or service account.
    Rbac(Forbidden),
    /// The Node authorizer refused a kubelet (`system:node:NODE`).
    NodeAuthorizer { node: String, facts: Forbidden },
    /// The NodeRestriction admission plugin refused a kubelet acting on another node's object.
    NodeRestriction { node: String, other: String },
    /// Nobody was identified: `system:anonymous`.
    Anonymous(Forbidden),
}

/// A plain explanation and a hint, naming real commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub explanation: String,
    pub hint: String,
}

const NODE_PREFIX: &str = "system:node:";

/// Reads a 403 message (or a line that contains one, with `\"` escapes as logs print them).
pub fn parse(text: &str) -> Option<Refuser> {
    let text = text.replace("\\\"", "\"");
    if let Some(r) = node_restriction(&text) {
        return Some(r);
    }
    let at = text.find("User \"")?;
    let rest = &text[at + "User \"".len()..];
    let (user, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(" cannot ")?;
    let (verb, rest) = rest.split_once(' ')?;
    let (target, rest) = if let Some(rest) = rest.strip_prefix("path \"") {
        let (path, rest) = rest.split_once('"')?;
        (Target::Path(path.to_string()), rest)
    } else {
        let rest = rest.strip_prefix("resource \"")?;
        let (resource, rest) = rest.split_once('"')?;
        // A paste may stop early; what is missing becomes a placeholder, read as namespaced.
        let (api_group, rest) = match rest.strip_prefix(" in API group \"") {
            Some(rest) => rest.split_once('"')?,
            None => ("", rest),
        };
        let (namespace, rest) = if let Some(rest) = rest.strip_prefix(" in the namespace \"") {
            let (ns, rest) = rest.split_once('"')?;
            (Some(ns.to_string()), rest)
        } else if let Some(rest) = rest.strip_prefix(" at the cluster scope") {
            (None, rest)
        } else {
            (Some("NAMESPACE".to_string()), rest)
        };
        let target = Target::Resource {
            resource: resource.to_string(),
            api_group: api_group.to_string(),
            namespace,
        };
        (target, rest)
    };
    let reason = rest
        .strip_prefix(": ")
        .map(|r| {
            r.lines()
                .next()
                .unwrap_or("")
                .trim_end_matches(['"', '\''])
                .to_string()
        })
        .unwrap_or_default();
    let facts = Forbidden {
        user: user.to_string(),
        verb: verb.to_string(),
        target,
        reason,
    };
    Some(if facts.user == "system:anonymous" {
        Refuser::Anonymous(facts)
    } else if let Some(node) = facts.user.strip_prefix(NODE_PREFIX) {
        Refuser::NodeAuthorizer {
            node: node.to_string(),
            facts,
        }
    } else {
        Refuser::Rbac(facts)
    })
}

/// NodeRestriction's `node "A" is not allowed to modify node "B"`.
fn node_restriction(text: &str) -> Option<Refuser> {
    text.match_indices("node \"").find_map(|(at, _)| {
        let rest = &text[at + "node \"".len()..];
        let (node, rest) = rest.split_once('"')?;
        let rest = rest.strip_prefix(" is not allowed to modify node \"")?;
        let (other, _) = rest.split_once('"')?;
        Some(Refuser::NodeRestriction {
            node: node.to_string(),
            other: other.to_string(),
        })
    })
}

/// The explanation and the hint for a 403 message; `None` when it is not one.
pub fn advise(text: &str) -> Option<Advice> {
    parse(text).map(|r| r.advice())
}

impl Refuser {
    /// What happened and how to fix it, in the words of this refusal.
    pub fn advice(&self) -> Advice {
        match self {
            Refuser::NodeRestriction { node, other } => Advice {
                explanation: format!(
                    "NodeRestriction (an admission plugin, after RBAC and the Node authorizer) lets a kubelet change only its own Node and the pods bound to it. The badge says it is node {node:?}, and it tried to change node {other:?}. RBAC plays no part, so no RoleBinding changes this."
                ),
                hint: format!(
                    "The fix is the node's identity, not a binding: either the kubelet's badge names the wrong node (a copied kubelet.conf, a renamed host) or the kubelet runs under the wrong name. Compare `openssl x509 -noout -subject` of its client certificate (CN = system:node:{other} expected) with the node name it registers (`--hostname-override`, kubeadm's nodeRegistration.name); re-issue the badge for the right node (kubeadm: `kubeadm kubeconfig user --org system:nodes --client-name system:node:{other}`; lab: `kubecorp break --undo kubelet.conf`, or delete kubelet.conf and run `kubecorp pki init`, which writes only what is missing)."
                ),
            },
            Refuser::NodeAuthorizer { node, facts } => Advice {
                explanation: format!(
                    "The Node authorizer refused a kubelet (badge system:node:{node}, group system:nodes): it lets a node read only its own Node object and the secrets, configmaps and volumes of pods scheduled on it{}. RBAC plays no part, so no RoleBinding or `view` role changes this.",
                    match facts.reason.as_str() {
                        "" => String::new(),
                        r => format!(" (it said: {r})"),
                    }
                ),
                hint: format!(
                    "Two causes give this text: either the kubelet's badge names another node than the one it runs as (a copied kubelet.conf, a renamed host: compare `openssl x509 -noout -subject` of its client certificate with `kubectl get nodes`, and re-issue it for its own name — kubeadm: `kubeadm kubeconfig user --org system:nodes --client-name system:node:NODE`; lab: `kubecorp break --undo kubelet.conf`), or the badge is right and no pod on {node} uses this object, which is the Node authorizer working as designed: schedule the pod on that node."
                ),
            },
            Refuser::Anonymous(facts) => Advice {
                explanation: format!(
                    "The request carried no badge and no token, so the apiserver treated it as system:anonymous, which may {} only a few public paths. This is an authentication problem, not a missing role.",
                    facts.verb
                ),
                hint: "Authenticate: give kubectl a kubeconfig with a client certificate (`kubectl config view --minify`), or curl `--cert`, `--key` and `--cacert`. Do not bind system:anonymous to a role: that opens the cluster to everyone.".into(),
            },
            Refuser::Rbac(facts) => Advice {
                explanation: format!(
                    "The badge is genuine and the apiserver knows who this is ({}), but no RBAC rule lets them {} {}. RBAC only adds permissions; a refusal means no Role or ClusterRole bound to this user or their groups has the rule.",
                    facts.user,
                    facts.verb,
                    facts.what()
                ),
                hint: facts.grant(),
            },
        }
    }
}

impl Forbidden {
    fn what(&self) -> String {
        match &self.target {
            Target::Path(p) => format!("the path {p}"),
            Target::Resource {
                resource,
                namespace: Some(ns),
                ..
            } => format!("{resource} in the namespace {ns}"),
            Target::Resource { resource, .. } => format!("{resource} across the cluster"),
        }
    }

    /// `--user=NAME`, or `--serviceaccount=NS:NAME` for a service account.
    fn subject(&self) -> String {
        match self
            .user
            .strip_prefix("system:serviceaccount:")
            .and_then(|r| r.split_once(':'))
        {
            Some((ns, name)) => format!("--serviceaccount={ns}:{name}"),
            None => format!("--user={}", self.user),
        }
    }

    /// The exact grant: a Role in the namespace, or a ClusterRole for the cluster scope and
    /// for paths, with a `kubectl auth can-i` to check it.
    fn grant(&self) -> String {
        let subject = self.subject();
        let verb = &self.verb;
        let check = |what: &str, ns: &str| {
            format!(
                "check with `kubectl auth can-i {verb} {what}{ns} --as {}`",
                self.user
            )
        };
        let mut hint = match &self.target {
            Target::Path(path) => format!(
                "Grant exactly this: `kubectl create clusterrole NAME --verb={verb} --non-resource-url={path}` and `kubectl create clusterrolebinding NAME --clusterrole=NAME {subject}`; {}.",
                check(path, "")
            ),
            Target::Resource {
                resource,
                api_group,
                namespace,
            } => {
                // `kubectl create role --resource` spells a group as `resource.group` and a
                // subresource as `resource/sub` (pods/log).
                let spelled = match resource.split_once('/') {
                    _ if api_group.is_empty() => resource.clone(),
                    Some((r, sub)) => format!("{r}.{api_group}/{sub}"),
                    None => format!("{resource}.{api_group}"),
                };
                // `kubectl auth can-i` reads `resource/x` as a name: it takes --subresource.
                let asked = match spelled.split_once('/') {
                    Some((r, sub)) => format!("{r} --subresource={sub}"),
                    None => spelled.clone(),
                };
                match namespace {
                    Some(ns) => format!(
                        "Grant exactly this in the namespace: `kubectl create role NAME --verb={verb} --resource={spelled} -n {ns}` and `kubectl create rolebinding NAME --role=NAME {subject} -n {ns}`; {}.",
                        check(&asked, &format!(" -n {ns}"))
                    ),
                    None => format!(
                        "Grant exactly this cluster-wide: `kubectl create clusterrole NAME --verb={verb} --resource={spelled}` and `kubectl create clusterrolebinding NAME --clusterrole=NAME {subject}`; {}.",
                        check(&asked, "")
                    ),
                }
            }
        };
        if let Target::Resource { resource, .. } = &self.target {
            if resource == "secrets" || resource.starts_with("secrets/") {
                hint += " The built-in `view` role does not cover secrets (reading them would let a viewer act as any service account); `edit` and `admin` do.";
            }
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Texts as kube-apiserver v1.32 words them (responsewriters/errors.go `forbiddenMessage`,
    // node authorizer `plugin/pkg/auth/authorizer/node/node_authorizer.go`, NodeRestriction
    // `plugin/pkg/admission/noderestriction/admission.go`).

    #[test]
    fn a_403_on_secrets_grants_secrets_and_never_suggests_view() {
        let a = advise(r#"Error from server (Forbidden): secrets is forbidden: User "john" cannot list resource "secrets" in API group "" in the namespace "default""#).unwrap();
        assert_eq!(
            a.hint,
            "Grant exactly this in the namespace: `kubectl create role NAME --verb=list --resource=secrets -n default` and `kubectl create rolebinding NAME --role=NAME --user=john -n default`; check with `kubectl auth can-i list secrets -n default --as john`. The built-in `view` role does not cover secrets (reading them would let a viewer act as any service account); `edit` and `admin` do."
        );
        assert!(!a.hint.contains("--clusterrole=view"));
    }

    #[test]
    fn a_node_authorizer_refusal_points_at_the_nodes_identity_not_at_rbac() {
        let a = advise(r#"secrets "db" is forbidden: User "system:node:worker-2" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'worker-2' and this object"#).unwrap();
        assert!(
            a.explanation
                .starts_with("The Node authorizer refused a kubelet (badge system:node:worker-2"),
            "{}",
            a.explanation
        );
        assert!(a
            .explanation
            .contains("no relationship found between node 'worker-2' and this object"));
        assert!(a.hint.contains(
            "`kubeadm kubeconfig user --org system:nodes --client-name system:node:NODE`"
        ));
        assert!(!a.hint.contains("rolebinding"), "{}", a.hint);
    }

    #[test]
    fn node_restriction_names_both_nodes_and_the_identity_fix() {
        // The minikube report in real-errors.tsv (R072).
        let a = advise(r#"Unable to register node "vupgrade-1" with API server: nodes "vupgrade-1" is forbidden: node "m01" is not allowed to modify node "vupgrade-1""#).unwrap();
        assert!(a
            .explanation
            .contains("node \"m01\", and it tried to change node \"vupgrade-1\""));
        assert!(a.hint.contains("--client-name system:node:vupgrade-1"));
    }

    #[test]
    fn anonymous_is_told_to_authenticate_not_to_bind() {
        let a = advise(r#"forbidden: User \"system:anonymous\" cannot get path \"/\""#).unwrap();
        assert!(a.hint.starts_with("Authenticate:"));
        assert!(a.hint.contains("Do not bind system:anonymous"));
    }

    #[test]
    fn a_service_account_and_a_grouped_subresource_are_spelled_as_kubectl_create_role_takes_them() {
        let a = advise(r#"deployments.apps "web" is forbidden: User "system:serviceaccount:ci:deployer" cannot patch resource "deployments/scale" in API group "apps" in the namespace "prod""#).unwrap();
        assert!(
            a.hint.contains("--resource=deployments.apps/scale -n prod"),
            "{}",
            a.hint
        );
        assert!(a.hint.contains("`kubectl auth can-i patch deployments.apps --subresource=scale -n prod --as system:serviceaccount:ci:deployer`"), "{}", a.hint);
        assert!(a.hint.contains("--serviceaccount=ci:deployer"));
        let a = advise(r#"forbidden: User "john" cannot get path "/metrics""#).unwrap();
        assert!(a.hint.contains("--non-resource-url=/metrics"));
        let a = advise(r#"nodes is forbidden: User "john" cannot list resource "nodes" in API group "" at the cluster scope"#).unwrap();
        assert!(a
            .hint
            .contains("kubectl create clusterrole NAME --verb=list --resource=nodes`"));
    }

    #[test]
    fn a_403_cut_short_still_gets_a_grant_with_placeholders() {
        let a = advise(r#"Error from server (Forbidden): pods is forbidden: User "john" cannot list resource "pods""#).unwrap();
        assert!(
            a.hint
                .contains("`kubectl create role NAME --verb=list --resource=pods -n NAMESPACE`"),
            "{}",
            a.hint
        );
    }

    #[test]
    fn other_texts_are_not_read_as_403s() {
        assert_eq!(
            advise("error: You must be logged in to the server (Unauthorized)"),
            None
        );
    }
}
