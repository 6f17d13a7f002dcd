//! The CEO's door on :10250, where Alice comes for `kubectl logs`.
//!
//! Three checks, in the order the real kubelet makes them:
//!
//! 1. **TLS.** The door asks for a client badge but does not judge it in the handshake (Go's
//!    `RequestClientCert`, like Alice's). What the door *shows* is the kubelet's serving badge;
//!    while a `kubelet-serving` CSR is pending it has none, and the handshake ends in an
//!    `internal_error` alert: `http: TLS handshake error from …: no serving certificate
//!    available for the kubelet`.
//! 2. **Authentication** (`authentication.x509.clientCAFile`): the badge must chain to `ca.crt`,
//!    be in date on the lab clock and allow client auth. kubeadm turns anonymous access off, so
//!    no badge, or a bad one, is `401 Unauthorized`.
//! 3. **Authorization** (`authorization.mode: Webhook`): the kubelet asks Alice with a
//!    SubjectAccessReview whether the caller may `get` `nodes/<subresource>` on this node. The
//!    subresource comes from the path: `/stats` → `stats`, `/metrics` → `metrics`, `/logs` →
//!    `log`, everything else (`/containerLogs`, `/pods`, `/exec`, …) → `proxy`. Alice says yes
//!    to `kube-apiserver-kubelet-client` because kubeadm puts it in `kubeadm:cluster-admins`.
//!
//! Then `/healthz`, `/pods` and `/containerLogs/<ns>/<pod>/<container>` are answered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use kubecorp_client::delegated::{self, Attributes, Authn, Caller};
use kubecorp_trust::events::Identity;
use kubecorp_trust::tls::{
    accept_request_client_cert, refuse_without_certificate, server_error_text, HANDSHAKE_TIMEOUT,
};
use kubecorp_trust::{Event, Stage};
use rustls_pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};

use crate::klog;
use crate::pods;
use crate::Kubelet;

/// What Go's `crypto/tls` logs when the kubelet's `GetCertificate` has nothing to give.
pub const NO_SERVING_CERTIFICATE: &str = "no serving certificate available for the kubelet";

/// Accepts connections until this task is stopped; the open connections end with it. If
/// accepting fails for good (after backing off to 30 s), the kubelet says so and its door stays
/// shut.
pub(crate) async fn serve(k: Arc<Kubelet>, listener: TcpListener) {
    let kubelet = k.clone();
    let accepted = kubecorp_door::accept_loop(
        listener,
        std::future::pending::<()>(),
        move |tcp, peer, stop| connection(kubelet.clone(), tcp, peer, stop),
    )
    .await;
    if let Err(failed) = accepted {
        k.emit(
            Event::new(k.now(), "kubelet", "kubelet", Stage::Tcp)
                .allowed(false)
                .server_log(klog::line(
                    "Failed to listen and serve",
                    &[("err", &failed.reason)],
                ))
                .explanation("the kubelet could no longer accept connections on :10250"),
        );
    }
}

fn handshake_failed(k: &Kubelet, peer: SocketAddr, text: &str, client_text: Option<&str>) {
    let mut event = Event::new(k.now(), peer.to_string(), "kubelet", Stage::Tls)
        .server_log(format!("http: TLS handshake error from {peer}: {text}"));
    if let Some(client_text) = client_text {
        event = event.client_text(client_text);
    }
    if text == NO_SERVING_CERTIFICATE {
        event = event
            .explanation("the kubelet was started with serverTLSBootstrap: true and its kubelet-serving CSR is not approved yet, so it has no certificate to show and refuses every handshake")
            .hint("find the Pending CSR with `kubectl get csr` (signer kubernetes.io/kubelet-serving) and approve it: `kubectl certificate approve NAME`");
    } else {
        event = event.explanation(
            "the visitor and the kubelet could not agree on a secure connection; see the visitor's own error for why",
        );
    }
    k.emit(event);
}

