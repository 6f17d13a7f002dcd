//! Dave, kube-proxy: watches Services and EndpointSlices and says which iptables rules he would
//! program for each, on one node.
//!
//! Dave lists and watches `/api/v1/services` and `/apis/discovery.k8s.io/v1/endpointslices`
//! ([`reflector`]), as kube-proxy 1.32 does, grouping the slices by their
//! `kubernetes.io/service-name` label; an endpoint counts when its `ready` condition is not
//! `false`. After
//! every change, works out the rules kube-proxy's iptables mode writes for each service
//! ([`iptables`]): a jump from `KUBE-SERVICES` to `KUBE-SVC-<hash>` for the cluster IP, one
//! `KUBE-SEP-<hash>` DNAT chain per ready endpoint, or a REJECT when there is none. The lab does
//! not touch the host's netfilter; each service whose rules changed becomes one event, e.g.
//! `KUBE-SVC-… default/web 10.96.0.10:80/TCP → 10.244.0.5:80`. Dave never reads the older
//! Endpoints objects, though `system:node-proxier` still lets him.
//!
//! Dave also answers plain-HTTP `/healthz` ([`health`]) as kube-proxy does on port 10256.
//!
//! # Where the lab differs from kubeadm: Dave's badge
//!
//! On a kubeadm cluster kube-proxy has **no client certificate**. It runs as a DaemonSet with
//! `serviceAccountName: kube-proxy`, and its kubeconfig (ConfigMap `kube-system/kube-proxy`, key
//! `kubeconfig.conf`, mounted at `/var/lib/kube-proxy/kubeconfig.conf`) points at the pod's
//! service-account token (`tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token`).
//! Alice knows it as `system:serviceaccount:kube-system:kube-proxy`, which kubeadm binds to the
//! ClusterRole `system:node-proxier` (binding `kubeadm:node-proxier`). The office does the
//! same ([`Credential::ServiceAccountToken`]); with [`Credential::ClientCertificate`] Dave dials
//! with `kube-proxy.conf` instead: a client certificate with `CN=system:kube-proxy`, the user the
//! bootstrap binding `system:node-proxier` names (the way "Kubernetes the Hard Way" does it).
//! Same rights, different credential; Dave says which once when he starts.
#![forbid(unsafe_code)]

pub mod health;
pub mod iptables;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

use kubecorp_client::klog;
use kubecorp_client::KubeClient;
use kubecorp_trust::{Event, Events, LabClock, Stage};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use kubecorp_client::klog::{Backoff, Severity};
use kubecorp_client::reflector::{Failure, SERVICES, SLICES};

/// Where kube-proxy serves `/healthz` on a real node (`--healthz-bind-address=0.0.0.0:10256`).
/// The office binds loopback port 0 instead, as every lab listener does.
pub const HEALTHZ_PORT: u16 = 10256;

/// The badge Dave dials with, named in explanations.
pub const BADGE: klog::Badge = klog::Badge {
    file: "kube-proxy.conf",
    renew: "in the lab `kubecorp certs renew kube-proxy.conf` or `kubecorp break --undo kube-proxy.conf`; a kubeadm cluster has no such file, its kube-proxy uses a service-account token the kubelet refreshes",
};

/// The lab's word on Dave's credential, emitted once at start.
pub const CREDENTIAL_NOTE: &str = "On a kubeadm cluster kube-proxy authenticates with a service-account token (ConfigMap kube-system/kube-proxy, kubeconfig.conf at /var/lib/kube-proxy/kubeconfig.conf with tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token), as system:serviceaccount:kube-system:kube-proxy, bound to system:node-proxier by kubeadm:node-proxier. This lab runs the Hard Way variant instead: Dave uses kube-proxy.conf, a client certificate with CN=system:kube-proxy, the user the bootstrap binding system:node-proxier names. Same rights, different credential.";

/// What Dave says when he dials with his service-account token, kubeadm's way.
pub const TOKEN_NOTE: &str = "As on a kubeadm cluster, kube-proxy shows no badge: it sends its service-account token (a JWT signed with sa.key, kept fresh the way the kubelet refreshes a projected token) and Alice knows it as system:serviceaccount:kube-system:kube-proxy, bound to system:node-proxier by kubeadm:node-proxier. `kubecorp up --kube-proxy-client-certificate` shows the Hard Way variant instead: kube-proxy.conf, a client certificate with CN=system:kube-proxy.";

/// How Dave proves who he is to Alice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// kubeadm's way: the `kube-system/kube-proxy` service-account token.
    ServiceAccountToken,
    /// The Hard Way: `kube-proxy.conf`, a client certificate with `CN=system:kube-proxy`.
    ClientCertificate,
}

/// What Dave needs: a client (with his token or `kube-proxy.conf`'s badge), how it proves
/// who he is, the lab clock, the events, the node he runs on, and (optionally) the listener for
/// `/healthz`.
///
/// Events are emitted as `client.component()`; the office names the client `kube-proxy`.
#[derive(Debug)]
pub struct ProxyConfig {
    pub client: KubeClient,
    pub clock: LabClock,
    pub events: Events,
    pub node_name: String,
    pub credential: Credential,
    /// Plain-HTTP `/healthz` (`0.0.0.0:10256` on a real node; loopback in the lab).
    pub healthz: Option<TcpListener>,
}

