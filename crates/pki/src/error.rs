//! What can go wrong while the Founder reads, writes or signs badges, each error naming its file.

use std::path::PathBuf;

/// An error from the PKI layer. Every variant names the file or argument it is about and what
/// was expected, so the message can be shown to a learner as it is.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no such file (expected {expected})")]
    Missing { path: PathBuf, expected: String },
    #[error(
        "{path}: is not a directory; the lab directory must be a directory (or not exist yet)"
    )]
    NotADirectory { path: PathBuf },
    #[error("{path}: expected a PEM {expected} block, found {found}")]
    NotPem {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error("{path}: the {what} is not valid DER: {detail}")]
    BadDer {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{path}: the private key does not match the public key of the certificate {cert}")]
    KeyMismatch { path: PathBuf, cert: PathBuf },
    #[error("{path}: field `{field}`: {problem}")]
    Kubeconfig {
        path: PathBuf,
        field: &'static str,
        problem: String,
    },
    /// The key pool's directory is not private to the user: its keys could be read or planted.
    #[error("{path}: not used as a key pool: {problem} (it must be a directory of mode 0700 owned by this user)")]
    PoolNotPrivate { path: PathBuf, problem: String },
    #[error("{path}: already exists; pass --force to overwrite it")]
    Exists { path: PathBuf },
    #[error("unknown certificate name `{name}`{suggestion}; known names: {known}")]
    UnknownName {
        name: String,
        suggestion: String,
        known: String,
    },
    #[error("`{name}` cannot be renewed: {reason}")]
    NotRenewable { name: String, reason: String },
    #[error("cannot sign {what}: {detail}")]
    Sign { what: String, detail: String },
    #[error("invalid --advertise-address `{value}`: expected an IPv4 or IPv6 address")]
    BadAddress { value: String },
    #[error("{path} holds one CA: there is no rotation to finish (start one with phase: start)")]
    NoRotation { path: PathBuf },
    /// kubeadm's `certificate apiserver is not signed by corresponding CA`, for every file at once.
    #[error("certificates not signed by the CA on disk (kubeadm: \"certificate … is not signed by corresponding CA\"): {}; the set is mixed, as an interrupted `pki init --force` leaves it: make a new set with `kubecorp pki init --force`, or reissue each with `kubecorp certs renew NAME`", files.join(", "))]
    NotSignedByCa { files: Vec<String> },
    /// A time the lab cannot put in a certificate, or cannot reach on the calendar.
    #[error(transparent)]
    Time(#[from] crate::when::TimeError),
    #[error(transparent)]
    BadNodeName(#[from] crate::node_name::NodeNameError),
    #[error("invalid --apiserver-cert-extra-sans entry `{value}`: expected an IP address or a lower-case RFC 1123 DNS name (a wildcard `*.` in front is allowed)")]
    BadSan { value: String },
    /// kubeadm's `certificate apiserver is invalid: x509: …` when an existing certificate lacks
    /// a configured name (`phases/certs/certs.go`, `validateCertificateWithConfig`, v1.32).
    #[error("{path}: certificate {name} is invalid: x509: certificate is valid for {has}, not {missing}; delete {path} and its key to have it issued again with the new names")]
    LacksSan {
        path: PathBuf,
        name: &'static str,
        has: String,
        missing: String,
    },
}

impl PkiError {
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            return PkiError::Missing {
                path,
                expected: "a PEM file".into(),
            };
        }
        PkiError::Read { path, source }
    }
}

pub type Result<T, E = PkiError> = std::result::Result<T, E>;
