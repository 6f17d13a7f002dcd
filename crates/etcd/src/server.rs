//! Charlie at the vault door: the accept loop, the mutual-TLS handshake that decides who gets
//! in, and the HTTP/1.1 gateway behind it.
//!
//! # Why etcd decides in the handshake
//!
//! kubeadm starts etcd with `--client-cert-auth --trusted-ca-file=etcd/ca.crt`. Go's TLS server
//! then *requires* a client certificate and *verifies* it against the etcd CA before a single
//! byte of HTTP is read. A visitor with no badge, or with one the Founder of the *cluster* CA
//! signed (admin.conf's!), never reaches the gateway: the handshake fails, the client reads a
//! TLS alert, and etcd logs one line (etcd 3.5.16's zap JSON; see [`crate::release`] for 3.4's
//! text form):
//!
//! ```text
//! {"level":"warn","ts":"…","caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint","remote-addr":"127.0.0.1:53312","server-name":"","error":"tls: failed to verify certificate: x509: certificate signed by unknown authority"}
//! ```
//!
//! `server-name` is the SNI the client sent, empty when it dialled an IP address. Each connection's TLS config is built at
//! accept time, after reading the ClientHello (to learn that SNI), so `etcd/server.crt` and
//! `etcd/ca.crt` are read fresh from disk when they change, as etcd's `GetCertificate` does.
//!
//! Anyone with a badge from the etcd CA gets in: etcd does not look at the CN or O unless its
//! own auth is enabled, which kubeadm leaves off.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use kubecorp_trust::tls::{
    go_alert_text, peer_identity, server_config_require_client_cert_with, server_error_text,
    CertSource, HandshakeNotes, TrustSource,
};
use kubecorp_trust::{Event, Events, Identity, LabClock, Stage, Verdict, VerdictKind};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::LazyConfigAcceptor;

use crate::api::Gateway;
use crate::error::EtcdError;
use crate::grpc;
use crate::release::{Endpoint, Refusal, Release};
use crate::vault::Vault;

/// How long a visitor may take to finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish after shutdown is asked for.
pub use kubecorp_door::DRAIN_DEADLINE;
/// The largest request body read (the gateway's own limits apply below this).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How Charlie is set up: kubeadm's etcd flags, plus the lab's clock and event stream.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// The member name (`--name`), and the name on events.
    pub name: String,
    /// `--cert-file` / `--key-file`: `etcd/server.crt` and `.key`.
    pub server_cert: CertSource,
    /// `--trusted-ca-file`: `etcd/ca.crt`. The cluster CA is *not* trusted.
    pub trusted_ca: TrustSource,
    pub clock: LabClock,
    pub events: Events,
    /// Which etcd to play: 3.5.16 (kubeadm 1.32, Go 1.22, zap JSON logs) by default; 3.4.23
    /// for the side-by-side with Debian's etcd.
    pub release: Release,
    /// `--initial-advertise-peer-urls`: gives the member its ID (etcd's default
    /// `http://localhost:2380` when empty).
    pub peer_urls: Vec<String>,
    /// `--advertise-client-urls` (the listener's own `https://` address when empty).
    pub client_urls: Vec<String>,
}

impl EtcdConfig {
    pub fn new(
        name: impl Into<String>,
        server_cert: CertSource,
        trusted_ca: TrustSource,
        clock: LabClock,
        events: Events,
    ) -> EtcdConfig {
        EtcdConfig {
            name: name.into(),
            server_cert,
            trusted_ca,
            clock,
            events,
            release: Release::default(),
            peer_urls: Vec::new(),
            client_urls: Vec::new(),
        }
    }
}

struct Shared {
    config: EtcdConfig,
    vault: Arc<Vault>,
    gateway: Gateway,
}

