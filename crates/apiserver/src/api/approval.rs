//! A CSR's approval: `kubectl certificate approve|deny`, kube-controller-manager's auto-approval
//! of kubelet client CSRs, and signing once approved.

use serde_json::{json, Value};

use super::{decode_body, patched_type_check, with_version, Api, ApiRequest, ApiResponse};

use crate::meta::{merge_patch, meta_str};
use crate::rbac::{self, Attributes};
use crate::registry::Resource;
use crate::status;
use crate::store::StoreError;
use crate::user::UserInfo;

impl Api {
    /// `PUT …/certificatesigningrequests/NAME/approval`: approving needs the `approve` verb on
    /// the signer as well, then the signer (kube-controller-manager's, with ca.key) issues.
    pub(super) async fn approve(
        &self,
        req: &ApiRequest,
        r: &Resource,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let key = r.key(None, name);
        let Some(stored) = self.inner.store.get(&key).await? else {
            return Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            )));
        };
        let current = with_version(stored.clone());
        let body = match decode_body(req, r) {
            Ok(b) => b,
            Err(resp) => return Ok(resp),
        };
        let mut next = current.clone();
        if req.method == "PATCH" {
            merge_patch(&mut next, &body);
        } else {
            next["status"]["conditions"] = body["status"]["conditions"].clone();
        }
        if let Err(refusal) = patched_type_check(&next, r) {
            return Ok(refusal);
        }
        if let Err(causes) = crate::csr::validate_approval_update(&current, &next) {
            return Ok(ApiResponse::status(status::invalid(
                r.kind, r.group, name, &causes,
            )));
        }
        let mut next = crate::csr::prepare_approval_update(&current, &next, self.inner.clock.now());
        let signer = current["spec"]["signerName"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let newly_decided = has_condition(&next, "Approved")
            && !has_condition(&current, "Approved")
            || has_condition(&next, "Denied") && !has_condition(&current, "Denied");
        if newly_decided {
            let mut allowed = false;
            for attrs in crate::csr::signer_permission_attributes(&req.user, "approve", &signer) {
                if self.authorize(&attrs).await?.is_allowed() {
                    allowed = true;
                    break;
                }
            }
            if !allowed {
                let message = crate::csr::not_permitted_to_approve(&signer);
                return Ok(ApiResponse::status(status::forbidden_with(
                    r.name, r.group, name, &message,
                )));
            }
        }
        self.sign_if_approved(&mut next);
        if let Some(m) = next["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let expected = match meta_str(&body, "resourceVersion") {
            "" => Some(stored.revision),
            rv => rv.parse().ok(),
        };
        self.write(r, &key, name, next, (expected, &current), true)
            .await
    }

    /// The signer: an Approved CSR for a built-in signer gets its certificate, or a Failed
    /// condition saying why the signer refused.
    pub(super) fn sign_if_approved(&self, csr: &mut Value) {
        let Some(ca) = &self.inner.signer else { return };
        if !has_condition(csr, "Approved")
            || has_condition(csr, "Failed")
            || csr["status"]["certificate"].is_string()
        {
            return;
        }
        let now = self.inner.clock.now();
        match crate::csr::sign(ca, csr, now, crate::csr::DEFAULT_MAX_DURATION) {
            Ok(pem) => {
                use base64::Engine;
                csr["status"]["certificate"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(pem));
            }
            // Only a broken signer rule becomes a Failed condition; an unknown signer or an
            // expired CA leaves the CSR approved and unsigned, as kube-controller-manager does.
            Err(failure) => {
                if let Some(condition) = failure.failed_condition(now) {
                    match csr["status"]["conditions"].as_array_mut() {
                        Some(c) => c.push(condition),
                        None => csr["status"]["conditions"] = json!([condition]),
                    }
                }
            }
        }
    }

    pub(super) async fn auto_approval(
        &self,
        csr: &Value,
        user: &UserInfo,
    ) -> Result<Option<Value>, StoreError> {
        let state = self.rbac_state().await?;
        let can = |attrs: &Attributes| rbac::authorize_request(&state, &[], attrs).is_allowed();
        Ok(crate::csr::should_auto_approve(
            csr,
            user,
            can,
            self.inner.clock.now(),
        ))
    }
}

fn has_condition(csr: &Value, kind: &str) -> bool {
    csr["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}
