//! Alice's front door: TLS that asks for a badge, then authentication, authorization and the desk.
//!
//! The handshake never fails because of a client certificate (the apiserver only *requests*
//! one); every request is then authenticated from the presented chain, authorized, and
//! answered by [`Api::handle`]. Each step is an event on the lab's stream.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kubecorp_trust::authn::requestheader::RequestHeaderConfig;
use kubecorp_trust::events::{Event, Events, Identity, Stage};
use kubecorp_trust::tls::{accept_request_client_cert, CertSource, HandshakeFailed, TrustSource};
use kubecorp_trust::LabClock;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;

use crate::api::{Api, ApiRequest, ApiResponse, MAX_BODY};
use crate::authn::{authenticate, Authn, FrontProxy};
use crate::service_accounts::Bearer;
use crate::status;

type Body = Either<Full<Bytes>, http_body_util::channel::Channel<Bytes>>;

/// What the front door needs.
#[derive(Clone)]
pub struct ApiserverConfig {
    pub api: Api,
    /// `apiserver.crt`/`apiserver.key`, re-read when they change on disk.
    pub serving: CertSource,
    /// `--client-ca-file`: the bundle badges are checked against after the handshake.
    pub client_ca: TrustSource,
    /// `--requestheader-client-ca-file` (kubeadm: `front-proxy-ca.crt`): the front-proxy
    /// authenticator's CA, checked first.
    pub front_proxy_ca: Option<TrustSource>,
    /// `--requestheader-allowed-names` and the `--requestheader-*-headers` (kubeadm's values:
    /// [`RequestHeaderConfig::kubeadm`]).
    pub requestheader: RequestHeaderConfig,
    pub clock: LabClock,
    pub events: Events,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("apiserver: accepting a connection on {addr}: {source}")]
    Accept {
        addr: String,
        source: std::io::Error,
    },
}

/// Serves until `shutdown` completes.
pub async fn run(
    config: ApiserverConfig,
    listener: TcpListener,
    shutdown: impl Future,
) -> Result<(), ServeError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tokio::pin!(shutdown);
    let badge = badge_changes(config.serving.clone());
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(source) if is_transient(&source) => continue,
                Err(source) => return Err(ServeError::Accept { addr, source }),
            },
        };
        // Small request/answer exchanges: no Nagle delay waiting for an ACK.
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        let mut badge = badge.clone();
        badge.mark_unchanged();
        tokio::spawn(async move { serve_connection(config, tcp, peer, badge).await });
    }
}

/// How often Alice looks at her serving badge on disk for a change.
const BADGE_LOOK: std::time::Duration = std::time::Duration::from_millis(100);

/// The serving badge as Alice has it on disk now (`None` when it cannot be read).
type Worn = Option<Arc<rustls::sign::CertifiedKey>>;

/// Told the serving badge each time it changes on disk (renewed, broken, replaced). The lab's
/// Alice wears a new badge from the next handshake, as kube-apiserver does after the restart
/// that follows `kubeadm certs renew`; so her kept connections made with an older one are
/// closed as that restart closes them, and every client meets the new badge at its next call.
/// The look ends when the server and its connections are gone.
fn badge_changes(serving: CertSource) -> tokio::sync::watch::Receiver<Worn> {
    let (changed, receiver) = tokio::sync::watch::channel(serving.load().ok());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = changed.closed() => return,
                _ = tokio::time::sleep(BADGE_LOOK) => {}
            }
            let now = serving.load().ok();
            changed.send_if_modified(|worn| {
                let modified = !same_badge(worn, &now);
                if modified {
                    worn.clone_from(&now);
                }
                modified
            });
        }
    });
    receiver
}