/// Proxies (in words) until `shutdown` completes. Failures are retried, never returned.
pub async fn run(config: ProxyConfig, shutdown: impl Future) {
    let ProxyConfig {
        client,
        clock,
        events,
        node_name,
        credential,
        healthz,
    } = config;
    let (stop, stopped) = watch::channel(false);
    let healthz_addr = healthz.as_ref().and_then(|l| l.local_addr().ok());
    let health_task = healthz.map(|listener| {
        let health = health::Health {
            clock: clock.clone(),
            started: Instant::now(),
        };
        let mut stopped = stopped.clone();
        tokio::spawn(health::serve(listener, health, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }))
    });

    let at = clock.now();
    let healthz_text = healthz_addr
        .map(|a| format!("http://{a}/healthz"))
        .unwrap_or_else(|| "no /healthz".into());
    events.emit(
        Event::new(at, client.component(), "apiserver", Stage::Request)
            .allowed(true)
            .identity(client.identity())
            // Verified text: kube-proxy 1.31/1.32 start-up log.
            .caller_log(klog::line(
                Severity::Info,
                at,
                "server_linux.go:66",
                "\"Using iptables proxy\"",
            ))
            .explanation(match credential {
                Credential::ServiceAccountToken => TOKEN_NOTE,
                Credential::ClientCertificate => CREDENTIAL_NOTE,
            })
            .detail(format!(
                "kube-proxy on node {node_name}: iptables mode, {healthz_text}, dialling {} with {}",
                client.server(),
                match credential {
                    Credential::ServiceAccountToken => "its service-account token (system:serviceaccount:kube-system:kube-proxy)",
                    Credential::ClientCertificate => "kube-proxy.conf (CN=system:kube-proxy)",
                }
            )),
    );

    let mut dave = Proxy {
        client,
        clock,
        events,
        services: BTreeMap::new(),
        slices: BTreeMap::new(),
        narrated: BTreeMap::new(),
    };
    kubecorp_client::reflector::run_rounds(&mut dave, shutdown).await;
    let _ = stop.send(true);
    if let Some(task) = health_task {
        let _ = task.await;
    }
}

impl kubecorp_client::reflector::Rounds for Proxy {
    type Error = Failure;

    async fn round(&mut self, backoff: &mut Backoff) -> Result<(), Failure> {
        let client = self.client.clone();
        let (services, services_rv) = SERVICES.list(&client).await?;
        let (slices, slices_rv) = SLICES.list(&client).await?;
        self.services = services;
        self.slices = slices;
        backoff.reset();
        self.narrate();
        let mut service_watch = SERVICES.watch(&client, &services_rv).await?;
        let mut slices_watch = SLICES.watch(&client, &slices_rv).await?;
        loop {
            let changed = tokio::select! {
                changed = service_watch.apply_next(&mut self.services) => changed,
                changed = slices_watch.apply_next(&mut self.slices) => changed,
            };
            let Some(changed) = changed else {
                return Ok(());
            };
            if changed {
                self.narrate();
            }
        }
    }

    fn report(&mut self, failure: &Failure) {
        self.events
            .emit(failure.event(&self.client, &self.clock, BADGE));
    }
}

struct Proxy {
    client: KubeClient,
    clock: LabClock,
    events: Events,
    services: BTreeMap<String, Value>,
    /// EndpointSlices by their own `namespace/name`.
    slices: BTreeMap<String, Value>,
    /// The summary last told for each service, so only changes are narrated.
    narrated: BTreeMap<String, String>,
}

impl Proxy {
    /// One event per service whose rules changed since last told.
    fn narrate(&mut self) {
        let mut now: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut by_service: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for (key, slice) in &self.slices {
            let (Some((namespace, _)), Some(service)) = (
                key.split_once('/'),
                slice["metadata"]["labels"][iptables::SERVICE_NAME_LABEL].as_str(),
            ) else {
                continue;
            };
            by_service
                .entry(format!("{namespace}/{service}"))
                .or_default()
                .push(slice);
        }
        for (key, service) in &self.services {
            let slices = by_service.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let ports = iptables::service_rules(service, slices);
            if ports.is_empty() {
                continue;
            }
            let summary: Vec<String> = ports.iter().map(|p| p.summary()).collect();
            let rules: Vec<String> = ports.iter().flat_map(|p| p.rules()).collect();
            now.insert(key.clone(), (summary.join("; "), rules.join("\n")));
        }
        for (key, (summary, rules)) in &now {
            if self.narrated.get(key) == Some(summary) {
                continue;
            }
            self.events.emit(
                klog::allowed_call(&self.client, self.clock.now())
                    .explanation(format!(
                        "Dave would program these rules for {key} (as `iptables-save -t nat` shows them; the lab leaves the host's netfilter alone):\n{rules}"
                    ))
                    .detail(summary.clone()),
            );
        }
        for key in self.narrated.keys() {
            if !now.contains_key(key) {
                self.events.emit(
                    klog::allowed_call(&self.client, self.clock.now())
                        .explanation(format!(
                            "{key} is gone (or has no cluster IP): Dave removes its KUBE-SVC and KUBE-SEP chains."
                        ))
                        .detail(format!("removed the rules of {key}")),
                );
            }
        }
        self.narrated = now.into_iter().map(|(k, (s, _))| (k, s)).collect();
    }
}
