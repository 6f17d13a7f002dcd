//! Service accounts at Alice's desk: the accounts themselves, tokens asked for them
//! (TokenRequest), tokens checked for others (TokenReview), and the published keys.
//!
//! - Every namespace has a `default` ServiceAccount; on a real cluster the service account
//!   controller in kube-controller-manager adds it a moment after the namespace appears, the
//!   lab writes it with the namespace. kubeadm's kube-proxy addon adds `kube-system/kube-proxy`.
//! - `POST …/serviceaccounts/NAME/token` (what `kubectl create token NAME --duration 10m`
//!   sends) answers a TokenRequest whose `status.token` is a JWT signed with `sa.key` (see
//!   [`crate::tokens`]). Refusals are kube-apiserver's: 404 for an unknown account, 422 for a
//!   duration under ten minutes.
//! - `POST /apis/authentication.k8s.io/v1/tokenreviews` asks whether a token is good, and for
//!   which audiences: what a webhook or an extension server does with a token it was shown.
//! - `/.well-known/openid-configuration` and `/openid/v1/jwks` let anyone allowed by RBAC
//!   (kubeadm: every service account, through `system:service-account-issuer-discovery`) check
//!   tokens without asking Alice.

use serde_json::{json, Value};

use crate::meta::meta_str;
use crate::registry;
use crate::status;
use crate::store::StoreError;
use crate::tokens::{self, Ref, TokenAuthn, TokenKeys};
use crate::user::UserInfo;

/// `kubectl get sa`: the account every namespace has.
pub const DEFAULT: &str = "default";

/// A ServiceAccount object as the service account controller writes it.
pub fn account(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": name, "namespace": namespace}})
}

/// The accounts a fresh kubeadm cluster has: `default` in the four namespaces, and kube-proxy's.
pub fn bootstrap_accounts() -> Vec<Value> {
    let mut out: Vec<Value> = ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|ns| account(ns, DEFAULT))
        .collect();
    out.push(account("kube-system", "kube-proxy"));
    out
}

/// What the token authenticator says about a bearer token, once the account it names has been
/// looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bearer {
    /// Not a token of this issuer.
    NotOurs,
    /// A good token for an existing account.
    User {
        user: UserInfo,
        audiences: Vec<String>,
    },
    /// A token of ours that fails, with the authenticator's reason.
    Invalid(String),
}

/// Checks `token` for `audiences` at `now`, then that the account it names still exists with
/// the uid the token carries (the validator's second half).
pub async fn authenticate(
    keys: &TokenKeys,
    store: &crate::store::Store,
    token: &str,
    audiences: &[String],
    now: time::OffsetDateTime,
) -> Result<Bearer, StoreError> {
    let (claims, audiences) = match keys.authenticate(token, audiences, now) {
        TokenAuthn::NotOurs => return Ok(Bearer::NotOurs),
        TokenAuthn::Invalid(reason) => return Ok(Bearer::Invalid(reason)),
        TokenAuthn::Valid { claims, audiences } => (claims, audiences),
    };
    let sa = &claims.kubernetes.serviceaccount;
    let r = registry::find("", "v1", "serviceaccounts").expect("serviceaccounts are registered");
    let stored = store
        .get(&r.key(Some(&claims.kubernetes.namespace), &sa.name))
        .await?;
    let Some(stored) = stored else {
        // The lister's NotFound, singular as listers name resources.
        return Ok(Bearer::Invalid(format!(
            "serviceaccount {} not found",
            status::go_quote(&sa.name)
        )));
    };
    let uid = meta_str(&stored.value, "uid");
    if uid != sa.uid {
        return Ok(Bearer::Invalid(format!(
            "service account UID ({uid}) does not match claim ({})",
            sa.uid
        )));
    }
    Ok(Bearer::User {
        user: claims.user(),
        audiences,
    })
}

/// The `spec.audiences` of a TokenRequest or a TokenReview: its strings in order, none when
/// absent.
pub(crate) fn audiences(spec: &Value) -> Vec<String> {
    spec["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A TokenRequest body read into what matters: audiences, seconds, and a pod binding.
fn spec_of(body: &Value) -> (Vec<String>, Option<i64>, Value) {
    let spec = &body["spec"];
    (
        audiences(spec),
        spec["expirationSeconds"].as_i64(),
        spec["boundObjectRef"].clone(),
    )
}

/// `serviceaccounts/token`: a signed token for `namespace/name`, as a TokenRequest (201).
/// `account` is the stored ServiceAccount, `pod` the pod a `boundObjectRef` names (if any).
pub fn token_request(
    keys: &TokenKeys,
    namespace: &str,
    name: &str,
    account: &Value,
    body: &Value,
    pod: Option<&Value>,
    now: time::OffsetDateTime,
) -> Result<Value, (u16, String)> {
    let (mut audiences, seconds, bound) = spec_of(body);
    let seconds = seconds.unwrap_or(tokens::DEFAULT_EXPIRATION_SECONDS);
    let invalid = |detail: &str| {
        let cause = status::Cause::invalid("spec.expirationSeconds", &seconds.to_string(), detail);
        status::invalid("TokenRequest", "authentication.k8s.io", name, &[cause])
    };
    // `pkg/apis/authentication/validation`: at least ten minutes, less than 2^32 seconds.
    if seconds < tokens::MIN_EXPIRATION_SECONDS {
        return Err(invalid("may not specify a duration less than 10 minutes"));
    }
    if seconds > (1i64 << 32) {
        return Err(invalid(
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if audiences.is_empty() {
        audiences = vec![tokens::ISSUER.to_string()];
    }
    let bound_to = match (bound["kind"].as_str(), pod) {
        (Some("Pod"), Some(pod)) => {
            let node = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty());
            Some((
                Ref {
                    name: meta_str(pod, "name").into(),
                    uid: meta_str(pod, "uid").into(),
                },
                node.map(|n| Ref {
                    name: n.into(),
                    uid: String::new(),
                }),
            ))
        }
        _ => None,
    };
    let claims = TokenKeys::claims(
        namespace,
        Ref {
            name: name.into(),
            uid: meta_str(account, "uid").into(),
        },
        audiences.clone(),
        now,
        seconds,
        bound_to,
    );
    let token = keys
        .issue(&claims)
        .map_err(|e| status::internal_unknown(&e.to_string()))?;
    let expires = now + time::Duration::seconds(seconds);
    Ok(json!({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": seconds,
                 "boundObjectRef": if bound.is_object() { bound } else { Value::Null }},
        "status": {"token": token, "expirationTimestamp": kubecorp_trust::gotime::rfc3339(expires)},
    }))
}

/// TokenReview's status for what the authenticator said.
pub fn review_status(outcome: &Bearer) -> Value {
    match outcome {
        Bearer::User { user, audiences } => {
            json!({"authenticated": true, "user": user.to_json(), "audiences": audiences})
        }
        Bearer::Invalid(reason) => json!({"user": {},
            "error": format!("[invalid bearer token, {reason}]")}),
        Bearer::NotOurs => json!({"user": {}, "error": "invalid bearer token"}),
    }
}