fn same_badge<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Ends at the first change on disk, told after the connection began, to a badge other than
/// `worn`, the one the connection was made with. (The look lags up to [`BADGE_LOOK`]: a
/// connection made with a new badge before the look saw it is kept when the look catches up.)
async fn badge_changed_from<T>(
    worn: Option<Arc<T>>,
    badge: &mut tokio::sync::watch::Receiver<Option<Arc<T>>>,
) {
    while badge.changed().await.is_ok() {
        if !same_badge(&badge.borrow_and_update(), &worn) {
            return;
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

async fn serve_connection(
    config: ApiserverConfig,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    mut badge: tokio::sync::watch::Receiver<Worn>,
) {
    // The badge this connection's handshake is about to show.
    let worn = config.serving.load().ok();
    // Client certificates are requested, not required, and not judged here (see authn.rs).
    let accepted = accept_request_client_cert(
        "apiserver",
        config.serving.clone(),
        &config.clock,
        &config.events,
        tcp,
    );
    let (tls, chain) = match accepted.await {
        Ok(accepted) => accepted,
        Err(failed) => {
            // Go's net/http logs every failed handshake this way.
            let line = format!("http: TLS handshake error from {peer}: {}", failed.text());
            let event = Event::new(
                config.clock.now(),
                peer.to_string(),
                "apiserver",
                Stage::Tls,
            )
            .server_log(line);
            config.events.emit(match failed {
                HandshakeFailed::Refused(_) => event.explanation("the visitor and Alice could not agree on a secure connection; see the visitor's own error for why"),
                HandshakeFailed::TimedOut => event,
            });
            return;
        }
    };
    let chain = Arc::new(chain);
    let service = service_fn(move |req: Request<Incoming>| {
        let config = config.clone();
        let chain = chain.clone();
        let line = format!("{} {}", req.method(), req.uri());
        let (clock, events) = (config.clock.clone(), config.events.clone());
        let answered = async move { answer(&config, &chain, peer, req).await };
        async move {
            Ok::<_, Infallible>(
                recovered(answered, |panic| {
                    // klog.ErrorS(nil, "apiserver panic'd", "method", …, "URI", …)
                    let (method, uri) = line.split_once(' ').unwrap_or((&line, ""));
                    events.emit(
                        Event::new(clock.now(), peer.to_string(), "apiserver", Stage::Request)
                            .allowed(false)
                            .detail(format!("{line} 500"))
                            .server_log(format!(
                                "\"apiserver panic'd\" method=\"{method}\" URI=\"{uri}\""
                            ))
                            .explanation(format!(
                                "this request hit a fault in the lab's apiserver ({panic}); Alice answered 500 and keeps serving everyone else"
                            )),
                    );
                })
                .await,
            )
        }
    });
    // A visitor that connects and never sends a request's head is let go after 30 s.
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        // Her badge changed: closed at once if idle, else once the answer under way (a watch
        // included) is done.
        _ = badge_changed_from(worn, &mut badge) => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}

/// What a task that did not finish ended with: its panic's message (`a panic` when the panic
/// carried no text), or `None` when it was cancelled. The office's supervisor says the same of
/// a component that stopped.
pub fn panic_message(ended: tokio::task::JoinError) -> Option<String> {
    let payload = ended.try_into_panic().ok()?;
    Some(
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into()),
    )
}

/// Runs one request's answer in a task of its own, so a panic in it ends only that request:
/// the visitor gets kube-apiserver's `WithPanicRecovery` answer (a 500 in plain text) and every
/// other connection carries on (k8s.io/apiserver v0.32 `server/filters/wrap.go`).
pub async fn recovered<F>(answered: F, on_panic: impl FnOnce(String)) -> Response<Body>
where
    F: Future<Output = Response<Body>> + Send + 'static,
{
    match tokio::spawn(answered).await {
        Ok(response) => response,
        Err(e) => {
            let what = panic_message(e).unwrap_or_else(|| "a cancelled task".into());
            on_panic(what);
            let mut response = full(
                500,
                "text/plain; charset=utf-8",
                b"This request caused apiserver to panic. Look in the logs for details.\n".to_vec(),
                false,
            );
            response.headers_mut().insert(
                "x-content-type-options",
                hyper::header::HeaderValue::from_static("nosniff"),
            );
            response
        }
    }
}

/// `json.MarshalIndent(obj, "", "  ")`: the same keys in the same order, two-space indents, no
/// trailing newline. A body that is not JSON is left as it is.
fn indented(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() * 2);
    let mut reader = serde_json::Deserializer::from_slice(&body);
    let mut writer = serde_json::Serializer::pretty(&mut out);
    match serde_transcode::transcode(&mut reader, &mut writer).and_then(|()| reader.end()) {
        // Go's encoder escapes these three inside strings (they cannot occur outside); the
        // re-indenting decoded them.
        Ok(()) => String::from_utf8(out)
            .map(|text| kubecorp_trust::gohttp::json_html_escape(&text).into_bytes())
            .unwrap_or(body),
        Err(_) => body,
    }
}

fn full(status: u16, content_type: &str, body: Vec<u8>, pretty: bool) -> Response<Body> {
    let body = if pretty && content_type.starts_with("application/json") {
        indented(body)
    } else {
        body
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-cache, private")
        .body(Either::Left(Full::new(Bytes::from(body))))
        .expect("a valid response")
}

fn status_response((code, body): (u16, String), pretty: bool) -> Response<Body> {
    full(code, "application/json", body.into_bytes(), pretty)
}

/// Authenticate, authorize, answer: one request at Alice's door.
async fn answer(
    config: &ApiserverConfig,
    chain: &[CertificateDer<'static>],
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let now = config.clock.now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let accept = header("accept");
    // `isPrettyPrint`: Go reads the first `pretty` value (`Query().Get`).
    let pretty = kubecorp_trust::gohttp::pretty_print(
        crate::request::query_param(&query, "pretty").as_deref(),
        &header("user-agent"),
    );
    let content_type = header("content-type");
    let line = format!("{method} {path}");

    let roots = match config.client_ca.load() {
        Ok(roots) => roots,
        Err(e) => {
            // Without its --client-ca-file the apiserver cannot verify anyone.
            config.events.emit(
                Event::new(now, peer.to_string(), "apiserver", Stage::Authn)
                    .server_log(format!(
                        "\"Unable to authenticate the request\" err=\"{e}\""
                    ))
                    .detail(format!("{line} 401")),
            );
            return status_response(status::unauthorized(), pretty);
        }
    };
    let front_proxy = config
        .front_proxy_ca
        .as_ref()
        .and_then(|source| source.load().ok());
    // `Authorization: Bearer <token>`, read as Go's bearer authenticator reads it.
    let authorization = header("authorization");
    let bearer = {
        let mut parts = authorization.trim().splitn(3, ' ');
        match (parts.next(), parts.next()) {
            (Some(scheme), Some(token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() =>
            {
                Some(token.to_owned())
            }
            _ => None,
        }
    };
    // kube-apiserver's order: the front proxy's request headers and the x509 badge first, then
    // the token authenticators; the first that knows the visitor wins.
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let x509 = authenticate(
        chain,
        &roots,
        front_proxy.as_deref().map(|ca| FrontProxy {
            ca: ca.as_slice(),
            config: &config.requestheader,
        }),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        now,
    );
    let mut proxied_by = None;
    let (user, identity, by_token) = match (x509, bearer) {
        (Authn::User { user, identity }, _) => (user, Some(identity), false),
        (Authn::Proxied { user, proxy }, _) => {
            proxied_by = Some(proxy.cn.clone());
            (user, Some(proxy), false)
        }
        (Authn::Anonymous, None) => (crate::user::UserInfo::anonymous(), None, false),
        (
            Authn::Failed {
                identity,
                verdict,
                log_line,
                ..
            },
            None,
        ) => {
            // An expired badge is re-issued the way its kind is: kubeadm renews only its own
            // (kubelet.conf rotates itself, a person's badge needs a new CSR).
            let hint = match (&identity, verdict.kind) {
                (Some(id), kubecorp_trust::VerdictKind::Expired) => {
                    kubecorp_pki::advice::reissue(&id.cn, &id.orgs).expired_hint()
                }
                _ => verdict.hint.clone(),
            };
            config.events.emit(
                Event::new(now, who(identity.as_ref(), peer), "apiserver", Stage::Authn)
                    .identity(identity)
                    .verdict(&verdict)
                    .hint(hint)
                    .client_text(unauthorized_text(&path))
                    .server_log(log_line)
                    .detail(format!("{line} 401")),
            );
            return status_response(status::unauthorized(), pretty);
        }
        (badge, Some(token)) => {
            let (identity, badge_errors) = match badge {
                Authn::Failed {
                    identity, errors, ..
                } => (identity, errors),
                _ => (None, Vec::new()),
            };
            let refused = match config.api.authenticate_token(&token).await {
                Ok(Bearer::User { user, .. }) => Err(user),
                Ok(Bearer::NotOurs) => Ok(None),
                Ok(Bearer::Invalid(reason)) => Ok(Some(reason)),
                Err(e) => Ok(Some(e.to_string())),
            };
            match refused {
                Err(user) => (user, None, true),
                Ok(reason) => {
                    let log_line =
                        crate::tokens::unable_to_authenticate(&badge_errors, reason.as_deref());
                    config.events.emit(
                        Event::new(now, who(identity.as_ref(), peer), "apiserver", Stage::Authn)
                            .identity(identity)
                            .client_text(unauthorized_text(&path))
                            .server_log(log_line)
                            .explanation(token_explanation(reason.as_deref()))
                            .hint("ask for a new token: `kubectl create token NAME --duration 1h` (the account must exist; the token is for the apiserver's audience unless --audience says otherwise), and check it with a TokenReview or against /openid/v1/jwks")
                            .detail(format!("{line} 401")),
                    );
                    return status_response(status::unauthorized(), pretty);
                }
            }
        }
    };
    // A token carries no badge: the visitor is named by the account the token names; a front
    // proxy's visitor by the user its headers vouch for.
    let from = if by_token || proxied_by.is_some() {
        user.name.clone()
    } else {
        who(identity.as_ref(), peer)
    };
    if let Some(proxy) = &proxied_by {
        config.events.emit(
            Event::new(now, proxy.clone(), "apiserver", Stage::Authn)
                .identity(identity.clone())
                .allowed(true)
                .detail(format!("{line}: {proxy} vouches for {} (X-Remote-User)", user.name))
                .explanation(format!(
                    "the badge is the front proxy's (signed by front-proxy-ca, CN {proxy} among --requestheader-allowed-names), so Alice believes its X-Remote-User header: the request is {}'s",
                    user.name
                )),
        );
    }

    // `kubectl --as`: the request goes on as someone else once each part is allowed.
    let asked = crate::impersonation::Asked::from_headers(
        req.headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
    );
    let user = match asked {
        None => user,
        Some(asked) => match crate::impersonation::impersonate(&config.api, &user, asked).await {
            Ok(as_user) => as_user,
            Err(refusal) => {
                config.events.emit(
                    Event::new(now, from.clone(), "apiserver", Stage::Authz)
                        .identity(identity.clone())
                        .allowed(false)
                        .detail(format!("{line} {} (impersonation)", refusal.0)),
                );
                return status_response(refusal, pretty);
            }
        },
    };

    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return status_response(status::request_entity_too_large(), pretty),
    };
    let api_request = ApiRequest {
        method,
        path,
        query,
        accept,
        content_type,
        body,
        user: user.clone(),
    };
    let (response, outcome) = config.api.handle(api_request).await;
    let code = response.code();
    if let Some(outcome) = outcome {
        let allowed = outcome.decision.is_allowed();
        let mut event = Event::new(now, from.clone(), "apiserver", Stage::Authz)
            .identity(identity.clone())
            .allowed(allowed)
            .detail(format!("{line} {code}"));
        if !allowed {
            // The same message the 403 body carries, as kubectl prints it.
            let (_, body) = status::forbidden(&outcome.attributes, outcome.decision.reason());
            let message = status::Status::parse(&body)
                .map(|s| s.message)
                .unwrap_or_default();
            // Who refused decides the fix: RBAC wants a binding, the Node authorizer the
            // node's identity, anonymous a badge (kubecorp_trust::forbidden).
            event = event.client_text(format!("Error from server (Forbidden): {message}"));
            if let Some(advice) = kubecorp_trust::forbidden::advise(&message) {
                event = event.explanation(advice.explanation).hint(advice.hint);
            }
        }
        config.events.emit(event);
        if allowed && code == 403 {
            // Authorized, then refused by an admission plugin, which saw the object itself.
            let message = match &response {
                ApiResponse::Full { body, .. } => {
                    status::Status::parse(&String::from_utf8_lossy(body))
                        .map(|s| s.message)
                        .unwrap_or_default()
                }
                ApiResponse::Watch(_) => String::new(),
            };
            let by_node = crate::node_restriction::node_of(&user).is_some();
            config.events.emit(
                Event::new(now, from.clone(), "apiserver", Stage::Request)
                    .identity(identity.clone())
                    .allowed(false)
                    .detail(format!("{line} {code}"))
                    .client_text(format!("Error from server (Forbidden): {message}"))
                    .explanation(if by_node {
                        "the Node authorizer let the kubelet try (it sees only the URL), then the NodeRestriction admission plugin read the object and refused: a kubelet may change only its own Node and Lease and its own pods' status, and create mirror pods only"
                    } else {
                        "the request was authorized, then an admission plugin read the object and refused it"
                    })
                    .hint(if by_node {
                        "nothing to repair: this is NodeRestriction doing its job (kubeadm enables it). Do the change with an admin badge (`kubectl --kubeconfig admin.conf …`), or from the kubelet of the node that owns the object"
                    } else {
                        "read the reason after `is forbidden:`; it names what the plugin refused"
                    }),
            );
        }
        if let Some(log) = outcome.log {
            // A failed health check: the answer withholds the reason, the log gives it.
            config.events.emit(
                Event::new(now, from.clone(), "apiserver", Stage::Request)
                    .identity(identity.clone())
                    .allowed(false)
                    .detail(format!("{line} {code}"))
                    .server_log(log)
                    .explanation("Alice's own health check failed; the answer only says \"reason withheld\" (the endpoint is public), her log says why")
                    .hint("`kubectl get --raw '/readyz?verbose'` lists every check; a failing etcd check means Alice cannot reach the vault: check apiserver-etcd-client and etcd's serving badge with `kubecorp certs check-expiration`"),
            );
        }
    }
    match response {
        ApiResponse::Full {
            status,
            content_type,
            body,
        } => full(status, &content_type, body, pretty),
        ApiResponse::Watch(mut stream) => {
            let (mut tx, body) = http_body_util::channel::Channel::<Bytes>::new(16);
            tokio::spawn(async move {
                // The stream ends the watch (deadline, a watcher left behind, an ERROR sent);
                // a visitor who hangs up ends it at the next line.
                while let Some(line) = stream.next().await {
                    let frame = Frame::data(Bytes::from(line + "\n"));
                    if tx.send(frame).await.is_err() {
                        return;
                    }
                }
            });
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("transfer-encoding", "chunked")
                .body(Either::Right(body))
                .expect("a valid response")
        }
    }
}

/// What a refused bearer token means, in plain words.
/// What kubectl v1.32 ends with after a 401. Its discovery of `/api` and `/apis` does not read
/// the answer as a Status, so client-go's generic Unauthorized text stands in
/// (`NewGenericServerResponse`, staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go);
/// any other call prints the Status's own message. Both seen from kubectl 1.32 against the lab.
fn unauthorized_text(path: &str) -> &'static str {
    match path.trim_end_matches('/') {
        "/api" | "/apis" => "error: You must be logged in to the server (the server has asked for the client to provide credentials)",
        _ => "error: You must be logged in to the server (Unauthorized)",
    }
}

fn token_explanation(reason: Option<&str>) -> &'static str {
    match reason {
        None => "the bearer token is not one this apiserver issued (not a JWT, or another issuer): no token authenticator knows it, so the request is Unauthorized",
        Some(r) if r.contains("no keys found") => "the token is a service-account token, but signed by a key this apiserver does not know (its kid matches no key in sa.pub): another cluster's token, or sa.key was replaced",
        Some(r) if r.contains("has expired") => "the service-account token's exp has passed (on the lab clock, after go-jose's one minute of leeway): tokens are short-lived on purpose",
        Some(r) if r.contains("audiences") => "the token was made for another audience (--audience); the apiserver accepts only tokens for its own, https://kubernetes.default.svc.cluster.local",
        Some(r) if r.contains("not found") || r.contains("does not match") => "the token names a service account that no longer exists (or was re-created): a bound token dies with its account",
        Some(_) => "the service-account token failed the apiserver's checks",
    }
}

/// The visitor's name in events: the badge's CN, or the address when no badge was shown.
fn who(identity: Option<&Identity>, peer: SocketAddr) -> String {
    identity
        .map(|i| i.cn.clone())
        .unwrap_or_else(|| peer.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_ends_when_the_badge_changes_to_another_not_when_the_look_catches_up_with_its_own(
    ) {
        let (old, new) = (Some(Arc::new("old badge")), Some(Arc::new("new badge")));
        let (look, receiver) = tokio::sync::watch::channel(old.clone());
        let quick = std::time::Duration::from_millis(50);
        // Made with the new badge before the look saw it: the look catching up ends nothing.
        let mut badge = receiver.clone();
        badge.mark_unchanged();
        let made_with_new = badge_changed_from(new.clone(), &mut badge);
        tokio::pin!(made_with_new);
        look.send(new.clone()).unwrap();
        assert!(tokio::time::timeout(quick, made_with_new.as_mut())
            .await
            .is_err());
        // Made with the old one: ended by the change.
        let (look, receiver) = tokio::sync::watch::channel(old.clone());
        let mut badge = receiver.clone();
        badge.mark_unchanged();
        let made_with_old = badge_changed_from(old.clone(), &mut badge);
        tokio::pin!(made_with_old);
        assert!(tokio::time::timeout(quick, made_with_old.as_mut())
            .await
            .is_err());
        look.send(new).unwrap();
        assert!(tokio::time::timeout(quick, made_with_old).await.is_ok());
    }

    #[tokio::test]
    async fn a_panic_in_one_request_is_answered_with_kube_apiservers_500() {
        let mut seen = None;
        let response = recovered(
            async {
                let empty: Vec<u8> = std::hint::black_box(Vec::new());
                Response::new(Either::Left(Full::new(Bytes::from(vec![empty[0]]))))
            },
            |what| seen = Some(what),
        )
        .await;
        assert_eq!(response.status(), 500);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            b"This request caused apiserver to panic. Look in the logs for details.\n"
        );
        assert!(seen.unwrap().contains("index out of bounds"));
    }

    #[test]
    fn curl_gets_indented_json_that_keeps_gos_html_escapes() {
        let (_, body) = status::not_found("pods", "", "a<b&c");
        let pretty = String::from_utf8(indented(body.into_bytes())).unwrap();
        assert!(
            pretty.starts_with("{\n  \"kind\": \"Status\",\n"),
            "{pretty}"
        );
        assert!(
            pretty.contains(r#"pods \"a\u003cb\u0026c\" not found"#),
            "{pretty}"
        );
    }
}
