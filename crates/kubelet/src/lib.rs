//! The CEO at every desk: the kubelet of KubeCorp, one per node.
//!
//! The kubelet plays two parts at once, with two different badges:
//!
//! - **A client of Alice** (the apiserver), with `kubelet.conf`'s badge
//!   (`CN=system:node:<node>, O=system:nodes`). It registers its Node, posts heartbeats, watches
//!   the pods bound to it and reports them Running. The Node authorizer lets it touch only its
//!   own Node and its own pods. Its client badge is renewed by CSR when 70–90 % of its life has
//!   passed on the lab clock; a refused or broken badge never stops it, it retries and logs what
//!   the real kubelet logs.
//! - **A server on :10250**, where Alice comes for `kubectl logs`. Its TLS door asks for a badge
//!   but, like Alice's, judges it only afterwards: against `ca.crt` (401 `Unauthorized` if it
//!   fails), then by asking Alice with a SubjectAccessReview whether that person may use the
//!   node's API (403 `Forbidden (…)` if not). Its own serving badge is self-signed, or with
//!   `rotate_server_certificates` a `kubelet-serving` certificate that an admin must approve;
//!   until then every handshake ends in `remote error: tls: internal error`.
//!
//! # Layout
//!
//! - [`certs`]: the self-signed serving certificate, CSRs, the cert dir's files, rotation dates.
//! - `rotation` (private): the certificate managers, one CSR at a time.
//! - `node` (private): registration, status heartbeats and the node Lease.
//! - [`pods`]: the pod watch, pod statuses, and the simulated containers' logs.
//! - [`server`]: the :10250 door: TLS, x509 authentication, SubjectAccessReview, the handlers.
//! - `klog` (private): the kubelet's log lines in klog's structured form, errors in client-go's
//!   words.
#![forbid(unsafe_code)]

pub mod certs;
mod klog;
mod node;
pub mod pods;
mod rotation;
pub mod server;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kubecorp_client::{ClientError, KubeClient, Phase};
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::{Event, Events, LabClock, Stage};
use serde_json::Value;
use tokio::net::TcpListener;

/// The kubelet's version, as it reports it in its Node.
pub const KUBELET_VERSION: &str = "v1.32.0";

/// What one kubelet needs.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The Node's name (`kubecorp-control-plane`); also its hostname.
    pub node_name: String,
    /// The node's InternalIP (loopback in the lab).
    pub address: IpAddr,
    /// The way to Alice, with `kubelet.conf`'s badge.
    pub client: KubeClient,
    /// `kubelet.conf` itself: its badge's dates decide when the first rotation is due, and its
    /// CA keeps being trusted for Alice after the kubelet switches to `kubelet-client-current.pem`.
    pub kubeconfig: PathBuf,
    /// The lab's `/var/lib/kubelet/pki` (created 0700): `kubelet.crt`/`.key`,
    /// `kubelet-client-current.pem`, `kubelet-server-current.pem`.
    pub cert_dir: PathBuf,
    /// `authentication.x509.clientCAFile`: `ca.crt`, against which callers' badges are checked.
    pub client_ca: TrustSource,
    /// `serverTLSBootstrap: true`: serve only a CA-signed `kubelet-serving` certificate.
    pub rotate_server_certificates: bool,
    /// `rotateCertificates: true` (kubeadm's default): renew the client badge by CSR.
    pub rotate_client_certificate: bool,
    /// `--node-labels`: extra labels on the Node it registers (the lab puts kubeadm's
    /// control-plane role label here; kubeadm's mark-control-plane phase adds it on a real node).
    pub node_labels: std::collections::BTreeMap<String, String>,
    /// `--register-with-taints`: taints on the Node it registers, e.g.
    /// `node-role.kubernetes.io/control-plane:NoSchedule`, as `{key, value, effect}`.
    pub register_with_taints: Vec<serde_json::Value>,
    pub clock: LabClock,
    pub events: Events,
    /// How often the Node status is posted (`nodeStatusUpdateFrequency`, 10 s).
    pub heartbeat_interval: Duration,
    /// How often the kubelet looks at its certificates and pending CSRs, and the first retry
    /// delay after a failure (doubling up to 32 times this).
    pub sync_interval: Duration,
    /// Where the self-signed serving badge's keys come from (the lab's, see
    /// [`kubecorp_pki::key_source`]).
    pub keys: kubecorp_pki::key_source::KeySource,
}

