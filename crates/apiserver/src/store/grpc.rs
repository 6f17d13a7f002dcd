//! Alice's line to the vault: etcd's gRPC over one kept HTTP/2 connection, as kube-apiserver's
//! etcd client (clientv3 3.5.16 on grpc-go 1.65) keeps it.
//!
//! One connection carries every call at once, the watch stream included: one TLS handshake
//! with `apiserver-etcd-client`, then calls as HTTP/2 streams (`content-type: application/grpc`,
//! `te: trailers`, each message behind a 5-byte prefix, the outcome in the `grpc-status` and
//! `grpc-message` trailers). The lab dials again only when the connection is gone or Alice's
//! badge or the etcd CA changed on disk, so a renewed badge counts from the next call on.
//!
//! clientv3 makes every call "wait for ready" (`defaultWaitForReady`, client/v3/options.go
//! v3.5.16): while etcd cannot be reached, or refuses her badge in the handshake, a call waits
//! and grpc-go dials again with backoff, until the call's deadline passes. The call then ends
//! in `context deadline exceeded` (clientv3's `toErr` hands back the context's own error), and
//! that is all kube-apiserver learns; the reason is in grpc-go's log line for each failed dial
//! (`grpc: addrConn.createTransport failed to connect to …`), which the lab narrates.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use kubecorp_client::dial::{dial_h2, Hop, Reply};
use kubecorp_client::{Phase, CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT};
use kubecorp_etcd::grpc::{frame, Deframer};
use kubecorp_trust::tls::{client_error_text, is_alert, CertSource, TrustSource, Versions};
use kubecorp_trust::{Event, Events, LabClock, Stage};
use prost::Message;
use tokio::sync::watch;
use tokio::time::Instant;

/// What a call's body is: one message, or a stream of them (the watch).
pub type Body = BoxBody<Bytes, Infallible>;

/// How long one storage call keeps dialling again while no connection can be made.
/// kube-apiserver's calls carry the request's own deadline (`--request-timeout`, 60 s); the
/// lab gives up sooner, so a class does not wait a minute to read the same text.
pub const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// How long a call sent on a connection may wait for its answer (the lab client's limit): a
/// busy machine is given time, an unreachable etcd is not.
const ANSWER_DEADLINE: Duration = kubecorp_client::REQUEST_TIMEOUT;

/// grpc-go's first reconnect backoff (`backoff.DefaultConfig`: 1 s, ×1.6 each time).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Why a call to etcd failed, in the words kube-apiserver ends up with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrpcError {
    /// The deadline passed before an answer came: no connection could be made (`last_dial`
    /// says why), or etcd did not answer in time.
    #[error("context deadline exceeded")]
    DeadlineExceeded { last_dial: Option<LastDial> },
    /// etcd answered with a gRPC status. clientv3 turns etcd's own errors into their text
    /// (`etcdserver: mvcc: required revision has been compacted`, rpctypes/error.go); any
    /// other status reads as grpc-go prints it.
    #[error("{}", status_text(*.code, .message))]
    Status { code: i32, message: String },
    /// The connection broke under a call that is not sent twice (a write).
    #[error("rpc error: code = Unavailable desc = error reading from server: {text}")]
    Broken { text: String },
    /// etcd's answer was not the message expected.
    #[error("rpc error: code = Internal desc = grpc: failed to unmarshal the received message: {problem}")]
    Decode { problem: String },
}

/// The last dial that failed before a call's deadline passed: grpc-go's description of it
/// (`transport: authentication handshake failed: …`), and whether etcd said no or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastDial {
    pub reply: Reply,
    pub desc: String,
}

/// etcd's `codes.Unavailable`: `etcdserver: request timed out`, `etcdserver: leader changed`.
const UNAVAILABLE: i32 = 14;

