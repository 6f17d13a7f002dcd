//! One starter per member of staff, so `kubecorp up` can open them all and `kubecorp serve` one.
//!
//! Every starter takes a listener that is already bound (so a busy port is reported before
//! anything runs), the lab directory, the clock and the event stream, and a [`Shutdown`] to
//! stop on; it returns the running task. The staff who call Alice get those, and her URL, as
//! one [`Desk`].

use std::future::Future;
use std::net::SocketAddr;

use kubecorp_apiserver::api::Api;
use kubecorp_apiserver::server::ApiserverConfig;
use kubecorp_apiserver::store::{EtcdStore, Store};
use kubecorp_pki::{Authority, Lab};
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::{Events, LabClock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::OfficeError;

/// The signal every component stops on; cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown {
    stopped: watch::Receiver<bool>,
}

/// The handle that fires a [`Shutdown`].
#[derive(Debug)]
pub struct Stop {
    tx: watch::Sender<bool>,
}

/// A fresh stop/shutdown pair.
pub fn shutdown_pair() -> (Stop, Shutdown) {
    let (tx, stopped) = watch::channel(false);
    (Stop { tx }, Shutdown { stopped })
}

impl Stop {
    /// Asks every component to stop.
    pub fn stop(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    /// Completes when the office closes.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    }
}

impl Shutdown {
    /// Whether the office has been asked to close.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }
}

/// A member of staff that stopped while the office was still open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDown {
    pub component: &'static str,
    /// `stopped by itself`, or the panic's message.
    pub reason: String,
}

impl std::fmt::Display for ComponentDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.component, self.reason)
    }
}

/// Watches one component's task: if it ends while the office is open (an error, or a panic
/// that tokio caught), the room is told on the event stream and `down` hears of it, so the
/// process never goes on silently without one of its staff. `kubeadm …` jobs are one-shot:
/// only a panic of theirs is news.
pub fn supervise(
    component: &'static str,
    task: JoinHandle<()>,
    shutdown: Shutdown,
    down: tokio::sync::mpsc::UnboundedSender<ComponentDown>,
    clock: &LabClock,
    events: &Events,
) -> JoinHandle<()> {
    let (clock, events) = (clock.clone(), events.clone());
    tokio::spawn(async move {
        let ended = task.await;
        if shutdown.is_stopped() {
            return;
        }
        let reason = match ended {
            // A one-shot job (kubeadm's mark-control-plane) is meant to end.
            Ok(()) if component.starts_with("kubeadm") => return,
            Ok(()) => "stopped by itself".to_owned(),
            Err(e) => {
                let what = kubecorp_apiserver::server::panic_message(e)
                    .unwrap_or_else(|| "cancelled".into());
                let reason = format!("stopped after a fault (panic: {what})");
                events.emit(stopped(
                    &clock,
                    component,
                    format!("{component}: panic: {what}"),
                    "a fault in the lab's own code ended it; ",
                    "this is a bug in kubecorp, not in your certificates: restart `kubecorp up` and report the line above",
                ));
                reason
            }
        };
        let _ = down.send(ComponentDown { component, reason });
    })
}

/// Binds `addr` for `component`, or says which component could not have which address.
pub async fn bind(component: &'static str, addr: SocketAddr) -> Result<TcpListener, OfficeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| OfficeError::Bind {
            component,
            addr,
            source,
        })
}

/// The address a bound listener really got (port 0 picks one).
pub fn local_addr(
    component: &'static str,
    wanted: SocketAddr,
    listener: &TcpListener,
) -> Result<SocketAddr, OfficeError> {
    listener.local_addr().map_err(|source| OfficeError::Bind {
        component,
        addr: wanted,
        source,
    })
}

