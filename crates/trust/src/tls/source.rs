//! Certificate and trust files, re-read when they change: a component's badge (PEM files or
//! a kubeconfig's embedded data) and the CA bundle it trusts, cached by size, mtime and inode.

use super::*;

use super::parsed::ByContent;

use rustls::sign::SigningKey;

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
pub(super) struct Stamp(Vec<Option<(SystemTime, u64, u64)>>);

pub(super) fn stamp(paths: &[PathBuf]) -> Stamp {
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
pub(super) fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
pub(super) fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, SourceError> {
    std::fs::read(path).map_err(|e| SourceError::Read {
        path: path.to_owned(),
        reason: go_io_reason(&e),
    })
}

/// Go's wording of an OS error (`no such file or directory`), not Rust's
/// (`No such file or directory (os error 2)`).
pub(super) fn go_io_reason(err: &io::Error) -> String {
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
pub(super) struct Cached<T> {
    pub(super) watched: Vec<PathBuf>,
    pub(super) stamp: Stamp,
    pub(super) loaded: Result<T, SourceError>,
}

/// A cache that re-reads when any watched file changes.
#[derive(Debug)]
pub(super) struct FileCache<T> {
    pub(super) cached: Mutex<Option<Cached<T>>>,
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
    pub(super) files: CertFiles,
    pub(super) cache: Arc<FileCache<Arc<CertifiedKey>>>,
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

pub(super) fn read_cert_files(
    files: &CertFiles,
) -> (Result<Arc<CertifiedKey>, SourceError>, Vec<PathBuf>) {
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

pub(super) fn certified_key(
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
    let signing_key = signing_key(key).map_err(|e| SourceError::BadKey {
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

/// The signing keys this process has parsed: a badge read again (a new client for every call,
/// a new server config) is not parsed and checked again. Parsing an RSA-2048 key (aws-lc's
/// consistency check, then the blinding set up at its first signature) costs about as much as
/// the signature itself. Far more entries than a lab holds.
static SIGNING_KEYS: ByContent<Arc<dyn SigningKey>> = ByContent::new(512);

/// The kubeconfigs this process has parsed: a scenario's step reads its kubeconfig for who is
/// calling, for the badge and for the CA, and YAML is the slow part.
static KUBECONFIGS: ByContent<Arc<Kubeconfig>> = ByContent::new(64);

/// `key` as rustls signs with it, parsed once per process.
fn signing_key(key: PrivateKeyDer<'static>) -> Result<Arc<dyn SigningKey>, rustls::Error> {
    SIGNING_KEYS.get_or_parse(key.secret_der(), || {
        provider().key_provider.load_private_key(key.clone_key())
    })
}

pub(super) fn parse_certs(
    pem: &[u8],
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, SourceError> {
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
pub(super) struct Kubeconfig {
    pub(super) current_context: String,
    pub(super) clusters: Vec<Named<KcCluster>>,
    pub(super) contexts: Vec<Named<KcContext>>,
    pub(super) users: Vec<Named<KcUser>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Named<T> {
    #[serde(default)]
    pub(super) name: String,
    #[serde(alias = "cluster", alias = "context", alias = "user", default)]
    pub(super) item: T,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub(super) struct KcCluster {
    pub(super) certificate_authority_data: Option<String>,
    pub(super) certificate_authority: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct KcContext {
    pub(super) cluster: String,
    pub(super) user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub(super) struct KcUser {
    pub(super) client_certificate_data: Option<String>,
    pub(super) client_certificate: Option<String>,
    pub(super) client_key_data: Option<String>,
    pub(super) client_key: Option<String>,
}

pub(super) fn read_kubeconfig(path: &Path) -> Result<Arc<Kubeconfig>, SourceError> {
    let bytes = read_file(path)?;
    KUBECONFIGS.get_or_parse(&bytes, || {
        let text = std::str::from_utf8(&bytes).map_err(|_| SourceError::Kubeconfig {
            path: path.to_owned(),
            field: "(file)",
            problem: "is not UTF-8 text".into(),
        })?;
        serde_saphyr::from_str(text)
            .map(Arc::new)
            .map_err(|e| SourceError::Kubeconfig {
                path: path.to_owned(),
                field: "(document)",
                problem: format!("is not a kubeconfig: {e}"),
            })
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
pub(super) fn kc_bytes(
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
    pub(super) files: TrustFiles,
    pub(super) cache: Arc<FileCache<Arc<Vec<CertificateDer<'static>>>>>,
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

pub(super) fn read_trust_files(
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

/// Which version of a badge and of a trust bundle a kept connection was made with. The sources
/// cache what they load until a file changes, so the same pointer means "unchanged on disk", and
/// a connection made with an older version is not used again.
#[derive(Clone)]
pub struct Versions {
    badge: Option<Arc<CertifiedKey>>,
    trust: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl Versions {
    /// What `badge` (if any) and `trust` hold on disk now; an unreadable one counts as none.
    pub fn now(badge: Option<&CertSource>, trust: &TrustSource) -> Versions {
        Versions {
            badge: badge.and_then(|s| s.load().ok()),
            trust: trust.load().ok(),
        }
    }

    /// Whether both are the very versions `other` holds.
    pub fn same(&self, other: &Versions) -> bool {
        fn eq<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        eq(&self.badge, &other.badge) && eq(&self.trust, &other.trust)
    }
}

impl fmt::Display for CertFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertFiles::Pem { cert, key } => write!(f, "{} + {}", cert.display(), key.display()),
            CertFiles::Kubeconfig(path) => write!(f, "{}", path.display()),
        }
    }
}
