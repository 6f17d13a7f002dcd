//! metrics-server's door: a self-signed serving badge, the badge check after the handshake, and
//! the `metrics.k8s.io/v1beta1` answers.
//!
//! Like every server built on k8s.io/apiserver, it asks for a client certificate without
//! requiring one, and judges it afterwards ([`crate::delegation`]): a refusal is a 401 whose
//! reason is only in its own log. Its serving badge is the one metrics-server makes at start
//! when given none (`MaybeDefaultWithSelfSignedCerts("localhost", nil, [127.0.0.1])`), which is
//! why its APIService says `insecureSkipTLSVerify: true`.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use kubecorp_trust::tls::{accept_request_client_cert, CertSource, HandshakeFailed};
use kubecorp_trust::{Event, Events, Identity, LabClock, Stage};
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::delegation::{authenticate, Authn, Caller, Delegation};
use crate::{usage, MetricsConfig, MetricsError, COMPONENT};

/// metrics-server's `--authorization-always-allow-paths`.
const ALWAYS_ALLOW_PATHS: &[&str] = &["/healthz", "/readyz", "/livez"];

#[derive(Clone)]
struct Door {
    cert: CertSource,
    delegation: Delegation,
    clock: LabClock,
    events: Events,
}

/// Serves until `shutdown` completes.
pub async fn serve(
    config: MetricsConfig,
    listener: TcpListener,
    shutdown: impl Future,
) -> Result<(), MetricsError> {
    let now = config.clock.now();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let keys = config.keys.clone();
    let badge = tokio::task::spawn_blocking(move || {
        kubecorp_pki::selfsigned::generate("localhost", &[loopback], &[], now, &keys)
    })
    .await
    .map_err(|e| MetricsError::SelfSigned {
        problem: e.to_string(),
    })?
    .map_err(|e| MetricsError::SelfSigned {
        problem: e.to_string(),
    })?;
    // `--cert-dir`: a private directory of its own, gone when it stops.
    let kept = badge
        .keep_private("kubecorp-metrics-server-", "apiserver")
        .map_err(|e| MetricsError::Store {
            dir: e.dir.display().to_string(),
            problem: e.problem,
        })?;
    let door = Door {
        cert: CertSource::pem_files(&kept.cert_path, &kept.key_path),
        delegation: Delegation::new(config.client.clone()),
        clock: config.clock.clone(),
        events: config.events.clone(),
    };
    let stamp = now.unix_timestamp();
    door.events.emit(
        Event::new(door.clock.now(), COMPONENT, COMPONENT, Stage::Tls)
            .allowed(true)
            .detail(format!(
                "serves metrics.k8s.io/v1beta1 on {} with a self-signed certificate CN=localhost@{stamp}",
                listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
            ))
            .explanation("metrics-server signs its own serving badge at start; its APIService says insecureSkipTLSVerify, so Alice does not check it. What is checked is Alice's badge: it must be the front proxy's."),
    );
    let outcome = kubecorp_door::accept_loop(listener, shutdown, |tcp, peer, stop| {
        connection(door.clone(), tcp, peer, stop)
    })
    .await
    .map_err(|failed| MetricsError::Accept {
        addr: failed.addr.map(|a| a.to_string()).unwrap_or_default(),
        reason: failed.reason,
    });
    drop(kept);
    outcome
}

async fn connection(door: Door, tcp: TcpStream, peer: SocketAddr, stop: watch::Receiver<bool>) {
    let accepted =
        accept_request_client_cert(COMPONENT, door.cert.clone(), &door.clock, &door.events, tcp);
    let (tls, chain) = match accepted.await {
        Ok(accepted) => accepted,
        Err(HandshakeFailed::Refused(text)) => {
            door.events.emit(
                Event::new(door.clock.now(), peer.to_string(), COMPONENT, Stage::Tls)
                    .server_log(format!("http: TLS handshake error from {peer}: {text}")),
            );
            return;
        }
        Err(HandshakeFailed::TimedOut) => return,
    };
    let chain: Arc<[CertificateDer<'static>]> = chain.into();
    let service = service_fn(move |req: Request<Incoming>| {
        let door = door.clone();
        let chain = chain.clone();
        async move { Ok::<_, Infallible>(request(&door, peer, &chain, &req).await) }
    });
    kubecorp_door::converse(tls, service, stop).await;
}

/// A metav1.Status body.
fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> (u16, Value) {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": message, "reason": reason, "code": code});
    if let Some(details) = details {
        body["details"] = details;
    }
    (code, body)
}

fn respond((code, body): (u16, Value)) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::CACHE_CONTROL, "no-cache, private")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("status and headers are valid")
}

fn who(badge: Option<&Identity>, peer: SocketAddr) -> String {
    badge
        .map(|b| b.cn.clone())
        .unwrap_or_else(|| peer.to_string())
}

