//! The KubeCorp office: Charlie's vault (etcd) and Alice's front door (apiserver), opened together.
//!
//! [`Office::start`] makes the PKI if the lab directory has none, binds every listener first
//! (so a busy port is an error before anything runs), then starts each component with
//! `run(config, listener, shutdown)`. Only the apiserver talks to etcd, over mutual TLS with
//! `apiserver-etcd-client`; a real etcd can stand in for Charlie with `external_etcd`.
#![forbid(unsafe_code)]

pub mod narrate;

use std::net::SocketAddr;
use std::path::PathBuf;

use kubecorp_apiserver::api::Api;
use kubecorp_apiserver::server::ApiserverConfig;
use kubecorp_apiserver::store::{EtcdStore, Store};
use kubecorp_pki::{Authority, ClusterFacts, Lab};
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::{Events, LabClock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where and how to open the office.
#[derive(Debug, Clone)]
pub struct OfficeOptions {
    pub dir: PathBuf,
    /// Where Charlie listens (`127.0.0.1:2379` by convention; port 0 picks a free one).
    pub etcd_listen: SocketAddr,
    /// Where Alice listens (`127.0.0.1:6443` by convention).
    pub apiserver_listen: SocketAddr,
    /// Use this etcd (`https://host:port`) instead of starting Charlie.
    pub external_etcd: Option<String>,
    pub clock: LabClock,
    pub events: Events,
    /// The nodes, one kubelet each (the first is the control-plane node `kubelet.conf` names).
    pub nodes: Vec<String>,
    /// kubelets ask for a `kubelet-serving` certificate by CSR instead of making a self-signed
    /// one (`serverTLSBootstrap: true`).
    pub rotate_server_certificates: bool,
    /// Which of the other staff to start besides etcd and the apiserver.
    pub staff: Staff,
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
    /// The controller manager's endpoints controller.
    pub controllers: bool,
}

impl Staff {
    /// Everyone.
    pub const ALL: Staff = Staff {
        scheduler: true,
        kubelets: true,
        kube_proxy: true,
        controllers: true,
    };
    /// Only the vault and the front door.
    pub const NONE: Staff = Staff {
        scheduler: false,
        kubelets: false,
        kube_proxy: false,
        controllers: false,
    };
}

/// The node `pki init` writes `kubelet.conf` for.
pub const CONTROL_PLANE_NODE: &str = "kubecorp-control-plane";

impl OfficeOptions {
    /// Ephemeral loopback ports, real time: what tests and scenario runs use.
    pub fn ephemeral(dir: impl Into<PathBuf>) -> OfficeOptions {
        OfficeOptions {
            dir: dir.into(),
            etcd_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            apiserver_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            external_etcd: None,
            clock: LabClock::real(),
            events: Events::new(),
            nodes: vec![CONTROL_PLANE_NODE.to_owned()],
            rotate_server_certificates: false,
            staff: Staff::ALL,
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
    Pki(#[from] kubecorp_pki::PkiError),
    #[error("apiserver → etcd: {0}")]
    Etcd(String),
    #[error("apiserver: writing the default objects to etcd: {0}")]
    Bootstrap(String),
}

/// A running office.
pub struct Office {
    pub dir: PathBuf,
    /// Charlie's address, when the lab runs its own etcd.
    pub etcd_addr: Option<SocketAddr>,
    pub etcd_url: String,
    pub apiserver_addr: SocketAddr,
    pub clock: LabClock,
    pub events: Events,
    pub api: Api,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(component: &'static str, addr: SocketAddr) -> Result<TcpListener, OfficeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| OfficeError::Bind {
            component,
            addr,
            source,
        })
}

impl Office {
    /// Opens the office: PKI, then etcd, then the apiserver with its default objects.
    pub async fn start(opts: OfficeOptions) -> Result<Office, OfficeError> {
        let lab = Lab::new(&opts.dir);
        if !lab.ca_cert_path(Authority::Cluster).exists() {
            let init = kubecorp_pki::init::InitOptions {
                facts: ClusterFacts::new(
                    CONTROL_PLANE_NODE,
                    std::net::IpAddr::from([127, 0, 0, 1]),
                ),
                key_algorithm: kubecorp_pki::KeyAlgorithm::EcdsaP256,
                force: false,
                now: opts.clock.now(),
            };
            kubecorp_pki::init::init(&lab, &init)?;
        }
        let (stop, stopped) = watch::channel(false);
        let shutdown = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let mut tasks = Vec::new();

        let (etcd_addr, etcd_url) = match &opts.external_etcd {
            Some(url) => (None, url.clone()),
            None => {
                let listener = bind("etcd", opts.etcd_listen).await?;
                let addr = listener.local_addr().map_err(|source| OfficeError::Bind {
                    component: "etcd",
                    addr: opts.etcd_listen,
                    source,
                })?;
                let config = kubecorp_etcd::EtcdConfig::new(
                    "etcd",
                    CertSource::pem_files(
                        lab.cert_path("etcd/server"),
                        lab.key_path("etcd/server"),
                    ),
                    TrustSource::bundle(lab.ca_cert_path(Authority::Etcd)),
                    opts.clock.clone(),
                    opts.events.clone(),
                );
                let shutdown = shutdown();
                tasks.push(tokio::spawn(async move {
                    let _ = kubecorp_etcd::run(config, listener, shutdown).await;
                }));
                (Some(addr), format!("https://{addr}"))
            }
        };

        let listener = bind("apiserver", opts.apiserver_listen).await?;
        let apiserver_addr = listener.local_addr().map_err(|source| OfficeError::Bind {
            component: "apiserver",
            addr: opts.apiserver_listen,
            source,
        })?;
        let client = kubecorp_etcd::EtcdClient::new(
            &etcd_url,
            Some(CertSource::pem_files(
                lab.cert_path("apiserver-etcd-client"),
                lab.key_path("apiserver-etcd-client"),
            )),
            TrustSource::bundle(lab.ca_cert_path(Authority::Etcd)),
            opts.clock.clone(),
            opts.events.clone(),
        )
        .map_err(|e| OfficeError::Etcd(e.to_string()))?;
        // kube-controller-manager's CSR signer holds ca.key; without it (external CA) CSRs stay unsigned.
        let signer = lab.load_ca(Authority::Cluster).ok();
        let api = Api::new(
            Store::Etcd(EtcdStore::new(client)),
            opts.clock.clone(),
            signer,
        );
        api.bootstrap()
            .await
            .map_err(|e| OfficeError::Bootstrap(e.to_string()))?;
        let config = ApiserverConfig {
            api: api.clone(),
            serving: CertSource::pem_files(lab.cert_path("apiserver"), lab.key_path("apiserver")),
            client_ca: TrustSource::bundle(lab.ca_cert_path(Authority::Cluster)),
            clock: opts.clock.clone(),
            events: opts.events.clone(),
        };
        let shutdown_api = shutdown();
        tasks.push(tokio::spawn(async move {
            let _ = kubecorp_apiserver::server::run(config, listener, shutdown_api).await;
        }));

        Ok(Office {
            dir: opts.dir,
            etcd_addr,
            etcd_url,
            apiserver_addr,
            clock: opts.clock,
            events: opts.events,
            api,
            stop,
            tasks,
        })
    }

    /// `https://127.0.0.1:PORT`, for `kubectl --server`.
    pub fn apiserver_url(&self) -> String {
        format!("https://{}", self.apiserver_addr)
    }

    /// Closes every door and waits for the components to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