impl KubeletConfig {
    /// A kubelet in a lab directory, as kubeadm configures one: it dials `server` with the badge
    /// in `kubeconfig` (`kubelet.conf`), keeps its certificates in `<lab>/kubelet/<node>`,
    /// trusts `pki/ca.crt` for callers, rotates its client badge, serves a self-signed
    /// certificate and posts heartbeats every 10 s.
    pub fn for_lab(
        lab: &kubecorp_pki::Lab,
        node_name: &str,
        address: IpAddr,
        kubeconfig: &std::path::Path,
        server: &str,
        clock: LabClock,
        events: Events,
    ) -> Result<KubeletConfig, KubeletError> {
        let boxed = |e| KubeletError::Client(Box::new(e));
        let client =
            KubeClient::from_kubeconfig("kubelet", kubeconfig, clock.clone(), events.clone())
                .map_err(boxed)?
                .with_server(server)
                .map_err(boxed)?
                .keep_alive();
        Ok(KubeletConfig {
            node_name: node_name.to_owned(),
            address,
            client,
            kubeconfig: kubeconfig.to_owned(),
            cert_dir: lab.root().join("kubelet").join(node_name),
            client_ca: TrustSource::bundle(lab.ca_cert_path(kubecorp_pki::Authority::Cluster)),
            rotate_server_certificates: false,
            rotate_client_certificate: true,
            node_labels: Default::default(),
            register_with_taints: Vec::new(),
            clock,
            events,
            heartbeat_interval: Duration::from_secs(10),
            sync_interval: Duration::from_secs(1),
            keys: kubecorp_pki::key_source::KeySource::of(lab),
        })
    }
}

/// Why the kubelet could not start.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("kubelet: reading the listener's address: {source}")]
    Listener { source: std::io::Error },
    #[error("kubelet: {what}: {problem}")]
    Certificate { what: String, problem: String },
    /// `kubelet.conf` or the apiserver address is unusable.
    #[error("kubelet: {0}")]
    Client(Box<ClientError>),
}

