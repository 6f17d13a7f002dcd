//! The KubeCorp office: Charlie's vault (etcd) and Alice's front door (apiserver), opened together.
//!
//! [`Office::start`] makes the PKI if the lab directory has none, binds every listener first
//! (so a busy port is an error before anything runs), then starts each component with
//! `run(config, listener, shutdown)`. Only the apiserver talks to etcd, over mutual TLS with
//! `apiserver-etcd-client`; a real etcd can stand in for Charlie with `external_etcd`.
#![forbid(unsafe_code)]

pub mod narrate;
/// How kube-proxy authenticates (see [`OfficeOptions::kube_proxy_credential`]).
pub use kubecorp_proxy::Credential as KubeProxyCredential;
mod kubeadm_init;
mod metrics;
mod projected;
pub mod start;

use std::net::SocketAddr;
use std::path::PathBuf;

use kubecorp_apiserver::api::Api;
use kubecorp_pki::{Authority, ClusterFacts, Lab};
use kubecorp_trust::{Events, LabClock};
use tokio::task::JoinHandle;

use crate::start::{bind, local_addr, shutdown_pair, Stop};

/// Where and how to open the office.
#[derive(Debug, Clone)]
pub struct OfficeOptions {
    pub dir: PathBuf,
    /// Where Charlie listens (`127.0.0.1:2379` by convention; port 0 picks a free one).
    pub etcd_listen: SocketAddr,
    /// Where Charlie's peer port listens (`127.0.0.1:2380` by convention).
    pub etcd_peer_listen: SocketAddr,
    /// Where Bob's secure port listens (`127.0.0.1:10259` by convention).
    pub scheduler_listen: SocketAddr,
    /// Where Alice listens (`127.0.0.1:6443` by convention).
    pub apiserver_listen: SocketAddr,
    /// Use this etcd (`https://host:port`) instead of starting Charlie.
    pub external_etcd: Option<String>,
    pub clock: LabClock,
    pub events: Events,
    /// Where the first node's kubelet listens (`127.0.0.1:10250`); the Nth node's kubelet
    /// listens on 127.0.0.N+1 at the same port (its own loopback address, which its Node
    /// object and serving certificate name).
    pub kubelet_listen: SocketAddr,
    /// Where kube-proxy answers `/healthz` (`127.0.0.1:10256`).
    pub proxy_healthz_listen: SocketAddr,
    /// The nodes, one kubelet each (the first is the control-plane node `kubelet.conf` names).
    pub nodes: Vec<String>,
    /// kubelets ask for a `kubelet-serving` certificate by CSR instead of making a self-signed
    /// one (`serverTLSBootstrap: true`).
    pub rotate_server_certificates: bool,
    /// Which of the other staff to start besides etcd and the apiserver.
    pub staff: Staff,
    /// How kube-proxy authenticates: its service-account token (kubeadm), or `kube-proxy.conf`.
    pub kube_proxy_credential: kubecorp_proxy::Credential,
    /// The key type of a PKI made at opening (kubeadm's `encryptionAlgorithm`); an existing
    /// PKI keeps its own.
    pub key_algorithm: kubecorp_pki::KeyAlgorithm,
}

/// Which components besides etcd and the apiserver an office starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staff {
    /// Bob, the scheduler.
    pub scheduler: bool,
    /// The CEO, one kubelet per node.
    pub kubelets: bool,
    /// Dave, kube-proxy.
    pub kube_proxy: bool,
    /// The controller manager (endpoints, EndpointSlice, node lifecycle, deployment,
    /// replicaset and clusterrole-aggregation controllers).
    pub controllers: bool,
    /// metrics-server, registered by the APIService `v1beta1.metrics.k8s.io`.
    pub metrics_server: bool,
}

impl Staff {
    /// Everyone.
    pub const ALL: Staff = Staff {
        scheduler: true,
        kubelets: true,
        kube_proxy: true,
        controllers: true,
        metrics_server: true,
    };
    /// Only the vault and the front door.
    pub const NONE: Staff = Staff {
        scheduler: false,
        kubelets: false,
        kube_proxy: false,
        controllers: false,
        metrics_server: false,
    };
}

/// The most nodes one office runs (`up --nodes`, a scenario's `lab.nodes`): each is a kubelet
/// with its own loopback address, badge and door.
pub const MAX_NODES: usize = 50;

/// The node `pki init` writes `kubelet.conf` for.
pub const CONTROL_PLANE_NODE: &str = "kubecorp-control-plane";

