//! `…/deployments/NAME/scale` and `…/replicasets/NAME/scale`: the autoscaling/v1 Scale that
//! `kubectl scale` and autoscalers read and write instead of the whole object.
//!
//! kubectl 1.32's scaler (`staging/src/k8s.io/kubectl/pkg/scale/scale.go`, `ScaleSimple`)
//! sends `PATCH …/scale` with the merge patch `{"spec":{"replicas":N}}`, or, given
//! `--current-replicas`/`--resource-version`, GETs the Scale and PUTs it back. Either way the
//! apiserver turns the Scale into a change of the object's `spec.replicas` (and so of its
//! generation), and answers with the new Scale.

use serde_json::{json, Value};

use super::{with_version, Api, ApiRequest, ApiResponse};
use crate::meta::merge_patch;
use crate::registry::Resource;
use crate::status;
use crate::store::StoreError;

/// How often a scale is tried again when a controller wrote the object in between (the
/// registry's update retries the same way when no resourceVersion was asked for).
const RETRIES: usize = 5;

impl Api {
    pub(super) async fn scale(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        for _ in 0..RETRIES {
            let Some(stored) = self.inner.store.get(&r.key(ns, name)).await? else {
                return Ok(ApiResponse::status(status::not_found(
                    r.name, r.group, name,
                )));
            };
            let current = with_version(stored);
            let scale = crate::apps::scale_of(&current);
            if req.method == "GET" {
                return Ok(ApiResponse::json(200, &scale));
            }
            let wanted = match wanted_scale(req, scale) {
                Ok(w) => w,
                Err(refusal) => return Ok(refusal),
            };
            let replicas = &wanted["spec"]["replicas"];
            let Some(replicas) = replicas.as_i64().filter(|n| *n >= 0) else {
                let cause = status::Cause::invalid(
                    "spec.replicas",
                    &replicas.to_string(),
                    "must be greater than or equal to 0",
                );
                return Ok(ApiResponse::status(status::invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    &[cause],
                )));
            };
            // A resourceVersion in a PUT is the caller's precondition; otherwise none.
            let rv = match req.method.as_str() {
                "PUT" => wanted["metadata"]["resourceVersion"].clone(),
                _ => Value::Null,
            };
            let patch =
                json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": replicas}});
            let change = ApiRequest {
                method: "PATCH".into(),
                content_type: "application/merge-patch+json".into(),
                body: patch.to_string().into(),
                ..req.clone()
            };
            match self.update(&change, r, ns, name, None).await {
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
                Ok(answer) if answer.code() == 200 => {
                    return Ok(ApiResponse::json(
                        200,
                        &crate::apps::scale_of(&answer.body_json()),
                    ))
                }
                Ok(refusal) => return Ok(refusal),
            }
        }
        Ok(ApiResponse::status(status::conflict(
            r.name,
            r.group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )))
    }
}

/// The Scale the caller asks for: a PUT's body, or a PATCH applied to the current Scale.
fn wanted_scale(req: &ApiRequest, mut scale: Value) -> Result<Value, ApiResponse> {
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiResponse::status(status::bad_request(&e.to_string())))?;
    if req.method != "PATCH" {
        return Ok(body);
    }
    if req.content_type.starts_with("application/json-patch+json") {
        let patch: json_patch::Patch = serde_json::from_value(body)
            .map_err(|e| ApiResponse::status(status::bad_request(&e.to_string())))?;
        json_patch::patch(&mut scale, &patch)
            .map_err(|e| ApiResponse::status(status::json_patch_failed(&e.to_string())))?;
    } else {
        merge_patch(&mut scale, &body);
    }
    Ok(scale)
}
