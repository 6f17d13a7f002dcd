//! The paths that are not resources: `/healthz`, `/livez`, `/readyz` with their checks (one
//! read from etcd answers both etcd checks), `/version`, the discovery documents and the
//! service-account issuer's OpenID documents.

use super::{Api, ApiRequest, ApiResponse, JSON};

use crate::request::RequestInfo;
use crate::status;

impl Api {
    /// `/healthz`, `/livez`, `/readyz` and one check below them (see [`crate::health`]);
    /// `None` for any other path.
    pub(super) async fn health(&self, path: &str, query: &str) -> Option<crate::health::Answer> {
        let parts: Vec<&str> = path.trim_matches('/').splitn(2, '/').collect();
        let names = crate::health::checks(parts[0])?;
        let wanted: Vec<&'static str> = match parts.get(1) {
            None => names.to_vec(),
            Some(one) => vec![*names.iter().find(|n| *n == one)?],
        };
        let mut results = Vec::with_capacity(wanted.len());
        let mut etcd: Option<Option<String>> = None;
        for name in wanted {
            let failure = match name {
                // One read from etcd answers both etcd checks of one request.
                "etcd" | "etcd-readiness" => match &etcd {
                    Some(outcome) => outcome.clone(),
                    None => {
                        let outcome = self.etcd_check().await;
                        etcd = Some(outcome.clone());
                        outcome
                    }
                },
                _ => None,
            };
            results.push(crate::health::Checked { name, failure });
        }
        Some(match parts.get(1) {
            Some(_) => crate::health::single(&results[0]),
            None => crate::health::overall(parts[0], &results, query),
        })
    }

    /// kube-apiserver's etcd check: a read within `--etcd-healthcheck-timeout` (2 s), sent at
    /// most once per half that timeout; a check in between gets the last one's outcome
    /// (`newETCD3Check`: "limit to a request every half of the configured timeout").
    pub(super) async fn etcd_check(&self) -> Option<String> {
        let timeout = std::time::Duration::from_secs(2);
        {
            let last = self
                .inner
                .etcd_checked
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((at, outcome)) = &*last {
                if at.elapsed() < timeout / 2 {
                    return outcome.clone();
                }
            }
        }
        let sent = std::time::Instant::now();
        // kube-apiserver v1.32 (storage/storagebackend/factory/etcd3.go, the etcd prober):
        // `error getting data from etcd: %w` around the client's error.
        let outcome = match tokio::time::timeout(timeout, self.inner.store.revision()).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("error getting data from etcd: {e}")),
            Err(_) => Some("error getting data from etcd: context deadline exceeded".into()),
        };
        *self
            .inner
            .etcd_checked
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((sent, outcome.clone()));
        outcome
    }

    pub(super) fn non_resource(&self, req: &ApiRequest, info: &RequestInfo) -> ApiResponse {
        let parts: Vec<&str> = info.path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["version"] => ApiResponse::Full {
                status: 200,
                content_type: JSON.into(),
                body: crate::discovery::version_body().into_bytes(),
            },
            ["api"] | ["apis"] if crate::discovery::wants_aggregated(&req.accept) => {
                let body = crate::discovery::aggregated(parts[0] == "api");
                ApiResponse::Full {
                    status: 200,
                    content_type: crate::discovery::AGGREGATED_CONTENT_TYPE.into(),
                    body: body.to_string().into_bytes(),
                }
            }
            ["api"] => ApiResponse::json(200, &crate::discovery::legacy_api()),
            ["apis"] => ApiResponse::json(200, &crate::discovery::legacy_apis()),
            ["api", "v1"] => ApiResponse::json(
                200,
                &crate::discovery::resource_list("", "v1").expect("core is served"),
            ),
            ["apis", group] => crate::discovery::group(group)
                .map(|g| ApiResponse::json(200, &g))
                .unwrap_or_else(|| ApiResponse::status(status::not_found_path())),
            ["apis", group, version] => crate::discovery::resource_list(group, version)
                .map(|g| ApiResponse::json(200, &g))
                .unwrap_or_else(|| ApiResponse::status(status::not_found_path())),
            [".well-known", "openid-configuration"] => match self.service_account_keys() {
                Some(keys) => ApiResponse::json(200, &keys.discovery()),
                None => ApiResponse::status(status::not_found_path()),
            },
            ["openid", "v1", "jwks"] => match self.service_account_keys() {
                Some(keys) => ApiResponse::Full {
                    status: 200,
                    content_type: "application/jwk-set+json".into(),
                    body: keys.jwks().to_string().into_bytes(),
                },
                None => ApiResponse::status(status::not_found_path()),
            },
            ["openapi", "v3"] => ApiResponse::json(200, &crate::discovery::openapi_index()),
            ["openapi", "v3", rest @ ..] => {
                crate::discovery::openapi_group_version(&rest.join("/"))
                    .map(|d| ApiResponse::json(200, &d))
                    .unwrap_or_else(|| ApiResponse::status(status::not_found_path()))
            }
            _ => ApiResponse::status(status::not_found_path()),
        }
    }
}
