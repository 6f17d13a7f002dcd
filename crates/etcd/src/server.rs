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
use crate::release::{Endpoint, Refusal, Release};

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
        }
    }
}

struct Shared {
    config: EtcdConfig,
    gateway: Gateway,
}

/// Serves etcd on `listener` until `shutdown` completes, then drains open connections for up
/// to [`DRAIN_DEADLINE`].
pub async fn run(
    config: EtcdConfig,
    listener: TcpListener,
    shutdown: impl Future,
) -> Result<(), EtcdError> {
    let shared = Arc::new(Shared {
        gateway: Gateway::for_release(&config.name, config.release),
        config,
    });
    accept_loop(listener, shutdown, move |tcp, peer, stop| {
        connection(shared.clone(), tcp, peer, stop)
    })
    .await
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
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(config, tcp)).await;
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

    let service = service_fn(move |req| {
        let shared = shared.clone();
        let identity = identity.clone();
        async move { Ok::<_, std::convert::Infallible>(serve(&shared, peer, identity, req).await) }
    });
    kubecorp_door::converse(tls, service, stop).await;
}

/// Why a handshake did not finish, with what is needed for etcd's log line (also the peer
/// port's, [`crate::peer`]).
pub(crate) struct Rejected {
    pub(crate) server_name: String,
    pub(crate) text: String,
    pub(crate) notes: HandshakeNotes,
    pub(crate) no_certificate: bool,
}

pub(crate) async fn handshake(
    config: &EtcdConfig,
    tcp: TcpStream,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, Option<Identity>), Rejected> {
    // Read the ClientHello first: it carries the SNI etcd logs, and lets the TLS config (and so
    // the certificate files) be fresh for this visitor.
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
    let start = acceptor.await.map_err(|e| Rejected {
        server_name: String::new(),
        text: server_error_text(&e, &HandshakeNotes::default()),
        notes: HandshakeNotes::default(),
        no_certificate: false,
    })?;
    let server_name = start.client_hello().server_name().unwrap_or("").to_owned();
    let (tls_config, notes) = server_config_require_client_cert_with(
        &config.name,
        config.server_cert.clone(),
        config.trusted_ca.clone(),
        config.clock.clone(),
        config.events.clone(),
        config.release.alerts(),
    );
    match start.into_stream(tls_config).await {
        Ok(tls) => {
            let identity = peer_identity(tls.get_ref().1);
            Ok((tls, identity))
        }
        Err(e) => Err(Rejected {
            no_certificate: matches!(
                kubecorp_trust::tls::find_rustls_error(&e),
                Some(rustls::Error::NoCertificatesPresented)
            ),
            text: server_error_text(&e, &notes),
            server_name,
            notes,
        }),
    }
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
    } else {
        event = event.detail("the handshake did not complete");
    }
    config.events.emit(event);
}

pub(crate) use kubecorp_trust::go_quote;

/// One HTTP request from a visitor who got in.
async fn serve(
    shared: &Shared,
    peer: SocketAddr,
    identity: Option<Identity>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let config = &shared.config;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
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
    config.events.emit(
        Event::new(
            config.clock.now(),
            peer.to_string(),
            &config.name,
            Stage::Request,
        )
        .allowed(reply.status.is_success())
        .identity(identity)
        .detail(format!("{method} {path} {}", reply.status.as_u16())),
    );
    let mut response = Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, reply.content_type);
    if let Some(allow) = reply.allow {
        response = response.header(http::header::ALLOW, allow);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("status and headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcds_log_quotes_like_go() {
        assert_eq!(go_quote("tls: \"x\"\n"), r#""tls: \"x\"\n""#);
    }
}
