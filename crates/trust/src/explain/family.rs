//! The families of texts `kubecorp explain` recognises, and whose check each one reports.
//!
//! A text is judged by what it says (the x509 reason, a TLS alert, a 401 or 403, a file that
//! cannot be read) and by where it was printed: the same `x509: …` means the *client* refused
//! the server's badge in `Unable to connect to the server: …`, and the *server* refused the
//! client's in `Unable to authenticate the request …` or etcd's `rejected connection from …`.
//! A TLS alert (`remote error: tls: …`) is the other side's refusal: in a server's log it was
//! sent by the client, in a client's text by the server.

use super::CheckedBy;
use crate::verdict::{classify_text, VerdictKind};

/// What one reading of a paste is, with how sure the reading is (`rank`: a precise reason
/// beats a vague one, a certificate reason beats a status code, anything beats "not a
/// certificate problem").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub checked_by: CheckedBy,
    pub kind: Kind,
    pub rank: u8,
}

/// A verdict kind from Go's x509 texts, or one of the lab's own families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Verdict(VerdictKind),
    /// `x509: certificate has expired or is not yet valid` without the times (Go < 1.14, and
    /// kubeadm's `the certificate has expired`/`is not valid yet` on disk).
    ExpiredOrNotYet,
    Lab(&'static str),
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Verdict(v) => v.name(),
            Kind::ExpiredOrNotYet => "expired-or-not-yet-valid",
            Kind::Lab(name) => name,
        }
    }
}

fn has(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| text.contains(n))
}

/// Where a line was printed: by the guard that checked a client, or by a caller.
fn server_side(text: &str) -> bool {
    has(
        text,
        &[
            "failed to verify client certificate",
            "failed to verify client's certificate",
            "Unable to authenticate the request",
            "client didn't provide a certificate",
            "rejected connection",
            "TLS handshake error from",
            "verifying certificate SN=",
        ],
    )
}

/// Judges one reading; `None` when nothing in it is known.
pub(super) fn judge(text: &str) -> Option<Finding> {
    let found = |checked_by, kind, rank| {
        Some(Finding {
            checked_by,
            kind,
            rank,
        })
    };
    use CheckedBy::*;
    let lower = text.to_lowercase();

    // Not TLS at all on a TLS port, or no answer: no certificate was ever checked.
    if has(
        text,
        &[
            "first record does not look like a TLS handshake",
            "server gave HTTP response to HTTPS client",
            "Client sent an HTTP request to an HTTPS server",
        ],
    ) {
        return found(None, Kind::Lab("not-tls"), 1);
    }

    // The aggregation layer: an APIService (metrics-server's v1beta1.metrics.k8s.io) that is not
    // Available. A 401 in its message is the extension server refusing kube-apiserver's
    // front-proxy-client badge; anything else is not a certificate's doing.
    if has(
        text,
        &[
            "Metrics API not available",
            "FailedDiscoveryCheck",
            "failing or missing response from",
            "stale GroupVersion discovery",
        ],
    ) {
        let by = if text.contains(": 401") { Server } else { None };
        return found(by, Kind::Lab("apiservice-unavailable"), 4);
    }

    // Issuance and rotation: the signer's side of a badge's life.
    if has(
        text,
        &[
            "certificate request was not signed",
            "certificate signing request is denied",
            "certificate signing request failed",
            "is approved, waiting to be issued",
            "The currently active client certificate has expired",
            "failed to rotate",
            "Certificate rotation",
            "no serving certificate available",
        ],
    ) || (text.contains("TLS handshake error from")
        && text.ends_with("no certificate available"))
        || text.contains("remote error: tls: internal error")
    {
        let kind = if has(
            text,
            &[
                "no serving certificate",
                "no certificate available",
                "remote error: tls: internal error",
            ],
        ) {
            "no-serving-cert"
        } else {
            "rotation"
        };
        return found(Signer, Kind::Lab(kind), 4);
    }

    // Checks on disk, before any connection: files, keys, PEM, kubeconfigs, kubeadm's own.
    if let Some(kind) = local(text, &lower) {
        return found(Local, Kind::Lab(kind), 4);
    }

    // Go's x509 verification texts, including the wordings of older Go and of macOS.
    if let Some(kind) = x509_kind(text) {
        let by = if server_side(text) { Server } else { Client };
        let rank = if kind == Kind::ExpiredOrNotYet { 3 } else { 4 };
        return found(by, kind, rank);
    }
    // etcd's own check of a client's SAN against its address (`--client-cert-auth` with
    // `--experimental-peer-skip-client-san-verification` off).
    if text.contains("rejected connection") && text.contains("does not match any of DNSNames") {
        return found(Server, Kind::Verdict(VerdictKind::NameMismatch), 4);
    }

    // A TLS alert: the other side refused.
    if let Some(alert) = text
        .find("remote error: tls: ")
        .map(|at| &text[at + "remote error: tls: ".len()..])
    {
        let certificate_alert = has(
            alert,
            &[
                "bad certificate",
                "unknown certificate authority",
                "certificate unknown",
                "expired certificate",
                "certificate required",
                "unsupported certificate",
                "certificate revoked",
                "access denied",
            ],
        );
        if certificate_alert {
            return if server_side(text) {
                found(Client, Kind::Lab("handshake-refused-by-client"), 2)
            } else {
                found(Server, Kind::Lab("handshake-refused"), 2)
            };
        }
    }
    if (text.contains("rejected connection") || text.contains("TLS handshake error from"))
        && (text.contains("error: EOF")
            || text.contains("(error \"EOF\"")
            || text.ends_with(": EOF"))
    {
        return found(Client, Kind::Lab("handshake-abandoned"), 2);
    }
    if has(
        text,
        &[
            "client didn't provide a certificate",
            "tls: certificate required",
        ],
    ) {
        return found(Server, Kind::Lab("handshake-refused"), 2);
    }

    // After the handshake: 401 (who are you?) and 403 (you may not).
    if has(
        text,
        &["Forbidden (user=", "forbidden: User", "is forbidden:"],
    ) || crate::forbidden::parse(text).is_some()
        || lower.contains("(forbidden)")
    {
        let kind = if text.contains("Forbidden (user=") && text.contains("resource=nodes") {
            "kubelet-authz-403"
        } else {
            "authz-403"
        };
        return found(Authorizer, Kind::Lab(kind), 2);
    }
    if has(
        text,
        &[
            "You must be logged in to the server",
            "the server has asked for the client to provide credentials",
        ],
    ) || text.trim_end().ends_with("Unauthorized")
        || text.contains("Unauthorized)")
        || text.contains(": Unauthorized")
        || text.contains("\"Unauthorized\"")
    {
        return found(Server, Kind::Lab("authn-401"), 2);
    }

    // Known texts that are not about certificates or identity.
    if text.contains("alpha certs") {
        return found(Local, Kind::Lab("kubeadm-alpha-removed"), 1);
    }
    if has(
        text,
        &["untolerated taint", "no nodes available to schedule pods"],
    ) {
        return found(None, Kind::Lab("unschedulable"), 1);
    }
    if text.contains("failed to allocate IP") {
        return found(None, Kind::Lab("service-ip"), 1);
    }
    // Go's context.DeadlineExceeded (context.go): the client stopped waiting, reason unsaid.
    if has(
        text,
        &["context deadline exceeded", "code = DeadlineExceeded"],
    ) {
        return found(Unknown, Kind::Lab("deadline"), 1);
    }
    if has(
        text,
        &[
            "connection refused",
            "was refused - did you specify the right host or port",
            "i/o timeout",
            "no such host",
            "no route to host",
            "the server is currently unable to handle the request",
            "connection reset by peer",
            "TLS handshake timeout",
            "net/http: request canceled",
            "Client.Timeout exceeded",
            "the server could not find the requested resource",
            "not found",
            "already exists",
            "ImagePullBackOff",
            "CrashLoopBackOff",
        ],
    ) {
        return found(None, Kind::Lab("not-a-cert-problem"), 1);
    }
    Option::None
}

