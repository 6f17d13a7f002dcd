//! A door's side of the handshake when it asks for a client badge without requiring one (Alice,
//! the kubelet, Bob's secure port, metrics-server): the deadline, the chain the visitor showed,
//! and the words Go's server logs when the handshake fails.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::*;

/// How long a visitor may take to finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a handshake at a door did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeFailed {
    /// It failed: Go's words for why ([`server_error_text`]).
    Refused(String),
    /// The visitor did not finish within [`HANDSHAKE_TIMEOUT`].
    TimedOut,
}

impl HandshakeFailed {
    /// What Go's `net/http` logs after `http: TLS handshake error from <peer>: ` (`EOF` for a
    /// visitor that gave up).
    pub fn text(&self) -> &str {
        match self {
            HandshakeFailed::Refused(text) => text,
            HandshakeFailed::TimedOut => "EOF",
        }
    }
}

/// The handshake on `tcp` of a door named `name` showing `cert`, which requests a client badge
/// and leaves judging it to the authenticator ([`server_config_request_client_cert`]): the
/// stream and the chain the visitor showed (leaf first; empty when none), or why it failed.
pub async fn accept_request_client_cert(
    name: &str,
    cert: CertSource,
    clock: &LabClock,
    events: &Events,
    tcp: TcpStream,
) -> Result<(TlsStream<TcpStream>, Vec<CertificateDer<'static>>), HandshakeFailed> {
    let (config, notes) =
        server_config_request_client_cert(name, cert, clock.clone(), events.clone());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(config).accept(tcp)).await {
        Ok(Ok(tls)) => {
            let chain = peer_chain(tls.get_ref().1).unwrap_or_default();
            Ok((tls, chain))
        }
        Ok(Err(e)) => Err(HandshakeFailed::Refused(server_error_text(&e, &notes))),
        Err(_) => Err(HandshakeFailed::TimedOut),
    }
}
