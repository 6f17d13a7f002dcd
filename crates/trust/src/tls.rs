//! The one place the lab builds rustls configs: how every guard shows its own badge and checks
//! the visitor's, over real TLS, on the lab clock.
//!
//! # Two ways to check a client badge
//!
//! Kubernetes has two kinds of doors, and the difference is the most useful thing this file can
//! teach:
//!
//! - **etcd checks in the handshake** ([`server_config_require_client_cert`]). With
//!   `--client-cert-auth` etcd's Go TLS config says `RequireAndVerifyClientCert`: a visitor
//!   without a badge signed by `etcd/ca.crt` never finishes the handshake. There is no HTTP
//!   error to read, only a TLS alert (`remote error: tls: unknown certificate authority`) on the
//!   client and `rejected connection from …` in etcd's log. etcd can afford this because it has
//!   one kind of client (the apiserver) and one rule (any badge from the etcd CA gets in).
//! - **The apiserver and the kubelet check after it** ([`server_config_request_client_cert`]).
//!   Their Go TLS config says `RequestClientCert`: a badge is asked for but not judged in the
//!   handshake, because the apiserver has many ways to log in (certificates, tokens, the
//!   front proxy) and must answer a bad badge with an HTTP `401 Unauthorized` that kubectl can
//!   print, not with a dropped connection. Its x509 authenticator verifies the chain after the
//!   handshake, from [`peer_chain`].
//!
//! Clients ([`client_config`]) always check the server's badge in the handshake, with the name
//! they dialled, as Go's `crypto/tls` does.
//!
//! # Go's words, from rustls
//!
//! Every certificate check here is [`verify()`](crate::verify()), Go's `Certificate.Verify`
//! replayed, so the lab refuses what Go refuses. But rustls reports a refusal as a bare
//! `CertificateError` (which also picks the TLS alert sent to the peer), and Go's text
//! (`x509: certificate signed by unknown authority`) would be lost. So each handshake gets a
//! [`HandshakeNotes`]: the verifier writes its [`Verdict`] there, and after a failed handshake
//! the component reads it back to log exactly what the Go program would ([`server_error_text`],
//! [`client_error_text`]). That is why the config functions return a config *and* notes, and
//! why a config is built per connection: it is cheap (the certificate files are cached and only
//! re-read when they change), and it keeps one visitor's verdict from landing on another's
//! connection.
//!
//! # Files are re-read, sessions are not resumed
//!
//! etcd's Go code calls `tls.LoadX509KeyPair` in its `GetCertificate` callback, so a renewed
//! `etcd/server.crt` is served at the next handshake without a restart. [`CertSource`] and
//! [`TrustSource`] do the same for every component: they look at the files' size, mtime and
//! inode at each handshake and re-read them when anything changed. A broken file on disk makes
//! that handshake fail (and says why in an [`Event`]) rather than crash the component.
//!
//! Session resumption is off everywhere: a resumed TLS session skips the certificate check, and
//! in a lab about certificates every connection should show its badge.
//!
//! # Events
//!
//! This layer emits only what the component cannot see itself: its own certificate or trust
//! bundle being unreadable at handshake time. Handshake outcomes (`rejected connection …`) are
//! emitted by the component, which knows the peer's address and the hop.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, CommonState, DigitallySignedStruct,
    DistinguishedName, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde::Deserialize;

use crate::clock::LabClock;
use crate::events::{Event, Events, Identity, Stage};
use crate::facts::Cert;
use crate::verdict::Verdict;
use crate::verify::{verify, Usage, VerifyRequest};

/// The ALPN protocol every lab server offers and every lab client asks for. Kubernetes' Go
/// servers offer `h2` too; kubectl and curl fall back to HTTP/1.1 without complaint.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The lab's crypto: aws-lc-rs, the provider the workspace pins, shared by every config, with
/// its cipher suites in Go's order of preference.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::aws_lc_rs::default_provider();
            provider.cipher_suites = go_cipher_suite_order(provider.cipher_suites);
            Arc::new(provider)
        })
        .clone()
}

/// Go's `crypto/tls` (1.23, the Go of Kubernetes 1.32) ranks AES-128-GCM first, then
/// ChaCha20-Poly1305, then AES-256-GCM, in TLS 1.3 and in TLS 1.2 alike, and a Go server picks
/// from its own ranking. So every connection between Kubernetes components (and from kubectl)
/// negotiates `TLS_AES_128_GCM_SHA256`; rustls' own ranking puts AES-256 first. The suites
/// offered are unchanged, only their order. Not modelled: a Go server switches to its
/// ChaCha-first ranking when the client itself ranks ChaCha20 first (`aesgcmPreferred`); the
/// lab's doors keep AES-128-GCM first for every client.
fn go_cipher_suite_order(
    mut suites: Vec<rustls::SupportedCipherSuite>,
) -> Vec<rustls::SupportedCipherSuite> {
    use rustls::CipherSuite as S;
    let rank = |suite: &rustls::SupportedCipherSuite| match suite.suite() {
        S::TLS13_AES_128_GCM_SHA256 => 0,
        S::TLS13_CHACHA20_POLY1305_SHA256 => 1,
        S::TLS13_AES_256_GCM_SHA384 => 2,
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => 10,
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 11,
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => 12,
        S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 13,
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => 14,
        S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => 15,
        _ => 20,
    };
    suites.sort_by_key(rank);
    suites
}

