//! Bob's own door, the secure port :10259: health checks for anyone, everything else only for
//! callers the apiserver vouches for.
//!
//! # What kube-scheduler 1.32 serves, as kubeadm starts it
//!
//! kubeadm runs `kube-scheduler --bind-address=127.0.0.1 --kubeconfig=scheduler.conf
//! --authentication-kubeconfig=scheduler.conf --authorization-kubeconfig=scheduler.conf`, and no
//! `--tls-cert-file`. With no badge given, the scheduler makes one for itself at start-up,
//! `MaybeDefaultWithSelfSignedCerts("localhost", nil, [127.0.0.1])`, and keeps it in memory: a
//! throwaway CA `CN=localhost-ca@<unix time>` signs `CN=localhost@<unix time>` with SANs
//! `DNS:localhost, IP:127.0.0.1, IP:127.0.0.1` (the bind address is added once more). See
//! [`kubecorp_pki::selfsigned`]. Nobody trusts that CA: kubeadm's liveness and startup probes
//! (`httpGet` `https://127.0.0.1:10259/healthz`) do not verify, and neither does `curl -k`.
//! The lab writes the pair to a private temporary directory instead of memory, because the
//! lab's one TLS builder reads badges from files; it is made afresh at every start, as the real
//! one is, and removed at shutdown.
//!
//! # Who may ask what
//!
//! The handshake *requests* a client badge and does not judge it (Go's `RequestClientCert`, like
//! Alice's door). Then, in the request:
//!
//! - `/healthz`, `/readyz`, `/livez` are on the authorizer's always-allow list
//!   (`NewDelegatingAuthorizationOptions()` in k8s.io/apiserver: `AlwaysAllowPaths:
//!   ["/healthz", "/readyz", "/livez"]`, exact paths) and answer `200 ok` to anyone.
//! - Anything else (`/metrics`, `/configz`, `/debug/…`) goes to *delegated* authorization: the
//!   scheduler asks the apiserver with a SubjectAccessReview whether the caller may `get` that
//!   non-resource path. A caller without a badge is `system:anonymous` (delegated authentication
//!   allows anonymous), RBAC says no, and the answer is a `403` `Status`:
//!   `forbidden: User "system:anonymous" cannot get path "/metrics"` (seen verbatim from
//!   kube-controller-manager and kube-scheduler in kubernetes/kubernetes#117035). The verb is the
//!   HTTP method in lower case (`post` for a POST), as `RequestInfoFactory` makes it for a
//!   non-resource path.
//!
//! Before that, delegated *authentication*: a badge is checked against the cluster CA (kubeadm's
//! scheduler learns it from the `extension-apiserver-authentication` ConfigMap through
//! `--authentication-kubeconfig`; the lab reads `ca.crt`, the same bundle) by the x509
//! authenticator every Kubernetes door runs ([`kubecorp_trust::authn`]). A badge that fails is
//! `401` `Unauthorized` on every path, health included; no badge is `system:anonymous`. A good
//! badge is its CN and O's, and the SubjectAccessReview decides: a `kubeadm:cluster-admins`
//! badge reads `/metrics`, john does not.
//!
//! Started without the two kubeconfigs ([`serve_secure`] with no [`Delegation`]), kube-scheduler
//! checks no badge and asks nobody: every caller is `system:anonymous` and only the health paths
//! answer, which is what the door does then.
//!
//! Served to a caller who may: `/metrics` with the build-info and process-start gauges (the lab
//! keeps no scheduling histograms); other paths (`/configz`, `/debug/pprof/…`) are `404`.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use kubecorp_client::delegated::{self, Attributes, Authn, Caller};
use kubecorp_client::KubeClient;
use kubecorp_pki::key_source::KeySource;
use kubecorp_pki::selfsigned::{self, SelfSigned};
use kubecorp_trust::authn::{front_proxy_error, unable_to_authenticate};
use kubecorp_trust::tls::{accept_request_client_cert, TrustSource};
use kubecorp_trust::{Event, Events, Identity, LabClock, Stage};
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// kube-scheduler's secure port (`--secure-port`, `DefaultKubeSchedulerPort`).
pub const SECURE_PORT: u16 = 10259;
/// The host its self-signed badge is made for.
pub const SELF_SIGNED_HOST: &str = "localhost";
/// Paths every caller may read, badge or not.
pub const ALWAYS_ALLOW_PATHS: [&str; 3] = ["/healthz", "/readyz", "/livez"];
/// The name on events: the door is Bob's.
pub const COMPONENT: &str = "scheduler";

