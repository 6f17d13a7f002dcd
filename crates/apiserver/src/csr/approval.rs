//! Approving a CSR: who may approve for a signer, the approval update's rules, and the
//! csrapproving controller's auto-approval.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::rbac::Attributes;
use crate::status::{go_quote, Cause};
use crate::user::UserInfo;

use super::*;

/// The RBAC names that let someone approve for `signer`: the signer itself, then
/// `<domain>/*`. Checked as verb `approve` on resource `signers` in `certificates.k8s.io`.
pub fn approval_needs_signer_permission(signer: &str) -> [String; 2] {
    let domain = signer.split('/').next().unwrap_or("");
    [signer.to_string(), format!("{domain}/*")]
}

/// The two authorization questions behind [`approval_needs_signer_permission`] (verb
/// `approve` for approval, `sign` for setting the certificate).
pub fn signer_permission_attributes(user: &UserInfo, verb: &str, signer: &str) -> [Attributes; 2] {
    approval_needs_signer_permission(signer).map(|name| {
        let mut a = Attributes::resource(user, verb, "", GROUP, "signers").with_name(&name);
        a.api_version = "*".to_string();
        a
    })
}

/// Kubernetes' `IsAuthorizedForSignerName`: the exact signer name first, then the wildcard.
pub fn is_authorized_for_signer(
    user: &UserInfo,
    verb: &str,
    signer: &str,
    can: impl Fn(&Attributes) -> bool,
) -> bool {
    signer_permission_attributes(user, verb, signer)
        .iter()
        .any(&can)
}

/// The CertificateApproval admission refusal (after `… "<name>" is forbidden: `).
pub fn not_permitted_to_approve(signer: &str) -> String {
    format!(
        "user not permitted to approve requests with signerName {}",
        go_quote(signer)
    )
}

/// The CertificateSigning admission refusal for `PUT …/status` with a certificate.
pub fn not_permitted_to_sign(signer: &str) -> String {
    format!(
        "user not permitted to sign requests with signerName {}",
        go_quote(signer)
    )
}

pub(super) const TRUE_ONLY: [&str; 3] = ["Approved", "Denied", "Failed"];

