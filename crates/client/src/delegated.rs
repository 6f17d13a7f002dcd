//! Delegated authentication and authorization: how a component's own door decides who a caller
//! is and what the caller may do.
//!
//! The kubelet's `:10250` and the scheduler's secure port `:10259` are not Alice, yet they let
//! people in. kubeadm configures both the same way (`k8s.io/apiserver/pkg/server/options/
//! authentication.go` and `authorization.go`, v0.32; the kubelet's `authentication.x509.
//! clientCAFile` and `authorization.mode: Webhook`):
//!
//! 1. **Authentication at the door itself.** The door checks the badge against the cluster CA
//!    (`ca.crt`) with the same x509 authenticator Alice runs ([`kubecorp_trust::authn`]); a
//!    failure is a 401 and a line in the door's own log. Nobody is asked.
//! 2. **Authorization by asking Alice.** Everything else is a SubjectAccessReview: "may this
//!    user, with these groups, do this?", and RBAC (and the Node authorizer) answer it at the
//!    front door. A 403 at the kubelet is therefore Alice's verdict, not the kubelet's.

use kubecorp_trust::authn::{authenticate_x509, X509Authn};
use kubecorp_trust::tls::TrustSource;
use kubecorp_trust::{Identity, Verdict};
use rustls_pki_types::CertificateDer;
use std::collections::BTreeMap;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::{ClientError, KubeClient};

/// Where SubjectAccessReviews are created.
pub const REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// Who is asking, once the door's authenticator has spoken.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub groups: Vec<String>,
    /// The badge shown, when there was one that could be read.
    pub identity: Option<Identity>,
}

impl Caller {
    /// `system:anonymous`, for a door that lets unknown visitors in (the scheduler's health
    /// paths); `shown` is the badge they showed that counted for nothing, if any.
    pub fn anonymous(shown: Option<Identity>) -> Caller {
        Caller {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            identity: shown,
        }
    }
}

/// What the door's authenticator concluded.
#[derive(Debug)]
pub enum Authn {
    /// A badge that verifies against the client CA; `system:authenticated` is among the groups.
    User(Caller),
    /// No badge, or a good badge with an empty CN: the door decides (anonymous, or 401).
    NoOpinion,
    /// The client CA could not be read (`verdict` is `None`), or the badge does not verify:
    /// a 401, and `error` for the door's log.
    Failed {
        error: String,
        verdict: Option<Verdict>,
    },
}

/// Checks `chain` (leaf first) against the door's client CA at `now`.
pub fn authenticate(
    chain: &[CertificateDer<'_>],
    client_ca: &TrustSource,
    now: OffsetDateTime,
) -> Authn {
    if chain.is_empty() {
        return Authn::NoOpinion;
    }
    let roots = match client_ca.load() {
        Ok(roots) => roots,
        Err(e) => {
            return Authn::Failed {
                error: e.to_string(),
                verdict: None,
            }
        }
    };
    match authenticate_x509(chain, &roots, now) {
        X509Authn::NoOpinion => Authn::NoOpinion,
        X509Authn::User {
            name,
            mut groups,
            identity,
        } => {
            groups.push("system:authenticated".into());
            Authn::User(Caller {
                name,
                groups,
                identity: Some(identity),
            })
        }
        X509Authn::Failed { verdict, error, .. } => Authn::Failed {
            error,
            verdict: Some(verdict),
        },
    }
}

/// What a caller asks to do, as a SubjectAccessReview spells it.
#[derive(Clone, Copy, Debug)]
pub enum Attributes<'a> {
    /// A verb on a resource (the kubelet: `get nodes/proxy kubecorp-control-plane`, the core
    /// group's `v1`; metrics-server: `get metrics.k8s.io/v1beta1 pods` in a namespace). Empty
    /// strings are left out of the review.
    Resource {
        verb: &'a str,
        group: &'a str,
        version: &'a str,
        resource: &'a str,
        subresource: &'a str,
        namespace: &'a str,
        name: &'a str,
    },
    /// A verb on a path outside the API (the scheduler: `get /metrics`).
    NonResource { verb: &'a str, path: &'a str },
}

