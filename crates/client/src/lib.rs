//! How the office's staff dial Alice: a Kubernetes API client over mutual TLS.
//!
//! Bob (the scheduler), Dave (kube-proxy), the CEO (kubelet) and the scenario runner all reach
//! the apiserver the way client-go does: the server address, the CA to check Alice's badge with
//! and their own badge come from a kubeconfig (`scheduler.conf`, `kubelet.conf`, …). Every call
//! opens a fresh connection with a full handshake, so a badge broken or renewed on disk counts at
//! the very next call, exactly as `kubecorp break` promises. A [`KubeClient::keep_alive`] client
//! keeps its connections instead, and dials again only when a badge or bundle changes on disk.
//! Alice's storage does not go through [`KubeClient`]: she keeps one HTTP/2 connection to etcd
//! for gRPC, opened by [`dial::dial_h2`] (`kubecorp-apiserver`'s `store::grpc`).
//!
//! A failure says which hop and which phase, and [`ClientError::kubectl_text`] gives the line
//! kubectl would print for it:
//!
//! ```text
//! scheduler → apiserver: TLS handshake: x509: certificate signed by unknown authority
//! error: You must be logged in to the server (Unauthorized)
//! ```
//!
//! # Layout
//!
//! - this file: [`KubeClient`], one component's calls to one apiserver;
//! - `dial`: the one mutual-TLS dialer (also Alice's to a kubelet, and her HTTP/2 one to etcd);
//!   `pool`: kept connections;
//! - `resolve`: a server's name to addresses, and Go's `lookup NAME on SERVER: no such host`;
//! - `error`: [`ClientError`] and [`Phase`]; `watch`: a `?watch=true` stream;
//! - `delegated`: a door's own badge check and SubjectAccessReview (kubelet, Bob);
//! - `reflector`: list-then-watch rounds; `klog`: client-go's log lines;
//! - `resources`: kubectl's resource table and verb→path mapping.
#![forbid(unsafe_code)]

pub mod delegated;
pub mod dial;
mod error;
pub mod klog;
mod pool;
pub mod reflector;
pub mod resolve;
pub mod resources;
mod watch;

pub use error::*;
use pool::*;
pub use watch::*;

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use kubecorp_trust::tls::{
    client_error_text, is_alert, CertSource, HandshakeNotes, TrustSource, Versions,
};
use kubecorp_trust::{Events, LabClock, Verdict};
use serde_json::Value;

/// How long dialling may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the handshake may take (client-go's `TLSHandshakeTimeout`).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer (or watch event) a client reads: far above any object the lab stores.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// How long one (non-watch) request may take once connected.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub code: u16,
    pub content_type: String,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a member of staff that dials Alice with a badge of its own needs (Bob, the endpoints
/// controller): a client carrying the badge, the lab clock and the events. Its events are
/// emitted as `client.component()`.
#[derive(Clone, Debug)]
pub struct StaffConfig {
    pub client: KubeClient,
    pub clock: LabClock,
    pub events: Events,
}

/// A client for one apiserver, as one component.
#[derive(Clone, Debug)]
pub struct KubeClient {
    from: String,
    to: String,
    host: String,
    port: u16,
    /// The name the server's badge must carry when it is not `host` ([`KubeClient::with_tls_server_name`]).
    tls_server_name: Option<String>,
    identity: Option<CertSource>,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
    /// Idle connections kept for the next call ([`KubeClient::keep_alive`]); shared by clones.
    pool: Option<Arc<Pool>>,
    /// A bearer token sent with every call, read afresh each time ([`KubeClient::with_bearer_token`]).
    token: Option<TokenSource>,
}

/// Where a bearer token comes from: asked at every call, as client-go re-reads a projected
/// token file the kubelet keeps fresh.
#[derive(Clone)]
pub struct TokenSource(Arc<dyn Fn() -> Option<String> + Send + Sync>);

impl TokenSource {
    pub fn new(read: impl Fn() -> Option<String> + Send + Sync + 'static) -> TokenSource {
        TokenSource(Arc::new(read))
    }
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource(…)")
    }
}

impl KubeClient {
    /// A client for `https://host:port`, showing `identity` and trusting `trust`.
    pub fn new(
        component: &str,
        server: &str,
        identity: Option<CertSource>,
        trust: TrustSource,
        clock: LabClock,
        events: Events,
    ) -> Result<KubeClient, ClientError> {
        let (host, port) = parse_server(server)?;
        Ok(KubeClient {
            from: component.to_owned(),
            to: "apiserver".into(),
            host,
            port,
            tls_server_name: None,
            identity,
            trust,
            clock,
            events,
            pool: None,
            token: None,
        })
    }