/// Why the secure port could not be opened or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// The self-signed badge could not be made (kube-scheduler: `error creating self-signed
    /// certificates: unable to generate self signed cert: …`).
    #[error("scheduler: error creating self-signed certificates: unable to generate self signed cert: {problem}")]
    SelfSigned { problem: String },
    /// The private directory that holds it could not be made or written.
    #[error("scheduler: keeping the self-signed certificate in {}: {problem}", dir.display())]
    Store { dir: PathBuf, problem: String },
    /// Accepting connections failed for good.
    #[error("scheduler: accepting on {addr}: {reason}")]
    Accept { addr: String, reason: String },
}

/// The badge kube-scheduler makes when kubeadm gives it none: see the module docs. RSA key
/// generation takes a moment, so this runs off the async threads.
pub async fn self_signed_badge(
    now: OffsetDateTime,
    keys: KeySource,
) -> Result<SelfSigned, ServingError> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    tokio::task::spawn_blocking(move || {
        // `alternateIPs` = [127.0.0.1] from the caller, then the bind address 127.0.0.1.
        selfsigned::generate(SELF_SIGNED_HOST, &[loopback, loopback], &[], now, &keys)
    })
    .await
    .map_err(|e| ServingError::SelfSigned {
        problem: e.to_string(),
    })?
    .map_err(|e| ServingError::SelfSigned {
        problem: e.to_string(),
    })
}

/// kubeadm's `--authentication-kubeconfig` and `--authorization-kubeconfig` (both
/// `scheduler.conf`): the CA badges are checked against, and Bob's own client for asking Alice.
#[derive(Clone)]
pub struct Delegation {
    /// The `client-ca-file` Alice publishes in `extension-apiserver-authentication`: `ca.crt`.
    pub client_ca: TrustSource,
    /// Its `requestheader-client-ca-file`: `front-proxy-ca.crt`, checked first.
    pub front_proxy_ca: Option<TrustSource>,
    /// Bob as `system:kube-scheduler`, who may create SubjectAccessReviews.
    pub reviewer: KubeClient,
}

/// Serves Bob's secure port on `listener` until `shutdown` completes, then lets open
/// connections finish for a few seconds. Every request and every failed handshake is an event
/// to `scheduler`. Without `delegation` every caller is `system:anonymous` (see the module docs).
/// The self-signed badge's keys come from `keys` (the lab's, see [`KeySource`]).
pub async fn serve_secure(
    listener: TcpListener,
    clock: LabClock,
    events: Events,
    delegation: Option<Delegation>,
    keys: KeySource,
    shutdown: impl Future,
) -> Result<(), ServingError> {
    let made_at = clock.now();
    let badge = self_signed_badge(made_at, keys).await?;
    let kept = badge
        .keep_private("kubecorp-scheduler-serving-", "kube-scheduler")
        .map_err(|e| ServingError::Store {
            dir: e.dir,
            problem: e.problem,
        })?;
    let door = Door {
        cert: kubecorp_trust::tls::CertSource::pem_files(&kept.cert_path, &kept.key_path),
        clock,
        events,
        delegation,
        started: made_at,
    };
    let stamp = made_at.unix_timestamp();
    door.events.emit(
        Event::new(door.clock.now(), COMPONENT, COMPONENT, Stage::Tls)
            .allowed(true)
            .detail(format!(
                "secure port :{} serves a self-signed certificate CN={SELF_SIGNED_HOST}@{stamp}, issuer CN={SELF_SIGNED_HOST}-ca@{stamp}",
                listener.local_addr().map(|a| a.port()).unwrap_or(SECURE_PORT)
            ))
            .explanation("kubeadm gives kube-scheduler no --tls-cert-file, so at start it signs a badge for itself with a CA it makes on the spot; only clients that do not verify (health probes, curl -k) accept it."),
    );

    let outcome = kubecorp_door::accept_loop(listener, shutdown, |tcp, peer, stop| {
        connection(door.clone(), tcp, peer, stop)
    })
    .await
    .map_err(|failed| ServingError::Accept {
        addr: failed.addr.map(|a| a.to_string()).unwrap_or_default(),
        reason: failed.reason,
    });
    drop(kept);
    outcome
}

