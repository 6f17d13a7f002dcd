//! `kubecorp up` and `kubecorp serve`: open the whole office, or one member of staff, and
//! narrate every badge check until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use kubecorp_office::start::{self, shutdown_pair};
use kubecorp_office::{Office, OfficeOptions};
use kubecorp_trust::record::{Body, EventRecord, Record};
use kubecorp_trust::{Events, LabClock};

use crate::Format;

/// The members of staff `kubecorp serve` can run on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Component {
    /// Charlie, the vault (needs `--listen`, default 127.0.0.1:2379).
    Etcd,
    /// Alice, the front door (needs `--etcd`; default listen 127.0.0.1:6443).
    Apiserver,
    /// Bob, with scheduler.conf (`--apiserver` overrides the kubeconfig's server).
    Scheduler,
    /// The CEO: a kubelet for `--node-name` (default: the node kubelet.conf names), serving
    /// `--listen` (default 127.0.0.1:10250).
    Kubelet,
    /// Dave, with kube-proxy.conf; `--listen` is its /healthz (default 127.0.0.1:10256).
    KubeProxy,
    /// The controller manager's endpoints controller, with controller-manager.conf.
    ControllerManager,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::Apiserver => "apiserver",
            Component::Scheduler => "scheduler",
            Component::Kubelet => "kubelet",
            Component::KubeProxy => "kube-proxy",
            Component::ControllerManager => "controller-manager",
        }
    }

    fn default_listen(self) -> SocketAddr {
        let port = match self {
            Component::Etcd => 2379,
            Component::Apiserver => 6443,
            Component::Scheduler => 10259,
            Component::Kubelet => 10250,
            Component::KubeProxy => 10256,
            Component::ControllerManager => 10257,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// What `kubecorp serve` was asked.
#[derive(Debug)]
pub struct ServeOptions {
    pub component: Component,
    pub dir: PathBuf,
    pub listen: Option<SocketAddr>,
    /// etcd only: also open the peer port here.
    pub peer_listen: Option<SocketAddr>,
    pub apiserver: Option<String>,
    pub node_name: Option<String>,
    pub rotate_server_certificates: bool,
    pub etcd: Option<String>,
    pub clock: LabClock,
    pub format: Format,
    pub quiet: bool,
}

/// `--web [ADDR]`: where the live page listens, and whether it may change the lab.
#[derive(Debug, Clone, Copy)]
pub struct Web {
    pub addr: SocketAddr,
    pub control: bool,
}

/// Opens the whole office and narrates until a signal.
pub async fn up(opts: OfficeOptions, format: Format, quiet: bool, web: Option<Web>) -> Result<()> {
    let events = opts.events.clone();
    let clock = opts.clock.clone();
    let mut feed = events.subscribe();
    let mut office = Office::start(opts).await?;
    let (stop_page, page_shutdown) = shutdown_pair();
    let page = match web {
        Some(web) => Some(crate::web::open(&office, web, &events, &clock, &page_shutdown).await?),
        None => None,
    };
    banner(&office);
    if let Some(page) = &page {
        say!("{}", page.banner);
    }
    say!("Press Ctrl-C to close the office.\n");
    let down = tokio::select! {
        narrated = narrate_until_signal(&mut feed, format, quiet) => { narrated?; None }
        down = office.component_down() => Some(down),
    };
    if let Some(down) = down {
        // Say what it said last, then close the office rather than run on without it.
        while let Ok(event) = feed.try_recv() {
            say!("{}", kubecorp_office::narrate::narrate(&event, false));
        }
        say!("Closing the office.");
        stop_page.stop();
        office.shutdown().await;
        anyhow::bail!("{down}: the office cannot run without it");
    }
    say!("Closing the office.");
    stop_page.stop();
    if let Some(page) = page {
        page.closed().await;
    }
    office.shutdown().await;
    Ok(())
}

/// Where everyone in the office listens and which badge they show.
pub fn banner(office: &Office) {
    let dir = office.dir.display().to_string();
    say!("KubeCorp is open (lab directory {dir}):");
    if let Some(etcd) = office.etcd_addr {
        say!("  etcd (Charlie, the vault)        https://{etcd}   trusts only pki/etcd/ca.crt, checks badges in the handshake");
        if let Some(peer) = office.etcd_peer_addr {
            say!("  etcd peer port                    https://{peer}   for other members, with etcd/peer.crt");
        }
    } else {
        say!(
            "  etcd                              {} (external)",
            office.etcd_url
        );
    }
    say!("  apiserver (Alice, the front door) {}   checks badges after the handshake (401), then RBAC (403)", office.apiserver_url());
    match office.scheduler_addr {
        Some(addr) => say!("  scheduler (Bob)                   https://{addr}/healthz   dials the apiserver with {dir}/scheduler.conf"),
        None => say!("  scheduler (Bob)                   dials the apiserver with {dir}/scheduler.conf"),
    }
    for (i, (node, addr)) in office.kubelets.iter().enumerate() {
        let conf = match i {
            0 => format!("{dir}/kubelet.conf"),
            _ => format!("{dir}/kubelet/{node}/kubelet.conf"),
        };
        say!("  kubelet (the CEO) on {node:<13} https://{addr}   dials the apiserver with {conf}");
    }
    say!("  controller-manager                dials the apiserver with {dir}/controller-manager.conf (endpoints controller, CSR signer)");
    if let Some(addr) = office.proxy_healthz_addr {
        say!("  kube-proxy (Dave)                 dials the apiserver with {dir}/kube-proxy.conf; /healthz on http://{addr}");
    }
    if let Some(addr) = office.metrics_server_addr {
        say!("  metrics-server                    https://{addr}, a guest: Alice passes metrics.k8s.io on to it with pki/front-proxy-client.crt (kubectl top nodes)");
    }
    say!(
        "Try: kubectl --kubeconfig {dir}/admin.conf --server {} get namespaces",
        office.apiserver_url()
    );
}

/// Runs one component on its own and narrates until a signal.
pub async fn serve(opts: ServeOptions) -> Result<()> {
    let lab = crate::existing_lab(&opts.dir)?;
    let events = Events::new();
    let mut feed = events.subscribe();
    let (stop, shutdown) = shutdown_pair();
    let name = opts.component.name();
    let wanted = opts.listen.unwrap_or(opts.component.default_listen());
    let task = match opts.component {
        Component::Etcd => {
            let listener = start::bind("etcd", wanted).await?;
            let addr = start::local_addr("etcd", wanted, &listener)?;
            let task = start::etcd(&lab, listener, &opts.clock, &events, &shutdown);
            say!(
                "etcd (Charlie, the vault) serves https://{addr}, trusting only {}",
                lab.ca_cert_path(kubecorp_pki::Authority::Etcd).display()
            );
            if let Some(wanted) = opts.peer_listen {
                let peer = start::bind("etcd (peer)", wanted).await?;
                let peer_addr = start::local_addr("etcd (peer)", wanted, &peer)?;
                let peer_task = start::etcd_peer(
                    &lab,
                    peer,
                    &format!("https://{addr}"),
                    &opts.clock,
                    &events,
                    &shutdown,
                );
                say!(
                    "etcd peer port serves https://{peer_addr}, for members showing etcd/peer.crt"
                );
                tokio::spawn(async move {
                    let _ = peer_task.await;
                });
            }
            task
        }
        Component::Apiserver => {
            let etcd = opts.etcd.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "serve apiserver: --etcd https://HOST:PORT is required (where Charlie listens)"
                )
            })?;
            let listener = start::bind("apiserver", wanted).await?;
            let addr = start::local_addr("apiserver", wanted, &listener)?;
            let (_, task) =
                start::apiserver(&lab, listener, &etcd, &opts.clock, &events, &shutdown, None)
                    .await?;
            say!("apiserver (Alice, the front door) serves https://{addr}, storing in {etcd}");
            task
        }
        Component::Scheduler => {
            let apiserver = apiserver_url(&lab, "scheduler.conf", opts.apiserver.as_deref())?;
            let listener = start::bind("scheduler", wanted).await?;
            let addr = start::local_addr("scheduler", wanted, &listener)?;
            let desk = start::Desk::new(&lab, &apiserver, &opts.clock, &events, &shutdown);
            let secure = start::scheduler_secure(desk, listener)?;
            let task = start::scheduler(desk)?;
            say!("scheduler (Bob) watches pending pods at {apiserver} with scheduler.conf; /healthz on https://{addr}");
            tokio::spawn(async move {
                let _ = secure.await;
            });
            task
        }
        Component::Kubelet => {
            let node = kubecorp_office::control_plane_node(&lab, opts.node_name.clone());
            let kubeconfig = start::node_kubeconfig(&lab, &node, &opts.clock)?;
            let apiserver = match opts.apiserver.clone() {
                Some(url) => url,
                None => {
                    let config = kubecorp_pki::kubeconfig::Kubeconfig::read(&kubeconfig)?;
                    config.credentials(&kubeconfig)?.server
                }
            };
            let listener = start::bind("kubelet", wanted).await?;
            let addr = start::local_addr("kubelet", wanted, &listener)?;
            let role =
                match kubecorp_office::kubelet_conf_node(&lab).as_deref() == Some(node.as_str()) {
                    true => start::NodeRole::ControlPlane { tainted: false },
                    false => start::NodeRole::Worker,
                };
            let desk = start::Desk::new(&lab, &apiserver, &opts.clock, &events, &shutdown);
            let task =
                start::kubelet(desk, &node, role, listener, opts.rotate_server_certificates)?;
            say!("kubelet (the CEO) for node {node} serves https://{addr} and reports to {apiserver} with {}", kubeconfig.display());
            task
        }
        Component::KubeProxy => {
            let apiserver = apiserver_url(&lab, "kube-proxy.conf", opts.apiserver.as_deref())?;
            let listener = start::bind("kube-proxy", wanted).await?;
            let addr = start::local_addr("kube-proxy", wanted, &listener)?;
            let node = kubecorp_office::control_plane_node(&lab, None);
            // In a process of its own Dave cannot be handed a token: he uses kube-proxy.conf.
            let desk = start::Desk::new(&lab, &apiserver, &opts.clock, &events, &shutdown);
            let task = start::kube_proxy(desk, &node, Some(listener), None)?;
            say!("kube-proxy (Dave) watches services at {apiserver} with kube-proxy.conf; /healthz on http://{addr}");
            task
        }
        Component::ControllerManager => {
            let apiserver =
                apiserver_url(&lab, "controller-manager.conf", opts.apiserver.as_deref())?;
            let desk = start::Desk::new(&lab, &apiserver, &opts.clock, &events, &shutdown);
            let task = start::endpoints_controller(desk)?;
            say!("controller-manager (endpoints controller) watches services and pods at {apiserver}");
            task
        }
    };
    say!("Press Ctrl-C to stop {name}.\n");
    let mut task = task;
    tokio::select! {
        narrated = narrate_until_signal(&mut feed, opts.format, opts.quiet) => narrated?,
        _ = &mut task => {
            // It stopped by itself: tell what it said last, then leave.
            while let Ok(event) = feed.try_recv() {
                say!("{}", kubecorp_office::narrate::narrate(&event, false));
            }
            anyhow::bail!("{name} stopped by itself");
        }
    }
    say!("Stopping {name}.");
    stop.stop();
    let _ = task.await;
    Ok(())
}

