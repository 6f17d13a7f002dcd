//! How a call to the apiserver fails: the hop and phase for a connection that broke, the
//! Status for an answer that refused, and the texts kubectl would print for each.

use crate::*;
use time::OffsetDateTime;

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

/// client-go's message for a 401 whose body is not read as a Status
/// (`staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`, `NewGenericServerResponse`, v0.32).
pub const CREDENTIALS: &str = "the server has asked for the client to provide credentials";

/// kubectl's output for a failure on its first call to a server (see
/// [`ClientError::kubectl_without_cache`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uncached {
    /// The `E… memcache.go:265]` line, printed five times.
    pub logged: String,
    /// kubectl's last line.
    pub last: String,
}

/// How many times kubectl v1.32 prints the discovery failure before giving up.
pub const DISCOVERY_TRIES: usize = 5;

impl ClientError {
    /// The line kubectl prints for this failure.
    pub fn kubectl_text(&self) -> String {
        match self {
            // kubectl's `checkErr` (staging/src/k8s.io/kubectl/pkg/cmd/util/helpers.go, v0.32):
            // a refused dial is worded by kubectl itself, naming the host and port.
            ClientError::Transport {
                phase: Phase::Connect,
                text,
                addr,
                ..
            } if text.ends_with("connect: connection refused") => format!(
                "The connection to the server {addr} was refused - did you specify the right host or port?"
            ),
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

    /// What kubectl v1.32 prints for this failure when it has no discovery cache for the server
    /// yet (a first call, or `~/.kube/cache` removed): the discovery of `/api` fails first, and
    /// client-go's memory cache logs it five times (`memcache.go:265`, in
    /// `staging/src/k8s.io/client-go/discovery/cached/memory/memcache.go` at v0.32) before
    /// kubectl's own last line. A 401 then reads as client-go's generic Unauthorized text (the
    /// discovery answer is not decoded as a Status); with a cache kubectl sends the real request
    /// and prints [`ClientError::kubectl_text`]. `None` when discovery would not fail the same way.
    /// Both forms were seen from kubectl 1.32 against the lab.
    pub fn kubectl_without_cache(&self, server: &str, at: OffsetDateTime) -> Option<Uncached> {
        let (cause, last) = match self {
            ClientError::Transport { .. } => {
                let cause = format!("Get \"{server}/api?timeout=32s\": {}", self.text());
                (cause, self.kubectl_text())
            }
            ClientError::Status { code: 401, .. } => (
                CREDENTIALS.to_owned(),
                format!("error: You must be logged in to the server ({CREDENTIALS})"),
            ),
            _ => return None,
        };
        let err = format!("couldn't get current server API group list: {cause}");
        let logged = crate::klog::line(
            crate::klog::Severity::Error,
            at,
            "memcache.go:265",
            &crate::klog::structured("Unhandled Error", &[("err", &err)]),
        );
        Some(Uncached { logged, last })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(phase: Phase, text: &str) -> ClientError {
        ClientError::Transport {
            from: "kubectl".into(),
            to: "apiserver".into(),
            addr: "127.0.0.1:39413".into(),
            phase,
            text: text.into(),
            verdict: None,
        }
    }

    // Both forms as kubectl 1.32 printed them against a closed port and against the lab.
    #[test]
    fn a_refused_dial_is_worded_by_kubectl_with_the_host_and_port_after_five_memcache_lines() {
        let refused = transport(
            Phase::Connect,
            "dial tcp 127.0.0.1:39413: connect: connection refused",
        );
        assert_eq!(
            refused.kubectl_text(),
            "The connection to the server 127.0.0.1:39413 was refused - did you specify the right host or port?"
        );
        let at = OffsetDateTime::UNIX_EPOCH;
        let first = refused
            .kubectl_without_cache("https://127.0.0.1:39413", at)
            .unwrap();
        assert_eq!(
            first.logged,
            r#"E0101 00:00:00.000000       1 memcache.go:265] "Unhandled Error" err="couldn't get current server API group list: Get \"https://127.0.0.1:39413/api?timeout=32s\": dial tcp 127.0.0.1:39413: connect: connection refused""#
        );
        assert_eq!(first.last, refused.kubectl_text());
    }

    #[test]
    fn a_401_on_the_first_call_reads_as_client_gos_generic_unauthorized_text() {
        let denied = ClientError::Status {
            from: "kubectl".into(),
            to: "apiserver".into(),
            request: "GET /api/v1/namespaces/default/pods".into(),
            code: 401,
            reason: "Unauthorized".into(),
            message: "Unauthorized".into(),
            invalid: None,
        };
        assert_eq!(
            denied.kubectl_text(),
            "error: You must be logged in to the server (Unauthorized)"
        );
        let first = denied
            .kubectl_without_cache("https://127.0.0.1:6443", OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        assert!(first.logged.ends_with(r#"memcache.go:265] "Unhandled Error" err="couldn't get current server API group list: the server has asked for the client to provide credentials""#), "{}", first.logged);
        assert_eq!(
            first.last,
            "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
        );
        let tls = transport(
            Phase::TlsHandshake,
            "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        );
        let first = tls
            .kubectl_without_cache("https://127.0.0.1:6443", OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        assert!(first.logged.contains(r#"Get \"https://127.0.0.1:6443/api?timeout=32s\": tls: failed to verify certificate"#), "{}", first.logged);
        assert_eq!(
            first.last,
            "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
    }
}
