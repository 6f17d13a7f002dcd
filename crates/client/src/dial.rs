//! The lab's one way to open a mutual-TLS connection: TCP with a deadline, the TLS handshake
//! with a deadline, then hyper's client handshake, for HTTP/1.1 ([`dial`], what client-go
//! speaks) or HTTP/2 ([`dial_h2`], the one connection Alice keeps to etcd for gRPC). Every
//! failure says which phase broke, in the words a Go client prints (`dial tcp …: connect:
//! connection refused`, `dial tcp: lookup NAME on 10.0.0.2:53: no such host` (see
//! [`crate::resolve`]), `net/http: TLS handshake timeout`, `tls: failed to verify certificate:
//! x509: …`), and whether the far side said no or said nothing in time ([`Reply`]).
//!
//! Most callers check the server's badge against a CA. kube-apiserver does not when it dials a
//! kubelet (kubeadm sets no `--kubelet-certificate-authority`, so Go's `InsecureSkipVerify`):
//! it only shows its own badge. [`Hop::trust`] `None` dials that way.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use kubecorp_trust::tls::{
    client_config, client_config_skip_verify, client_error_text, find_rustls_error, is_alert,
    server_name, CertSource, HandshakeNotes, TrustSource,
};
use kubecorp_trust::{Events, LabClock, Stage, Verdict};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::Phase;

/// One hop: who dials where, showing which badge, trusting which CA.
pub struct Hop<'a> {
    /// The caller's name in events (`scheduler`, `apiserver`).
    pub from: &'a str,
    /// A name or an IP address; also the name the server's badge must carry, unless
    /// `server_name` names another.
    pub host: &'a str,
    pub port: u16,
    /// The name sent as SNI and checked against the server's badge, when it is not `host`:
    /// kubeconfig's `tls-server-name`, or `curl --resolve NAME:PORT:ADDR`. The address dialled
    /// is still `host`, so the name needs no DNS.
    pub server_name: Option<&'a str>,
    pub identity: Option<CertSource>,
    /// The CA the server's badge is checked against; `None` takes any server badge.
    pub trust: Option<TrustSource>,
    pub clock: &'a LabClock,
    pub events: &'a Events,
    /// The deadline for the TCP connect (client-go's dialer: 30 s; the lab's staff use 10 s).
    pub connect_timeout: Duration,
    /// The deadline for the TLS handshake (client-go's `TLSHandshakeTimeout`: 10 s).
    pub handshake_timeout: Duration,
}

impl Hop<'_> {
    /// `host:port`, with an IPv6 address in brackets.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An open connection: a sender for requests, the task that drives it, and what the handshake
/// found about the server's badge.
pub struct Dialed {
    pub sender: SendRequest<Full<Bytes>>,
    pub driver: JoinHandle<Result<(), hyper::Error>>,
    pub notes: HandshakeNotes,
}

/// What the far side answered a dial that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nothing in time, or the connection closed before it was ready: a server that is busy
    /// (a loaded machine) or went away. A later dial may work.
    Silence,
    /// A no: nothing listens on the port, the TLS handshake refused a badge (the server's
    /// alert, or our own check of the server's badge), or the name to check is not valid.
    /// Dialling again changes nothing until someone fixes it.
    Refusal,
}

/// Why a hop could not be opened: the phase, the Go client's text, whether the server said no
/// or nothing, and the lab's verdict on the server's badge when that was the reason.
#[derive(Debug)]
pub struct DialFailure {
    pub phase: Phase,
    pub text: String,
    pub reply: Reply,
    pub verdict: Option<Box<Verdict>>,
}

impl DialFailure {
    fn silence(phase: Phase, text: String) -> DialFailure {
        DialFailure {
            phase,
            text,
            reply: Reply::Silence,
            verdict: None,
        }
    }

    fn refusal(phase: Phase, text: String) -> DialFailure {
        DialFailure {
            reply: Reply::Refusal,
            ..DialFailure::silence(phase, text)
        }
    }

