//! After the handshake: the peer's chain and identity, and the words a Go program prints for a
//! failed handshake or connection (`remote error: tls: …`, `x509: …`, `EOF`).

use super::*;

// ---------------------------------------------------------------------------------------------
// After the handshake.
// ---------------------------------------------------------------------------------------------

/// The certificate chain the peer showed, leaf first (for the apiserver's x509 authenticator).
pub fn peer_chain(conn: &CommonState) -> Option<Vec<CertificateDer<'static>>> {
    conn.peer_certificates()
        .filter(|chain| !chain.is_empty())
        .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
}

/// Who the peer's badge says they are, if one was shown.
pub fn peer_identity(conn: &CommonState) -> Option<Identity> {
    Identity::from_der(conn.peer_certificates()?.first()?).ok()
}

/// The rustls error inside an error chain (io::Error, hyper::Error, …), if there is one.
pub fn find_rustls_error<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    let mut next: Option<&'e (dyn StdError + 'static)> = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        // io::Error::source() skips the wrapped error itself, so look inside by hand.
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(|io_err| io_err.get_ref())
        {
            if let Some(found) = find_rustls_error(inner) {
                return Some(found);
            }
        }
        next = current.source();
    }
    None
}

/// The io::Error inside an error chain, if there is one.
pub(super) fn find_io_error<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e io::Error> {
    let mut next: Option<&'e (dyn StdError + 'static)> = Some(err);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<io::Error>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// Go's `alert.String()`: the words after `remote error: tls: `.
pub fn go_alert_text(alert: AlertDescription) -> String {
    use AlertDescription as A;
    let text = match alert {
        A::CloseNotify => "close notify",
        A::UnexpectedMessage => "unexpected message",
        A::BadRecordMac => "bad record MAC",
        A::DecryptionFailed => "decryption failed",
        A::RecordOverflow => "record overflow",
        A::DecompressionFailure => "decompression failure",
        A::HandshakeFailure => "handshake failure",
        A::BadCertificate => "bad certificate",
        A::UnsupportedCertificate => "unsupported certificate",
        A::CertificateRevoked => "revoked certificate",
        A::CertificateExpired => "expired certificate",
        A::CertificateUnknown => "unknown certificate",
        A::IllegalParameter => "illegal parameter",
        A::UnknownCA => "unknown certificate authority",
        A::AccessDenied => "access denied",
        A::DecodeError => "error decoding message",
        A::DecryptError => "error decrypting message",
        A::ExportRestriction => "export restriction",
        A::ProtocolVersion => "protocol version not supported",
        A::InsufficientSecurity => "insufficient security level",
        A::InternalError => "internal error",
        A::InappropriateFallback => "inappropriate fallback",
        A::UserCanceled => "user canceled",
        A::NoRenegotiation => "no renegotiation",
        A::MissingExtension => "missing extension",
        A::UnsupportedExtension => "unsupported extension",
        A::CertificateUnobtainable => "certificate unobtainable",
        A::UnrecognisedName => "unrecognized name",
        A::BadCertificateStatusResponse => "bad certificate status response",
        A::BadCertificateHashValue => "bad certificate hash value",
        A::UnknownPSKIdentity => "unknown PSK identity",
        A::CertificateRequired => "certificate required",
        A::NoApplicationProtocol => "no application protocol",
        A::EncryptedClientHelloRequired => "encrypted client hello required",
        other => return format!("alert({})", u8::from(other)),
    };
    text.to_owned()
}

/// Whether the error is the peer refusing us with a TLS alert (so it belongs to the handshake
/// even when, on TLS 1.3, it surfaces at the first read after it).
pub fn is_alert(err: &(dyn StdError + 'static)) -> bool {
    matches!(
        find_rustls_error(err),
        Some(rustls::Error::AlertReceived(_))
    )
}

/// What a Go client (kubectl, the apiserver dialling etcd) prints for a failed connection:
/// `tls: failed to verify certificate: x509: …` when it refused the server's badge,
/// `remote error: tls: …` when the server refused it.
pub fn client_error_text(err: &(dyn StdError + 'static), notes: &HandshakeNotes) -> String {
    if let Some(verdict) = notes.peer_verdict().filter(|v| !v.is_valid()) {
        // Go ≥ 1.20 wraps the x509 error in a CertificateVerificationError.
        return format!("tls: failed to verify certificate: {}", verdict.text);
    }
    match find_rustls_error(err) {
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("remote error: tls: {}", go_alert_text(*alert))
        }
        Some(rustls::Error::NoApplicationProtocol) => {
            "tls: server did not select an ALPN protocol".into()
        }
        Some(other) => go_rustls_text(other),
        None => go_io_text(err),
    }
}

/// What a Go server (etcd, the apiserver) logs for a failed handshake:
/// `tls: failed to verify client certificate: x509: …`, `tls: client didn't provide a
/// certificate`, `tls: first record does not look like a TLS handshake`, `EOF`, …
pub fn server_error_text(err: &(dyn StdError + 'static), notes: &HandshakeNotes) -> String {
    if let Some(verdict) = notes.peer_verdict().filter(|v| !v.is_valid()) {
        return format!("tls: failed to verify client certificate: {}", verdict.text);
    }
    if let Some(error) = notes.own_cert_error() {
        return error.to_string();
    }
    match find_rustls_error(err) {
        Some(rustls::Error::NoCertificatesPresented) => {
            "tls: client didn't provide a certificate".into()
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("remote error: tls: {}", go_alert_text(*alert))
        }
        // The first bytes were not a TLS record: plain HTTP to an HTTPS port, a port scanner.
        Some(rustls::Error::InvalidMessage(_))
        | Some(rustls::Error::InappropriateMessage { .. })
        | Some(rustls::Error::InappropriateHandshakeMessage { .. }) => {
            "tls: first record does not look like a TLS handshake".into()
        }
        Some(rustls::Error::NoApplicationProtocol) => {
            "tls: client requested unsupported application protocols".into()
        }
        Some(other) => go_rustls_text(other),
        None => go_io_text(err),
    }
}

pub(super) fn go_rustls_text(err: &rustls::Error) -> String {
    match err {
        rustls::Error::PeerIncompatible(_) => {
            "tls: no cipher suite supported by both client and server".into()
        }
        other => format!("tls: {other}"),
    }
}

pub(super) fn go_io_text(err: &(dyn StdError + 'static)) -> String {
    match find_io_error(err).map(io::Error::kind) {
        Some(io::ErrorKind::UnexpectedEof) => "EOF".into(),
        Some(io::ErrorKind::ConnectionReset) => "read: connection reset by peer".into(),
        Some(io::ErrorKind::ConnectionRefused) => "connect: connection refused".into(),
        Some(io::ErrorKind::BrokenPipe) => "write: broken pipe".into(),
        Some(io::ErrorKind::TimedOut) => "i/o timeout".into(),
        _ => err.to_string(),
    }
}