// ---------------------------------------------------------------------------------------------
// Certificate and trust files, re-read when they change.
// ---------------------------------------------------------------------------------------------

/// Why a badge or a trust bundle could not be read from disk. The texts are Go's
/// (`tls.LoadX509KeyPair`, `os.Open`), prefixed with the file where Go's are not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read: Go prints `open <path>: no such file or directory`.
    #[error("open {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// The certificate file holds no `CERTIFICATE` PEM block.
    #[error("{}: tls: failed to find any PEM data in certificate input", path.display())]
    NoCertificate { path: PathBuf },
    /// The key file holds no private key PEM block.
    #[error("{}: tls: failed to find any PEM data in key input", path.display())]
    NoKey { path: PathBuf },
    /// A PEM block is damaged (bad base64, missing END line).
    #[error("{}: {what} is not valid PEM: {reason}", path.display())]
    BadPem {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    /// The key parses as PEM but is not a key rustls can use.
    #[error("{}: tls: failed to parse private key: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    /// The key is fine but belongs to another certificate (a half-finished renewal).
    #[error("tls: private key does not match public key ({} and {})", cert.display(), key.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// The kubeconfig is not one, or its current context names no client badge.
    #[error("{}: {field} {problem}", path.display())]
    Kubeconfig {
        path: PathBuf,
        field: &'static str,
        problem: String,
    },
}

/// What identifies one version of a file on disk: when a renewal rewrites it (atomically, by
/// rename), at least one of these changes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp(Vec<Option<(SystemTime, u64, u64)>>);

fn stamp(paths: &[PathBuf]) -> Stamp {
    Stamp(
        paths
            .iter()
            .map(|path| {
                let meta = std::fs::metadata(path).ok()?;
                Some((meta.modified().ok()?, meta.len(), inode(&meta)))
            })
            .collect(),
    )
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

fn read_file(path: &Path) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path).map_err(|e| SourceError::Read {
        path: path.to_owned(),
        reason: go_io_reason(&e),
    })
}

/// Go's wording of an OS error (`no such file or directory`), not Rust's
/// (`No such file or directory (os error 2)`).
fn go_io_reason(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => {
            let text = err.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_lowercase(),
                None => text,
            }
        }
    }
}

/// One cached read of some files: the version read, what came of it, and which files to watch.
#[derive(Debug)]
struct Cached<T> {
    watched: Vec<PathBuf>,
    stamp: Stamp,
    loaded: Result<T, SourceError>,
}

/// A cache that re-reads when any watched file changes.
#[derive(Debug)]
struct FileCache<T> {
    cached: Mutex<Option<Cached<T>>>,
}

impl<T: Clone> FileCache<T> {
    fn new() -> Self {
        FileCache {
            cached: Mutex::new(None),
        }
    }

    /// The cached value if no watched file changed, else `read()` again. `read` returns the
    /// value and every file it read (a kubeconfig may name other files).
    fn get(
        &self,
        first: &[PathBuf],
        read: impl FnOnce() -> (Result<T, SourceError>, Vec<PathBuf>),
    ) -> Result<T, SourceError> {
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(hit) = cached.as_ref() {
            if stamp(&hit.watched) == hit.stamp {
                return hit.loaded.clone();
            }
        }
        // Stamp before reading: a write that lands mid-read changes the stamp again, so the
        // next handshake reads once more instead of keeping a torn read.
        let before = stamp(first);
        let (loaded, mut watched) = read();
        let stamp = if watched.as_slice() == first {
            before
        } else {
            for path in first.iter().rev() {
                if !watched.contains(path) {
                    watched.insert(0, path.clone());
                }
            }
            stamp(&watched)
        };
        *cached = Some(Cached {
            watched,
            stamp,
            loaded: loaded.clone(),
        });
        loaded
    }
}

/// Where a badge (certificate chain and key) lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertFiles {
    /// A PEM certificate (chain) file and a PEM key file: `pki/etcd/server.crt` + `.key`.
    Pem { cert: PathBuf, key: PathBuf },
    /// A kubeconfig whose current context's user carries the badge (`scheduler.conf`).
    Kubeconfig(PathBuf),
}

/// A badge read from files, re-read whenever the files change. Cheap to clone; clones share the
/// cache.
#[derive(Clone, Debug)]
pub struct CertSource {
    files: CertFiles,
    cache: Arc<FileCache<Arc<CertifiedKey>>>,
}

impl CertSource {
    /// A badge in PEM files, as `--cert-file`/`--key-file` name them.
    pub fn pem_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> CertSource {
        CertSource::new(CertFiles::Pem {
            cert: cert.into(),
            key: key.into(),
        })
    }

    /// The client badge of a kubeconfig's current context (embedded `*-data` or named files).
    pub fn kubeconfig(path: impl Into<PathBuf>) -> CertSource {
        CertSource::new(CertFiles::Kubeconfig(path.into()))
    }