/// Runs `component`'s server (`served` completes when its door closes) in a task of its own. A
/// server that stopped on an error says so on the event stream, with the error, instead of
/// vanishing while the room still watches.
pub(crate) fn serve<E: std::fmt::Display>(
    component: &'static str,
    served: impl Future<Output = Result<(), E>> + Send + 'static,
    clock: LabClock,
    events: Events,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Err(e) = served.await else {
            return;
        };
        events.emit(stopped(
            &clock,
            component,
            e.to_string(),
            "",
            "read the error above, fix it (a port, a file, a permission) and start it again",
        ));
    })
}

/// What the room is told when `component` stops while the office is open: the line it logged
/// last, `why` (empty, or a clause ending in `; `) and that nobody answers at its door any
/// more, and what to do.
fn stopped(
    clock: &LabClock,
    component: &str,
    log: String,
    why: &str,
    hint: &str,
) -> kubecorp_trust::Event {
    kubecorp_trust::Event::new(
        clock.now(),
        component,
        component,
        kubecorp_trust::Stage::Tcp,
    )
    .caller_log(log)
    .explanation(format!(
        "{component} stopped: {why}nobody answers at its door any more"
    ))
    .hint(hint)
}

/// What every member of staff that calls Alice is started with: the lab, Alice's URL, the lab
/// clock, the event stream and the office's shutdown.
#[derive(Clone, Copy, Debug)]
pub struct Desk<'a> {
    pub lab: &'a Lab,
    /// `https://host:port`: where Alice listens (the kubeconfigs name `:6443`; the office may
    /// listen elsewhere).
    pub apiserver: &'a str,
    pub clock: &'a LabClock,
    pub events: &'a Events,
    pub shutdown: &'a Shutdown,
}

impl<'a> Desk<'a> {
    /// The desk of staff calling Alice at `apiserver`.
    pub fn new(
        lab: &'a Lab,
        apiserver: &'a str,
        clock: &'a LabClock,
        events: &'a Events,
        shutdown: &'a Shutdown,
    ) -> Desk<'a> {
        Desk {
            lab,
            apiserver,
            clock,
            events,
            shutdown,
        }
    }

    /// A client for `component` with the badge of the lab kubeconfig `kubeconfig`, keeping its
    /// connections between calls as client-go does.
    pub fn staff_client(
        &self,
        component: &str,
        kubeconfig: &str,
    ) -> Result<kubecorp_client::KubeClient, OfficeError> {
        staff_client(
            component,
            &self.lab.kubeconfig_path(kubeconfig),
            self.apiserver,
            self.clock,
            self.events,
        )
        .map(kubecorp_client::KubeClient::keep_alive)
    }

    /// A client for `component` that shows no badge (it sends a service-account token instead,
    /// or only asks for one), checking Alice's badge against `trust`.
    pub fn badgeless_client(
        &self,
        component: &str,
        trust: TrustSource,
    ) -> Result<kubecorp_client::KubeClient, OfficeError> {
        kubecorp_client::KubeClient::new(
            component,
            self.apiserver,
            None,
            trust,
            self.clock.clone(),
            self.events.clone(),
        )
        .map(kubecorp_client::KubeClient::keep_alive)
        .map_err(|e| OfficeError::Staff {
            component: component.to_owned(),
            problem: e.to_string(),
        })
    }
}

/// Charlie: etcd on `etcd/server.crt`, trusting only `etcd/ca.crt`.
pub fn etcd(
    lab: &Lab,
    listener: TcpListener,
    clock: &LabClock,
    events: &Events,
    shutdown: &Shutdown,
) -> JoinHandle<()> {
    let config = kubecorp_etcd::EtcdConfig::new(
        "etcd",
        CertSource::pem_files(lab.cert_path("etcd/server"), lab.key_path("etcd/server")),
        TrustSource::bundle(lab.ca_cert_path(Authority::Etcd)),
        clock.clone(),
        events.clone(),
    );
    let served = kubecorp_etcd::run(config, listener, shutdown.wait());
    serve("etcd", served, clock.clone(), events.clone())
}