/// Where a member of staff dials Alice: `--apiserver`, or the server its kubeconfig names.
fn apiserver_url(lab: &kubecorp_pki::Lab, kubeconfig: &str, given: Option<&str>) -> Result<String> {
    if let Some(url) = given {
        return Ok(url.to_owned());
    }
    let path = lab.kubeconfig_path(kubeconfig);
    let config = kubecorp_pki::kubeconfig::Kubeconfig::read(&path)?;
    Ok(config.credentials(&path)?.server)
}

/// Prints every event as it happens, until Ctrl-C or SIGTERM.
pub async fn narrate_until_signal(
    feed: &mut tokio::sync::broadcast::Receiver<kubecorp_trust::Event>,
    format: Format,
    quiet: bool,
) -> Result<()> {
    let color = crate::output::color();
    let interrupted = crate::stop::interrupted();
    tokio::pin!(interrupted);
    let mut seq = 0;
    loop {
        tokio::select! {
            signalled = &mut interrupted => { signalled?; break }
            event = feed.recv() => match event {
                Ok(event) if quiet && !kubecorp_office::narrate::worth_telling_quietly(&event) => {}
                Ok(event) => match format {
                    Format::Text => say!("{}", kubecorp_office::narrate::narrate(&event, color)),
                    Format::Json => {
                        seq += 1;
                        let body = Body::Event(EventRecord::new(event, false, None));
                        say!("{}", Record::new(seq, body).to_json())
                    }
                },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => say!("({n} events skipped)"),
                Err(_) => break,
            },
        }
    }
    Ok(())
}
