//! How the office's staff dial Alice: a Kubernetes API client over mutual TLS.
//!
//! Bob (the scheduler), Dave (kube-proxy), the CEO (kubelet) and the scenario runner all reach
//! the apiserver the way client-go does: the server address, the CA to check Alice's badge with
//! and their own badge come from a kubeconfig (`scheduler.conf`, `kubelet.conf`, …). Every call
//! opens a fresh connection with a full handshake, so a badge broken or renewed on disk counts at
//! the very next call, exactly as `kubecorp break` promises. A [`KubeClient::keep_alive`] client
//! (Alice's storage client) keeps its connections instead, as kube-apiserver keeps its gRPC
//! connection to etcd, and dials again only when a badge or bundle changes on disk.
//!
//! A failure says which hop and which phase, and [`ClientError::kubectl_text`] gives the line
//! kubectl would print for it:
//!
//! ```text
//! scheduler → apiserver: TLS handshake: x509: certificate signed by unknown authority
//! error: You must be logged in to the server (Unauthorized)
//! ```
#![forbid(unsafe_code)]

pub mod delegated;
pub mod dial;
pub mod klog;
pub mod reflector;
pub mod resources;

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use kubecorp_trust::tls::{client_error_text, is_alert, CertSource, HandshakeNotes, TrustSource};
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

/// Where a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Dialling TCP.
    Connect,
    /// The TLS handshake, including a refusal that arrives at the first read (TLS 1.3).
    TlsHandshake,
    /// Sending the request or reading the answer.
    Request,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "TCP connect",
            Phase::TlsHandshake => "TLS handshake",
            Phase::Request => "request",
        })
    }
}

/// Why a call to the apiserver failed, naming the hop and the phase.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig could not be read or has no usable server.
    #[error("{path}: {problem}")]
    Kubeconfig { path: PathBuf, problem: String },
    /// The server is not `https://host:port`.
    #[error("invalid server {server:?}: {problem}")]
    Server { server: String, problem: String },
    /// The connection did not get as far as an HTTP answer.
    #[error("{from} → {to}: {phase}: {text}")]
    Transport {
        /// The dialling component, e.g. `scheduler`.
        from: String,
        /// The component dialled, e.g. `apiserver`.
        to: String,
        /// `host:port` dialled.
        addr: String,
        phase: Phase,
        /// What a Go client prints, e.g. `tls: failed to verify certificate: x509: …`.
        text: String,
        /// When *we* refused the server's badge: why, with explanation and hint.
        verdict: Option<Box<Verdict>>,
    },
    /// The server answered with an error status.
    #[error("{from} → {to}: {request}: {code} {reason}: {message}")]
    Status {
        from: String,
        to: String,
        /// e.g. `GET /api/v1/pods` (boxed, to keep the error small).
        request: Box<str>,
        code: u16,
        /// The Status `reason` (`Unauthorized`, `Forbidden`, `NotFound`…), or the HTTP reason.
        reason: String,
        /// The Status `message`, or the body as text.
        message: String,
        /// A 422's details, which kubectl prints instead of the message.
        invalid: Option<Box<Invalid>>,
    },
    /// A 2xx answer that is not the JSON expected.
    #[error("{from} → {to}: {request}: unreadable answer: {problem}")]
    Decode {
        from: String,
        to: String,
        request: String,
        problem: String,
    },
}

/// The details of a 422 (`reason: Invalid`): kubectl words these itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invalid {
    /// `details.kind`: the Kind (`CertificateSigningRequest`).
    pub kind: String,
    pub name: String,
    /// Each cause as `field: message`.
    pub causes: Vec<String>,
}

impl Invalid {
    /// kubectl v1.32's `checkErr` (`staging/src/k8s.io/kubectl/pkg/cmd/util/helpers.go`):
    /// `The <Kind> "<name>" is invalid: <cause>`, or with several causes the prefix on its own
    /// line and `* <cause>` per line (`MultilineError`).
    pub fn kubectl_text(&self, message: &str) -> String {
        let mut s = "The request is invalid".to_string();
        if !self.kind.is_empty() || !self.name.is_empty() {
            s = format!(
                "The {} {} is invalid",
                self.kind,
                kubecorp_trust::go_quote(&self.name)
            );
        } else if !message.is_empty() && self.causes.is_empty() {
            s = format!("{s}: {message}");
        }
        match self.causes.as_slice() {
            [] => s,
            [one] => format!("{s}: {one}"),
            many => {
                let mut out = format!("{s}: \n");
                for cause in many {
                    out += &format!("* {cause}\n");
                }
                out.trim_end_matches('\n').to_string()
            }
        }
    }
}