/// Alice: the apiserver on `apiserver.crt`, storing in the etcd at `etcd_url` with
/// `apiserver-etcd-client`, checking badges against `ca.crt`, signing CSRs with `ca.key` when
/// the lab has it. Writes the default objects (namespaces, RBAC) before it opens, and with
/// `metrics_server` (where it listens) metrics-server's manifest too, so whoever Alice answers
/// first finds it registered.
pub async fn apiserver(
    lab: &Lab,
    listener: TcpListener,
    etcd_url: &str,
    clock: &LabClock,
    events: &Events,
    shutdown: &Shutdown,
    metrics_server: Option<std::net::SocketAddr>,
) -> Result<(Api, JoinHandle<()>), OfficeError> {
    // One kept HTTP/2 connection carrying every gRPC call, as kube-apiserver's etcd client
    // keeps it; a badge or CA renewed on disk is used from the next call on.
    let store = EtcdStore::connect(
        etcd_url,
        Some(CertSource::pem_files(
            lab.cert_path("apiserver-etcd-client"),
            lab.key_path("apiserver-etcd-client"),
        )),
        TrustSource::bundle(lab.ca_cert_path(Authority::Etcd)),
        clock.clone(),
        events.clone(),
    )
    .map_err(|e| OfficeError::Etcd(e.to_string()))?;
    // kube-controller-manager's CSR signer holds ca.key; without it (external CA) CSRs stay unsigned.
    let signer = lab.load_ca(Authority::Cluster).ok();
    // --kubelet-client-certificate/--kubelet-client-key: how Alice dials a kubelet for `logs`.
    let api = Api::new(Store::Etcd(store), clock.clone(), signer)
        .with_kubelet_client(kubecorp_apiserver::pod_log::KubeletClientConfig {
            cert: CertSource::pem_files(
                lab.cert_path("apiserver-kubelet-client"),
                lab.key_path("apiserver-kubelet-client"),
            ),
            events: events.clone(),
        })
        // --proxy-client-cert-file/--proxy-client-key-file: the badge extension servers see.
        .with_proxy_client(kubecorp_apiserver::aggregator::ProxyClientConfig {
            cert: CertSource::pem_files(
                lab.cert_path("front-proxy-client"),
                lab.key_path("front-proxy-client"),
            ),
            events: events.clone(),
        });
    // --service-account-key-file=sa.pub, --service-account-signing-key-file=sa.key, and the
    // JWKS published at this door. A PKI without the pair still opens, issuing no tokens.
    let jwks_uri = listener
        .local_addr()
        .map(|a| format!("https://{a}/openid/v1/jwks"))
        .unwrap_or_default();
    let api = match kubecorp_apiserver::tokens::TokenKeys::from_files(
        &lab.sa_key_path(),
        &lab.sa_pub_path(),
        &jwks_uri,
    ) {
        Ok(keys) => api.with_service_account_keys(keys),
        Err(e) => {
            events.emit(
                kubecorp_trust::Event::new(clock.now(), "apiserver", "apiserver", kubecorp_trust::Stage::Request)
                    .server_log(format!("service-account keys: {e}"))
                    .explanation("without sa.key and sa.pub Alice issues no service-account tokens and accepts none; badges work as before")
                    .hint("`kubecorp pki init` writes the pair (pki/sa.key, pki/sa.pub) if it is missing"),
            );
            api
        }
    };
    api.bootstrap()
        .await
        .map_err(|e| OfficeError::Bootstrap(e.to_string()))?;
    // What extension API servers read to check Alice's front-proxy badge.
    let requestheader = kubecorp_trust::authn::requestheader::RequestHeaderConfig::kubeadm();
    let read_pem = |authority| {
        std::fs::read_to_string(lab.ca_cert_path(authority)).map_err(|e| {
            OfficeError::Bootstrap(format!(
                "reading {}: {e}",
                lab.ca_cert_path(authority).display()
            ))
        })
    };
    let extension_auth = kubecorp_trust::authn::requestheader::ExtensionAuthentication {
        client_ca_pem: read_pem(Authority::Cluster)?,
        requestheader_ca_pem: read_pem(Authority::FrontProxy)?,
        config: requestheader.clone(),
    };
    kubecorp_apiserver::extension_auth::publish(&api, &extension_auth)
        .await
        .map_err(|e| OfficeError::Bootstrap(e.to_string()))?;
    if let Some(listening) = metrics_server {
        crate::metrics::apply(&api, listening).await?;
    }
    crate::kubeadm_init::aggregated_roles(&api).await?;
    let config = ApiserverConfig {
        api: api.clone(),
        serving: CertSource::pem_files(lab.cert_path("apiserver"), lab.key_path("apiserver")),
        client_ca: TrustSource::bundle(lab.ca_cert_path(Authority::Cluster)),
        front_proxy_ca: Some(TrustSource::bundle(lab.ca_cert_path(Authority::FrontProxy))),
        requestheader,
        clock: clock.clone(),
        events: events.clone(),
    };
    let shutdown = shutdown.wait();
    let store = api.store().clone();
    let served = async move {
        let result = kubecorp_apiserver::server::run(config, listener, shutdown).await;
        // Alice's storage closes with her, so Charlie does not wait out his drain deadline
        // for her watch.
        store.close().await;
        result
    };
    let task = serve("apiserver", served, clock.clone(), events.clone());
    Ok((api, task))
}