impl GrpcError {
    /// The gRPC code etcd answered with, if it answered.
    pub fn code(&self) -> Option<i32> {
        match self {
            GrpcError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether etcd gave no answer, so that the same call tried again later may get one: the
    /// deadline passed on a kept connection or while dials went unanswered (a busy machine),
    /// the connection broke under the call, or etcd said it could not answer in time. A
    /// refusal is not: nothing listening, a badge refused in the handshake, etcd's own error.
    pub fn unanswered(&self) -> bool {
        match self {
            GrpcError::DeadlineExceeded { last_dial } => last_dial
                .as_ref()
                .is_none_or(|dial| dial.reply == Reply::Silence),
            GrpcError::Broken { .. } => true,
            GrpcError::Status { code, .. } => *code == UNAVAILABLE,
            GrpcError::Decode { .. } => false,
        }
    }
}

/// grpc-go's `ErrClientConnClosing` (`codes.Canceled`), for a call on a closed channel.
const CLOSING: &str = "grpc: the client connection is closing";

fn closing() -> GrpcError {
    GrpcError::Status {
        code: 1,
        message: CLOSING.into(),
    }
}

fn status_text(code: i32, message: &str) -> String {
    if message.starts_with("etcdserver: ") {
        message.to_owned()
    } else {
        format!("rpc error: code = {} desc = {message}", code_name(code))
    }
}

/// grpc-go's names of the codes (`codes/code_string.go`).
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "Canceled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}

/// Whether a call may be sent again on a new connection when the old one broke under it:
/// clientv3 retries reads ("repeatable"), never writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    Repeatable,
    Once,
}

/// The kept connection: a sender every call clones, and how the connection ended, once it has.
struct Live {
    sender: SendRequest<Body>,
    made_with: Versions,
    ended: watch::Receiver<Option<Ended>>,
}

/// Why a kept connection ended: the Go text, and whether it was a TLS alert (on TLS 1.3 etcd
/// refuses a badge with an alert that arrives after the client finished its handshake).
#[derive(Clone, Debug)]
struct Ended {
    alert: bool,
    text: String,
}

/// A dial that failed: the phase, grpc-go's description of it, and whether etcd said no.
struct DialFailed {
    phase: Phase,
    text: String,
    reply: Reply,
}

/// One etcd endpoint, reached over one kept HTTP/2 connection.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    from: String,
    host: String,
    port: u16,
    identity: Option<CertSource>,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
    deadline: Duration,
    live: tokio::sync::Mutex<Option<Live>>,
    /// Turns `true` at [`Channel::close`]: no call dials again, and streams end.
    closed: watch::Sender<bool>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel({})", self.addr())
    }
}

impl Channel {
    /// A channel to `host:port` (nothing is dialled until the first call).
    pub fn new(
        host: String,
        port: u16,
        identity: Option<CertSource>,
        trust: TrustSource,
        clock: LabClock,
        events: Events,
    ) -> Channel {
        Channel {
            inner: Arc::new(Inner {
                from: "apiserver".into(),
                host,
                port,
                identity,
                trust,
                clock,
                events,
                deadline: CALL_DEADLINE,
                live: tokio::sync::Mutex::new(None),
                closed: watch::Sender::new(false),
            }),
        }
    }

    /// `host:port`, with an IPv6 address in brackets.
    pub fn addr(&self) -> String {
        let i = &self.inner;
        if i.host.contains(':') {
            format!("[{}]:{}", i.host, i.port)
        } else {
            format!("{}:{}", i.host, i.port)
        }
    }

    /// One unary call: `path` is `/etcdserverpb.KV/Range` and the like.
    pub async fn unary<Q: Message, A: Message + Default>(
        &self,
        path: &str,
        request: &Q,
        retry: Retry,
    ) -> Result<A, GrpcError> {
        let message = frame(&request.encode_to_vec());
        let deadline = Instant::now() + self.inner.deadline;
        let answer = self
            .with_connection(deadline, retry, |sender| {
                let body = Full::new(message.clone()).boxed();
                let uri = format!("https://{}{path}", self.addr());
                async move { unary_on(sender, &uri, body).await }
            })
            .await?;
        A::decode(answer).map_err(|e| GrpcError::Decode {
            problem: e.to_string(),
        })
    }

    /// Opens a bidirectional stream (`/etcdserverpb.Watch/Watch`), sends `first` on it, and
    /// returns the stream once etcd answered its headers.
    pub async fn open_stream<Q: Message>(
        &self,
        path: &str,
        first: &Q,
    ) -> Result<Stream, GrpcError> {
        let deadline = Instant::now() + self.inner.deadline;
        let first = frame(&first.encode_to_vec());
        self.with_connection(deadline, Retry::Repeatable, |sender| {
            let first = first.clone();
            let uri = format!("https://{}{path}", self.addr());
            async move {
                let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(8);
                // The first message goes before the head is awaited: etcd (grpc-go) sends its
                // response head with its first answer.
                tx.send_data(first).await.map_err(|_| Ended {
                    alert: false,
                    text: "the stream closed before its first message".into(),
                })?;
                let response = send(sender, &uri, body.boxed()).await?;
                check_headers(response.headers()).map_err(Outcome::Answered)?;
                Ok(Stream {
                    body: response.into_body(),
                    deframer: Deframer::default(),
                    _requests: tx,
                })
            }
        })
        .await
    }