    fn new(files: CertFiles) -> CertSource {
        CertSource {
            files,
            cache: Arc::new(FileCache::new()),
        }
    }

    pub fn files(&self) -> &CertFiles {
        &self.files
    }

    /// The file to name in messages: the certificate, or the kubeconfig.
    pub fn describe(&self) -> String {
        match &self.files {
            CertFiles::Pem { cert, .. } => cert.display().to_string(),
            CertFiles::Kubeconfig(path) => path.display().to_string(),
        }
    }

    /// The badge as it is on disk now (re-read only if the files changed since the last call).
    pub fn load(&self) -> Result<Arc<CertifiedKey>, SourceError> {
        let first = match &self.files {
            CertFiles::Pem { cert, key } => vec![cert.clone(), key.clone()],
            CertFiles::Kubeconfig(path) => vec![path.clone()],
        };
        self.cache.get(&first, || read_cert_files(&self.files))
    }

    /// The certificate chain as it is on disk now, leaf first.
    pub fn chain(&self) -> Result<Vec<CertificateDer<'static>>, SourceError> {
        Ok(self.load()?.cert.clone())
    }

    /// Who the badge on disk says its holder is.
    pub fn identity(&self) -> Result<Identity, SourceError> {
        let key = self.load()?;
        let leaf = key.cert.first().ok_or_else(|| SourceError::NoCertificate {
            path: self.describe().into(),
        })?;
        Identity::from_der(leaf).map_err(|e| SourceError::BadPem {
            path: self.describe().into(),
            what: "the certificate",
            reason: e.reason,
        })
    }
}

fn read_cert_files(files: &CertFiles) -> (Result<Arc<CertifiedKey>, SourceError>, Vec<PathBuf>) {
    match files {
        CertFiles::Pem { cert, key } => {
            let watched = vec![cert.clone(), key.clone()];
            let loaded = read_file(cert).and_then(|cert_pem| {
                let key_pem = read_file(key)?;
                certified_key(&cert_pem, cert, &key_pem, key)
            });
            (loaded, watched)
        }
        CertFiles::Kubeconfig(path) => {
            let mut watched = vec![path.clone()];
            let loaded = read_kubeconfig(path).and_then(|kc| {
                let user = kc.user(path)?;
                let base = path.parent().unwrap_or(Path::new("."));
                let (cert_pem, cert_at) = kc_bytes(
                    path,
                    base,
                    &user.client_certificate_data,
                    &user.client_certificate,
                    "users[].user.client-certificate-data",
                    &mut watched,
                )?
                .ok_or_else(|| SourceError::Kubeconfig {
                    path: path.clone(),
                    field: "users[].user.client-certificate-data",
                    problem: "is missing: this kubeconfig carries no client certificate".into(),
                })?;
                let (key_pem, key_at) = kc_bytes(
                    path,
                    base,
                    &user.client_key_data,
                    &user.client_key,
                    "users[].user.client-key-data",
                    &mut watched,
                )?
                .ok_or_else(|| SourceError::Kubeconfig {
                    path: path.clone(),
                    field: "users[].user.client-key-data",
                    problem: "is missing: this kubeconfig carries no client key".into(),
                })?;
                certified_key(&cert_pem, &cert_at, &key_pem, &key_at)
            });
            (loaded, watched)
        }
    }
}

fn certified_key(
    cert_pem: &[u8],
    cert_path: &Path,
    key_pem: &[u8],
    key_path: &Path,
) -> Result<Arc<CertifiedKey>, SourceError> {
    let chain = parse_certs(cert_pem, cert_path)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => SourceError::NoKey {
            path: key_path.to_owned(),
        },
        other => SourceError::BadPem {
            path: key_path.to_owned(),
            what: "the private key",
            reason: other.to_string(),
        },
    })?;
    let provider = provider();
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| SourceError::BadKey {
                path: key_path.to_owned(),
                reason: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // `Unknown` means the key type cannot say; the handshake will find out.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(_) => Err(SourceError::KeyMismatch {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        }),
    }
}