    /// Keeps HTTP/1.1 connections open between calls, as a long-lived client does: a new
    /// connection, and a new handshake, only when the peer closed the last one or the badge or
    /// trust bundle changed on disk. Watches always get a connection of their own.
    pub fn keep_alive(mut self) -> KubeClient {
        self.pool = Some(Arc::new(Pool::default()));
        self
    }

    /// A client as a kubeconfig describes it: its server, its CA and its user's badge. The
    /// files are re-read whenever they change.
    pub fn from_kubeconfig(
        component: &str,
        path: &Path,
        clock: LabClock,
        events: Events,
    ) -> Result<KubeClient, ClientError> {
        let problem = |p: String| ClientError::Kubeconfig {
            path: path.to_owned(),
            problem: p,
        };
        let config =
            kubecorp_pki::kubeconfig::Kubeconfig::read(path).map_err(|e| problem(e.to_string()))?;
        let credentials = config
            .credentials(path)
            .map_err(|e| problem(e.to_string()))?;
        KubeClient::new(
            component,
            &credentials.server,
            Some(CertSource::kubeconfig(path)),
            TrustSource::kubeconfig(path),
            clock,
            events,
        )
    }

    /// The same badge and CA, dialling another address (a lab on ephemeral ports, where the
    /// kubeconfig still names the conventional `:6443`).
    pub fn with_server(mut self, server: &str) -> Result<KubeClient, ClientError> {
        let (host, port) = parse_server(server)?;
        self.host = host;
        self.port = port;
        Ok(self)
    }

    /// Checks the server's badge for `name` (and sends it as SNI) while dialling the same
    /// address, as kubeconfig's `tls-server-name` or `curl --resolve` do: the name needs no DNS.
    pub fn with_tls_server_name(mut self, name: impl Into<String>) -> KubeClient {
        self.tls_server_name = Some(name.into());
        self
    }

    /// Names the dialling component in errors and events.
    pub fn calling_as(mut self, component: impl Into<String>) -> KubeClient {
        self.from = component.into();
        self
    }

    /// Names the component dialled in errors (default `apiserver`).
    pub fn calling(mut self, component: impl Into<String>) -> KubeClient {
        self.to = component.into();
        self
    }

    /// The component this client dials as.
    pub fn component(&self) -> &str {
        &self.from
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `https://host:port`.
    pub fn server(&self) -> String {
        format!("https://{}", self.addr())
    }

    /// Who this client's badge on disk says it is (`CN=system:kube-scheduler …`).
    pub fn identity(&self) -> Option<kubecorp_trust::Identity> {
        self.identity.as_ref().and_then(|s| s.identity().ok())
    }

    /// `GET path`, decoded; a non-2xx answer is an error.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn create(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn replace(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// `PATCH path` with a JSON merge patch.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, ClientError> {
        let request = format!("PATCH {path}");
        let reply = self
            .send(
                Method::PATCH,
                path,
                Some(patch.to_string().into_bytes()),
                "application/merge-patch+json",
            )
            .await?;
        self.decode(request, reply)
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.call(Method::DELETE, path, None).await
    }