    /// Runs `call` on the kept connection (dialling it first if need be), waiting and dialling
    /// again with grpc-go's backoff while the dial fails, until `deadline`.
    async fn with_connection<T, F, Fut>(
        &self,
        deadline: Instant,
        retry: Retry,
        call: F,
    ) -> Result<T, GrpcError>
    where
        F: Fn(SendRequest<Body>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Outcome>>,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut last_dial = None;
        let mut resent = false;
        let expired = |last_dial: &Option<LastDial>| GrpcError::DeadlineExceeded {
            last_dial: last_dial.clone(),
        };
        loop {
            if self.is_closed() {
                return Err(closing());
            }
            // A dial in progress is bounded by its own connect and handshake timeouts; the
            // deadline ends the waiting between failed dials.
            let connected = self.connection().await;
            let failed = match connected {
                Ok((sender, ended)) => {
                    let answer_by = Instant::now() + ANSWER_DEADLINE;
                    match tokio::time::timeout_at(answer_by, call(sender)).await {
                        Err(_) => return Err(expired(&last_dial)),
                        Ok(Ok(answer)) => return Ok(answer),
                        Ok(Err(Outcome::Answered(status))) => return Err(status),
                        Ok(Err(Outcome::Broken(broke))) => {
                            // Learn why the connection went, if it did: a TLS alert right after
                            // the handshake is a refused badge, not a broken call.
                            let why = ended_reason(ended, broke).await;
                            self.forget().await;
                            if why.alert {
                                DialFailed {
                                    phase: Phase::TlsHandshake,
                                    text: why.text,
                                    reply: Reply::Refusal,
                                }
                            } else if retry == Retry::Repeatable && !resent {
                                resent = true;
                                continue;
                            } else {
                                return Err(GrpcError::Broken { text: why.text });
                            }
                        }
                    }
                }
                Err(_) if self.is_closed() => return Err(closing()),
                Err(failed) => failed,
            };
            last_dial = Some(LastDial {
                reply: failed.reply,
                desc: self.log_failed_dial(&failed),
            });
            if Instant::now() >= deadline {
                return Err(expired(&last_dial));
            }
            let wake = (Instant::now() + backoff).min(deadline);
            tokio::time::sleep_until(wake).await;
            if Instant::now() >= deadline {
                return Err(expired(&last_dial));
            }
            backoff = backoff.mul_f32(1.6);
        }
    }

    /// The kept connection, dialled now if there is none, it closed, or the badge or bundle
    /// changed on disk.
    async fn connection(
        &self,
    ) -> Result<(SendRequest<Body>, watch::Receiver<Option<Ended>>), DialFailed> {
        let i = &self.inner;
        if self.is_closed() {
            return Err(DialFailed {
                phase: Phase::Request,
                text: CLOSING.into(),
                reply: Reply::Refusal,
            });
        }
        let now = Versions::now(i.identity.as_ref(), &i.trust);
        let mut live = i.live.lock().await;
        if let Some(kept) = live.as_ref() {
            if !kept.sender.is_closed() && kept.made_with.same(&now) {
                return Ok((kept.sender.clone(), kept.ended.clone()));
            }
        }
        *live = None;
        let hop = Hop {
            from: &i.from,
            host: &i.host,
            // clientv3 checks etcd's badge for the host of the endpoint dialled.
            server_name: None,
            port: i.port,
            identity: i.identity.clone(),
            trust: Some(i.trust.clone()),
            clock: &i.clock,
            events: &i.events,
            connect_timeout: CONNECT_TIMEOUT,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        };
        let dialed = dial_h2::<Body>(hop).await.map_err(|f| DialFailed {
            phase: f.phase,
            text: f.text,
            reply: f.reply,
        })?;
        let (tell, ended) = watch::channel(None);
        let notes = dialed.notes;
        let driver = dialed.driver;
        tokio::spawn(async move {
            let end = match driver.await {
                Ok(Ok(())) => Ended {
                    alert: false,
                    text: "EOF".into(),
                },
                Ok(Err(e)) => Ended {
                    alert: is_alert(&e),
                    text: client_error_text(&e, &notes),
                },
                Err(_) => Ended {
                    alert: false,
                    text: "the connection's task stopped".into(),
                },
            };
            let _ = tell.send(Some(end));
        });
        if self.is_closed() {
            // Closed while this dial was under way: it is not kept (dropping its only sender
            // closes it).
            return Err(DialFailed {
                phase: Phase::Request,
                text: CLOSING.into(),
                reply: Reply::Refusal,
            });
        }
        *live = Some(Live {
            sender: dialed.sender.clone(),
            made_with: now,
            ended: ended.clone(),
        });
        Ok((dialed.sender, ended))
    }