fn parse_certs(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, SourceError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SourceError::BadPem {
            path: path.to_owned(),
            what: "the certificate",
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(SourceError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The few kubeconfig fields a TLS client needs (the pki crate owns the full format).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
struct Kubeconfig {
    current_context: String,
    clusters: Vec<Named<KcCluster>>,
    contexts: Vec<Named<KcContext>>,
    users: Vec<Named<KcUser>>,
}

#[derive(Debug, Default, Deserialize)]
struct Named<T> {
    #[serde(default)]
    name: String,
    #[serde(alias = "cluster", alias = "context", alias = "user", default)]
    item: T,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
struct KcCluster {
    certificate_authority_data: Option<String>,
    certificate_authority: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KcContext {
    cluster: String,
    user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
struct KcUser {
    client_certificate_data: Option<String>,
    client_certificate: Option<String>,
    client_key_data: Option<String>,
    client_key: Option<String>,
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, SourceError> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| SourceError::Kubeconfig {
        path: path.to_owned(),
        field: "(file)",
        problem: "is not UTF-8 text".into(),
    })?;
    serde_saphyr::from_str(&text).map_err(|e| SourceError::Kubeconfig {
        path: path.to_owned(),
        field: "(document)",
        problem: format!("is not a kubeconfig: {e}"),
    })
}

impl Kubeconfig {
    fn context(&self, path: &Path) -> Result<&KcContext, SourceError> {
        self.contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| &c.item)
            .ok_or_else(|| SourceError::Kubeconfig {
                path: path.to_owned(),
                field: "current-context",
                problem: format!("names no context: `{}`", self.current_context),
            })
    }

    fn user(&self, path: &Path) -> Result<&KcUser, SourceError> {
        let wanted = &self.context(path)?.user;
        self.users
            .iter()
            .find(|u| &u.name == wanted)
            .map(|u| &u.item)
            .ok_or_else(|| SourceError::Kubeconfig {
                path: path.to_owned(),
                field: "contexts[].context.user",
                problem: format!("names no user: `{wanted}`"),
            })
    }

    fn cluster(&self, path: &Path) -> Result<&KcCluster, SourceError> {
        let wanted = &self.context(path)?.cluster;
        self.clusters
            .iter()
            .find(|c| &c.name == wanted)
            .map(|c| &c.item)
            .ok_or_else(|| SourceError::Kubeconfig {
                path: path.to_owned(),
                field: "contexts[].context.cluster",
                problem: format!("names no cluster: `{wanted}`"),
            })
    }
}

/// Embedded `*-data` (base64) wins over a named file, as in kubectl; a relative file name is
/// relative to the kubeconfig. Returns the bytes and the path to name in errors.
fn kc_bytes(
    kubeconfig: &Path,
    base: &Path,
    data: &Option<String>,
    file: &Option<String>,
    field: &'static str,
    watched: &mut Vec<PathBuf>,
) -> Result<Option<(Vec<u8>, PathBuf)>, SourceError> {
    if let Some(data) = data.as_deref().filter(|d| !d.trim().is_empty()) {
        let bytes = STANDARD
            .decode(data.trim())
            .map_err(|e| SourceError::Kubeconfig {
                path: kubeconfig.to_owned(),
                field,
                problem: format!("is not valid base64: {e}"),
            })?;
        return Ok(Some((bytes, kubeconfig.to_owned())));
    }
    if let Some(file) = file.as_deref().filter(|f| !f.is_empty()) {
        let path = base.join(file);
        watched.push(path.clone());
        return Ok(Some((read_file(&path)?, path)));
    }
    Ok(None)
}

/// Where a guard's trusted CAs live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustFiles {
    /// A PEM bundle: `--trusted-ca-file`, `--client-ca-file`, `--etcd-cafile`.
    Bundle(PathBuf),
    /// A kubeconfig's `certificate-authority(-data)` for its current cluster.
    Kubeconfig(PathBuf),
}

/// The CAs a guard trusts, re-read whenever the file changes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TrustSource {
    files: TrustFiles,
    cache: Arc<FileCache<Arc<Vec<CertificateDer<'static>>>>>,
}

impl TrustSource {
    /// A PEM CA bundle file.
    pub fn bundle(path: impl Into<PathBuf>) -> TrustSource {
        TrustSource::new(TrustFiles::Bundle(path.into()))
    }

    /// The CA a kubeconfig trusts for its current cluster.
    pub fn kubeconfig(path: impl Into<PathBuf>) -> TrustSource {
        TrustSource::new(TrustFiles::Kubeconfig(path.into()))
    }

    fn new(files: TrustFiles) -> TrustSource {
        TrustSource {
            files,
            cache: Arc::new(FileCache::new()),
        }
    }

    pub fn files(&self) -> &TrustFiles {
        &self.files
    }

    /// The file to name in messages.
    pub fn describe(&self) -> String {
        match &self.files {
            TrustFiles::Bundle(path) | TrustFiles::Kubeconfig(path) => path.display().to_string(),
        }
    }

    /// The trusted CAs as they are on disk now.
    pub fn load(&self) -> Result<Arc<Vec<CertificateDer<'static>>>, SourceError> {
        let first = match &self.files {
            TrustFiles::Bundle(path) | TrustFiles::Kubeconfig(path) => vec![path.clone()],
        };
        self.cache.get(&first, || read_trust_files(&self.files))
    }
}

fn read_trust_files(
    files: &TrustFiles,
) -> (
    Result<Arc<Vec<CertificateDer<'static>>>, SourceError>,
    Vec<PathBuf>,
) {
    match files {
        TrustFiles::Bundle(path) => {
            let loaded = read_file(path).and_then(|pem| parse_certs(&pem, path).map(Arc::new));
            (loaded, vec![path.clone()])
        }
        TrustFiles::Kubeconfig(path) => {
            let mut watched = vec![path.clone()];
            let loaded = read_kubeconfig(path).and_then(|kc| {
                let cluster = kc.cluster(path)?;
                let base = path.parent().unwrap_or(Path::new("."));
                let (pem, at) = kc_bytes(
                    path,
                    base,
                    &cluster.certificate_authority_data,
                    &cluster.certificate_authority,
                    "clusters[].cluster.certificate-authority-data",
                    &mut watched,
                )?
                .ok_or_else(|| SourceError::Kubeconfig {
                    path: path.clone(),
                    field: "clusters[].cluster.certificate-authority-data",
                    problem: "is missing: this kubeconfig names no CA".into(),
                })?;
                parse_certs(&pem, &at).map(Arc::new)
            });
            (loaded, watched)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One handshake's notes.
// ---------------------------------------------------------------------------------------------

/// What one handshake's certificate checks found, readable after the handshake (failed or not).
/// Cheap to clone; clones share the notes.
#[derive(Clone, Debug, Default)]
pub struct HandshakeNotes {
    inner: Arc<Mutex<Notes>>,
}

#[derive(Clone, Debug, Default)]
struct Notes {
    peer_verdict: Option<Verdict>,
    /// The peer's leaf certificate, read into an [`Identity`] only when someone asks.
    peer_badge: Option<CertificateDer<'static>>,
    own_cert_error: Option<SourceError>,
    trust_error: Option<SourceError>,
}

impl HandshakeNotes {
    /// The verdict on the peer's badge, if this side checked one.
    pub fn peer_verdict(&self) -> Option<Verdict> {
        self.lock().peer_verdict.clone()
    }

    /// Who the peer's badge says they are, if one was shown (even if it was refused).
    pub fn peer_identity(&self) -> Option<Identity> {
        let badge = self.lock().peer_badge.clone()?;
        Identity::from_der(&badge).ok()
    }

    /// Why this side could not show its own badge, if it could not.
    pub fn own_cert_error(&self) -> Option<SourceError> {
        self.lock().own_cert_error.clone()
    }

    /// Why this side could not read its trust bundle (it then trusted nobody).
    pub fn trust_error(&self) -> Option<SourceError> {
        self.lock().trust_error.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Notes> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Which TLS alerts a Go server sends when it refuses a client's badge. The client prints the
/// alert as `remote error: tls: <name>`, so this decides what the apiserver logs about etcd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoAlerts {
    /// Go ≥ 1.21: `unknown certificate authority` for a badge from an unknown CA, `expired
    /// certificate` for one out of date, `bad certificate` otherwise. etcd 3.5.16, the image
    /// kubeadm 1.32 runs, is built with Go 1.22.
    #[default]
    Specific,
    /// Go ≤ 1.20: `bad certificate` for every refusal. Debian 12's etcd 3.4.23 is built with
    /// Go 1.19.
    BadCertificateOnly,
}

impl GoAlerts {
    /// The alerts of the Go release named like `go1.19.8` (as `etcd --version` prints it).
    /// Unreadable versions get [`GoAlerts::Specific`].
    pub fn for_go_version(version: &str) -> GoAlerts {
        let digits = version.trim().trim_start_matches("go");
        let mut parts = digits.split('.').map(|p| p.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(1), Some(minor)) if minor < 21 => GoAlerts::BadCertificateOnly,
            _ => GoAlerts::Specific,
        }
    }

    /// The alert this Go sends when it refuses a client's badge with `verdict`.
    pub fn alert_for(self, verdict: &Verdict) -> AlertDescription {
        AlertDescription::from(self.certificate_error(verdict))
    }

    /// The rustls error whose alert matches what this Go sends for a refused badge.
    fn certificate_error(self, verdict: &Verdict) -> CertificateError {
        use crate::verdict::VerdictKind as K;
        match self {
            GoAlerts::BadCertificateOnly => CertificateError::BadEncoding,
            // Go 1.21's processCertsFromClient: an `x509.UnknownAuthorityError` → unknown_ca,
            // a `CertificateInvalidError{Reason: Expired}` (expired *or* not yet valid, badge or
            // CA) → certificate_expired, anything else → bad_certificate.
            GoAlerts::Specific
                if verdict
                    .text
                    .starts_with("x509: certificate signed by unknown authority") =>
            {
                CertificateError::UnknownIssuer
            }
            GoAlerts::Specific => match verdict.kind {
                K::Expired | K::NotYetValid | K::CaExpired | K::CaNotYetValid => {
                    CertificateError::Expired
                }
                _ => CertificateError::BadEncoding,
            },
        }
    }

    fn refusal(self, verdict: &Verdict) -> rustls::Error {
        rustls::Error::InvalidCertificate(self.certificate_error(verdict))
    }
}

// ---------------------------------------------------------------------------------------------
// Showing our own badge.
// ---------------------------------------------------------------------------------------------

/// Who is showing a badge, so a broken file can be reported.
#[derive(Debug)]
struct Owner {
    name: String,
    clock: LabClock,
    events: Events,
    notes: HandshakeNotes,
}

impl Owner {
    fn own_cert(&self, source: &CertSource) -> Option<Arc<CertifiedKey>> {
        match source.load() {
            Ok(key) => {
                // A config shared by many connections must not keep reporting a fixed file.
                self.notes.lock().own_cert_error = None;
                Some(key)
            }
            Err(error) => {
                self.events.emit(
                    Event::new(self.clock.now(), &self.name, &self.name, Stage::Tls)
                        .detail(error.to_string())
                        .explanation(format!(
                            "{} could not read its own badge at handshake time, so it had nothing to show and the handshake failed.",
                            self.name
                        ))
                        .hint(format!(
                            "Check {} (`openssl x509 -noout -text -in FILE`); re-issue it with `kubecorp certs renew NAME`.",
                            source.describe()
                        )),
                );
                self.notes.lock().own_cert_error = Some(error);
                None
            }
        }
    }

    fn roots(&self, trust: &TrustSource) -> Arc<Vec<CertificateDer<'static>>> {
        match trust.load() {
            Ok(roots) => {
                self.notes.lock().trust_error = None;
                roots
            }
            Err(error) => {
                // Go would have refused to start; the lab keeps running and trusts nobody,
                // so every badge reads "signed by unknown authority".
                self.events.emit(
                    Event::new(self.clock.now(), &self.name, &self.name, Stage::Tls)
                        .detail(error.to_string())
                        .explanation(format!(
                            "{} could not read the CAs it trusts ({}), so it trusted nobody.",
                            self.name,
                            trust.describe()
                        )),
                );
                self.notes.lock().trust_error = Some(error);
                Arc::new(Vec::new())
            }
        }
    }
}

#[derive(Debug)]
struct ServerCertResolver {
    source: CertSource,
    owner: Arc<Owner>,
}

impl ResolvesServerCert for ServerCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // `None` makes rustls abort the handshake (alert access_denied; Go's GetCertificate
        // error would send internal_error).
        self.owner.own_cert(&self.source)
    }
}

#[derive(Debug)]
struct ClientCertResolver {
    source: CertSource,
    owner: Arc<Owner>,
}

impl ResolvesClientCert for ClientCertResolver {
    /// Like a Go client with one certificate in `tls.Config.Certificates`, this shows its badge
    /// whatever CAs the server hints at: a wrong badge is refused by the server, not withheld.
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.owner.own_cert(&self.source)
    }

    fn has_certs(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Checking the peer's badge.
// ---------------------------------------------------------------------------------------------

/// etcd's check: a badge is required, and judged in the handshake against the trusted CAs.
#[derive(Debug)]
struct RequireClientCert {
    trust: TrustSource,
    owner: Arc<Owner>,
    alerts: GoAlerts,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequireClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // With no badge at all rustls sends certificate_required itself (Go ≥ 1.21 does the
        // same on TLS 1.3) and never calls verify_client_cert.
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Go lists the subjects of its ClientCAs pool in the CertificateRequest.
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let roots = self.owner.roots(&self.trust);
        let verdict = verify(&VerifyRequest {
            leaf: end_entity,
            intermediates,
            roots: &roots,
            // A server has no name to match a client against.
            name: None,
            usage: Some(Usage::Client),
            at: self.owner.clock.now(),
        });
        let refused = !verdict.is_valid();
        let refusal = refused.then(|| self.alerts.refusal(&verdict));
        {
            let mut notes = self.owner.notes.lock();
            notes.peer_badge = Some(end_entity.clone().into_owned());
            notes.peer_verdict = Some(verdict);
        }
        match refusal {
            None => Ok(ClientCertVerified::assertion()),
            Some(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Whatever the badge says, the visitor must prove they hold its key.
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The apiserver's and kubelet's handshake: any badge (or none) is taken in, unjudged, so the
/// x509 authenticator can judge it after the handshake and answer 401.
#[derive(Debug)]
struct RequestClientCert {
    owner: Arc<Owner>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Not a judgement: Go's RequestClientCert does not verify either. The signature checks
        // below still prove the visitor holds the badge's key, so a stolen certificate alone
        // (without its key) gets nobody in.
        self.owner.notes.lock().peer_badge = Some(end_entity.clone().into_owned());
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Every client's check of the server: Go's `Certificate.Verify` with the dialled name and
/// server-auth usage.
#[derive(Debug)]
struct CheckServerCert {
    /// The CA bundle to check against; `None` is Go's `InsecureSkipVerify` (any badge is taken,
    /// but noted).
    trust: Option<TrustSource>,
    owner: Arc<Owner>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CheckServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(trust) = &self.trust else {
            self.owner.notes.lock().peer_badge = Some(end_entity.clone().into_owned());
            return Ok(ServerCertVerified::assertion());
        };
        let roots = self.owner.roots(trust);
        let name = server_name_text(server_name);
        let verdict = verify(&VerifyRequest {
            leaf: end_entity,
            intermediates,
            roots: &roots,
            name: Some(&name),
            usage: Some(Usage::Server),
            at: self.owner.clock.now(),
        });
        let refused = !verdict.is_valid();
        {
            let mut notes = self.owner.notes.lock();
            notes.peer_badge = Some(end_entity.clone().into_owned());
            notes.peer_verdict = Some(verdict);
        }
        if refused {
            // Go's client sends the generic bad_certificate alert whatever the reason, so the
            // server logs `remote error: tls: bad certificate`; BadEncoding makes rustls send
            // the same. The reason itself is in the notes.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ))
        } else {
            Ok(ServerCertVerified::assertion())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The name as Go's `VerifyOptions.DNSName` would hold it.
fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// The subjects of the trusted CAs, for the CertificateRequest.
fn hint_subjects(roots: &[CertificateDer<'_>]) -> Vec<DistinguishedName> {
    roots
        .iter()
        .filter_map(|der| Cert::parse(der).ok())
        .map(|cert| DistinguishedName::from(cert.raw_subject.to_vec()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The configs.
// ---------------------------------------------------------------------------------------------

fn owner(name: &str, clock: &LabClock, events: &Events) -> (Arc<Owner>, HandshakeNotes) {
    let notes = HandshakeNotes::default();
    let owner = Arc::new(Owner {
        name: name.to_owned(),
        clock: clock.clone(),
        events: events.clone(),
        notes: notes.clone(),
    });
    (owner, notes)
}

fn server_config(
    clock: &LabClock,
    verifier: Arc<dyn ClientCertVerifier>,
    resolver: ServerCertResolver,
) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_details(provider(), Arc::new(clock.clone()))
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("aws-lc-rs offers TLS 1.2 and 1.3")
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    // A Go server chooses the cipher suite from its own ranking (see `provider`).
    config.ignore_client_order = true;
    // Every connection shows its badge: no session resumption.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

/// etcd's door: the client's badge is required and checked in the handshake against `trust`
/// (etcd's `--trusted-ca-file`). Build one per connection and read its notes after the
/// handshake; the alerts are Go ≥ 1.21's ([`GoAlerts::Specific`]).
pub fn server_config_require_client_cert(
    name: &str,
    cert: CertSource,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
) -> (Arc<ServerConfig>, HandshakeNotes) {
    server_config_require_client_cert_with(name, cert, trust, clock, events, GoAlerts::Specific)
}

/// [`server_config_require_client_cert`] with the alerts of a given Go release.
pub fn server_config_require_client_cert_with(
    name: &str,
    cert: CertSource,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
    alerts: GoAlerts,
) -> (Arc<ServerConfig>, HandshakeNotes) {
    let (owner, notes) = owner(name, &clock, &events);
    let hints = hint_subjects(&owner.roots(&trust));
    let verifier = RequireClientCert {
        trust,
        owner: owner.clone(),
        alerts,
        hints,
        algorithms: provider().signature_verification_algorithms,
    };
    let resolver = ServerCertResolver {
        source: cert,
        owner,
    };
    (server_config(&clock, Arc::new(verifier), resolver), notes)
}

/// The apiserver's and kubelet's door: a client badge is requested but not required, and not
/// judged in the handshake; [`peer_chain`] hands it to the authenticator afterwards.
pub fn server_config_request_client_cert(
    name: &str,
    cert: CertSource,
    clock: LabClock,
    events: Events,
) -> (Arc<ServerConfig>, HandshakeNotes) {
    let (owner, notes) = owner(name, &clock, &events);
    let verifier = RequestClientCert {
        owner: owner.clone(),
        algorithms: provider().signature_verification_algorithms,
    };
    let resolver = ServerCertResolver {
        source: cert,
        owner,
    };
    (server_config(&clock, Arc::new(verifier), resolver), notes)
}

/// A component dialling another: shows `identity` (if any) and checks the server's badge
/// against `trust` with the name dialled. `name` is the dialling component (`apiserver`), for
/// events. Build one per connection and read its notes when the handshake fails.
pub fn client_config(
    name: &str,
    identity: Option<CertSource>,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
) -> (Arc<ClientConfig>, HandshakeNotes) {
    dialling_config(name, identity, Some(trust), clock, events)
}

/// The one client config: shows `identity`, checks the server against `trust` (or, with
/// `None`, takes any server badge).
fn dialling_config(
    name: &str,
    identity: Option<CertSource>,
    trust: Option<TrustSource>,
    clock: LabClock,
    events: Events,
) -> (Arc<ClientConfig>, HandshakeNotes) {
    let (owner, notes) = owner(name, &clock, &events);
    let verifier = CheckServerCert {
        trust,
        owner: owner.clone(),
        algorithms: provider().signature_verification_algorithms,
    };
    let builder = ClientConfig::builder_with_details(provider(), Arc::new(clock.clone()))
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("aws-lc-rs offers TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some(source) => {
            builder.with_client_cert_resolver(Arc::new(ClientCertResolver { source, owner }))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    config.resumption = Resumption::disabled();
    (Arc::new(config), notes)
}

/// The `ServerName` rustls needs for `host` (a DNS name or an IP address, no port).
pub fn server_name(host: &str) -> Result<ServerName<'static>, InvalidHost> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| InvalidHost {
        host: host.to_owned(),
    })
}

/// A host that is neither a DNS name nor an IP address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid server name {host:?}: not a DNS name or an IP address")]
pub struct InvalidHost {
    pub host: String,
}

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
fn find_io_error<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e io::Error> {
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

fn go_rustls_text(err: &rustls::Error) -> String {
    match err {
        rustls::Error::PeerIncompatible(_) => {
            "tls: no cipher suite supported by both client and server".into()
        }
        other => format!("tls: {other}"),
    }
}

fn go_io_text(err: &(dyn StdError + 'static)) -> String {
    match find_io_error(err).map(io::Error::kind) {
        Some(io::ErrorKind::UnexpectedEof) => "EOF".into(),
        Some(io::ErrorKind::ConnectionReset) => "read: connection reset by peer".into(),
        Some(io::ErrorKind::ConnectionRefused) => "connect: connection refused".into(),
        Some(io::ErrorKind::BrokenPipe) => "write: broken pipe".into(),
        Some(io::ErrorKind::TimedOut) => "i/o timeout".into(),
        _ => err.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The kubelet's door and the apiserver's dial to it.
// ---------------------------------------------------------------------------------------------
//
// Two things a kubeadm cluster does on port 10250 that the configs above cannot say:
//
// - With `serverTLSBootstrap: true` the kubelet serves only a certificate the cluster CA signed
//   for its `kubelet-serving` CSR. Until an admin approves that CSR it has *no* certificate: Go's
//   `tls.Config.GetCertificate` returns an error, and `crypto/tls` answers the ClientHello with a
//   fatal `internal_error` alert. The caller prints `remote error: tls: internal error`; the
//   kubelet logs `http: TLS handshake error from …: no serving certificate available for the
//   kubelet`. rustls would send `access_denied` for a resolver with nothing to offer, so
//   [`refuse_without_certificate`] plays Go's part by hand.
// - kube-apiserver dials kubelets with `apiserver-kubelet-client` but, because kubeadm sets no
//   `--kubelet-certificate-authority`, it does **not** verify the kubelet's serving certificate
//   (client-go's `Insecure: true` when no CA is given). That is why a self-signed `kubelet.crt`
//   works at all. [`client_config_skip_verify`] is that dial.

/// What a Go server whose `GetCertificate` fails does: read the visitor's ClientHello, then
/// answer with a fatal `internal_error` alert, in plaintext, before any ServerHello. The visitor
/// prints `remote error: tls: internal error`.
///
/// An error means the first bytes were not a ClientHello (plain HTTP, a scanner) or the
/// connection broke; [`server_error_text`] words it as Go would.
pub async fn refuse_without_certificate<IO>(io: &mut IO) -> io::Result<()>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut acceptor = rustls::server::Acceptor::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            if acceptor.read_tls(&mut chunk)? == 0 {
                break;
            }
        }
        match acceptor.accept() {
            Ok(Some(_hello)) => break,
            Ok(None) => continue,
            Err((error, _alert)) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
    }
    // A TLS record: type alert (21), legacy version TLS 1.2, length 2, level fatal (2),
    // description internal_error (80).
    let alert = [
        21u8,
        3,
        3,
        0,
        2,
        2,
        u8::from(AlertDescription::InternalError),
    ];
    io.write_all(&alert).await?;
    io.flush().await?;
    let _ = io.shutdown().await;
    Ok(())
}

/// kube-apiserver dialling a kubelet without `--kubelet-certificate-authority`: shows
/// `identity` (`apiserver-kubelet-client`) and accepts whatever certificate the kubelet shows,
/// as Go's `InsecureSkipVerify` does. The kubelet must still prove it holds that certificate's
/// key. Build one per connection; the notes name the kubelet's badge.
pub fn client_config_skip_verify(
    name: &str,
    identity: Option<CertSource>,
    clock: LabClock,
    events: Events,
) -> (Arc<ClientConfig>, HandshakeNotes) {
    dialling_config(name, identity, None, clock, events)
}

impl fmt::Display for CertFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertFiles::Pem { cert, key } => write!(f, "{} + {}", cert.display(), key.display()),
            CertFiles::Kubeconfig(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_versions_before_1_21_send_only_bad_certificate() {
        assert_eq!(
            GoAlerts::for_go_version("go1.19.8"),
            GoAlerts::BadCertificateOnly
        );
        assert_eq!(GoAlerts::for_go_version("go1.22.7"), GoAlerts::Specific);
        assert_eq!(GoAlerts::for_go_version("devel"), GoAlerts::Specific);
    }

    #[test]
    fn go_names_alerts_in_its_own_words() {
        assert_eq!(
            go_alert_text(AlertDescription::UnknownCA),
            "unknown certificate authority"
        );
        assert_eq!(
            go_alert_text(AlertDescription::CertificateExpired),
            "expired certificate"
        );
        assert_eq!(
            go_alert_text(AlertDescription::CertificateRequired),
            "certificate required"
        );
    }

    #[test]
    fn a_missing_file_reads_as_go_prints_it() {
        let err = CertSource::pem_files("/nonexistent/server.crt", "/nonexistent/server.key")
            .load()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "open /nonexistent/server.crt: no such file or directory"
        );
    }

    #[test]
    fn the_rustls_error_is_found_inside_an_io_error() {
        let io_err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::UnknownCA),
        );
        assert_eq!(
            client_error_text(&io_err, &HandshakeNotes::default()),
            "remote error: tls: unknown certificate authority"
        );
    }
}