/// Where the `i`th node's kubelet listens: the first on `first`, the others on the next
/// loopback addresses (127.0.0.2, …) at the same port, so each node has an address of its own.
pub fn kubelet_addr(first: SocketAddr, i: usize) -> Result<SocketAddr, OfficeError> {
    match first.ip() {
        std::net::IpAddr::V4(ip) if ip.is_loopback() && i > 0 => {
            let next = u32::try_from(i)
                .ok()
                .and_then(|i| u32::from(ip).checked_add(i))
                .map(std::net::Ipv4Addr::from)
                .filter(|ip| ip.is_loopback())
                .ok_or_else(|| OfficeError::Staff {
                    component: "kubelet".into(),
                    problem: format!(
                        "--kubelet-listen {first}: node {} would need {ip}+{i}, past the loopback range 127.0.0.0/8",
                        i + 1
                    ),
                })?;
            Ok(SocketAddr::from((next, first.port())))
        }
        _ => Ok(first),
    }
}

/// Checks a node name as the lab will use it (in `system:node:NAME` and as a directory): the
/// one rule of [`kubecorp_pki::node_name::NodeName`].
pub fn check_node_name(name: &str) -> Result<(), OfficeError> {
    kubecorp_pki::node_name::NodeName::new(name)
        .map(|_| ())
        .map_err(|e| OfficeError::Staff {
            component: "kubelet".into(),
            problem: e.to_string(),
        })
}

/// `n` node names in kind's style: the control-plane node, then `kubecorp-worker`,
/// `kubecorp-worker2`, …
pub fn node_names(first: &str, n: usize) -> Vec<String> {
    let prefix = first.strip_suffix("-control-plane").unwrap_or(first);
    (0..n.max(1))
        .map(|i| match i {
            0 => first.to_owned(),
            1 => format!("{prefix}-worker"),
            i => format!("{prefix}-worker{i}"),
        })
        .collect()
}

/// Starts reading what Alice's first start needs from the program itself (kube-apiserver's
/// bootstrap policy), on a thread of its own, once per process: a caller that has other work
/// to do before [`Office::start`] (making a PKI) calls it first, and Alice finds it read.
pub fn read_ahead() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // If the thread cannot start, Alice reads the policy herself at her start.
        let _ = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(kubecorp_apiserver::rbac::read_ahead);
    });
}

/// The node an existing lab's `kubelet.conf` belongs to (`CN=system:node:NAME`), if it has one.
pub fn kubelet_conf_node(lab: &Lab) -> Option<String> {
    let identity = kubecorp_trust::tls::CertSource::kubeconfig(lab.kubeconfig_path("kubelet.conf"))
        .identity()
        .ok()?;
    identity.cn.strip_prefix("system:node:").map(str::to_owned)
}

/// The control-plane node's name: `given`, else the node the lab's `kubelet.conf` names, else
/// [`CONTROL_PLANE_NODE`].
pub fn control_plane_node(lab: &Lab, given: Option<String>) -> String {
    given
        .or_else(|| kubelet_conf_node(lab))
        .unwrap_or_else(|| CONTROL_PLANE_NODE.to_owned())
}