impl ClientError {
    /// The line kubectl prints for this failure.
    pub fn kubectl_text(&self) -> String {
        match self {
            ClientError::Transport { text, .. } => {
                format!("Unable to connect to the server: {text}")
            }
            ClientError::Status { code: 401, .. } => {
                "error: You must be logged in to the server (Unauthorized)".into()
            }
            ClientError::Status {
                invalid: Some(invalid),
                message,
                ..
            } => invalid.kubectl_text(message),
            // A Status without a reason (e.g. a failed proxy to a kubelet) has none in
            // kubectl's line either.
            ClientError::Status {
                reason, message, ..
            } if reason.is_empty() => format!("Error from server: {message}"),
            ClientError::Status {
                reason, message, ..
            } => format!("Error from server ({reason}): {message}"),
            other => format!("error: {other}"),
        }
    }

    /// The HTTP status, if the server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The phase, for transport failures.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            ClientError::Transport { phase, .. } => Some(*phase),
            _ => None,
        }
    }

    /// The Go text without the hop: the TLS/x509 text, or the Status message.
    pub fn text(&self) -> String {
        match self {
            ClientError::Transport { text, .. } => text.clone(),
            ClientError::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

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

/// One event of a `?watch=true` stream.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` (with `allowWatchBookmarks=true`) or `ERROR`
    /// (a Status, e.g. 410 Expired, after which the apiserver ends the stream).
    pub kind: String,
    pub object: Value,
}

/// A client for one apiserver, as one component.
#[derive(Clone, Debug)]
pub struct KubeClient {
    from: String,
    to: String,
    host: String,
    port: u16,
    identity: Option<CertSource>,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
    /// Idle connections kept for the next call ([`KubeClient::keep_alive`]); shared by clones.
    pool: Option<Arc<Pool>>,
}

/// A connection that finished its last exchange, and the badge and trust bundle it was made
/// with: when either changes on disk the connection is not used again.
struct Idle {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    notes: HandshakeNotes,
    made_with: Versions,
    /// When its last exchange ended.
    since: std::time::Instant,
}

/// How long an idle connection is kept: well inside the lab servers' 30 s wait for the next
/// request head, so a kept connection is not closed under a request being sent on it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which version of the badge and of the trust bundle a connection was made with.
#[derive(Clone)]
struct Versions {
    badge: Option<Arc<tokio_rustls::rustls::sign::CertifiedKey>>,
    trust: Option<Arc<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>>>,
}

impl Versions {
    fn same(&self, other: &Versions) -> bool {
        fn eq<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        eq(&self.badge, &other.badge) && eq(&self.trust, &other.trust)
    }
}

/// How many idle connections a keep-alive client holds (Go's `MaxIdleConnsPerHost` is 2; the
/// apiserver's storage calls come in bursts when the office opens).
const MAX_IDLE: usize = 8;

#[derive(Default)]
struct Pool {
    idle: std::sync::Mutex<Vec<Idle>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pool")
    }
}

impl Pool {
    fn take(&self, now: &Versions) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // Connections made with an older badge or bundle, or closed by the peer, go.
        idle.retain(|i| {
            i.made_with.same(now) && !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT
        });
        idle.pop()
    }

    fn put(&self, mut connection: Idle) {
        connection.since = std::time::Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE && !connection.sender.is_closed() {
            idle.push(connection);
        }
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
            identity,
            trust,
            clock,
            events,
            pool: None,
        })
    }

    /// Keeps connections open between calls, as a long-lived client does (kube-apiserver's
    /// gRPC connection to etcd): a new connection, and a new handshake, only when the peer
    /// closed the last one or the badge or trust bundle changed on disk. Watches always get a
    /// connection of their own.
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
                        return Err(self.transport(
                            Phase::Request,
                            client_error_text(&error, &idle.notes),
                            None,
                        ));
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
        Versions {
            badge: self.identity.as_ref().and_then(|s| s.load().ok()),
            trust: self.trust.load().ok(),
        }
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

/// A `?watch=true` stream: one JSON object per line.
pub struct Watch {
    body: Incoming,
    buffer: Vec<u8>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// The next event; `None` when the server ends the stream (a watcher then lists again).
    pub async fn next(&mut self) -> Option<Result<WatchEvent, String>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                return Some(match serde_json::from_slice::<Value>(line) {
                    Ok(v) => Ok(WatchEvent {
                        kind: v["type"].as_str().unwrap_or_default().to_owned(),
                        object: v["object"].clone(),
                    }),
                    Err(e) => Err(format!("unreadable watch event: {e}")),
                });
            }
            if self.buffer.len() > MAX_BODY {
                return Some(Err(format!(
                    "a watch event longer than {MAX_BODY} bytes without a line end"
                )));
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Err(e) => return Some(Err(e.to_string())),
            }
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