/// Serves etcd on `listener` until `shutdown` completes, then drains open connections for up
/// to [`DRAIN_DEADLINE`].
pub async fn run(
    config: EtcdConfig,
    listener: TcpListener,
    shutdown: impl Future,
) -> Result<(), EtcdError> {
    let client_urls = if config.client_urls.is_empty() {
        listener
            .local_addr()
            .map(|a| vec![format!("https://{a}")])
            .unwrap_or_default()
    } else {
        config.client_urls.clone()
    };
    let vault = Arc::new(Vault::new(
        &config.name,
        config.peer_urls.clone(),
        client_urls,
        config.release,
        config.clock.clone(),
    ));
    tokio::spawn(expire_leases(Arc::downgrade(&vault)));
    let shared = Arc::new(Shared {
        gateway: Gateway::over(vault.clone()),
        vault,
        config,
    });
    accept_loop(listener, shutdown, move |tcp, peer, stop| {
        connection(shared.clone(), tcp, peer, stop)
    })
    .await
}

/// Ends leases whose TTL the lab clock has passed, twice a second, so watchers hear of it
/// without waiting for a request; stops when the vault is gone.
async fn expire_leases(vault: std::sync::Weak<Vault>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        match vault.upgrade() {
            // Reading the revision ends every lease that has run out.
            Some(vault) => drop(vault.revision()),
            None => return,
        }
    }
}

/// Accepts until `shutdown` ([`kubecorp_door::accept_loop`]); etcd's client and peer doors
/// both stand on it.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future,
    serve: F,
) -> Result<(), EtcdError>
where
    F: FnMut(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    kubecorp_door::accept_loop(listener, shutdown, serve)
        .await
        .map_err(|failed| EtcdError::Accept {
            addr: failed.addr,
            reason: failed.reason,
        })
}

/// One visitor, from TCP accept to the last HTTP response.
async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let config = &shared.config;
    let handshake = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(config, tcp, Alpn::GrpcAndGateway),
    )
    .await;
    let (tls, identity) = match handshake {
        Ok(Ok(done)) => done,
        Ok(Err(rejected)) => {
            reject(config, peer, rejected);
            return;
        }
        Err(_) => {
            reject(
                config,
                peer,
                Rejected {
                    server_name: String::new(),
                    text: "tls: handshake timed out".into(),
                    notes: HandshakeNotes::default(),
                    no_certificate: false,
                    wrong_protocol: None,
                },
            );
            return;
        }
    };

    config.events.emit(
        Event::new(
            config.clock.now(),
            peer.to_string(),
            &config.name,
            Stage::Tls,
        )
        .allowed(true)
        .identity(identity.clone())
        .verdict(&Verdict::new(
            VerdictKind::Valid,
            "",
            "The visitor showed a badge signed by the etcd CA, so the vault door opened.",
        )),
    );

    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let service = service_fn(move |req| {
        let shared = shared.clone();
        let identity = identity.clone();
        async move { Ok::<_, std::convert::Infallible>(serve(&shared, peer, identity, req).await) }
    });
    if h2 {
        crate::h2::converse(tls, service, stop).await;
    } else {
        kubecorp_door::converse(tls, service, stop).await;
    }
}

/// Which application protocols a door offers in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alpn {
    /// HTTP/1.1 only (the peer port).
    Http11,
    /// etcd's client port: `h2` (gRPC and the gateway), and, as Go's `http11fallback` does, no
    /// protocol at all for a client that offers only `http/1.1`.
    GrpcAndGateway,
}

/// The protocols to answer a ClientHello offering `offered` with.
fn alpn_for(alpn: Alpn, offered: &[Vec<u8>]) -> Vec<Vec<u8>> {
    match alpn {
        Alpn::Http11 => vec![b"http/1.1".to_vec()],
        Alpn::GrpcAndGateway
            if offered.is_empty()
                || (offered.iter().any(|p| p == b"http/1.1")
                    && !offered.iter().any(|p| p == b"h2")) =>
        {
            Vec::new()
        }
        Alpn::GrpcAndGateway => vec![b"h2".to_vec()],
    }
}