impl OfficeOptions {
    /// Ephemeral loopback ports, real time, ECDSA-P256 keys if the PKI is made at opening: what
    /// tests and scenario runs use (a scenario run makes its PKI first, with its own algorithm).
    pub fn ephemeral(dir: impl Into<PathBuf>) -> OfficeOptions {
        OfficeOptions {
            dir: dir.into(),
            etcd_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            apiserver_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            etcd_peer_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scheduler_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            external_etcd: None,
            kubelet_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            proxy_healthz_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: LabClock::real(),
            events: Events::new(),
            nodes: vec![CONTROL_PLANE_NODE.to_owned()],
            rotate_server_certificates: false,
            staff: Staff::ALL,
            kube_proxy_credential: kubecorp_proxy::Credential::ServiceAccountToken,
            // Tests whose lesson is not the key type: ECDSA keys take no prime search. `up`
            // and scenario runs choose theirs (RSA-2048 by default, as kubeadm).
            key_algorithm: kubecorp_pki::KeyAlgorithm::EcdsaP256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    #[error("{component}: cannot listen on {addr}: {source}")]
    Bind {
        component: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(Box<kubecorp_pki::PkiError>),
    #[error("apiserver → etcd: {0}")]
    Etcd(String),
    #[error("apiserver: writing the default objects to etcd: {0}")]
    Bootstrap(String),
    #[error("{component}: {problem}")]
    Staff { component: String, problem: String },
}

impl From<kubecorp_pki::PkiError> for OfficeError {
    fn from(e: kubecorp_pki::PkiError) -> Self {
        OfficeError::Pki(Box::new(e))
    }
}

/// A running office.
pub struct Office {
    pub dir: PathBuf,
    /// Charlie's address, when the lab runs its own etcd.
    pub etcd_addr: Option<SocketAddr>,
    pub etcd_url: String,
    pub apiserver_addr: SocketAddr,
    /// Charlie's peer port, when the lab runs its own etcd.
    pub etcd_peer_addr: Option<SocketAddr>,
    /// Bob's secure port, when he runs.
    pub scheduler_addr: Option<SocketAddr>,
    /// Each node's name and where its kubelet listens.
    pub kubelets: Vec<(String, SocketAddr)>,
    /// Where kube-proxy answers `/healthz`, when it runs.
    pub proxy_healthz_addr: Option<SocketAddr>,
    /// Where metrics-server listens, when it runs.
    pub metrics_server_addr: Option<SocketAddr>,
    pub clock: LabClock,
    pub events: Events,
    pub api: Api,
    stop: Stop,
    tasks: Vec<JoinHandle<()>>,
    down: tokio::sync::mpsc::UnboundedReceiver<start::ComponentDown>,
}

/// Makes the kubeadm PKI in `lab` with `key_algorithm` if it has no cluster CA yet, for the
/// control-plane node `node`; an existing one is reused.
pub fn ensure_pki(
    lab: &Lab,
    node: &str,
    clock: &LabClock,
    key_algorithm: kubecorp_pki::KeyAlgorithm,
) -> Result<(), OfficeError> {
    // Not while another command rewrites it, nor on what an interrupted `--force` left.
    lab.settle()?;
    if lab.ca_cert_path(Authority::Cluster).exists() {
        return Ok(());
    }
    let init = kubecorp_pki::init::InitOptions {
        facts: ClusterFacts::new(node, std::net::IpAddr::from([127, 0, 0, 1])),
        key_algorithm,
        force: false,
        now: clock.now(),
    };
    kubecorp_pki::init::init(lab, &init)?;
    Ok(())
}

impl Office {
    /// Opens the office: PKI, then etcd, then the apiserver with its default objects, then the
    /// rest of the staff.
    pub async fn start(opts: OfficeOptions) -> Result<Office, OfficeError> {
        let lab = Lab::new(&opts.dir);
        let first = opts
            .nodes
            .first()
            .map(String::as_str)
            .unwrap_or(CONTROL_PLANE_NODE);
        ensure_pki(&lab, first, &opts.clock, opts.key_algorithm)?;
        let (stop, shutdown) = shutdown_pair();
        let mut tasks = Vec::new();

        // Every door is bound before anyone starts, so a busy port fails the whole `up`.
        let (etcd_listener, peer_listener) = match &opts.external_etcd {
            Some(_) => (None, None),
            None => (
                Some(bind("etcd", opts.etcd_listen).await?),
                Some(bind("etcd (peer)", opts.etcd_peer_listen).await?),
            ),
        };
        let api_listener = bind("apiserver", opts.apiserver_listen).await?;
        let apiserver_addr = local_addr("apiserver", opts.apiserver_listen, &api_listener)?;
        let mut kubelet_listeners = Vec::new();
        if opts.staff.kubelets {
            for (i, node) in opts.nodes.iter().enumerate() {
                check_node_name(node)?;
                let addr = kubelet_addr(opts.kubelet_listen, i)?;
                let listener = bind("kubelet", addr).await?;
                let bound = local_addr("kubelet", addr, &listener)?;
                kubelet_listeners.push((node.clone(), bound, listener));
            }
        }
        let scheduler_listener = match opts.staff.scheduler {
            true => Some(bind("scheduler", opts.scheduler_listen).await?),
            false => None,
        };
        let scheduler_addr = match &scheduler_listener {
            Some(l) => Some(local_addr("scheduler", opts.scheduler_listen, l)?),
            None => None,
        };
        let proxy_listener = match opts.staff.kube_proxy {
            true => Some(bind("kube-proxy", opts.proxy_healthz_listen).await?),
            false => None,
        };
        let metrics_listener = match opts.staff.metrics_server {
            true => Some(bind("metrics-server", SocketAddr::from(([127, 0, 0, 1], 0))).await?),
            false => None,
        };
        let metrics_server_addr = match &metrics_listener {
            Some(l) => Some(local_addr(
                "metrics-server",
                SocketAddr::from(([127, 0, 0, 1], 0)),
                l,
            )?),
            None => None,
        };
        let proxy_healthz_addr = match &proxy_listener {
            Some(l) => Some(local_addr("kube-proxy", opts.proxy_healthz_listen, l)?),
            None => None,
        };

        let mut etcd_peer_addr = None;
        let (etcd_addr, etcd_url) = match etcd_listener {
            Some(listener) => {
                let addr = local_addr("etcd", opts.etcd_listen, &listener)?;
                tasks.push((
                    "etcd",
                    start::etcd(&lab, listener, &opts.clock, &opts.events, &shutdown),
                ));
                let url = format!("https://{addr}");
                if let Some(peer) = peer_listener {
                    etcd_peer_addr = Some(local_addr("etcd (peer)", opts.etcd_peer_listen, &peer)?);
                    tasks.push((
                        "etcd (peer)",
                        start::etcd_peer(&lab, peer, &url, &opts.clock, &opts.events, &shutdown),
                    ));
                }
                (Some(addr), url)
            }
            None => (None, opts.external_etcd.clone().unwrap_or_default()),
        };
        let (api, task) = start::apiserver(
            &lab,
            api_listener,
            &etcd_url,
            &opts.clock,
            &opts.events,
            &shutdown,
            metrics_server_addr,
        )
        .await?;
        tasks.push(("apiserver", task));

        let apiserver_url = format!("https://{apiserver_addr}");
        let desk = start::Desk::new(&lab, &apiserver_url, &opts.clock, &opts.events, &shutdown);
        let mut kubelets = Vec::new();
        let workers = opts.nodes.len() > 1;
        for (i, (node, addr, listener)) in kubelet_listeners.into_iter().enumerate() {
            let role = match i {
                0 => start::NodeRole::ControlPlane { tainted: workers },
                _ => start::NodeRole::Worker,
            };
            if matches!(role, start::NodeRole::ControlPlane { .. }) {
                tasks.push((
                    "kubeadm (mark-control-plane)",
                    start::mark_control_plane(desk, &node)?,
                ));
            }
            tasks.push((
                "kubelet",
                start::kubelet(desk, &node, role, listener, opts.rotate_server_certificates)?,
            ));
            kubelets.push((node, addr));
        }
        if let Some(listener) = scheduler_listener {
            tasks.push((
                "scheduler (secure port)",
                start::scheduler_secure(desk, listener)?,
            ));
        }
        if opts.staff.scheduler {
            tasks.push(("scheduler", start::scheduler(desk)?));
        }
        if opts.staff.controllers {
            tasks.push(("controller-manager", start::endpoints_controller(desk)?));
        }
        if let Some(listener) = proxy_listener {
            tasks.push((
                "kube-proxy",
                start::kube_proxy(
                    desk,
                    first,
                    Some(listener),
                    match opts.kube_proxy_credential {
                        kubecorp_proxy::Credential::ServiceAccountToken => Some(&api),
                        kubecorp_proxy::Credential::ClientCertificate => None,
                    },
                )?,
            ));
        }

        if let Some(listener) = metrics_listener {
            let feed = opts.events.subscribe();
            tasks.push((
                "metrics-server",
                metrics::metrics_server(desk, &api, listener).await?,
            ));
            tasks.push((
                "apiserver (aggregator)",
                metrics::availability(&lab, &api, feed, &shutdown),
            ));
        }

        // Every component is watched: one that ends while the office is open is told.
        let (down_tx, down) = tokio::sync::mpsc::unbounded_channel();
        let tasks = tasks
            .into_iter()
            .map(|(component, task)| {
                start::supervise(
                    component,
                    task,
                    shutdown.clone(),
                    down_tx.clone(),
                    &opts.clock,
                    &opts.events,
                )
            })
            .collect();

        Ok(Office {
            dir: opts.dir,
            etcd_addr,
            etcd_url,
            apiserver_addr,
            proxy_healthz_addr,
            metrics_server_addr,
            etcd_peer_addr,
            scheduler_addr,
            kubelets,
            clock: opts.clock,
            events: opts.events,
            api,
            stop,
            tasks,
            down,
        })
    }

    /// `https://127.0.0.1:PORT`, for `kubectl --server`.
    pub fn apiserver_url(&self) -> String {
        format!("https://{}", self.apiserver_addr)
    }

    /// A client dialling this office's apiserver as `component`, with the lab kubeconfig
    /// `kubeconfig` (`admin.conf`, `scheduler.conf`, …).
    pub fn client(
        &self,
        component: &str,
        kubeconfig: &str,
    ) -> Result<kubecorp_client::KubeClient, OfficeError> {
        start::staff_client(
            component,
            &self.dir.join(kubeconfig),
            &self.apiserver_url(),
            &self.clock,
            &self.events,
        )
    }

    /// Completes when a member of staff stops while the office is open (see
    /// [`start::supervise`]); never, if none does.
    pub async fn component_down(&mut self) -> start::ComponentDown {
        match self.down.recv().await {
            Some(down) => down,
            None => std::future::pending().await,
        }
    }

    /// Closes every door and waits for the components to finish.
    pub async fn shutdown(self) {
        self.stop.stop();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