/// A client for `component` as its kubeconfig describes it, dialling `apiserver` (the
/// kubeconfig names the conventional `:6443`; the office may listen elsewhere).
pub fn staff_client(
    component: &str,
    kubeconfig: &std::path::Path,
    apiserver: &str,
    clock: &LabClock,
    events: &Events,
) -> Result<kubecorp_client::KubeClient, OfficeError> {
    let staff = |e: kubecorp_client::ClientError| OfficeError::Staff {
        component: component.to_owned(),
        problem: e.to_string(),
    };
    kubecorp_client::KubeClient::from_kubeconfig(
        component,
        kubeconfig,
        clock.clone(),
        events.clone(),
    )
    .map_err(staff)?
    .with_server(apiserver)
    .map_err(staff)
}

/// Bob: the scheduler, with `scheduler.conf`.
pub fn scheduler(desk: Desk) -> Result<JoinHandle<()>, OfficeError> {
    let config = kubecorp_scheduler::SchedulerConfig {
        client: desk.staff_client("scheduler", "scheduler.conf")?,
        clock: desk.clock.clone(),
        events: desk.events.clone(),
    };
    Ok(tokio::spawn(kubecorp_scheduler::run(
        config,
        desk.shutdown.wait(),
    )))
}

/// Dave: kube-proxy on `node`, answering `/healthz` on `healthz`. With `token_from` (the
/// office's own apiserver) he shows the `kube-system/kube-proxy` service-account token, as on
/// a kubeadm cluster; without it he dials with `kube-proxy.conf`, the Hard Way.
pub fn kube_proxy(
    desk: Desk,
    node: &str,
    healthz: Option<TcpListener>,
    token_from: Option<&Api>,
) -> Result<JoinHandle<()>, OfficeError> {
    let (lab, clock, events, shutdown) = (desk.lab, desk.clock, desk.events, desk.shutdown);
    let (client, credential) = match token_from {
        None => (
            desk.staff_client("kube-proxy", "kube-proxy.conf")?,
            kubecorp_proxy::Credential::ClientCertificate,
        ),
        Some(_) => (
            desk.badgeless_client(
                "kube-proxy",
                TrustSource::bundle(lab.ca_cert_path(Authority::Cluster)),
            )?,
            kubecorp_proxy::Credential::ServiceAccountToken,
        ),
    };
    let projected = crate::projected::ProjectedToken::default();
    let client = match token_from {
        Some(_) => {
            let read = projected.clone();
            client.with_bearer_token(kubecorp_client::TokenSource::new(move || read.token()))
        }
        None => client,
    };
    let config = kubecorp_proxy::ProxyConfig {
        client,
        clock: clock.clone(),
        events: events.clone(),
        node_name: node.to_owned(),
        credential,
        healthz,
    };
    let shutdown = shutdown.wait();
    let refresher = token_from.map(|api| (api.clone(), node.to_owned(), clock.clone()));
    Ok(tokio::spawn(async move {
        let Some((api, node, clock)) = refresher else {
            return kubecorp_proxy::run(config, shutdown).await;
        };
        // Until the first token arrives (Alice may still be opening), ask again; a closing
        // office ends the wait.
        let first = async {
            while projected.token().is_none() {
                projected.request(&api, &node, &clock).await;
                if projected.token().is_none() {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        };
        let mut shutdown = Box::pin(shutdown);
        tokio::select! {
            _ = first => {}
            _ = &mut shutdown => return,
        }
        kubecorp_proxy::run(config, shutdown).await
    }))
}

/// The controller manager: its endpoints and node lifecycle controllers dial with
/// `controller-manager.conf`; its deployment, replicaset and clusterrole-aggregation
/// controllers, as kubeadm's
/// `--use-service-account-credentials` has it, call with their own service accounts' tokens,
/// which `controller-manager.conf` only asks for (see [`kubecorp_controller::credentials`]).
pub fn endpoints_controller(desk: Desk) -> Result<JoinHandle<()>, OfficeError> {
    let (lab, clock, events, shutdown) = (desk.lab, desk.clock, desk.events, desk.shutdown);
    let client = desk.staff_client("controller-manager", "controller-manager.conf")?;
    let lifecycle = kubecorp_controller::node_lifecycle::NodeLifecycleConfig::new(
        client.clone(),
        clock.clone(),
        events.clone(),
    );
    let config = kubecorp_controller::EndpointsControllerConfig {
        client,
        clock: clock.clone(),
        events: events.clone(),
    };
    let manager = desk.staff_client("controller-manager", "controller-manager.conf")?;
    // `restclient.AnonymousClientConfig`: the kubeconfig's server and CA, no badge.
    let anonymous = desk.badgeless_client(
        "controller-manager",
        TrustSource::kubeconfig(lab.kubeconfig_path("controller-manager.conf")),
    )?;
    // What a controller calling as its own service account `account` needs: the token
    // `manager` asks for, shown by an anonymous client.
    let worker = |account| {
        let credentials = kubecorp_controller::credentials::ServiceAccountCredentials::new(
            account,
            manager.clone(),
            clock.clone(),
        );
        kubecorp_controller::WorkerConfig {
            client: credentials.client(anonymous.clone()),
            credentials,
            clock: clock.clone(),
            events: events.clone(),
        }
    };
    let deployments = worker(kubecorp_controller::deployment::NAME);
    let aggregation = worker(kubecorp_controller::clusterrole_aggregation::NAME);
    let replicasets = worker(kubecorp_controller::replicaset::NAME);
    let (endpoints_stop, lifecycle_stop) = (shutdown.wait(), shutdown.wait());
    let (deployments_stop, replicasets_stop) = (shutdown.wait(), shutdown.wait());
    let aggregation_stop = shutdown.wait();
    Ok(tokio::spawn(async move {
        tokio::join!(
            kubecorp_controller::run(config, endpoints_stop),
            kubecorp_controller::node_lifecycle::run(lifecycle, lifecycle_stop),
            kubecorp_controller::deployment::run(deployments, deployments_stop),
            kubecorp_controller::replicaset::run(replicasets, replicasets_stop),
            kubecorp_controller::clusterrole_aggregation::run(aggregation, aggregation_stop),
        );
    }))
}

/// The kubeconfig node `node`'s kubelet uses: `kubelet.conf` for the node it names, otherwise
/// `kubelet/NODE/kubelet.conf`, issued by the cluster CA on first use (what `kubeadm join`'s
/// TLS bootstrap ends with: a `system:node:NODE` badge in group `system:nodes`).
pub fn node_kubeconfig(
    lab: &Lab,
    node: &str,
    clock: &LabClock,
) -> Result<std::path::PathBuf, OfficeError> {
    crate::check_node_name(node)?;
    if crate::kubelet_conf_node(lab).as_deref() == Some(node) {
        return Ok(lab.kubeconfig_path("kubelet.conf"));
    }
    Ok(kubecorp_pki::node::worker_kubeconfig(
        lab,
        node,
        clock.now(),
    )?)
}

/// How a node registers: kubeadm marks the control-plane node with its role label, and taints
/// it `NoSchedule` when there are workers to run pods (a single-node lab lifts the taint, as
/// `kind` does, so its pods can run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    ControlPlane { tainted: bool },
    Worker,
}

/// The CEO at one desk: node `node`'s kubelet, registering with Alice and serving `listener`.
pub fn kubelet(
    desk: Desk,
    node: &str,
    role: NodeRole,
    listener: TcpListener,
    rotate_server_certificates: bool,
) -> Result<JoinHandle<()>, OfficeError> {
    let Desk {
        lab,
        apiserver,
        clock,
        events,
        shutdown,
    } = desk;
    let kubeconfig = node_kubeconfig(lab, node, clock)?;
    let address = listener
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let mut config = kubecorp_kubelet::KubeletConfig::for_lab(
        lab,
        node,
        address,
        &kubeconfig,
        apiserver,
        clock.clone(),
        events.clone(),
    )
    .map_err(|e| OfficeError::Staff {
        component: format!("kubelet {node}"),
        problem: e.to_string(),
    })?;
    config.rotate_server_certificates = rotate_server_certificates;
    if let NodeRole::ControlPlane { tainted } = role {
        // A kubelet may set `node.kubernetes.io/…` labels on itself, but NodeRestriction
        // refuses it `node-role.kubernetes.io/control-plane`: kubeadm adds that one with
        // admin.conf (see [`mark_control_plane`]).
        config.node_labels.insert(
            "node.kubernetes.io/exclude-from-external-load-balancers".into(),
            String::new(),
        );
        if tainted {
            config.register_with_taints.push(serde_json::json!({
                "key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"
            }));
        }
    }
    let served = kubecorp_kubelet::run(config, listener, shutdown.wait());
    Ok(serve("kubelet", served, clock.clone(), events.clone()))
}

/// kubeadm's `mark-control-plane` phase: once `node` has registered, label it
/// `node-role.kubernetes.io/control-plane` with admin.conf's badge. The kubelet cannot do this
/// itself: the NodeRestriction admission plugin refuses a kubelet any `node-role.kubernetes.io`
/// label, so no node can promote itself.
pub fn mark_control_plane(desk: Desk, node: &str) -> Result<JoinHandle<()>, OfficeError> {
    const LABEL: &str = "node-role.kubernetes.io/control-plane";
    let client = desk.staff_client("kubeadm", "admin.conf")?;
    let (node, clock, events) = (node.to_owned(), desk.clock.clone(), desk.events.clone());
    let shutdown = desk.shutdown.wait();
    Ok(tokio::spawn(async move {
        let path = format!("/api/v1/nodes/{node}");
        let mark = async {
            loop {
                if let Ok(current) = client.get(&path).await {
                    if !current["metadata"]["labels"][LABEL].is_null() {
                        return;
                    }
                    let patch = serde_json::json!({"metadata": {"labels": {LABEL: ""}}});
                    if client.merge_patch(&path, &patch).await.is_ok() {
                        events.emit(
                            kubecorp_trust::Event::new(clock.now(), "kubeadm", "apiserver", kubecorp_trust::Stage::Request)
                                .caller_log(format!("[mark-control-plane] Marking the node {node} as control-plane by adding the labels: [{LABEL} node.kubernetes.io/exclude-from-external-load-balancers]"))
                                .explanation("kubeadm, with admin.conf, gives the control-plane node its role label; the node's own kubelet may not (NodeRestriction)"),
                        );
                        return;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            _ = mark => {}
            _ = shutdown => {}
        }
    }))
}

/// Charlie's peer port: `etcd/peer.crt`, peers' badges required and checked against the etcd
/// CA in the handshake (`--peer-client-cert-auth`). `client_url` is what `/members` advertises.
pub fn etcd_peer(
    lab: &Lab,
    listener: TcpListener,
    client_url: &str,
    clock: &LabClock,
    events: &Events,
    shutdown: &Shutdown,
) -> JoinHandle<()> {
    let peer_url = listener
        .local_addr()
        .map(|a| format!("https://{a}"))
        .unwrap_or_default();
    let config = kubecorp_etcd::PeerConfig::new(
        crate::CONTROL_PLANE_NODE,
        CertSource::pem_files(lab.cert_path("etcd/peer"), lab.key_path("etcd/peer")),
        TrustSource::bundle(lab.ca_cert_path(Authority::Etcd)),
        vec![peer_url],
        vec![client_url.to_owned()],
        clock.clone(),
        events.clone(),
    );
    let served = kubecorp_etcd::run_peer(config, listener, shutdown.wait());
    serve("etcd", served, clock.clone(), events.clone())
}

/// Bob's secure port (`:10259`): `/healthz`, `/readyz`, `/livez` over his in-memory
/// self-signed `localhost@…` badge.
pub fn scheduler_secure(desk: Desk, listener: TcpListener) -> Result<JoinHandle<()>, OfficeError> {
    let lab = desk.lab;
    // kubeadm: --authentication-kubeconfig and --authorization-kubeconfig are scheduler.conf.
    let delegation = kubecorp_scheduler::Delegation {
        client_ca: TrustSource::bundle(lab.ca_cert_path(Authority::Cluster)),
        front_proxy_ca: Some(TrustSource::bundle(lab.ca_cert_path(Authority::FrontProxy))),
        reviewer: desk.staff_client("scheduler", "scheduler.conf")?,
    };
    let served = kubecorp_scheduler::serve_secure(
        listener,
        desk.clock.clone(),
        desk.events.clone(),
        Some(delegation),
        kubecorp_pki::key_source::KeySource::of(lab),
        desk.shutdown.wait(),
    );
    Ok(serve(
        "scheduler",
        served,
        desk.clock.clone(),
        desk.events.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_component_that_panics_is_reported_down_with_its_message() {
        let (_stop, shutdown) = shutdown_pair();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let events = Events::new();
        let mut feed = events.subscribe();
        let task = tokio::spawn(async {
            let empty: Vec<u8> = Vec::new();
            let _ = empty[3];
        });
        supervise("scheduler", task, shutdown, tx, &LabClock::real(), &events);
        let down = rx.recv().await.unwrap();
        assert_eq!(down.component, "scheduler");
        assert!(
            down.reason
                .starts_with("stopped after a fault (panic: index out of bounds"),
            "{down}"
        );
        let event = feed.recv().await.unwrap();
        assert!(event
            .explanation
            .unwrap_or_default()
            .starts_with("scheduler stopped: a fault in the lab's own code"));
    }

    #[tokio::test]
    async fn a_component_that_ends_after_closing_time_is_not_reported() {
        let (stop, shutdown) = shutdown_pair();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        stop.stop();
        let watched = supervise(
            "etcd",
            tokio::spawn(async {}),
            shutdown,
            tx,
            &LabClock::real(),
            &Events::new(),
        );
        watched.await.unwrap();
        assert!(rx.try_recv().is_err());
    }
}