/// The kubelet's shared state: its config, its current client, its pods and its serving badge.
pub(crate) struct Kubelet {
    pub node: String,
    pub address: IpAddr,
    /// The port the door listens on (the Node's `daemonEndpoints.kubeletEndpoint.Port`).
    pub port: u16,
    pub config: KubeletConfig,
    client: Mutex<KubeClient>,
    /// Pods bound to this node, by `namespace/name`.
    pods: Mutex<BTreeMap<String, Value>>,
    /// The serving badge; `None` while a `kubelet-serving` CSR waits for approval.
    serving: Mutex<Option<CertSource>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Kubelet {
    pub fn client(&self) -> KubeClient {
        lock(&self.client).clone()
    }

    /// Dial Alice with the badge in `kubelet-client-current.pem` from now on, still trusting
    /// the CA `kubelet.conf` names.
    pub fn use_client_cert(&self, current: &std::path::Path) {
        let server = self.config.client.server();
        match KubeClient::new(
            "kubelet",
            &server,
            Some(CertSource::pem_files(current, current)),
            TrustSource::kubeconfig(&self.config.kubeconfig),
            self.config.clock.clone(),
            self.config.events.clone(),
        ) {
            Ok(client) => *lock(&self.client) = client.keep_alive(),
            Err(e) => self.emit(
                Event::new(self.now(), "kubelet", "kubelet", Stage::Tls)
                    .detail(format!("cannot switch to {}: {e}", current.display())),
            ),
        }
    }

    pub fn serving(&self) -> Option<CertSource> {
        lock(&self.serving).clone()
    }

    pub fn set_serving(&self, source: Option<CertSource>) {
        *lock(&self.serving) = source;
    }

    pub fn pods(&self) -> Vec<Value> {
        lock(&self.pods).values().cloned().collect()
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<Value> {
        lock(&self.pods)
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    pub fn put_pod(&self, pod: Value) {
        let key = pods::key(&pod);
        lock(&self.pods).insert(key, pod);
    }

    pub fn forget_pod(&self, pod: &Value) {
        lock(&self.pods).remove(&pods::key(pod));
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.config.clock.now()
    }

    pub fn emit(&self, event: Event) {
        self.config.events.emit(event);
    }

    /// One event for a failed call to Alice, carrying the line the kubelet logs about it.
    pub fn client_failure(&self, error: &ClientError, log_line: String, explanation: &str) {
        let stage = match (error.phase(), error.code()) {
            (Some(Phase::Connect), _) => Stage::Tcp,
            (Some(_), _) => Stage::Tls,
            (None, Some(401)) => Stage::Authn,
            (None, Some(403)) => Stage::Authz,
            _ => Stage::Request,
        };
        let mut event = Event::new(self.now(), "kubelet", "apiserver", stage)
            .caller_log(log_line)
            .detail(error.to_string())
            .explanation(explanation.to_owned());
        if error.code() == Some(401) {
            event = event.hint(self.badge_hint());
        }
        self.emit(event);
    }
}

impl Kubelet {
    /// Where to look at the badge the kubelet shows Alice: the rotated file once it exists,
    /// otherwise the one embedded in kubelet.conf (there is no kubelet-client-current.pem
    /// before the first rotation).
    fn badge_hint(&self) -> String {
        let current = self.config.cert_dir.join(certs::CLIENT_CURRENT);
        let look = if current.exists() {
            format!(
                "`openssl x509 -noout -dates -issuer -in {}`",
                current.display()
            )
        } else {
            format!(
                "`kubectl config view --raw --kubeconfig {} -o jsonpath='{{.users[0].user.client-certificate-data}}' | base64 -d | openssl x509 -noout -dates -issuer`",
                self.config.kubeconfig.display()
            )
        };
        format!(
            "Alice no longer accepts the kubelet's badge: check it with {look}. kubeadm cannot renew it; if it expired, re-issue kubelet.conf for this node (`kubeadm kubeconfig user --org system:nodes --client-name system:node:NODE`; lab: delete kubelet.conf and run `kubecorp pki init`). The kubelet retries by itself once it is fixed."
        )
    }
}

/// Exponential retry delays: `base`, doubling up to 32 × `base`.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    failures: u32,
    next: Instant,
}

impl Backoff {
    pub fn new(base: Duration) -> Backoff {
        Backoff {
            base,
            failures: 0,
            next: Instant::now(),
        }
    }

    pub fn ready(&self) -> bool {
        Instant::now() >= self.next
    }

    pub fn failed(&mut self) {
        self.failures = (self.failures + 1).min(6);
        self.next = Instant::now() + self.base * (1u32 << (self.failures - 1));
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.next = Instant::now();
    }

    /// Not before `delay` from now.
    pub fn wait(&mut self, delay: Duration) {
        self.next = Instant::now() + delay;
    }
}

/// Runs the kubelet until `shutdown` completes: the :10250 door on `listener`, and the client
/// work (Node, pods, certificates) against Alice.
pub async fn run(
    config: KubeletConfig,
    listener: TcpListener,
    shutdown: impl Future,
) -> Result<(), KubeletError> {
    let port = listener
        .local_addr()
        .map_err(|source| KubeletError::Listener { source })?
        .port();
    certs::prepare_cert_dir(&config.cert_dir)?;
    let kubelet = Arc::new(Kubelet {
        node: config.node_name.clone(),
        address: config.address,
        port,
        client: Mutex::new(config.client.clone()),
        pods: Mutex::new(BTreeMap::new()),
        serving: Mutex::new(None),
        config,
    });
    rotation::load_certificates(&kubelet).await?;

    let tasks = [
        tokio::spawn(server::serve(kubelet.clone(), listener)),
        tokio::spawn(pods::watch_loop(kubelet.clone())),
        tokio::spawn(sync_loop(kubelet.clone())),
    ];
    shutdown.await;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Registration, heartbeats (Node status and Lease) and the certificate managers, each retried
/// with its own backoff.
async fn sync_loop(k: Arc<Kubelet>) {
    let base = k.config.sync_interval;
    let mut registered = false;
    let mut register = Backoff::new(base);
    let mut heartbeat = Backoff::new(base);
    let mut lease = Backoff::new(base);
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut client_manager = rotation::Manager::new(certs::Kind::Client, base, wake.clone());
    let mut serving_manager = rotation::Manager::new(certs::Kind::Serving, base, wake.clone());
    loop {
        if !registered && register.ready() {
            match node::register(&k).await {
                Ok(()) => {
                    registered = true;
                    register.succeeded();
                    heartbeat.wait(k.config.heartbeat_interval);
                }
                Err(()) => register.failed(),
            }
        } else if registered && heartbeat.ready() {
            match node::heartbeat(&k).await {
                Ok(()) => heartbeat.wait(k.config.heartbeat_interval),
                Err(()) => heartbeat.failed(),
            }
        }
        if registered && lease.ready() {
            match node::renew_lease(&k).await {
                Ok(()) => lease.wait(k.config.heartbeat_interval),
                Err(()) => lease.failed(),
            }
        }
        if k.config.rotate_client_certificate {
            client_manager.step(&k).await;
        }
        if k.config.rotate_server_certificates {
            serving_manager.step(&k).await;
        }
        // A watched CSR that gets its answer wakes the loop at once (client-go's certificate
        // manager watches its CSR too); otherwise the next sync period comes round.
        tokio::select! {
            _ = tokio::time::sleep(base) => {}
            _ = wake.notified() => {}
        }
    }
}
