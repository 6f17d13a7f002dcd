//! The reviews kubectl and the staff send (self-subject, token, access reviews), answered without
//! storing anything, and a service account's TokenRequest.

use serde_json::{json, Value};

use super::{decode_body, Api, ApiRequest, ApiResponse, PROTOBUF};

use crate::rbac::{self, Attributes, Decision};
use crate::registry::{self, Resource};
use crate::service_accounts::Bearer;
use crate::status;
use crate::store::StoreError;
use crate::user::UserInfo;

impl Api {
    /// SelfSubjectReview, (Self)SubjectAccessReview, SelfSubjectRulesReview: answered, never stored.
    pub(super) async fn review(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let body = match decode_body(req, r) {
            Ok(b) => b,
            Err(resp) => return Ok(resp),
        };
        let mut out = json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": {"creationTimestamp": null}});
        out["spec"] = body["spec"].clone();
        match r.name {
            "selfsubjectreviews" => {
                out["status"] = json!({"userInfo": req.user.to_json()});
            }
            "selfsubjectaccessreviews" | "subjectaccessreviews" | "localsubjectaccessreviews" => {
                let subject = if r.name == "selfsubjectaccessreviews" {
                    req.user.clone()
                } else {
                    let spec = &body["spec"];
                    UserInfo {
                        name: spec["user"].as_str().unwrap_or("").into(),
                        uid: spec["uid"].as_str().unwrap_or("").into(),
                        groups: spec["groups"]
                            .as_array()
                            .map(|g| {
                                g.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        extra: Default::default(),
                    }
                };
                let Some(mut attrs) = Attributes::from_access_review_spec(&subject, &body["spec"])
                else {
                    let cause = status::Cause::required("spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes must be specified");
                    return Ok(ApiResponse::status(status::invalid(
                        r.kind,
                        r.group,
                        "",
                        &[cause],
                    )));
                };
                if let Some(ns) = ns {
                    attrs.namespace = ns.to_string();
                }
                let decision = self.authorize(&attrs).await?;
                let mut st = json!({"allowed": decision.is_allowed()});
                if matches!(decision, Decision::Deny(_)) {
                    st["denied"] = json!(true);
                }
                if !decision.reason().is_empty() {
                    st["reason"] = json!(decision.reason());
                }
                out["status"] = st;
            }
            "selfsubjectrulesreviews" => {
                let namespace = body["spec"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string();
                let state = self.rbac_state().await?;
                let (resource_rules, non_resource_rules) =
                    rbac::rules_for(&state, &req.user, &namespace);
                out["status"] = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
            }
            "tokenreviews" => {
                let token = body["spec"]["token"].as_str().unwrap_or("");
                let audiences = crate::service_accounts::audiences(&body["spec"]);
                let outcome = match self.service_account_keys() {
                    Some(keys) => {
                        crate::service_accounts::authenticate(
                            &keys,
                            &self.inner.store,
                            token,
                            &audiences,
                            self.inner.clock.now(),
                        )
                        .await?
                    }
                    None => Bearer::NotOurs,
                };
                out["status"] = crate::service_accounts::review_status(&outcome);
            }
            _ => {
                out["status"] = json!({});
            }
        }
        Ok(ApiResponse::json(201, &out))
    }

    /// `serviceaccounts/NAME/token`: a TokenRequest answered with a signed token (see
    /// [`crate::service_accounts::token_request`]).
    pub(super) async fn token_request(
        &self,
        req: &ApiRequest,
        ns: &str,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let Some(keys) = self.service_account_keys() else {
            return Ok(ApiResponse::status(status::internal_unknown(
                "the token signer is not configured (--service-account-signing-key-file)",
            )));
        };
        let sa =
            registry::find("", "v1", "serviceaccounts").expect("serviceaccounts are registered");
        let Some(account) = self.inner.store.get(&sa.key(Some(ns), name)).await? else {
            return Ok(ApiResponse::status(status::not_found(
                "serviceaccounts",
                "",
                name,
            )));
        };
        let body = if req.body.is_empty() {
            json!({})
        } else if req.content_type.starts_with(PROTOBUF) {
            match crate::protobuf::decode("TokenRequest", &req.body) {
                Ok(b) => b,
                Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
            }
        } else {
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(b) => b,
                Err(e) => {
                    return Ok(ApiResponse::status(status::bad_request(&format!(
                        "couldn't get version/kind; json parse error: {e}"
                    ))))
                }
            }
        };
        let pod = match body["spec"]["boundObjectRef"]["kind"].as_str() {
            Some("Pod") => {
                let pods = registry::find("", "v1", "pods").expect("pods are registered");
                let pod_name = body["spec"]["boundObjectRef"]["name"]
                    .as_str()
                    .unwrap_or("");
                match self.inner.store.get(&pods.key(Some(ns), pod_name)).await? {
                    Some(p) => Some(p.value),
                    None => {
                        return Ok(ApiResponse::status(status::not_found("pods", "", pod_name)))
                    }
                }
            }
            _ => None,
        };
        Ok(
            match crate::service_accounts::token_request(
                &keys,
                ns,
                name,
                &account.value,
                &body,
                pod.as_ref(),
                self.inner.clock.now(),
            ) {
                Ok(answer) => ApiResponse::json(201, &answer),
                Err(refusal) => ApiResponse::status(refusal),
            },
        )
    }
}