/// Asks Alice whether `caller` may do `what`: `Ok(true)` allowed, `Ok(false)` denied, `Err`
/// when she could not be asked (the door answers 500 then, as Go's delegating authorizer does).
pub async fn review(
    reviewer: &KubeClient,
    caller: &Caller,
    what: Attributes<'_>,
) -> Result<bool, ClientError> {
    review_as(
        reviewer,
        &caller.name,
        &caller.groups,
        &BTreeMap::new(),
        what,
    )
    .await
}

/// [`review`] for a subject a front proxy vouched for, with its `extra` (metrics-server).
pub async fn review_as(
    reviewer: &KubeClient,
    user: &str,
    groups: &[String],
    extra: &BTreeMap<String, Vec<String>>,
    what: Attributes<'_>,
) -> Result<bool, ClientError> {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": review_spec(user, groups, extra, what),
    });
    let answer = reviewer.create(REVIEWS, &review).await?;
    Ok(answer["status"]["allowed"].as_bool().unwrap_or(false))
}

/// A SubjectAccessReview's `spec`, as k8s.io/apiserver's delegating authorizer fills it.
fn review_spec(
    user: &str,
    groups: &[String],
    extra: &BTreeMap<String, Vec<String>>,
    what: Attributes<'_>,
) -> Value {
    let mut spec = json!({"user": user, "groups": groups});
    if !extra.is_empty() {
        spec["extra"] = json!(extra);
    }
    match what {
        Attributes::Resource {
            verb,
            group,
            version,
            resource,
            subresource,
            namespace,
            name,
        } => {
            let mut attributes =
                json!({"verb": verb, "group": group, "version": version, "resource": resource});
            for (key, value) in [
                ("subresource", subresource),
                ("namespace", namespace),
                ("name", name),
            ] {
                if !value.is_empty() {
                    attributes[key] = json!(value);
                }
            }
            spec["resourceAttributes"] = attributes;
        }
        Attributes::NonResource { verb, path } => {
            spec["nonResourceAttributes"] = json!({"path": path, "verb": verb});
        }
    }
    spec
}

#[cfg(test)]
mod review_tests {
    use super::*;

    #[test]
    fn a_review_spells_what_was_asked_and_leaves_out_what_is_empty() {
        let groups = [
            "system:masters".to_owned(),
            "system:authenticated".to_owned(),
        ];
        let kubelet = review_spec(
            "kube-apiserver-kubelet-client",
            &groups,
            &BTreeMap::new(),
            Attributes::Resource {
                verb: "get",
                group: "",
                version: "v1",
                resource: "nodes",
                subresource: "proxy",
                namespace: "",
                name: "desk-a",
            },
        );
        assert_eq!(
            kubelet,
            json!({"user": "kube-apiserver-kubelet-client", "groups": groups,
                   "resourceAttributes": {"verb": "get", "group": "", "version": "v1",
                                          "resource": "nodes", "subresource": "proxy", "name": "desk-a"}})
        );
        let extra = BTreeMap::from([("scopes".to_owned(), vec!["a".to_owned()])]);
        let metrics = review_spec(
            "kubernetes-admin",
            &groups,
            &extra,
            Attributes::Resource {
                verb: "list",
                group: "metrics.k8s.io",
                version: "v1beta1",
                resource: "pods",
                subresource: "",
                namespace: "default",
                name: "",
            },
        );
        assert_eq!(metrics["extra"], json!({"scopes": ["a"]}));
        assert_eq!(
            metrics["resourceAttributes"],
            json!({"verb": "list", "group": "metrics.k8s.io", "version": "v1beta1",
                   "resource": "pods", "namespace": "default"})
        );
        let path = review_spec(
            "system:anonymous",
            &[],
            &BTreeMap::new(),
            Attributes::NonResource {
                verb: "get",
                path: "/metrics",
            },
        );
        assert_eq!(
            path["nonResourceAttributes"],
            json!({"path": "/metrics", "verb": "get"})
        );
        assert!(path.get("resourceAttributes").is_none());
    }
}