/// Failures on disk, named as kubeadm, client-go and crypto/tls word them.
fn local(text: &str, lower: &str) -> Option<&'static str> {
    if text.contains("are pinned") || text.contains("discovery-token-ca-cert-hash") {
        return Some("ca-pinning");
    }
    if text.contains("not signed by CA certificate")
        || text.contains("is not signed by corresponding CA")
        || (text.contains("certificate ") && text.contains(" is invalid: x509:"))
        || text.contains("[ERROR FileAvailable")
        || text.contains("failure loading")
        || text.contains("invalid or incomplete external CA")
        || text.contains("the certificate is not valid yet")
        || text.contains("the certificate has expired")
    {
        return Some("kubeadm-check");
    }
    if text.contains("private key does not match public key") {
        return Some("key-mismatch");
    }
    if has(
        text,
        &[
            "found a certificate rather than a key",
            "found a key rather than a certificate",
            "failed to find any PEM data",
            "failed to find certificate PEM data",
            "failed to parse private key",
            "unable to parse bytes as PEM block",
            "data does not contain any valid RSA or ECDSA certificates",
            "illegal base64 data",
            "asn1: structure error",
            "x509: failed to parse",
            "x509: malformed",
            "unable to load root certificates",
            "failed to load certificate",
            "couldn't load the private key",
            "couldn't load the certificate",
        ],
    ) {
        return Some("bad-pem");
    }
    if has(
        text,
        &[
            "unable to read certificate-authority",
            "unable to read client-cert",
            "unable to read client-key",
        ],
    ) || (lower.contains("no such file or directory")
        && has(lower, &[".crt", ".key", ".pem", "cert", "key"]))
        || (lower.contains("permission denied") && has(lower, &[".crt", ".key", ".pem"]))
    {
        return Some("file-missing");
    }
    if !text.contains("x509: ")
        && has(
            text,
            &[
                ".kube/config",
                "kubeconfig",
                "invalid configuration:",
                "no configuration has been provided",
                "error loading config file",
                "context was not found",
                "KUBERNETES_MASTER",
            ],
        )
    {
        return Some("kubeconfig");
    }
    None
}

/// Go's x509 error texts, old and new.
fn x509_kind(text: &str) -> Option<Kind> {
    if let Some(kind) = classify_text(text) {
        return Some(Kind::Verdict(kind));
    }
    let x509 = text.find("x509: ").map(|at| &text[at..]);
    match x509 {
        Some(t) if t.starts_with("x509: certificate has expired or is not yet valid") => {
            Some(Kind::ExpiredOrNotYet)
        }
        // Go 1.15–1.16: `… use SANs or temporarily enable Common Name matching with GODEBUG=x509ignoreCN=0`.
        Some(t) if t.starts_with("x509: certificate relies on legacy Common Name field") => {
            Some(Kind::Verdict(VerdictKind::LegacyCommonName))
        }
        Some(t) if t.starts_with("x509: certificate signed by unknown authority") => {
            Some(Kind::Verdict(VerdictKind::UnknownAuthority))
        }
        // macOS's platform verifier (Go ≥ 1.18 on darwin): `x509: “NAME” certificate is not trusted`.
        Some(t) if t.contains("certificate is not trusted") => {
            Some(Kind::Verdict(VerdictKind::UnknownAuthority))
        }
        Some(t) if t.contains("certificate is not standards compliant") => {
            Some(Kind::Verdict(VerdictKind::Rejected))
        }
        _ => None,
    }
}