/// One request: authenticated from the ConfigMap's trust, authorized by Alice, answered.
async fn request(
    door: &Door,
    peer: SocketAddr,
    chain: &[CertificateDer<'static>],
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let now = door.clock.now();
    let path = req.uri().path().to_owned();
    let line = format!("{} {path}", req.method());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let trust = match door.delegation.trust().await {
        Ok(trust) => trust,
        Err(e) => {
            door.events.emit(
                Event::new(now, peer.to_string(), COMPONENT, Stage::Authn)
                    .allowed(false)
                    .server_log(Authn::log_line(&[e.to_string()]))
                    .detail(format!("{line} 401"))
                    .explanation("metrics-server could not read Alice's extension-apiserver-authentication ConfigMap, so it cannot check anyone's badge")
                    .hint("its service account needs the extension-apiserver-authentication-reader Role in kube-system (RoleBinding metrics-server-auth-reader)"),
            );
            return respond(status(401, "Unauthorized", "Unauthorized", None));
        }
    };
    let caller = match authenticate(
        &trust,
        chain,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        now,
    ) {
        Authn::Caller(caller) => caller,
        Authn::Refused { badge, errors } => {
            door.events.emit(refused(door, peer, &line, badge, &errors));
            return respond(status(401, "Unauthorized", "Unauthorized", None));
        }
    };
    let from = match (&caller.badge, caller.proxied) {
        (Some(proxy), true) => proxy.cn.clone(),
        (badge, false) => who(badge.as_ref(), peer),
        (None, true) => peer.to_string(),
    };
    let answer = answer(door, &caller, req.method().as_str(), &path).await;
    let allowed = answer.0 < 400;
    let mut event = Event::new(now, from, COMPONENT, Stage::Request)
        .identity(caller.badge.clone())
        .allowed(allowed)
        .detail(if caller.proxied {
            format!(
                "{line} {} for {} (X-Remote-User, vouched for by the front-proxy badge)",
                answer.0, caller.name
            )
        } else {
            format!("{line} {}", answer.0)
        });
    if answer.0 == 403 {
        let message = answer.1["message"].as_str().unwrap_or_default().to_owned();
        event = event
            .client_text(format!("Error from server (Forbidden): {message}"))
            .explanation("metrics-server believed who the caller is, then asked Alice (SubjectAccessReview) whether they may read the metrics; RBAC said no")
            .hint("grant `get`/`list` on nodes.metrics.k8s.io or pods.metrics.k8s.io (the view ClusterRole has them through system:aggregated-metrics-reader)");
    }
    door.events.emit(event);
    respond(answer)
}

/// The event for a 401: metrics-server's log line, and which check failed in plain words.
fn refused(
    door: &Door,
    peer: SocketAddr,
    line: &str,
    badge: Option<Identity>,
    errors: &[String],
) -> Event {
    let first = errors.first().map(String::as_str).unwrap_or("");
    let (explanation, hint) = if first.contains("is not in the allowed list") {
        (
            "the badge is signed by the front-proxy CA, but its CN is not among requestheader-allowed-names (kubeadm: front-proxy-client), so metrics-server does not believe its X-Remote-User; the cluster CA does not know it either",
            "the proxy must show front-proxy-client (pki/front-proxy-client.crt); `openssl x509 -noout -subject -in` shows a badge's CN",
        )
    } else if first.contains("has expired") {
        (
            "Alice's front-proxy-client badge has expired: metrics-server checks it against requestheader-client-ca-file (front-proxy-ca.crt) on every request, finds it out of date, and the cluster CA does not know it either, so nobody Alice vouches for gets in",
            "renew it on the control plane: `kubeadm certs renew front-proxy-client` (here `kubecorp certs renew front-proxy-client`); Alice reads the new file at her next call",
        )
    } else if first.contains("unknown authority") {
        (
            "the badge is not signed by the front-proxy CA metrics-server read from Alice's ConfigMap, and not by the cluster CA either",
            "Alice must show front-proxy-client signed by front-proxy-ca (--proxy-client-cert-file); compare issuers with `openssl x509 -noout -issuer -in`",
        )
    } else {
        (
            "no authenticator metrics-server runs accepted the badge; its log says why",
            "read the log line: the first error is the front-proxy check, the second the cluster CA's",
        )
    };
    Event::new(
        door.clock.now(),
        who(badge.as_ref(), peer),
        COMPONENT,
        Stage::Authn,
    )
    .identity(badge)
    .allowed(false)
    .server_log(Authn::log_line(errors))
    .detail(format!("{line} 401"))
    .explanation(explanation)
    .hint(hint)
}

/// The answer to an authenticated caller.
async fn answer(door: &Door, caller: &Caller, method: &str, path: &str) -> (u16, Value) {
    if ALWAYS_ALLOW_PATHS.contains(&path) {
        return (200, json!("ok"));
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method != "GET" {
        return status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            None,
        );
    }
    // What is asked: discovery, or (resource, namespace, name).
    let (resource, namespace, name) = match parts.as_slice() {
        ["apis"] | ["apis", "metrics.k8s.io"] | ["apis", "metrics.k8s.io", "v1beta1"] => {
            if caller.is_anonymous() {
                return forbidden_path(caller, path);
            }
            return (200, discovery(&parts));
        }
        ["apis", "metrics.k8s.io", "v1beta1", r @ ("nodes" | "pods")] => (*r, "", ""),
        ["apis", "metrics.k8s.io", "v1beta1", "nodes", n] => ("nodes", "", *n),
        ["apis", "metrics.k8s.io", "v1beta1", "namespaces", ns, "pods"] => ("pods", *ns, ""),
        ["apis", "metrics.k8s.io", "v1beta1", "namespaces", ns, "pods", n] => ("pods", *ns, *n),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Some(json!({})),
            )
        }
    };
    let verb = if name.is_empty() { "list" } else { "get" };
    // `AlwaysAllowGroups: ["system:masters"]`; everyone else is Alice's to judge.
    if !caller.groups.iter().any(|g| g == "system:masters") {
        match door
            .delegation
            .review(caller, verb, resource, namespace, name)
            .await
        {
            Ok(true) => {}
            Ok(false) => return forbidden(caller, verb, resource, namespace, name),
            Err(e) => {
                return status(
                    500,
                    "InternalError",
                    &format!("Internal error occurred: {e}"),
                    None,
                )
            }
        }
    }
    figures(door, resource, namespace, name).await
}

