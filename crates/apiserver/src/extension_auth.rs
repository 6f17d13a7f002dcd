//! The `extension-apiserver-authentication` ConfigMap: how Alice tells extension API servers
//! whom to believe.
//!
//! At every start kube-apiserver writes, in `kube-system`, its `--client-ca-file` and its
//! front-proxy settings (`--requestheader-client-ca-file`, the allowed names, the header
//! names), with its own loopback identity `system:apiserver` (k8s.io/kubernetes v1.32
//! `pkg/controlplane/controller/clusterauthenticationtrust`). An aggregated server such as
//! metrics-server reads it to check the badge Alice shows when she passes a request on: only a
//! badge signed by the front-proxy CA, with an allowed CN, may name a user in `X-Remote-User`.
//! Anyone may read it who holds the `extension-apiserver-authentication-reader` Role.

use kubecorp_trust::authn::requestheader::{ExtensionAuthentication, CONFIGMAP};
use serde_json::json;

use crate::api::{Api, ApiRequest};
use crate::user::UserInfo;

/// Where the ConfigMap lives.
pub const PATH: &str =
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication";

/// Why the ConfigMap could not be written.
#[derive(Debug, thiserror::Error)]
#[error("apiserver: writing configmap kube-system/{CONFIGMAP}: {verb} answered {code}: {body}")]
pub struct PublishError {
    pub verb: &'static str,
    pub code: u16,
    pub body: String,
}

/// Writes (or rewrites, keeping its identity) the ConfigMap with `auth`.
pub async fn publish(api: &Api, auth: &ExtensionAuthentication) -> Result<(), PublishError> {
    let user = UserInfo::loopback();
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": "kube-system"},
        "data": auth.to_data(),
    });
    let (existing, _) = api.handle(ApiRequest::json(&user, "GET", PATH, None)).await;
    let (verb, request) = match existing.code() {
        200 => {
            let current = existing.body_json();
            if current["data"] == object["data"] {
                return Ok(());
            }
            object["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
            ("PUT", ApiRequest::json(&user, "PUT", PATH, Some(&object)))
        }
        _ => (
            "POST",
            ApiRequest::json(
                &user,
                "POST",
                "/api/v1/namespaces/kube-system/configmaps",
                Some(&object),
            ),
        ),
    };
    let (answer, _) = api.handle(request).await;
    match answer.code() {
        200 | 201 => Ok(()),
        code => Err(PublishError {
            verb,
            code,
            body: answer.body_json().to_string(),
        }),
    }
}