    /// A failure after the TLS handshake: the server's alert refusing our badge (TLS 1.3 sends
    /// it after our side finished), or the connection ending.
    fn after_handshake(err: &(dyn std::error::Error + 'static), notes: &HandshakeNotes) -> Self {
        let text = client_error_text(err, notes);
        if is_alert(err) {
            DialFailure::refusal(Phase::TlsHandshake, text)
        } else {
            DialFailure::silence(Phase::Request, text)
        }
    }

    /// How far the caller got, as events tell it.
    pub fn stage(&self) -> Stage {
        match self.phase {
            Phase::Connect => Stage::Tcp,
            Phase::TlsHandshake => Stage::Tls,
            Phase::Request => Stage::Request,
        }
    }
}

/// Opens `hop` for HTTP/1.1.
pub async fn dial(hop: Hop<'_>) -> Result<Dialed, DialFailure> {
    let (tls, notes) = connect(&hop, Alpn::Http11).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        // On TLS 1.3 a refusal of our badge arrives as an alert after the handshake.
        .map_err(|e| DialFailure::after_handshake(&e, &notes))?;
    Ok(Dialed {
        sender,
        driver: tokio::spawn(conn),
        notes,
    })
}

/// An open HTTP/2 connection: a sender many calls share at once (a clone per call), the task
/// that drives the connection, and what the handshake found about the server's badge.
pub struct DialedH2<B> {
    pub sender: hyper::client::conn::http2::SendRequest<B>,
    pub driver: JoinHandle<Result<(), hyper::Error>>,
    pub notes: HandshakeNotes,
}

/// Opens `hop` for HTTP/2, offering only `h2` in ALPN, as grpc-go does: the connection
/// kube-apiserver's etcd client keeps and sends every call on.
pub async fn dial_h2<B>(hop: Hop<'_>) -> Result<DialedH2<B>, DialFailure>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use tokio::io::AsyncBufReadExt;
    let (tls, notes) = connect(&hop, Alpn::H2).await?;
    // grpc-go 1.65 (kube-apiserver 1.32's) speaks HTTP/2 whatever the server agreed on, and
    // counts the connection ready only once the server's preface (its SETTINGS) arrived. On
    // TLS 1.3 a server that refuses our badge says so with an alert after our side of the
    // handshake finished: it comes instead of the preface.
    let mut io = tokio::io::BufReader::new(tls);
    match tokio::time::timeout(hop.handshake_timeout, io.fill_buf()).await {
        Ok(Ok(preface)) if !preface.is_empty() => {}
        Ok(Ok(_)) => {
            return Err(DialFailure::silence(Phase::Request, "EOF".into()));
        }
        Ok(Err(e)) => return Err(DialFailure::after_handshake(&e, &notes)),
        Err(_) => {
            return Err(DialFailure::silence(
                Phase::Request,
                "timed out waiting for server handshake".into(),
            ));
        }
    }
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| DialFailure::silence(Phase::Request, client_error_text(&e, &notes)))?;
    Ok(DialedH2 {
        sender,
        driver: tokio::spawn(conn),
        notes,
    })
}

/// The application protocol a dial offers in the handshake.
#[derive(Clone, Copy)]
enum Alpn {
    Http11,
    H2,
}

/// TCP with a deadline, then the TLS handshake with a deadline, offering `alpn`.
async fn connect(
    hop: &Hop<'_>,
    alpn: Alpn,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, HandshakeNotes), DialFailure> {
    let connect = async {
        // A name that does not resolve will not resolve by dialling again at once.
        let addrs = crate::resolve::resolve(hop.host, hop.port)
            .await
            .map_err(|text| DialFailure::refusal(Phase::Connect, text))?;
        // Each address in turn; Go's dialSerial reports the first one's error.
        let mut first = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => return Ok(tcp),
                Err(e) => {
                    first.get_or_insert_with(|| {
                        let text = client_error_text(&e, &Default::default());
                        format!("dial tcp {addr}: {text}")
                    });
                }
            }
        }
        // `connection refused`: nothing listens there.
        let text = first.unwrap_or_else(|| format!("dial tcp {}: no address", hop.addr()));
        Err(DialFailure::refusal(Phase::Connect, text))
    };
    let tcp = match tokio::time::timeout(hop.connect_timeout, connect).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(failed)) => return Err(failed),
        Err(_) => {
            return Err(DialFailure::silence(
                Phase::Connect,
                format!("dial tcp {}: i/o timeout", hop.addr()),
            ))
        }
    };
    let _ = tcp.set_nodelay(true);
    let (config, notes) = match &hop.trust {
        Some(trust) => client_config(
            hop.from,
            hop.identity.clone(),
            trust.clone(),
            hop.clock.clone(),
            hop.events.clone(),
        ),
        None => client_config_skip_verify(
            hop.from,
            hop.identity.clone(),
            hop.clock.clone(),
            hop.events.clone(),
        ),
    };
    let config = match alpn {
        Alpn::Http11 => config,
        Alpn::H2 => {
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            std::sync::Arc::new(config)
        }
    };
    let name = server_name(hop.server_name.unwrap_or(hop.host))
        .map_err(|e| DialFailure::refusal(Phase::TlsHandshake, e.to_string()))?;
    let tls = match tokio::time::timeout(
        hop.handshake_timeout,
        TlsConnector::from(config).connect(name, tcp),
    )
    .await
    {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let verdict = notes.peer_verdict().filter(|v| !v.is_valid()).map(Box::new);
            // A TLS error (an alert, a badge we refused, no protocol in common) is a decision;
            // a bare I/O error (EOF, reset) is a server that dropped the connection.
            let reply = if verdict.is_some() || find_rustls_error(&e).is_some() {
                Reply::Refusal
            } else {
                Reply::Silence
            };
            return Err(DialFailure {
                phase: Phase::TlsHandshake,
                text: client_error_text(&e, &notes),
                reply,
                verdict,
            });
        }
        Err(_) => {
            return Err(DialFailure::silence(
                Phase::TlsHandshake,
                "net/http: TLS handshake timeout".into(),
            ))
        }
    };
    Ok((tls, notes))
}