    /// Drops the kept connection, so the next call dials.
    async fn forget(&self) {
        *self.inner.live.lock().await = None;
    }

    /// Closes the channel for good, as kube-apiserver's storage closes its etcd client when it
    /// shuts down (the generic server's `Destroy`): streams end (the watch feeding the cache
    /// among them, see [`Channel::closed`]), the kept connection is let go, and hyper closes it
    /// once nothing uses it; a call made after it gets grpc-go's `grpc: the client connection
    /// is closing` instead of a new dial.
    pub async fn close(&self) {
        self.inner.closed.send_replace(true);
        *self.inner.live.lock().await = None;
    }

    /// Whether [`Channel::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    /// Completes when [`Channel::close`] is called: a stream's reader stops with it.
    pub async fn closed(&self) {
        let mut closed = self.inner.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }

    /// grpc-go's warning for a dial that failed (clientconn.go v1.65.0, `createTransport`),
    /// narrated as Alice's own log line; returns the description it carries.
    fn log_failed_dial(&self, failed: &DialFailed) -> String {
        let i = &self.inner;
        let desc = match failed.phase {
            Phase::Connect => format!("transport: Error while dialing: {}", failed.text),
            Phase::TlsHandshake => {
                format!(
                    "transport: authentication handshake failed: {}",
                    failed.text
                )
            }
            Phase::Request => failed.text.clone(),
        };
        let addr = self.addr();
        let line = format!(
            "[core] grpc: addrConn.createTransport failed to connect to {{Addr: \"{addr}\", ServerName: \"{addr}\", }}. Err: connection error: desc = {}",
            kubecorp_trust::go_quote(&desc)
        );
        let stage = match failed.phase {
            Phase::Connect => Stage::Tcp,
            _ => Stage::Tls,
        };
        i.events.emit(
            Event::new(i.clock.now(), &i.from, "etcd", stage)
                .client_text(desc.clone())
                .caller_log(line)
                .explanation("Alice could not open her connection to the vault. Her storage calls wait for one and dial again (after 1 s, then longer), until each call's deadline passes: all a kubectl user then reads is `context deadline exceeded`; the reason is only in this log line.")
                .hint("Read the reason after `desc =`: a refused badge is fixed on the badge (`openssl verify -CAfile pki/etcd/ca.crt pki/apiserver-etcd-client.crt`, `kubeadm certs renew apiserver-etcd-client`); `connection refused` means etcd is not listening."),
        );
        desc
    }
}

/// How a call on a connection ended when it did not give an answer.
enum Outcome {
    /// etcd answered with a status other than OK.
    Answered(GrpcError),
    /// The connection or the stream broke.
    Broken(Ended),
}

impl From<Ended> for Outcome {
    fn from(e: Ended) -> Outcome {
        Outcome::Broken(e)
    }
}

/// Why a connection went: the driver's word if it ended (waiting a moment for it), else the
/// call's own error.
async fn ended_reason(mut ended: watch::Receiver<Option<Ended>>, broke: Ended) -> Ended {
    let wait = ended.wait_for(Option::is_some);
    match tokio::time::timeout(Duration::from_millis(500), wait).await {
        Ok(Ok(found)) => found.clone().unwrap_or(broke),
        _ => broke,
    }
}

/// Sends one request and waits for the response head.
async fn send(
    mut sender: SendRequest<Body>,
    uri: &str,
    body: Body,
) -> Result<Response<Incoming>, Ended> {
    let request = Request::post(uri)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header(http::header::USER_AGENT, "grpc-go/1.65.0")
        .body(body)
        .expect("a gRPC request head is valid");
    sender.ready().await.map_err(broken)?;
    sender.send_request(request).await.map_err(broken)
}

fn broken(e: hyper::Error) -> Ended {
    Ended {
        alert: is_alert(&e),
        text: client_error_text(&e, &Default::default()),
    }
}