/// Why a handshake did not finish, with what is needed for etcd's log line (also the peer
/// port's, [`crate::peer`]).
pub(crate) struct Rejected {
    pub(crate) server_name: String,
    pub(crate) text: String,
    pub(crate) notes: HandshakeNotes,
    pub(crate) no_certificate: bool,
    /// The protocols the client offered, when none of them is one the door speaks.
    pub(crate) wrong_protocol: Option<Vec<String>>,
}

pub(crate) async fn handshake(
    config: &EtcdConfig,
    tcp: TcpStream,
    alpn: Alpn,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, Option<Identity>), Rejected> {
    // Read the ClientHello first: it carries the SNI etcd logs, and lets the TLS config (and so
    // the certificate files) be fresh for this visitor.
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
    let start = acceptor.await.map_err(|e| Rejected {
        server_name: String::new(),
        text: server_error_text(&e, &HandshakeNotes::default()),
        notes: HandshakeNotes::default(),
        no_certificate: false,
        wrong_protocol: None,
    })?;
    let server_name = start.client_hello().server_name().unwrap_or("").to_owned();
    let offered: Vec<Vec<u8>> = start
        .client_hello()
        .alpn()
        .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let (tls_config, notes) = server_config_require_client_cert_with(
        &config.name,
        config.server_cert.clone(),
        config.trusted_ca.clone(),
        config.clock.clone(),
        config.events.clone(),
        config.release.alerts(),
    );
    let mut tls_config = (*tls_config).clone();
    tls_config.alpn_protocols = alpn_for(alpn, &offered);
    match start
        .into_stream(Arc::new(tls_config))
        .into_fallible()
        .await
    {
        Ok(tls) => {
            let identity = peer_identity(tls.get_ref().1);
            Ok((tls, identity))
        }
        Err((e, tcp)) => {
            tokio::spawn(linger(tcp));
            let error = kubecorp_trust::tls::find_rustls_error(&e);
            let mut text = server_error_text(&e, &notes);
            let mut wrong_protocol = None;
            if matches!(error, Some(rustls::Error::NoApplicationProtocol)) {
                // Go names what the client offered: `([foo bar])`.
                let names: Vec<String> = offered
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                text = format!("{text} ([{}])", names.join(" "));
                wrong_protocol = Some(names);
            }
            Err(Rejected {
                no_certificate: matches!(error, Some(rustls::Error::NoCertificatesPresented)),
                text,
                server_name,
                notes,
                wrong_protocol,
            })
        }
    }
}

/// Closes a refused visitor's connection the way Go's does: the alert is sent, then our side
/// is shut (FIN) and what the visitor already sent after its handshake (curl's HTTP/2 preface)
/// is read and dropped, so the kernel does not answer it with a reset that would hide the
/// alert from the visitor.
async fn linger(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 4096];
        while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

/// Logs a turned-away visitor the way the etcd being played does, and says what the visitor saw.
fn reject(config: &EtcdConfig, peer: SocketAddr, rejected: Rejected) {
    let line = config.release.rejection_line(&Refusal {
        endpoint: Endpoint::Client,
        at: config.clock.now(),
        remote: &peer.to_string(),
        server_name: &rejected.server_name,
        error: &rejected.text,
        badge: None,
    });
    let verdict = rejected.notes.peer_verdict().filter(|v| !v.is_valid());
    let mut event = Event::new(
        config.clock.now(),
        peer.to_string(),
        &config.name,
        Stage::Tls,
    )
    .identity(rejected.notes.peer_identity())
    .server_log(line);
    if let Some(verdict) = &verdict {
        let alert = config.release.alerts().alert_for(verdict);
        event = event
            .verdict(verdict)
            .client_text(format!("remote error: tls: {}", go_alert_text(alert)));
    } else if rejected.no_certificate {
        event = event
            .client_text("remote error: tls: certificate required")
            .explanation(
                "The visitor showed no badge at all. etcd runs with --client-cert-auth, so nobody gets past the door without a badge signed by the etcd CA.",
            )
            .hint(
                "Give the client a certificate from etcd/ca.crt: the apiserver uses --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt and --etcd-keyfile=…/apiserver-etcd-client.key; etcdctl needs --cert/--key.",
            );
    } else if let Some(offered) = &rejected.wrong_protocol {
        event = event
            .client_text("remote error: tls: no application protocol")
            .explanation(format!(
                "The client offered only [{}] in ALPN. etcd's client port speaks gRPC and the JSON gateway over HTTP/2 (h2), and the gateway over HTTP/1.1; it shares no protocol with this client, so the handshake stopped before any badge mattered.",
                offered.join(" ")
            ))
            .hint("Talk to the vault with etcdctl (gRPC over h2) or curl (the JSON gateway, /v3/kv/…); another protocol on :2379 is the wrong tool, not a wrong certificate.");
    } else {
        event = event.detail("the handshake did not complete");
    }
    config.events.emit(event);
}