#[derive(Clone)]
struct Door {
    cert: kubecorp_trust::tls::CertSource,
    clock: LabClock,
    events: Events,
    delegation: Option<Delegation>,
    /// When Bob started (`process_start_time_seconds`).
    started: OffsetDateTime,
}

async fn connection(door: Door, tcp: TcpStream, peer: SocketAddr, stop: watch::Receiver<bool>) {
    let accepted =
        accept_request_client_cert(COMPONENT, door.cert.clone(), &door.clock, &door.events, tcp);
    let (tls, chain) = match accepted.await {
        Ok(accepted) => accepted,
        Err(failed) => return handshake_failed(&door, peer, failed.text()),
    };
    let chain: std::sync::Arc<[CertificateDer<'static>]> = chain.into();
    let service = service_fn(move |req: Request<Incoming>| {
        let door = door.clone();
        let chain = chain.clone();
        async move { Ok::<_, Infallible>(request(&door, peer, &chain, &req).await) }
    });
    kubecorp_door::converse(tls, service, stop).await;
}

/// Go's `net/http` logs a failed handshake as `http: TLS handshake error from <peer>: <err>`;
/// the usual one here is a client that checked Bob's self-signed badge and refused it.
fn handshake_failed(door: &Door, peer: SocketAddr, text: &str) {
    let mut event = Event::new(door.clock.now(), peer.to_string(), COMPONENT, Stage::Tls)
        .server_log(format!("http: TLS handshake error from {peer}: {text}"));
    if text.contains("unknown certificate authority") || text.contains("bad certificate") {
        event = event
            .explanation("The visitor checked Bob's badge and refused it: kube-scheduler serves :10259 with a certificate it signed itself (CN=localhost@…, issuer localhost-ca@…), and no CA anyone holds vouches for it.")
            .hint("Health checks do not verify it (kubeadm's probes, `curl -k`). To verify, give kube-scheduler a real badge with --tls-cert-file/--tls-private-key-file.");
    } else {
        event = event.explanation(
            "The visitor and Bob could not agree on a secure connection; the visitor's own error says why.",
        );
    }
    door.events.emit(event);
}

/// Delegated authentication: `Err` is the 401 (with the log line), after telling it.
fn authenticate(
    door: &Door,
    peer: SocketAddr,
    chain: &[CertificateDer<'static>],
    req: &Request<Incoming>,
) -> Result<Caller, Reply> {
    let line = format!("{} {}", req.method(), req.uri().path());
    let user_agent = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let shown = chain.first().and_then(|leaf| Identity::from_der(leaf).ok());
    let Some(delegation) = &door.delegation else {
        // No --authentication-kubeconfig: no client CA, so a badge counts for nothing.
        return Ok(Caller::anonymous(shown));
    };
    let failed = |log: String, explanation: &str| {
        door.events.emit(
            Event::new(door.clock.now(), who(shown.as_ref(), peer), COMPONENT, Stage::Authn)
                .identity(shown.clone())
                .allowed(false)
                .client_text("Unauthorized")
                .server_log(log)
                .detail(format!("{line} 401 on the secure port"))
                .explanation(explanation)
                .hint("Show a badge signed by the cluster CA (ca.crt), e.g. the one in admin.conf, or none at all for the health paths."),
        );
        unauthorized(req.uri().query(), user_agent)
    };
    match delegated::authenticate(chain, &delegation.client_ca, door.clock.now()) {
        Authn::NoOpinion => Ok(Caller::anonymous(shown)),
        Authn::User(caller) => Ok(caller),
        Authn::Failed {
            error,
            verdict: None,
        } => Err(failed(
            format!("\"Unable to authenticate the request\" err=\"{error}\""),
            "Bob could not read the client CA he checks badges against, so no badge can pass.",
        )),
        Authn::Failed {
            error,
            verdict: Some(verdict),
        } => Err(failed(
            unable_to_authenticate(
                delegation
                    .front_proxy_ca
                    .as_ref()
                    .and_then(|source| source.load().ok())
                    .and_then(|ca| front_proxy_error(chain, &ca, door.clock.now()))
                    .as_deref(),
                &error,
            ),
            &format!(
                "Bob checks badges on his secure port the way Alice does, against the cluster CA, and this one fails: {}",
                verdict.explanation
            ),
        )),
    }
}

/// One HTTP request: authenticated, authorized, answered, and told as an event.
async fn request(
    door: &Door,
    peer: SocketAddr,
    chain: &[CertificateDer<'static>],
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (method, path, query) = (req.method(), req.uri().path(), req.uri().query());
    let user_agent = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let caller = match authenticate(door, peer, chain, req) {
        Ok(caller) => caller,
        Err(reply) => return respond(reply),
    };
    let verb = method.as_str().to_lowercase();
    let (reply, sar) = if ALWAYS_ALLOW_PATHS.contains(&path) {
        (healthy(), None)
    } else {
        let request_uri = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        match &door.delegation {
            None => (
                forbidden(&caller.name, method, path, query, user_agent),
                None,
            ),
            // `AlwaysAllowGroups: ["system:masters"]` in the delegated authorizer: no review.
            Some(_) if caller.groups.iter().any(|g| g == "system:masters") => {
                (served(door, path), None)
            }
            Some(delegation) => match delegated::review(
                &delegation.reviewer,
                &caller,
                Attributes::NonResource { verb: &verb, path },
            )
            .await
            .map_err(|e| e.to_string())
            {
                Ok(true) => (served(door, path), Some(true)),
                Ok(false) => (
                    forbidden(&caller.name, method, path, query, user_agent),
                    Some(false),
                ),
                Err(err) => (internal_error(&request_uri, &err), None),
            },
        }
    };
    let mut event = Event::new(
        door.clock.now(),
        who(caller.identity.as_ref(), peer),
        COMPONENT,
        Stage::Request,
    )
    .allowed(reply.status.is_success())
    .identity(caller.identity.clone())
    .detail(format!(
        "{method} {path} {} on the secure port{}",
        reply.status.as_u16(),
        match sar {
            Some(true) => format!(" (SubjectAccessReview: {} may {verb} {path})", caller.name),
            Some(false) => format!(
                " (SubjectAccessReview: {} may not {verb} {path})",
                caller.name
            ),
            None => String::new(),
        }
    ));
    if reply.status == StatusCode::FORBIDDEN {
        event = event.client_text(reply.message.clone());
        event = match (&door.delegation, caller.identity.is_some()) {
            (None, true) => event.explanation("Only /healthz, /readyz and /livez are open to everyone on kube-scheduler's secure port; other paths need the apiserver's yes. This Bob was started without --authentication-kubeconfig, so he checks no badge: the caller counts as system:anonymous, whom RBAC does not allow."),
            (_, false) => event.explanation("Only /healthz, /readyz and /livez are open to everyone on kube-scheduler's secure port. This caller showed no badge, so it is system:anonymous, and RBAC gives system:anonymous no non-resource paths."),
            (Some(_), true) => event.explanation(format!(
                "Bob checked the badge (it is {}), then asked Alice with a SubjectAccessReview whether {} may {verb} {path}; RBAC says no.",
                caller.name, caller.name
            )),
        }
        .hint(format!(
            "Read health with `curl -k https://127.0.0.1:10259/healthz`. For {path} the caller needs RBAC's `{verb}` on that nonResourceURL, e.g. `kubectl create clusterrole metrics-reader --verb=get --non-resource-url=/metrics` and a ClusterRoleBinding to it."
        ));
    } else if reply.status == StatusCode::INTERNAL_SERVER_ERROR {
        event = event
            .server_log(format!("\"Authorization error\" err=\"{}\" user=\"{}\" path=\"{path}\"", reply.message, caller.name))
            .explanation("Bob could not ask Alice whether this caller may come in (the SubjectAccessReview failed), so he answers 500.");
    }
    door.events.emit(event);
    respond(reply)
}

/// The name on events: the badge's CN, or the address when no badge was shown.
fn who(identity: Option<&Identity>, peer: SocketAddr) -> String {
    identity
        .map(|i| i.cn.clone())
        .unwrap_or_else(|| peer.to_string())
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    Response::builder()
        .status(reply.status)
        .header(hyper::header::CONTENT_TYPE, reply.content_type)
        // WithCacheControl in the scheduler's handler chain, and the handlers' nosniff.
        .header(hyper::header::CACHE_CONTROL, "no-cache, private")
        .header("X-Content-Type-Options", "nosniff")
        .body(Full::new(Bytes::from(reply.body)))
        .expect("status and headers are valid")
}

/// What the secure port answers, as a plain value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    /// The Status message of a refusal, empty otherwise.
    pub message: String,
}

/// The answer to `method path?query` for a caller who is `system:anonymous` (no badge, or no
/// delegated authentication): health for anyone, a 403 for the rest. `user_agent` decides
/// pretty-printing, as the apiserver library does for curl, Wget and browsers.
pub fn answer(method: &Method, path: &str, query: Option<&str>, user_agent: Option<&str>) -> Reply {
    if ALWAYS_ALLOW_PATHS.contains(&path) {
        return healthy();
    }
    forbidden("system:anonymous", method, path, query, user_agent)
}

fn healthy() -> Reply {
    Reply {
        status: StatusCode::OK,
        content_type: "text/plain; charset=utf-8",
        body: "ok".into(),
        message: String::new(),
    }
}

/// The apiserver library's 403 for a non-resource path, naming `user`.
pub fn forbidden(
    user: &str,
    method: &Method,
    path: &str,
    query: Option<&str>,
    user_agent: Option<&str>,
) -> Reply {
    let message = format!(
        "forbidden: {}",
        html_entities(&format!(
            "User {} cannot {} path {}",
            go_quote(user),
            method.as_str().to_lowercase(),
            go_quote(path)
        ))
    );
    let status = ForbiddenStatus {
        kind: "Status",
        api_version: "v1",
        metadata: Empty {},
        status: "Failure",
        message: &message,
        reason: "Forbidden",
        details: Some(Empty {}),
        code: 403,
    };
    Reply {
        status: StatusCode::FORBIDDEN,
        content_type: "application/json",
        body: status_body(&status, query, user_agent),
        message,
    }
}

/// `401 Unauthorized`, the same Status Alice answers: the reason only in the log.
fn unauthorized(query: Option<&str>, user_agent: Option<&str>) -> Reply {
    let status = ForbiddenStatus {
        kind: "Status",
        api_version: "v1",
        metadata: Empty {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        details: None,
        code: 401,
    };
    Reply {
        status: StatusCode::UNAUTHORIZED,
        content_type: "application/json",
        body: status_body(&status, query, user_agent),
        message: "Unauthorized".into(),
    }
}

/// `responsewriters.InternalError`: Go's `http.Error` text when the review could not be made.
fn internal_error(request_uri: &str, err: &str) -> Reply {
    // `http.Error` of the request URI (query included), `&`, `<`, `>` as HTML entities.
    let message = html_entities(&format!(
        "Internal Server Error: {}: {err}",
        go_quote(request_uri)
    ));
    Reply {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        content_type: "text/plain; charset=utf-8",
        body: format!("{message}\n"),
        message,
    }
}

/// What an allowed caller reads: `/metrics`, or Go's mux's 404.
fn served(door: &Door, path: &str) -> Reply {
    if path != "/metrics" {
        return Reply {
            status: StatusCode::NOT_FOUND,
            content_type: "text/plain; charset=utf-8",
            body: "404 page not found\n".into(),
            message: String::new(),
        };
    }
    Reply {
        status: StatusCode::OK,
        content_type: "text/plain; version=0.0.4; charset=utf-8",
        body: metrics(door.started),
        message: String::new(),
    }
}

/// Two gauges every Kubernetes component exposes, in the Prometheus text format: the build
/// (the lab's, as Alice's `/version` gives it) and the process start time.
fn metrics(started: OffsetDateTime) -> String {
    format!(
        "# HELP kubernetes_build_info [ALPHA] A metric with a constant '1' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.\n\
         # TYPE kubernetes_build_info gauge\n\
         kubernetes_build_info{{build_date=\"2026-01-01T00:00:00Z\",compiler=\"gc\",git_commit=\"0000000000000000000000000000000000000000\",git_tree_state=\"clean\",git_version=\"v1.32.0-kubecorp\",go_version=\"go1.23.8\",major=\"1\",minor=\"32\",platform=\"linux/amd64\"}} 1\n\
         # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n\
         # TYPE process_start_time_seconds gauge\n\
         process_start_time_seconds {}\n",
        started.unix_timestamp()
    )
}

/// A Status as the apiserver library writes it: indented for curl and friends (or `?pretty`),
/// compact with a newline otherwise; `<`, `>` and `&` escaped as Go's encoder does.
fn status_body(
    status: &ForbiddenStatus<'_>,
    query: Option<&str>,
    user_agent: Option<&str>,
) -> String {
    let body = if is_pretty(query, user_agent) {
        // json.MarshalIndent(obj, "", "  "), written as is.
        serde_json::to_string_pretty(status)
    } else {
        // json.Encoder.Encode: compact, then a newline.
        serde_json::to_string(status).map(|s| s + "\n")
    }
    .expect("a Status always serializes");
    json_html_escape(&body)
}

#[derive(Serialize)]
struct Empty {}

/// metav1.Status as the apiserver library writes a 403 or a 401, in its field order.
#[derive(Serialize)]
struct ForbiddenStatus<'a> {
    kind: &'a str,
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    metadata: Empty,
    status: &'a str,
    message: &'a str,
    reason: &'a str,
    /// A 403 carries empty details; a 401 none.
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Empty>,
    code: u16,
}

/// `isPrettyPrint` (see [`kubecorp_trust::gohttp::pretty_print`]) on the first `pretty` value.
fn is_pretty(query: Option<&str>, user_agent: Option<&str>) -> bool {
    let first = query.and_then(|q| {
        q.split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| *k == "pretty")
            .map(|(_, v)| v)
    });
    kubecorp_trust::gohttp::pretty_print(first, user_agent.unwrap_or(""))
}

use kubecorp_trust::go_quote;
use kubecorp_trust::gohttp::{html_entities, json_html_escape};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_paths_answer_ok_to_anyone() {
        for path in ALWAYS_ALLOW_PATHS {
            let reply = answer(&Method::GET, path, None, None);
            assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "ok"));
        }
    }

    #[test]
    fn metrics_for_an_anonymous_caller_is_the_apiservers_forbidden_status() {
        let reply = answer(&Method::GET, "/metrics", None, Some("Go-http-client/1.1"));
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            reply.body,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"forbidden: User \\\"system:anonymous\\\" cannot get path \\\"/metrics\\\"\",\"reason\":\"Forbidden\",\"details\":{},\"code\":403}\n"
        );
    }

    #[test]
    fn a_failed_review_is_gos_internal_error_naming_the_request_uri_html_escaped() {
        let reply = internal_error(
            "/metrics?a=1&b=<2>",
            "dial tcp 127.0.0.1:6443: connect: connection refused",
        );
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            reply.body,
            "Internal Server Error: \"/metrics?a=1&amp;b=&lt;2&gt;\": dial tcp 127.0.0.1:6443: connect: connection refused\n"
        );
    }

    #[test]
    fn curl_gets_the_refusal_indented_and_a_post_names_its_verb() {
        let reply = answer(&Method::POST, "/healthz/ping", None, Some("curl/8.5.0"));
        assert!(reply.body.starts_with("{\n  \"kind\": \"Status\",\n"));
        assert_eq!(
            reply.message,
            r#"forbidden: User "system:anonymous" cannot post path "/healthz/ping""#
        );
        let compact = answer(&Method::GET, "/x", Some("pretty=false"), Some("curl/8"));
        assert!(compact.body.ends_with("}\n"));
    }
}
