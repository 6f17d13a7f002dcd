//! kube-aggregator inside Alice: APIServices, their availability, and the front-proxy hop.
//!
//! An `apiregistration.k8s.io/v1` APIService such as `v1beta1.metrics.k8s.io` says that
//! another server answers for a group-version. kube-apiserver then (k8s.io/kube-aggregator
//! v0.32):
//!
//! - checks it (`pkg/controllers/status/remote/remote_available_controller.go`): a `GET
//!   /apis/<group>/<version>` to the service's endpoint, showing the proxy badge
//!   (`--proxy-client-cert-file`, kubeadm: `front-proxy-client.crt`) with `X-Remote-User:
//!   system:kube-aggregator` and `X-Remote-Group: system:masters`, not checking the server's
//!   badge; anything but a 2xx sets `Available=False`, reason `FailedDiscoveryCheck`, message
//!   `failing or missing response from <url>: bad status from <url>: 401`;
//! - proxies (`pkg/apiserver/handler_proxy.go`): a request for that group-version, once Alice
//!   has authenticated and authorized it, goes to the service with the same badge and the
//!   caller's name, groups and extra in `X-Remote-User`, `X-Remote-Group` and
//!   `X-Remote-Extra-*`; the answer comes back as it is. While the APIService is not Available
//!   the answer is a 503 `service unavailable` in plain text, which `kubectl get --raw` prints
//!   as `Error from server (ServiceUnavailable): the server is currently unable to handle the
//!   request` (client-go's generic text for a 503 whose body is not a Status);
//! - lists the group in discovery (`pkg/apiserver/handler_discovery.go`), from the resources the
//!   service itself lists; while it is unavailable its version is marked `Stale`, client-go
//!   drops stale versions, and `kubectl top` (k8s.io/kubectl v0.32 `pkg/cmd/top`) says
//!   `error: Metrics API not available`.
//!
//! The lab has no service network, so Alice dials the endpoint the service's Endpoints name, as
//! `--enable-aggregator-routing=true` makes kube-apiserver do.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use kubecorp_client::dial::{dial, Dialed, Hop};
use kubecorp_trust::authn::requestheader::proxy_headers;
use kubecorp_trust::tls::{client_error_text, CertSource};
use kubecorp_trust::{Event, Events, Stage};
use serde_json::{json, Value};

use crate::api::{Api, ApiRequest, ApiResponse};
use crate::user::{UserInfo, MASTERS};

/// Where APIServices are kept.
const APISERVICES: &str = "/apis/apiregistration.k8s.io/v1/apiservices";
/// The remote availability check's deadline (`discoveryClient.Timeout`).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a proxied request may take.
const PROXY_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer relayed.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// `--proxy-client-cert-file`/`--proxy-client-key-file`: the badge Alice shows extension
/// servers, and the stream the hop reports to.
#[derive(Clone, Debug)]
pub struct ProxyClientConfig {
    /// `pki/front-proxy-client.{crt,key}`, re-read when they change on disk.
    pub cert: CertSource,
    pub events: Events,
}

/// What the last check of one APIService found.
#[derive(Clone, Debug, PartialEq)]
struct Checked {
    available: bool,
    /// The APIResourceList the service answered with, kept from its last good answer.
    resources: Option<Value>,
}

/// The aggregator's memory: the proxy badge and each APIService's last check.
#[derive(Default)]
pub struct State {
    proxy_client: Mutex<Option<ProxyClientConfig>>,
    checked: Mutex<BTreeMap<String, Checked>>,
}

impl State {
    pub(crate) fn set_proxy_client(&self, config: ProxyClientConfig) {
        *self.proxy_client.lock().unwrap_or_else(|e| e.into_inner()) = Some(config);
    }

    fn proxy_client(&self) -> Option<ProxyClientConfig> {
        self.proxy_client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn checked(&self, name: &str) -> Option<Checked> {
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

/// An APIService that names a service.
#[derive(Clone, Debug)]
pub struct Registered {
    pub name: String,
    pub group: String,
    pub version: String,
    pub service_namespace: String,
    pub service_name: String,
    /// `status.conditions[Available]` is True.
    pub available: bool,
}

impl Registered {
    fn from_object(object: &Value) -> Option<Registered> {
        let spec = &object["spec"];
        let service = spec["service"].as_object()?;
        Some(Registered {
            name: object["metadata"]["name"].as_str()?.to_owned(),
            group: spec["group"].as_str()?.to_owned(),
            version: spec["version"].as_str()?.to_owned(),
            service_namespace: service.get("namespace")?.as_str()?.to_owned(),
            service_name: service.get("name")?.as_str()?.to_owned(),
            available: object["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Available" && c["status"] == "True")
            }),
        })
    }
}

fn apiservices() -> &'static crate::registry::Resource {
    crate::registry::find("apiregistration.k8s.io", "v1", "apiservices")
        .expect("apiservices are registered")
}