async fn connection(
    k: Arc<Kubelet>,
    mut tcp: TcpStream,
    peer: SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(serving) = k.serving() else {
        // Go's GetCertificate returned an error: the ClientHello gets an internal_error alert.
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, refuse_without_certificate(&mut tcp)).await {
            Ok(Ok(())) => handshake_failed(
                &k,
                peer,
                NO_SERVING_CERTIFICATE,
                Some("remote error: tls: internal error"),
            ),
            Ok(Err(e)) => {
                handshake_failed(&k, peer, &server_error_text(&e, &Default::default()), None)
            }
            Err(_) => handshake_failed(&k, peer, "EOF", None),
        }
        return;
    };
    let accepted =
        accept_request_client_cert("kubelet", serving, &k.config.clock, &k.config.events, tcp);
    let (tls, chain) = match accepted.await {
        Ok(accepted) => accepted,
        Err(failed) => return handshake_failed(&k, peer, failed.text(), None),
    };
    let chain = Arc::new(chain);
    let service = service_fn(move |req| {
        let k = k.clone();
        let chain = chain.clone();
        async move { Ok::<_, Infallible>(answer(&k, &chain, peer, req).await) }
    });
    kubecorp_door::converse(tls, service, stop).await;
}

fn text(status: u16, body: impl Into<String>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.into())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn json_response(body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The node subresource a kubelet path is authorized as (`GetRequestAttributes`).
pub fn subresource_for(path: &str) -> &'static str {
    let starts = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if starts("/stats") {
        "stats"
    } else if starts("/metrics") {
        "metrics"
    } else if starts("/logs") {
        "log"
    } else {
        "proxy"
    }
}

/// The API verb for an HTTP method, as the kubelet's authorizer attributes say it.
pub fn verb_for(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "get",
    }
}

/// The x509 authenticator: `Ok(caller)` with the badge shown, or `Err(log line)` for a 401.
/// kubeadm turns anonymous access off, so no opinion is a 401 too, with nothing logged.
fn authenticate(
    k: &Kubelet,
    chain: &[CertificateDer<'static>],
) -> Result<(Caller, Identity), Option<String>> {
    match delegated::authenticate(chain, &k.config.client_ca, k.now()) {
        Authn::User(Caller {
            name,
            groups,
            identity: Some(identity),
        }) => Ok((
            Caller {
                name,
                groups,
                identity: None,
            },
            identity,
        )),
        Authn::User(_) | Authn::NoOpinion => Err(None),
        Authn::Failed { error, .. } => Err(Some(klog::line(
            "Unable to authenticate the request due to an error",
            &[("err", &error)],
        ))),
    }
}

/// The SubjectAccessReview verdict: `Ok(true)` allowed, `Ok(false)` denied, `Err` (the client's
/// log line) when Alice could not be asked.
async fn authorize(
    k: &Kubelet,
    caller: &Caller,
    verb: &str,
    subresource: &str,
) -> Result<bool, String> {
    let client = k.client();
    let what = Attributes::Resource {
        verb,
        group: "",
        version: "v1",
        resource: "nodes",
        subresource,
        namespace: "",
        name: &k.node,
    };
    delegated::review(&client, caller, what)
        .await
        .map_err(|e| klog::request_error(&client, "POST", delegated::REVIEWS, &e))
}

/// One request at the kubelet's door.
async fn answer(
    k: &Kubelet,
    chain: &[CertificateDer<'static>],
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let line = format!("{method} {path}");

    let (caller, identity) = match authenticate(k, chain) {
        Ok(found) => found,
        Err(log_line) => {
            let shown = chain.first().and_then(|leaf| Identity::from_der(leaf).ok());
            let mut event = Event::new(
                k.now(),
                shown.as_ref().map(|i| i.cn.clone()).unwrap_or_else(|| peer.to_string()),
                "kubelet",
                Stage::Authn,
            )
            .identity(shown)
            .detail(format!("{line} 401"))
            .explanation(if chain.is_empty() {
                "the visitor showed no badge, and the kubelet lets nobody in anonymously (kubeadm sets authentication.anonymous.enabled: false)"
            } else {
                "the visitor's badge does not check out against the kubelet's clientCAFile (ca.crt)"
            });
            if let Some(log_line) = log_line {
                event = event.server_log(log_line);
            }
            k.emit(event);
            return text(401, "Unauthorized");
        }
    };
    k.emit(
        Event::new(k.now(), caller.name.clone(), "kubelet", Stage::Authn)
            .identity(Some(identity.clone()))
            .allowed(true)
            .detail(line.clone()),
    );

    let verb = verb_for(&method);
    let subresource = subresource_for(&path);
    match authorize(k, &caller, verb, subresource).await {
        Ok(true) => k.emit(
            Event::new(k.now(), caller.name.clone(), "kubelet", Stage::Authz)
                .identity(Some(identity.clone()))
                .allowed(true)
                .detail(format!(
                    "SubjectAccessReview {verb} nodes/{subresource} {}: allowed",
                    k.node
                )),
        ),
        Ok(false) => {
            let message = format!(
                "Forbidden (user={}, verb={verb}, resource=nodes, subresource(s)=[{subresource}])",
                caller.name
            );
            k.emit(
                Event::new(k.now(), caller.name.clone(), "kubelet", Stage::Authz)
                    .identity(Some(identity.clone()))
                    .server_log(message.clone())
                    .detail(format!("{line} 403"))
                    .explanation("Alice answered the kubelet's SubjectAccessReview with no: this person may not use the node's API")
                    .hint(format!("grant `{verb}` on `nodes/{subresource}` (kubeadm's apiserver-kubelet-client gets it from the kubeadm:cluster-admins group)")),
            );
            return text(403, message);
        }
        Err(err) => {
            let message = format!(
                "Authorization error (user={}, verb={verb}, resource=nodes, subresource={subresource})",
                caller.name
            );
            k.emit(
                Event::new(k.now(), caller.name.clone(), "kubelet", Stage::Authz)
                    .identity(Some(identity.clone()))
                    .server_log(klog::line(
                        "Authorization error",
                        &[
                            ("err", &err),
                            ("user", &caller.name),
                            ("verb", verb),
                            ("resource", "nodes"),
                            ("subresource", subresource),
                        ],
                    ))
                    .detail(format!("{line} 500"))
                    .explanation(
                        "the kubelet could not ask Alice whether this visitor may come in",
                    ),
            );
            return text(500, message);
        }
    }

    let response = route(k, &method, &path, &query);
    k.emit(
        Event::new(k.now(), caller.name.clone(), "kubelet", Stage::Request)
            .identity(Some(identity))
            .allowed(response.status().is_success())
            .detail(format!("{line} {}", response.status().as_u16())),
    );
    response
}

fn route(k: &Kubelet, method: &str, path: &str, query: &str) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["healthz"]) => text(200, "ok"),
        ("GET", ["pods"]) => json_response(&format!(
            // Go's field order, which serde_json's maps would sort away.
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{}},"items":{}}}"#,
            serde_json::Value::Array(k.pods())
        )),
        ("GET", ["containerLogs", ns, pod, container]) => {
            container_logs(k, ns, pod, container, query)
        }
        _ => text(404, "404 page not found\n"),
    }
}

fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

/// `GET /containerLogs/NS/POD/CONTAINER`, with the real kubelet's refusals: 404 for a pod it
/// does not run, 400 for an unknown container or a `previous` instance that never existed.
fn container_logs(
    k: &Kubelet,
    ns: &str,
    name: &str,
    container: &str,
    query: &str,
) -> Response<Full<Bytes>> {
    let Some(pod) = k.pod(ns, name) else {
        return text(404, format!("pod {} does not exist\n", klog::quote(name)));
    };
    let known = pod["spec"]["containers"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["name"] == container));
    if !known {
        return text(
            400,
            format!(
                "container {} in pod {} is not available",
                klog::quote(container),
                klog::quote(name)
            ),
        );
    }
    if query_param(query, "previous") == Some("true") {
        // Lab containers never restart, so there is no previous instance.
        return text(
            400,
            format!(
                "previous terminated container {} in pod {} not found",
                klog::quote(container),
                klog::quote(name)
            ),
        );
    }
    let tail = query_param(query, "tailLines")
        .or_else(|| query_param(query, "tail"))
        .and_then(|v| v.parse::<usize>().ok());
    let lines = pods::tail(pods::container_log(k, &pod, container), tail);
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    text(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_paths_map_to_node_subresources_as_the_real_kubelet_maps_them() {
        assert_eq!(subresource_for("/containerLogs/default/web/web"), "proxy");
        assert_eq!(subresource_for("/stats/summary"), "stats");
        assert_eq!(subresource_for("/metrics"), "metrics");
        assert_eq!(subresource_for("/metrics/cadvisor"), "metrics");
        assert_eq!(subresource_for("/logs/syslog"), "log");
        assert_eq!(subresource_for("/pods"), "proxy");
        assert_eq!(subresource_for("/statsx"), "proxy");
        assert_eq!(verb_for("GET"), "get");
        assert_eq!(verb_for("POST"), "create");
    }
}