/// Validation of `PUT …/approval`: conditions well-formed, Approved and Denied mutually
/// exclusive, at most one of each type, and no Approved/Denied/Failed condition removed.
/// (Problems already present in `old` are tolerated, as Kubernetes does.)
pub fn validate_approval_update(old: &Value, new: &Value) -> Result<(), Vec<Cause>> {
    let mut errs = Vec::new();
    let old_conds = conditions(old);
    let types = |cs: &[Value]| -> Vec<String> {
        cs.iter().map(|c| cond_str(c, "type").to_string()).collect()
    };
    let old_types = types(old_conds);
    let allow_both =
        old_types.iter().any(|t| t == "Approved") && old_types.iter().any(|t| t == "Denied");
    let allow_dup = old_types
        .iter()
        .enumerate()
        .any(|(i, t)| old_types[..i].contains(t));
    let allow_empty = old_types.iter().any(String::is_empty);

    let mut seen: Vec<&str> = Vec::new();
    let (mut approved, mut denied) = (false, false);
    for (i, c) in conditions(new).iter().enumerate() {
        let base = format!("status.conditions[{i}]");
        let t = cond_str(c, "type");
        let st = cond_str(c, "status");
        if t.is_empty() && !allow_empty {
            errs.push(Cause::required(&format!("{base}.type"), ""));
        }
        let allowed: &[&str] = if TRUE_ONLY.contains(&t) {
            &["True"]
        } else {
            &["False", "True", "Unknown"]
        };
        if st.is_empty() {
            errs.push(Cause::required(&format!("{base}.status"), ""));
        } else if !allowed.contains(&st) {
            errs.push(Cause::not_supported(
                &format!("{base}.status"),
                &go_quote(st),
                allowed,
            ));
        }
        if !allow_both {
            let clash = match t {
                "Approved" => {
                    approved = true;
                    denied
                }
                "Denied" => {
                    denied = true;
                    approved
                }
                _ => false,
            };
            if clash {
                errs.push(Cause::invalid(
                    &format!("{base}.type"),
                    &go_quote(t),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if !allow_dup {
            if seen.contains(&t) {
                errs.push(Cause::duplicate(&format!("{base}.type"), &go_quote(t)));
            }
            seen.push(t);
        }
    }
    let new_types = types(conditions(new));
    for t in TRUE_ONLY {
        let count = |ts: &[String]| ts.iter().filter(|x| *x == t).count();
        if count(&new_types) < count(&old_types) {
            errs.push(Cause::forbidden(
                "status.conditions",
                &format!("updates may not remove a condition of type {}", go_quote(t)),
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// The approval strategy (`PrepareForUpdate`): only the conditions are taken from the
/// client's object; spec, certificate and everything else stay as stored. Missing
/// `lastUpdateTime`s become `now`; a missing `lastTransitionTime` is kept from an old
/// condition with the same type and status, else `now`.
pub fn prepare_approval_update(old: &Value, new: &Value, now: OffsetDateTime) -> Value {
    let stamp = kubecorp_trust::gotime::rfc3339(now);
    let mut out = if old.is_object() {
        old.clone()
    } else {
        json!({})
    };
    let mut conds: Vec<Value> = conditions(new).to_vec();
    for c in conds.iter_mut() {
        if !c.is_object() {
            continue;
        }
        if cond_str(c, "lastUpdateTime").is_empty() {
            c["lastUpdateTime"] = json!(stamp);
        }
        if cond_str(c, "lastTransitionTime").is_empty() {
            let kept = conditions(old).iter().find(|o| {
                cond_str(o, "type") == cond_str(c, "type")
                    && cond_str(o, "status") == cond_str(c, "status")
                    && !cond_str(o, "lastTransitionTime").is_empty()
            });
            c["lastTransitionTime"] = match kept {
                Some(o) => json!(cond_str(o, "lastTransitionTime")),
                None => json!(stamp),
            };
        }
    }
    if !out.get("status").is_some_and(Value::is_object) {
        out["status"] = json!({});
    }
    out["status"]["conditions"] = Value::Array(conds);
    out
}

/// kubectl's CONDITION column: `Pending`/`Approved`/`Denied`, then `,Failed`, `,Issued`.
pub fn condition_summary(csr: &Value) -> String {
    let has = |t: &str| conditions(csr).iter().any(|c| cond_str(c, "type") == t);
    let mut s = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        s.push_str(",Failed");
    }
    if is_issued(csr) {
        s.push_str(",Issued");
    }
    s
}

/// The condition kube-controller-manager's `csrapproving` controller would append, if any.
///
/// Only `kube-apiserver-client-kubelet` CSRs that already satisfy that signer's rules are
/// considered. The requester (`user`: the one recorded in the spec at create, see
/// [`requester`]) must pass a SubjectAccessReview (`can`) for
/// `create certificatesigningrequests/selfnodeclient` when the CSR's CN is their own name
/// (certificate rotation), or `…/nodeclient` (bootstrap with a token). Serving certificates
/// are never auto-approved: a node could otherwise claim any hostname.
pub fn should_auto_approve(
    csr: &Value,
    user: &UserInfo,
    can: impl Fn(&Attributes) -> bool,
    now: OffsetDateTime,
) -> Option<Value> {
    if is_issued(csr) || has_condition(csr, "Approved") || has_condition(csr, "Denied") {
        return None;
    }
    if signer_name(csr) != KUBE_APISERVER_CLIENT_KUBELET {
        return None;
    }
    let parsed = parse_request(&request_bytes(csr)).ok()?;
    if validate_kubelet_client(&parsed, &usages(csr)).is_err() {
        return None;
    }
    let ask = |sub: &str| {
        let mut a = Attributes::resource(user, "create", "", GROUP, RESOURCE).with_subresource(sub);
        a.api_version = "*".to_string();
        can(&a)
    };
    let message = if user.name == parsed.common_name && ask("selfnodeclient") {
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    } else if ask("nodeclient") {
        "Auto approving kubelet client certificate after SubjectAccessReview."
    } else {
        return None;
    };
    let stamp = kubecorp_trust::gotime::rfc3339(now);
    Some(json!({
        "type": "Approved", "status": "True", "reason": "AutoApproved", "message": message,
        "lastUpdateTime": stamp, "lastTransitionTime": stamp,
    }))
}

pub(super) fn has_condition(obj: &Value, kind: &str) -> bool {
    conditions(obj).iter().any(|c| cond_str(c, "type") == kind)
}

/// The user recorded in the spec at create.
pub fn requester(csr: &Value) -> UserInfo {
    let list = |k: &str| {
        spec(csr)
            .map(|s| crate::meta::str_list(s, k))
            .unwrap_or_default()
    };
    let extra: BTreeMap<String, Vec<String>> = spec(csr)
        .and_then(|s| s.get("extra"))
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    UserInfo {
        name: spec_str(csr, "username").to_string(),
        uid: spec_str(csr, "uid").to_string(),
        groups: list("groups"),
        extra,
    }
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------
