//! The Founder: kubeadm's certificate authorities, the badges they sign, and where they live.
//!
//! # Layout
//!
//! - [`profile`]: the catalogue of every badge kubeadm 1.32 makes (CN, O, usages, SANs, CA)
//!   and its role in the KubeCorp story.
//! - [`keys`]: key generation (many keys side by side) and the PEM encodings kubeadm uses.
//! - [`pool`]: RSA keys made once and kept in the user's cache, for throwaway labs.
//! - [`key_source`]: where a lab's later keys come from (made now, or that lab's pool).
//! - [`issue`]: signing a badge's [`issue::Shape`] with a [`issue::Ca`].
//! - [`cert`]: reading a certificate into owned facts ([`cert::CertInfo`]).
//! - [`selfsigned`]: the throwaway CA and serving badge a component makes for itself (client-go's
//!   `GenerateSelfSignedCertKey`), for the kubelet and the scheduler's secure port.
//! - [`layout`], [`badge`], [`kubeconfig`], [`fs`]: the lab directory on disk, written atomically
//!   with private files kept private.
//! - [`init`], [`expiration`], [`renew`], [`inspect`]: the `pki init` and `certs …` commands.
//! - [`swap`]: `pki init --force` builds the new set beside the old one and swaps it in whole.
//! - [`rotate`]: manual CA rotation (start: old and new trusted; finish: only the new).
//! - [`csr`]: a certificate signing request, as `openssl req -new` writes it.
//! - [`import`]: a kubeadm PKI made elsewhere, taken into a lab.
//! - [`node`]: a worker node's kubelet credential.
//! - [`advice`]: how a badge is re-issued, judged from its subject (kubeadm renews only its own).
#![forbid(unsafe_code)]

pub mod advice;
pub mod badge;
pub mod cert;
pub mod csr;
pub mod error;
pub mod expiration;
pub mod fault;
pub mod fs;
pub mod import;
pub mod init;
pub mod inspect;
pub mod issue;
pub mod key_source;
pub mod keys;
pub mod kubeconfig;
pub mod layout;
pub mod lock;
pub mod node;
pub mod node_name;
pub mod pool;
pub mod profile;
pub mod renew;
pub mod rotate;
pub mod selfsigned;
pub mod swap;
pub mod when;

pub use error::{PkiError, Result};
pub use keys::KeyAlgorithm;
pub use layout::Lab;
pub use profile::{Authority, ClusterFacts, Profile};