/// `nodes.metrics.k8s.io is forbidden: User "…" cannot list resource "nodes" in API group
/// "metrics.k8s.io" at the cluster scope`, as k8s.io/apiserver v0.32 writes it.
fn forbidden(
    caller: &Caller,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> (u16, Value) {
    let subject = if name.is_empty() {
        format!("{resource}.metrics.k8s.io")
    } else {
        format!("{resource}.metrics.k8s.io \"{name}\"")
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{namespace}\"")
    };
    let message = format!(
        "{subject} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"metrics.k8s.io\" {scope}",
        caller.name
    );
    let mut details = json!({"group": "metrics.k8s.io", "kind": resource});
    if !name.is_empty() {
        details["name"] = json!(name);
    }
    status(403, "Forbidden", &message, Some(details))
}

fn forbidden_path(caller: &Caller, path: &str) -> (u16, Value) {
    let message = format!(
        "forbidden: User \"{}\" cannot get path \"{path}\"",
        caller.name
    );
    status(403, "Forbidden", &message, Some(json!({})))
}

/// The discovery documents of `metrics.k8s.io`.
fn discovery(parts: &[&str]) -> Value {
    let version = json!({"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"});
    let group = json!({"kind": "APIGroup", "apiVersion": "v1", "name": "metrics.k8s.io",
                       "versions": [version], "preferredVersion": version});
    match parts.len() {
        1 => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}),
        2 => group,
        _ => {
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
                    "resources": [
                        {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
                        {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]}]})
        }
    }
}

/// The figures asked for, from what Alice lists now.
async fn figures(door: &Door, resource: &str, namespace: &str, name: &str) -> (u16, Value) {
    let now = door.clock.now();
    let client = door.delegation.client();
    let pods = match client.get("/api/v1/pods").await {
        Ok(list) => list["items"].as_array().cloned().unwrap_or_default(),
        Err(e) => {
            return status(
                500,
                "InternalError",
                &format!("Internal error occurred: unable to fetch pod metrics: {e}"),
                None,
            )
        }
    };
    let not_found = |what: &str| {
        status(
            404,
            "NotFound",
            &format!("{what}.metrics.k8s.io \"{name}\" not found"),
            Some(json!({"name": name, "group": "metrics.k8s.io", "kind": what})),
        )
    };
    match resource {
        "nodes" => {
            let nodes = match client.get("/api/v1/nodes").await {
                Ok(list) => list["items"].as_array().cloned().unwrap_or_default(),
                Err(e) => {
                    return status(
                        500,
                        "InternalError",
                        &format!("Internal error occurred: unable to fetch node metrics: {e}"),
                        None,
                    )
                }
            };
            let items: Vec<Value> = nodes
                .iter()
                .filter(|n| name.is_empty() || n["metadata"]["name"] == name)
                .filter_map(|n| usage::node_metrics(n, &pods, now))
                .collect();
            match (name.is_empty(), items.into_iter().next()) {
                (true, _) => {
                    let items = nodes
                        .iter()
                        .filter_map(|n| usage::node_metrics(n, &pods, now))
                        .collect();
                    (200, usage::list("NodeMetrics", items))
                }
                (false, Some(one)) => (200, one),
                (false, None) => not_found("nodes"),
            }
        }
        _ => {
            let items: Vec<Value> = pods
                .iter()
                .filter(|p| namespace.is_empty() || p["metadata"]["namespace"] == namespace)
                .filter(|p| name.is_empty() || p["metadata"]["name"] == name)
                .filter_map(|p| usage::pod_metrics(p, now))
                .collect();
            if name.is_empty() {
                (200, usage::list("PodMetrics", items))
            } else {
                match items.into_iter().next() {
                    Some(one) => (200, one),
                    None => not_found("pods"),
                }
            }
        }
    }
}