async fn unary_on(sender: SendRequest<Body>, uri: &str, body: Body) -> Result<Bytes, Outcome> {
    let response = send(sender, uri, body).await?;
    check_headers(response.headers()).map_err(Outcome::Answered)?;
    let collected = response.into_body().collect().await.map_err(broken)?;
    if let Some(trailers) = collected.trailers() {
        check_status(trailers).map_err(Outcome::Answered)?;
    }
    let mut deframer = Deframer::default();
    deframer.push(&collected.to_bytes());
    match deframer.next_message() {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(Outcome::Answered(GrpcError::Status {
            code: 13,
            message: "server closed the stream without sending trailers".into(),
        })),
        Err(status) => Err(Outcome::Answered(GrpcError::Status {
            code: status.code,
            message: status.message,
        })),
    }
}

/// A refusal sent as headers only ("trailers-only"), or an answer that is not gRPC.
fn check_headers(headers: &HeaderMap) -> Result<(), GrpcError> {
    if headers.contains_key("grpc-status") {
        return check_status(headers);
    }
    let grpc = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        Ok(())
    } else {
        Err(GrpcError::Status {
            code: 13,
            message: "transport: received unexpected content-type".into(),
        })
    }
}

/// `grpc-status` and `grpc-message` (percent-decoded, as grpc-go does).
fn check_status(headers: &HeaderMap) -> Result<(), GrpcError> {
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(2);
    if code == 0 {
        return Ok(());
    }
    let message = headers
        .get("grpc-message")
        .map(|v| percent_decode(v.as_bytes()))
        .unwrap_or_default();
    Err(GrpcError::Status { code, message })
}

fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A server stream (a watch): messages as they come, until etcd ends it.
pub struct Stream {
    body: Incoming,
    deframer: Deframer,
    /// Keeps the request side open: dropping it ends the stream (clientv3 cancels a watch so).
    _requests: http_body_util::channel::Sender<Bytes, Infallible>,
}

impl Stream {
    /// The next message, `None` when etcd ended the stream with OK.
    pub async fn next<M: Message + Default>(&mut self) -> Result<Option<M>, GrpcError> {
        loop {
            match self.deframer.next_message() {
                Ok(Some(bytes)) => {
                    return M::decode(bytes).map(Some).map_err(|e| GrpcError::Decode {
                        problem: e.to_string(),
                    })
                }
                Ok(None) => {}
                Err(status) => {
                    return Err(GrpcError::Status {
                        code: status.code,
                        message: status.message,
                    })
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.deframer.push(data);
                    } else if let Some(trailers) = frame.trailers_ref() {
                        check_status(trailers)?;
                        return Ok(None);
                    }
                }
                Some(Err(e)) => {
                    return Err(GrpcError::Broken {
                        text: broken(e).text,
                    })
                }
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcds_own_errors_read_as_their_text_and_others_as_grpc_go_prints_a_status() {
        let compacted = GrpcError::Status {
            code: 11,
            message: "etcdserver: mvcc: required revision has been compacted".into(),
        };
        assert_eq!(
            compacted.to_string(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        let unknown = GrpcError::Status {
            code: 12,
            message: "unknown service etcdserverpb.Auth".into(),
        };
        assert_eq!(
            unknown.to_string(),
            "rpc error: code = Unimplemented desc = unknown service etcdserverpb.Auth"
        );
        assert_eq!(
            GrpcError::DeadlineExceeded { last_dial: None }.to_string(),
            "context deadline exceeded"
        );
    }

    #[test]
    fn a_broken_connection_or_an_unavailable_etcd_is_unanswered_and_etcds_own_refusal_is_not() {
        let broken = GrpcError::Broken {
            text: "connection reset by peer".into(),
        };
        assert!(broken.unanswered());
        let timed_out = GrpcError::Status {
            code: UNAVAILABLE,
            message: "etcdserver: request timed out".into(),
        };
        assert!(timed_out.unanswered());
        let too_large = GrpcError::Status {
            code: 3,
            message: "etcdserver: request is too large".into(),
        };
        assert!(!too_large.unanswered());
        let kept_but_silent = GrpcError::DeadlineExceeded { last_dial: None };
        assert!(kept_but_silent.unanswered());
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        assert_eq!(percent_decode(b"50%25 %C3%A9"), "50% é");
        assert_eq!(percent_decode(b"trailing %"), "trailing %");
        assert_eq!(percent_decode(b"bad %zz"), "bad %zz");
    }
}