/// Every APIService that names a service (read from the store: the desk itself routes here).
async fn registered(api: &Api) -> Vec<Registered> {
    api.store()
        .list(&apiservices().prefix(None))
        .await
        .map(|(items, _)| {
            items
                .iter()
                .filter_map(|s| Registered::from_object(&s.value))
                .collect()
        })
        .unwrap_or_default()
}

/// The APIService for `/apis/<group>/<version>/…`, when a group Alice does not serve herself
/// has one.
pub async fn route(api: &Api, path: &str) -> Option<Registered> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ["apis", group, version, ..] = parts.as_slice() else {
        return None;
    };
    if crate::registry::GROUPS.contains(group) {
        return None;
    }
    let name = format!("{version}.{group}");
    let found = api
        .store()
        .get(&apiservices().key(None, &name))
        .await
        .ok()??;
    Registered::from_object(&found.value)
}

/// `https://IP:PORT` of the service's first endpoint, or kube-aggregator's reason why none.
async fn endpoint(api: &Api, target: &Registered) -> Result<(String, u16), String> {
    let resource = crate::registry::find("", "v1", "endpoints").expect("endpoints are registered");
    let endpoints = api
        .store()
        .get(&resource.key(Some(&target.service_namespace), &target.service_name))
        .await
        .ok()
        .flatten()
        .map(|s| s.value)
        .unwrap_or(Value::Null);
    let subset = &endpoints["subsets"][0];
    match (
        subset["addresses"][0]["ip"].as_str(),
        subset["ports"][0]["port"].as_u64(),
    ) {
        (Some(ip), Some(port)) => Ok((ip.to_owned(), u16::try_from(port).unwrap_or(443))),
        // remote_available_controller.go (v1.32): "cannot find endpoints for service/%s in %q".
        _ => Err(format!(
            "cannot find endpoints for service/{} in \"{}\"",
            target.service_name, target.service_namespace
        )),
    }
}

/// One request to an extension server: the status, content type and body, or Go's words for
/// why the connection failed.
async fn exchange(
    client: &ProxyClientConfig,
    api: &Api,
    (ip, port): (&str, u16),
    request: hyper::Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(u16, String, Bytes), String> {
    let hop = Hop {
        from: "apiserver",
        host: ip,
        port,
        server_name: None,
        identity: Some(client.cert.clone()),
        // insecureSkipTLSVerify: true, as metrics-server's APIService says.
        trust: None,
        clock: api.clock(),
        events: &client.events,
        connect_timeout: timeout,
        handshake_timeout: timeout,
    };
    let Dialed {
        mut sender,
        driver,
        notes,
    } = dial(hop).await.map_err(|failed| failed.text)?;
    let answered = tokio::time::timeout(timeout, async {
        let response = sender.send_request(request).await?;
        let code = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok::<_, hyper::Error>((code, content_type, body))
    })
    .await;
    match answered {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => {
            let cause = driver.await.ok().and_then(Result::err);
            Err(match &cause {
                Some(conn) => client_error_text(conn, &notes),
                None => client_error_text(&e, &notes),
            })
        }
        Err(_) => {
            driver.abort();
            Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into())
        }
    }
}

fn request(
    method: &str,
    url_path: &str,
    host: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(url_path)
        .header(hyper::header::HOST, host)
        .header(
            hyper::header::USER_AGENT,
            "kube-apiserver/v1.32.0 (linux/amd64) kubernetes/kubecorp",
        );
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Full::new(body)).map_err(|e| e.to_string())
}