pub(crate) use kubecorp_trust::go_quote;

/// One HTTP request from a visitor who got in: a gRPC call, or one for the JSON gateway.
async fn serve(
    shared: &Shared,
    peer: SocketAddr,
    identity: Option<Identity>,
    req: Request<Incoming>,
) -> Response<grpc::Body> {
    let config = &shared.config;
    if grpc::is_grpc(&req) {
        let (response, outcome) = grpc::serve(shared.vault.clone(), req).await;
        let detail = match &outcome.status {
            None => format!("gRPC {} OK", outcome.method),
            Some(status) => format!(
                "gRPC {} {}: {}",
                outcome.method,
                grpc_code_name(status.code),
                status.message
            ),
        };
        config.events.emit(
            Event::new(
                config.clock.now(),
                peer.to_string(),
                &config.name,
                Stage::Request,
            )
            .allowed(outcome.status.is_none())
            .identity(identity)
            .detail(detail),
        );
        return response;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let grpc_over_http11 = req.version() != http::Version::HTTP_2
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
    let reply = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => shared.gateway.handle(&method, &path, &body.to_bytes()),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let (status, text) = if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "http: request body too large\n",
                )
            } else {
                (StatusCode::BAD_REQUEST, "unreadable request body\n")
            };
            crate::api::Reply {
                status,
                content_type: "text/plain; charset=utf-8",
                body: text.as_bytes().to_vec(),
                allow: None,
            }
        }
    };
    let mut event = Event::new(
        config.clock.now(),
        peer.to_string(),
        &config.name,
        Stage::Request,
    )
    .allowed(reply.status.is_success())
    .identity(identity)
    .detail(format!("{method} {path} {}", reply.status.as_u16()));
    if grpc_over_http11 {
        event = event
            .explanation("A gRPC call (content-type application/grpc) arrived over HTTP/1.1. gRPC needs HTTP/2, agreed as ALPN h2 in the TLS handshake; over HTTP/1.1 etcd hands the request to its JSON gateway, which knows no such path. The badge was fine: the tool spoke the wrong protocol.")
            .hint("Use a gRPC client that negotiates h2 (etcdctl does), or the JSON gateway's own paths (/v3/kv/range …) over HTTP/1.1.");
    }
    config.events.emit(event);
    let mut response = Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, reply.content_type);
    if let Some(allow) = reply.allow {
        response = response.header(http::header::ALLOW, allow);
    }
    response
        .body(Full::new(Bytes::from(reply.body)).boxed_unsync())
        .expect("status and headers are valid")
}

/// grpc-go's names for the codes etcd answers with.
fn grpc_code_name(code: i32) -> &'static str {
    match code {
        1 => "Canceled",
        3 => "InvalidArgument",
        5 => "NotFound",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcds_log_quotes_like_go() {
        assert_eq!(go_quote("tls: \"x\"\n"), r#""tls: \"x\"\n""#);
    }
}
