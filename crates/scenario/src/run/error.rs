//! Why a step could not be carried out at all (as opposed to a check that failed): each variant
//! names the thing that was missing or wrong, and reads as the sentence the room sees.

use std::path::PathBuf;

/// A step that could not run. Its text becomes the actual value of the step's `runs` check.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{}: no such kubeconfig in the lab", path.display())]
    NoKubeconfig { path: PathBuf },
    #[error("{name}: not a badge kept in pki/")]
    NotAPkiBadge { name: String },
    #[error("{identity} has no key yet")]
    NoKey { identity: String },
    #[error("{identity} has a key but no certificate yet (collect it with a `certificate` step)")]
    NoCertificate { identity: String },
    #[error("{door} takes method and path")]
    RawOnly { door: &'static str },
    #[error("{method}: not an HTTP method")]
    NotAMethod { method: String },
    #[error("{resource}: not a resource the apiserver serves")]
    UnknownResource { resource: String },
    #[error("this office has no etcd peer port (an external etcd?)")]
    NoPeerPort,
    #[error("this office runs no scheduler: add scheduler to lab.staff")]
    NoScheduler,
    #[error("this office runs no kubelet: add kubelets to lab.staff")]
    NoKubelets,
    #[error("no kubelet for node {node} (this office has: {known})")]
    NoKubelet { node: String, known: String },
    #[error(transparent)]
    Client(Box<kubecorp_client::ClientError>),
    #[error(transparent)]
    EtcdClient(Box<kubecorp_etcd::ClientError>),
    #[error(transparent)]
    Pki(Box<kubecorp_pki::PkiError>),
    #[error("unclosed {{{{ in {text:?}")]
    Unclosed { text: String },
    #[error("unknown substitution {{{{{name}}}}}: expected apiserver, etcd, dir, pki, now, kubeconfig:NAME, cert:NAME or key:NAME")]
    UnknownName { name: String },
    #[error("unknown substitution {{{{{kind}:…}}}}")]
    UnknownKind { kind: String },
    #[error("cannot run sh -c {command:?}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{why} (under CI every outside tool must be present)")]
    MissingToolUnderCi { why: String },
    #[error("status.certificate is not base64: {0}")]
    NotBase64(#[from] base64::DecodeError),
    #[error("status.certificate holds no certificate")]
    EmptyCertificate,
}

impl From<kubecorp_client::ClientError> for StepError {
    fn from(e: kubecorp_client::ClientError) -> Self {
        StepError::Client(Box::new(e))
    }
}

impl From<kubecorp_etcd::ClientError> for StepError {
    fn from(e: kubecorp_etcd::ClientError) -> Self {
        StepError::EtcdClient(Box::new(e))
    }
}

impl From<kubecorp_pki::PkiError> for StepError {
    fn from(e: kubecorp_pki::PkiError) -> Self {
        StepError::Pki(Box::new(e))
    }
}

/// Why a scenario's office could not be opened: the run then has one failed check.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot make a lab directory: {0}")]
    TempDir(std::io::Error),
    #[error("building the lab: {0}")]
    Pki(#[from] kubecorp_pki::PkiError),
    #[error("opening the office: {0}")]
    Office(#[from] kubecorp_office::OfficeError),
    #[error(transparent)]
    NeedsOwnPki(#[from] super::lab::NeedsOwnPki),
}