impl Api {
    /// The remote availability controller's pass over every APIService: each checked once, its
    /// `Available` condition written when it changed, and a failure logged in Alice's words.
    pub async fn check_apiservices(&self) {
        for target in registered(self).await {
            let (available, message, resources) = self.check(&target).await;
            let previous = self.aggregator().checked(&target.name);
            let resources =
                resources.or_else(|| previous.as_ref().and_then(|p| p.resources.clone()));
            self.aggregator()
                .checked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    target.name.clone(),
                    Checked {
                        available,
                        resources,
                    },
                );
            if available != target.available || previous.is_none() {
                self.write_availability(&target, available, &message).await;
            }
        }
    }

    /// One discovery check: (available, the condition's message, the resources listed).
    async fn check(&self, target: &Registered) -> (bool, String, Option<Value>) {
        let Some(client) = self.aggregator().proxy_client() else {
            return (false, "no --proxy-client-cert-file".into(), None);
        };
        let (ip, port) = match endpoint(self, target).await {
            Ok(ep) => ep,
            Err(message) => return (false, message, None),
        };
        let host = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let url = format!("https://{host}/apis/{}/{}", target.group, target.version);
        // "setting the system-masters identity ensures that we will always have access rights"
        let headers = proxy_headers(
            "system:kube-aggregator",
            &[MASTERS.to_owned()],
            &BTreeMap::new(),
        );
        let asked = request(
            "GET",
            &format!("/apis/{}/{}", target.group, target.version),
            &host,
            &headers,
            Bytes::new(),
        );
        let answer = match asked {
            Ok(req) => exchange(&client, self, (&ip, port), req, CHECK_TIMEOUT).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok((code, _, body)) if (200..300).contains(&code) => (
                true,
                "all checks passed".into(),
                serde_json::from_slice(&body).ok(),
            ),
            Ok((code, _, _)) => (
                false,
                format!("failing or missing response from {url}: bad status from {url}: {code}"),
                None,
            ),
            Err(e) => (
                false,
                format!("failing or missing response from {url}: Get \"{url}\": {e}"),
                None,
            ),
        }
    }

    /// Writes `Available` on the APIService's status, and tells the room.
    async fn write_availability(&self, target: &Registered, available: bool, message: &str) {
        let now = self.clock().now();
        let (status, reason) = if available {
            ("True", "Passed")
        } else {
            ("False", "FailedDiscoveryCheck")
        };
        let path = format!("{APISERVICES}/{}", target.name);
        let (current, _) = self
            .handle(ApiRequest::json(&UserInfo::loopback(), "GET", &path, None))
            .await;
        let mut object = current.body_json();
        if object.is_null() {
            return;
        }
        object["status"] = json!({"conditions": [{
            "type": "Available", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": kubecorp_trust::go_time(now),
        }]});
        let _ = self
            .handle(ApiRequest::json(
                &UserInfo::loopback(),
                "PUT",
                &format!("{path}/status"),
                Some(&object),
            ))
            .await;
        let Some(client) = self.aggregator().proxy_client() else {
            return;
        };
        let mut event = Event::new(
            now,
            "apiserver",
            target.service_name.as_str(),
            Stage::Request,
        )
        .allowed(available)
        .detail(format!(
            "APIService {} Available={status} ({reason}): {message}",
            target.name
        ));
        if !available {
            event = event
                .server_log(format!(
                    "\"Unhandled Error\" err=\"{} failed with: {message}\"",
                    target.name
                ))
                .explanation(format!(
                    "Alice's aggregator checks {} by asking {} for /apis/{}/{} with her front-proxy-client badge; it did not answer 2xx, so the APIService is not Available and every request for the group gets 503 until a check passes",
                    target.name, target.service_name, target.group, target.version
                ))
                .hint(if message.ends_with(": 401") {
                    "the extension server refused Alice's badge: check front-proxy-client (`kubeadm certs check-expiration`; renew with `kubeadm certs renew front-proxy-client`, here `kubecorp certs renew front-proxy-client`), and the extension server's log for why"
                } else {
                    "is the extension server running, and do its Endpoints name where it listens? `kubectl get apiservice` shows the condition's message"
                });
        }
        client.events.emit(event);
    }

    /// Passes an authorized request on to the APIService's server, as kube-aggregator does.
    pub async fn proxy(&self, req: &ApiRequest, target: &Registered) -> ApiResponse {
        let unavailable = || ApiResponse::Full {
            status: 503,
            content_type: "text/plain; charset=utf-8".into(),
            body: b"service unavailable\n".to_vec(),
        };
        let available = self
            .aggregator()
            .checked(&target.name)
            .map(|c| c.available)
            .unwrap_or(target.available);
        if !available {
            self.tell_unavailable(req, target);
            return unavailable();
        }
        let Some(client) = self.aggregator().proxy_client() else {
            return unavailable();
        };
        let Ok((ip, port)) = endpoint(self, target).await else {
            self.tell_unavailable(req, target);
            return unavailable();
        };
        let host = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let mut headers = proxy_headers(&req.user.name, &req.user.groups, &req.user.extra);
        for (name, value) in [("accept", &req.accept), ("content-type", &req.content_type)] {
            if !value.is_empty() {
                headers.push((name.to_owned(), value.clone()));
            }
        }
        let path = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        let answer = match request(&req.method, &path, &host, &headers, req.body.clone()) {
            Ok(r) => exchange(&client, self, (&ip, port), r, PROXY_TIMEOUT).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok((status, content_type, body)) => ApiResponse::Full {
                status,
                content_type,
                body: body.to_vec(),
            },
            // The upgrade-aware proxy's responder: the error's text, 503.
            Err(e) => ApiResponse::Full {
                status: 503,
                content_type: "text/plain; charset=utf-8".into(),
                body: format!("{e}\n").into_bytes(),
            },
        }
    }

    fn tell_unavailable(&self, req: &ApiRequest, target: &Registered) {
        let Some(client) = self.aggregator().proxy_client() else {
            return;
        };
        let what = req
            .path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>();
        // kubectl names the resource, or the path for discovery.
        let resource = match what.as_slice() {
            [_, group, _, "namespaces", _, resource, ..] | [_, group, _, resource, ..] => {
                format!("{resource}.{group}")
            }
            _ => req.path.clone(),
        };
        client.events.emit(
            Event::new(self.clock().now(), req.user.name.as_str(), "apiserver", Stage::Request)
                .allowed(false)
                .detail(format!("{} {} 503: APIService {} is not Available", req.method, req.path, target.name))
                .client_text("Error from server (ServiceUnavailable): the server is currently unable to handle the request")
                .explanation(format!(
                    "Alice would pass this request for {resource} on to {}, but her last check of APIService {} failed, so she answers 503 'service unavailable' herself; kubectl turns a 503 without a Status into 'the server is currently unable to handle the request'. `kubectl top` does not even get this far: discovery lists the version as Stale, so it says 'error: Metrics API not available'",
                    target.service_name, target.name
                ))
                .hint("`kubectl get apiservice v1beta1.metrics.k8s.io` shows why (its message); a 401 there means the extension server refused Alice's front-proxy-client badge: `kubeadm certs check-expiration`, then `kubeadm certs renew front-proxy-client`"),
        );
    }

    /// The groups of Available (or once-seen, then `Stale`) APIServices, for `/apis`.
    pub(crate) async fn aggregated_groups(&self) -> Vec<Value> {
        let mut groups = Vec::new();
        for target in registered(self).await {
            let Some(checked) = self.aggregator().checked(&target.name) else {
                continue;
            };
            let Some(list) = &checked.resources else {
                continue;
            };
            let resources: Vec<Value> = list["resources"]
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .filter(|r| !r["name"].as_str().unwrap_or("/").contains('/'))
                        .map(|r| {
                            json!({
                                "resource": r["name"],
                                "responseKind": {"group": target.group, "version": target.version, "kind": r["kind"]},
                                "scope": if r["namespaced"] == true { "Namespaced" } else { "Cluster" },
                                "singularResource": r["singularName"],
                                "verbs": r["verbs"],
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            groups.push(json!({
                "metadata": {"name": target.group},
                "versions": [{"version": target.version, "resources": resources,
                              "freshness": if checked.available { "Current" } else { "Stale" }}],
            }));
        }
        groups
    }

    /// `/apis` with the APIServices' groups added: the aggregated list or the legacy one.
    pub(crate) async fn extend_apis(&self, response: ApiResponse) -> ApiResponse {
        let ApiResponse::Full {
            status: 200,
            content_type,
            body,
        } = response
        else {
            return response;
        };
        let Ok(mut doc) = serde_json::from_slice::<Value>(&body) else {
            return ApiResponse::Full {
                status: 200,
                content_type,
                body,
            };
        };
        if let Some(items) = doc["items"].as_array_mut() {
            items.extend(self.aggregated_groups().await);
        } else if let Some(groups) = doc["groups"].as_array_mut() {
            groups.extend(self.legacy_groups().await);
        }
        ApiResponse::Full {
            status: 200,
            content_type,
            body: doc.to_string().into_bytes(),
        }
    }

    /// Legacy `/apis` entries for every APIService that names a service.
    pub(crate) async fn legacy_groups(&self) -> Vec<Value> {
        registered(self)
            .await
            .into_iter()
            .map(|t| {
                let gv = json!({"groupVersion": format!("{}/{}", t.group, t.version), "version": t.version});
                json!({"name": t.group, "versions": [gv.clone()], "preferredVersion": gv})
            })
            .collect()
    }
}