    /// One call with a JSON body (or none), decoded; a non-2xx answer is an error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let request = format!("{method} {path}");
        let bytes = body.map(|b| b.to_string().into_bytes());
        let reply = self.send(method, path, bytes, "application/json").await?;
        self.decode(request, reply)
    }

    fn decode(&self, request: String, reply: Reply) -> Result<Value, ClientError> {
        if !(200..300).contains(&reply.code) {
            return Err(self.status_error(request, &reply));
        }
        serde_json::from_slice(&reply.body).map_err(|e| ClientError::Decode {
            from: self.from.clone(),
            to: self.to.clone(),
            request,
            problem: e.to_string(),
        })
    }

    /// The error for a non-2xx answer, read from its Status body if it has one.
    pub fn status_error(&self, request: String, reply: &Reply) -> ClientError {
        let status = reply.json();
        let is_status = status["kind"] == "Status";
        let reason = status["reason"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                if is_status {
                    // A Status without a reason: kubectl shows none either.
                    return String::new();
                }
                http::StatusCode::from_u16(reply.code)
                    .ok()
                    .and_then(|c| c.canonical_reason())
                    .unwrap_or("Unknown")
                    .replace(' ', "")
            });
        let message = status["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| reply.text().trim_end().to_owned());
        let invalid = (reason == "Invalid").then(|| {
            let details = &status["details"];
            let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
            Box::new(Invalid {
                kind: text(&details["kind"]),
                name: text(&details["name"]),
                causes: details["causes"]
                    .as_array()
                    .map(|causes| {
                        causes
                            .iter()
                            .map(|c| format!("{}: {}", text(&c["field"]), text(&c["message"])))
                            .fold(Vec::new(), |mut seen: Vec<String>, cause| {
                                // kubectl's statusCausesToAggrError skips repeated causes.
                                if !seen.contains(&cause) {
                                    seen.push(cause);
                                }
                                seen
                            })
                    })
                    .unwrap_or_default(),
            })
        });
        ClientError::Status {
            from: self.from.clone(),
            to: self.to.clone(),
            request: request.into(),
            code: reply.code,
            reason,
            message,
            invalid,
        }
    }

    /// One raw exchange over a fresh mutual-TLS connection: any status is a [`Reply`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<Reply, ClientError> {
        let exchange = async {
            let (response, reuse) = match &self.pool {
                Some(pool) => {
                    self.send_pooled(pool, method, path, body, content_type)
                        .await?
                }
                None => (self.open(method, path, body, content_type).await?, None),
            };
            let code = response.status().as_u16();
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    let text = match e.downcast_ref::<hyper::Error>() {
                        Some(e) => client_error_text(e, &Default::default()),
                        None => e.to_string(),
                    };
                    self.transport(Phase::Request, text, None)
                })?
                .to_bytes();
            // The answer is read whole: the connection is free for the next call.
            if let (Some(pool), Some(idle)) = (&self.pool, reuse) {
                pool.put(idle);
            }
            Ok(Reply {
                code,
                content_type,
                body,
            })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(self.transport(Phase::Request, "context deadline exceeded".into(), None)),
        }
    }

    /// `GET path?watch=true…` and a stream of its events. `path` carries its own query.
    pub async fn watch(&self, path: &str) -> Result<Watch, ClientError> {
        let request = format!("GET {path}");
        let response = match tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.open(Method::GET, path, None, "application/json"),
        )
        .await
        {
            Ok(response) => response?,
            Err(_) => {
                return Err(self.transport(
                    Phase::Request,
                    "net/http: timeout awaiting response headers".into(),
                    None,
                ))
            }
        };
        if !response.status().is_success() {
            let code = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(self.status_error(
                request,
                &Reply {
                    code,
                    content_type: String::new(),
                    body,
                },
            ));
        }
        Ok(Watch {
            body: response.into_body(),
            buffer: Vec::new(),
        })
    }

    fn transport(&self, phase: Phase, text: String, verdict: Option<Box<Verdict>>) -> ClientError {
        ClientError::Transport {
            from: self.from.clone(),
            to: self.to.clone(),
            addr: self.addr(),
            phase,
            text,
            verdict,
        }
    }

    /// Dials, shakes hands, sends the request and returns the response head with its body
    /// still streaming.
    async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let (mut sender, driver, notes) = self.dial().await?;
        let request = self.request(method, path, body, content_type)?;
        match sender.send_request(request).await {
            Ok(response) => Ok(response),
            Err(e) => Err(self.send_failed(e, driver, &notes).await),
        }
    }

    /// A call on a kept connection if one is idle and still good, else on a new one; the
    /// connection to give back once the answer is read.
    async fn send_pooled(
        &self,
        pool: &Pool,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<(hyper::Response<Incoming>, Option<Idle>), ClientError> {
        let now = self.versions();
        // Go's transport sends a request again on a new connection when a kept one was closed
        // under it before any answer came, if the request can be replayed (no body, a method
        // without side effects): the server closing an idle connection is no failure.
        let replayable =
            body.is_none() && matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let again = replayable.then(|| (method.clone(), path.to_owned()));
        let mut request = self.request(method, path, body, content_type)?;
        while let Some(mut idle) = pool.take(&now) {
            if idle.sender.ready().await.is_err() {
                continue;
            }
            match idle.sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Some(idle))),
                // Not sent (the peer closed the connection meanwhile): try the next one.
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => {
                        let error = e.into_error();
                        match &again {
                            Some((method, path)) if error.is_incomplete_message() => {
                                request = self.request(method.clone(), path, None, content_type)?;
                            }
                            _ => {
                                return Err(self.transport(
                                    Phase::Request,
                                    client_error_text(&error, &idle.notes),
                                    None,
                                ))
                            }
                        }
                    }
                },
            }
        }
        let (mut sender, driver, notes) = self.dial().await?;
        match sender.send_request(request).await {
            Ok(response) => Ok((
                response,
                Some(Idle {
                    sender,
                    notes,
                    made_with: now,
                    since: std::time::Instant::now(),
                }),
            )),
            Err(e) => Err(self.send_failed(e, driver, &notes).await),
        }
    }

    /// The badge and trust bundle as they are on disk now (cached until a file changes).
    fn versions(&self) -> Versions {
        Versions::now(self.identity.as_ref(), &self.trust)
    }

    /// Sends `Authorization: Bearer <token>` with every call (a service-account token).
    pub fn with_bearer_token(mut self, source: TokenSource) -> KubeClient {
        self.token = Some(source);
        self
    }

    /// The request as client-go sends it.
    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.addr())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                format!("{}/v1.32.0 (linux/amd64) kubecorp", self.from),
            );
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = self.token.as_ref().and_then(|source| (source.0)()) {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.transport(Phase::Request, e.to_string(), None))
    }

    /// Why a request could not be sent: the connection task holds the underlying error (a TLS
    /// alert on TLS 1.3); the request itself only learns that the connection went away.
    async fn send_failed(
        &self,
        e: hyper::Error,
        driver: tokio::task::JoinHandle<Result<(), hyper::Error>>,
        notes: &HandshakeNotes,
    ) -> ClientError {
        let cause = driver.await.ok().and_then(Result::err);
        let err: &(dyn StdError + 'static) = match &cause {
            Some(conn_err) => conn_err,
            None => &e,
        };
        let phase = if is_alert(err) {
            Phase::TlsHandshake
        } else {
            Phase::Request
        };
        self.transport(phase, client_error_text(err, notes), None)
    }

    /// Dials and shakes hands: a sender for requests, the task that drives the connection, and
    /// what the handshake found.
    async fn dial(
        &self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<Full<Bytes>>,
            tokio::task::JoinHandle<Result<(), hyper::Error>>,
            HandshakeNotes,
        ),
        ClientError,
    > {
        let hop = dial::Hop {
            from: &self.from,
            host: &self.host,
            port: self.port,
            server_name: self.tls_server_name.as_deref(),
            identity: self.identity.clone(),
            trust: Some(self.trust.clone()),
            clock: &self.clock,
            events: &self.events,
            connect_timeout: CONNECT_TIMEOUT,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        };
        match dial::dial(hop).await {
            Ok(dialed) => Ok((dialed.sender, dialed.driver, dialed.notes)),
            Err(failed) => Err(self.transport(failed.phase, failed.text, failed.verdict)),
        }
    }
}

