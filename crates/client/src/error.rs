//! How a call to the apiserver fails: the hop and phase for a connection that broke, the
//! Status for an answer that refused, and the texts kubectl would print for each.

use crate::*;

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