fn parse_server(server: &str) -> Result<(String, u16), ClientError> {
    let problem = |p: &str| ClientError::Server {
        server: server.to_owned(),
        problem: p.to_owned(),
    };
    let rest = server
        .strip_prefix("https://")
        .ok_or_else(|| problem("expected https://host:port (the lab's servers speak TLS only)"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, "")) => (host, "443"),
            Some((host, port)) => (
                host,
                port.strip_prefix(':')
                    .ok_or_else(|| problem("expected [ipv6]:port"))?,
            ),
            None => return Err(problem("expected [ipv6]:port")),
        }
    } else {
        rest.rsplit_once(':').unwrap_or((rest, "443"))
    };
    let port = port
        .parse()
        .map_err(|_| problem("the port is not a number"))?;
    if host.is_empty() {
        return Err(problem("missing host"));
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_422_reads_as_kubectl_1_32_prints_it_not_as_error_from_server() {
        // kubectl v1.32 `checkErr` and `MultilineError` (kubectl/pkg/cmd/util/helpers.go).
        let one = Invalid {
            kind: "CertificateSigningRequest".into(),
            name: "john-short".into(),
            causes: vec!["spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 600 seconds (10 minutes)".into()],
        };
        assert_eq!(
            one.kubectl_text("ignored"),
            "The CertificateSigningRequest \"john-short\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 600 seconds (10 minutes)"
        );
        let two = Invalid {
            causes: vec!["a: Required value".into(), "b: Required value".into()],
            ..one
        };
        assert_eq!(
            two.kubectl_text(""),
            "The CertificateSigningRequest \"john-short\" is invalid: \n* a: Required value\n* b: Required value"
        );
    }
    use super::*;

    #[test]
    fn servers_parse_as_kubeconfigs_write_them() {
        assert_eq!(
            parse_server("https://127.0.0.1:6443").unwrap(),
            ("127.0.0.1".into(), 6443)
        );
        assert_eq!(
            parse_server("https://[::1]:6443/").unwrap(),
            ("::1".into(), 6443)
        );
        assert_eq!(
            parse_server("https://kubernetes").unwrap(),
            ("kubernetes".into(), 443)
        );
        assert!(parse_server("http://127.0.0.1:6443").is_err());
    }
}
