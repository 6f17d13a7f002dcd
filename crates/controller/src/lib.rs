//! The controller manager's endpoints and EndpointSlice controllers: for every Service with a
//! selector, an Endpoints object of the same name listing the pods behind it, and one
//! `discovery.k8s.io/v1` EndpointSlice ([`slices`]) saying the same, which kube-proxy reads.
//!
//! The controller lists and watches services, pods and endpoints ([`reflector`]). After every
//! change it works out, for each service with a `spec.selector`, the pods of its namespace whose
//! labels match: a pod with an IP whose `Ready` condition is `True` (or, with no conditions yet,
//! whose phase is `Running`) becomes an address, one with an IP that is not ready goes to
//! `notReadyAddresses`. The ports are the service's `targetPort`s (a number, a container port
//! name resolved in each pod, or the service port itself when absent). It then creates the
//! Endpoints, replaces it when it changed (a 409 means someone wrote first: read it again and
//! retry), or deletes it when the service is gone. It does the same for the service's
//! EndpointSlice (`<service>-<5 characters>`, labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`), whose endpoints
//! carry `ready`/`serving`/`terminating` conditions. kube-proxy (Dave) turns the slices'
//! ready endpoints into rules.
//!
//! # Which identity writes the Endpoints
//!
//! kube-controller-manager on a kubeadm cluster runs with `--use-service-account-credentials`:
//! each controller calls the apiserver with its own service-account token. The endpoints
//! controller is `system:serviceaccount:kube-system:endpoint-controller`, bound to the ClusterRole
//! `system:controller:endpoint-controller` (get/list/create/update/delete endpoints). The
//! controller manager's own user, `system:kube-controller-manager` (`controller-manager.conf`),
//! may only create endpoints and update the one named `kube-controller-manager`.
//!
//! The lab's controller manager runs without `--use-service-account-credentials`: this
//! controller dials with `controller-manager.conf`; the lab's RBAC adds the ClusterRoleBinding
//! `kubecorp:endpoint-controller`, which gives that user the real
//! `system:controller:endpoint-controller` role, as a controller manager started without
//! `--use-service-account-credentials` needs. The EndpointSlice controller's role,
//! `system:controller:endpointslice-controller`, reaches the same user through
//! `kubecorp:endpointslice-controller`. The controller says so once when it starts.
//!
//! [`node_lifecycle`] is the node lifecycle controller: it marks a silent node `Unknown`
//! (NotReady), taints it `node.kubernetes.io/unreachable`, and undoes both when the kubelet
//! is back (`system:controller:node-controller`, reached through `kubecorp:node-controller`).
//!
//! [`clusterrole_aggregation`] writes into `admin`, `edit` and `view` the rules of the
//! ClusterRoles labelled `rbac.authorization.k8s.io/aggregate-to-*`, as its own service account.
//!
//! [`deployment`] and [`replicaset`] run Deployments: a ReplicaSet per pod template, pods per
//! ReplicaSet, and the status `kubectl rollout status` reads. They call Alice the way kubeadm's
//! controller manager makes its controllers call her, each as its own service account
//! ([`credentials`]: `system:serviceaccount:kube-system:deployment-controller`, …);
//! [`workload`] holds what they share, `owners` the round they run and how they tell what they
//! did, `workers` how they start and report.
#![forbid(unsafe_code)]

pub mod clusterrole_aggregation;
pub mod credentials;
pub mod deployment;
pub mod endpoints;
pub mod node_lifecycle;
mod owners;
pub mod replicaset;
pub mod slices;
mod workers;
pub mod workload;

pub use workers::WorkerConfig;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use kubecorp_client::klog;
use kubecorp_client::{ClientError, KubeClient};
use kubecorp_trust::{Event, Stage};
use serde_json::Value;

use kubecorp_client::klog::{Backoff, Severity};
use kubecorp_client::reflector::{Failure, ENDPOINTS, PODS, SERVICES, SLICES};

/// The badge the controller dials with, named in explanations.
pub const BADGE: klog::Badge = klog::Badge {
    file: "controller-manager.conf",
    renew: "`kubeadm certs renew controller-manager.conf`; in the lab `kubecorp certs renew controller-manager.conf` or `kubecorp break --undo controller-manager.conf`",
};

/// The lab's word on the controller's identity, emitted once at start.
pub const IDENTITY_NOTE: &str = "On a kubeadm cluster kube-controller-manager runs with --use-service-account-credentials, so the endpoints controller writes as system:serviceaccount:kube-system:endpoint-controller (ClusterRole system:controller:endpoint-controller). The lab's controller manager runs without --use-service-account-credentials, so the controller dials with controller-manager.conf (CN=system:kube-controller-manager), and the lab's ClusterRoleBinding kubecorp:endpoint-controller grants that user the same role, as a controller manager started without --use-service-account-credentials needs; kubecorp:endpointslice-controller does the same for system:controller:endpointslice-controller, which writes the EndpointSlices.";

/// What the controller needs: a client with `controller-manager.conf`'s badge, the lab clock
/// and the events.
///
/// Events are emitted as `client.component()`; the office names the client `controller-manager`.
pub type EndpointsControllerConfig = kubecorp_client::StaffConfig;

/// Why a round stopped.
#[derive(Debug)]
enum RoundError {
    Reflector(Failure),
    Sync { service: String, error: ClientError },
}

/// A failed list or watch ends the round; `?` says so.
impl From<Failure> for RoundError {
    fn from(failure: Failure) -> Self {
        RoundError::Reflector(failure)
    }
}

/// Keeps Endpoints in step with services and pods until `shutdown` completes. Failures are
/// retried, never returned.
pub async fn run(config: EndpointsControllerConfig, shutdown: impl Future) {
    let at = config.clock.now();
    config.events.emit(
        Event::new(at, config.client.component(), "apiserver", Stage::Request)
            .allowed(true)
            .identity(config.client.identity())
            // `Run` in pkg/controller/endpoint/endpoints_controller.go at v1.32:
            // `logger.Info("Starting endpoint controller")` on line 182 (the file as of
            // 856475e5, September 2024, in the 1.32 cycle, after the typed work queue and the
            // stale-endpoints tracker). kube-controller-manager names each controller's logger
            // (`logger="endpoints-controller"`, klog puts it first after the message); the older
            // unquoted `endpoints_controller.go:172] Starting endpoint controller` is 1.28's.
            .caller_log(klog::line(
                Severity::Info,
                at,
                "endpoints_controller.go:182",
                &klog::structured(
                    "Starting endpoint controller",
                    &[("logger", "endpoints-controller")],
                ),
            ))
            .explanation(IDENTITY_NOTE)
            .detail(format!(
                "endpoints controller dialling {} with controller-manager.conf",
                config.client.server()
            )),
    );
    let mut controller = Controller {
        config,
        services: BTreeMap::new(),
        pods: BTreeMap::new(),
        endpoints: BTreeMap::new(),
        slices: BTreeMap::new(),
        managed: BTreeSet::new(),
    };
    kubecorp_client::reflector::run_rounds(&mut controller, shutdown).await;
}

impl kubecorp_client::reflector::Rounds for Controller {
    type Error = RoundError;

    async fn round(&mut self, backoff: &mut Backoff) -> Result<(), RoundError> {
        let client = self.config.client.clone();
        let (services, services_rv) = SERVICES.list(&client).await?;
        let (pods, pods_rv) = PODS.list(&client).await?;
        let (endpoints, endpoints_rv) = ENDPOINTS.list(&client).await?;
        let (slices, slices_rv) = SLICES.list(&client).await?;
        self.services = services;
        self.pods = pods;
        self.endpoints = endpoints;
        self.slices = slices;
        // After a relist, every service with a selector is ours to keep.
        self.managed = self
            .services
            .iter()
            .filter(|(_, s)| endpoints::selector(s).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        backoff.reset();
        self.sync_all().await?;
        let mut service_watch = SERVICES.watch(&client, &services_rv).await?;
        let mut pod_watch = PODS.watch(&client, &pods_rv).await?;
        let mut endpoints_watch = ENDPOINTS.watch(&client, &endpoints_rv).await?;
        let mut slices_watch = SLICES.watch(&client, &slices_rv).await?;
        loop {
            let changed = tokio::select! {
                changed = service_watch.apply_next(&mut self.services) => changed,
                changed = pod_watch.apply_next(&mut self.pods) => changed,
                // Our own writes come back here; they only refresh the cache.
                seen = endpoints_watch.apply_next(&mut self.endpoints) => seen.map(|_| false),
                seen = slices_watch.apply_next(&mut self.slices) => seen.map(|_| false),
            };
            let Some(changed) = changed else {
                return Ok(());
            };
            if changed {
                self.sync_all().await?;
            }
        }
    }

    fn report(&mut self, error: &RoundError) {
        let config = &self.config;
        let event = match error {
            RoundError::Reflector(failure) => failure.event(&config.client, &config.clock, BADGE),
            RoundError::Sync { service, error } => {
                let at = config.clock.now();
                let (namespace, name) = service.split_once('/').unwrap_or(("", service));
                let path = format!("/api/v1/namespaces/{namespace}/endpoints/{name}");
                let go = klog::go_error(&config.client, "Put", &path, error);
                // handleErr's `logger.V(2).Info("Error syncing endpoints, retrying", …)`, line
                // 353 of endpoints_controller.go at v1.32 (printed from --v=2 up); the logger's
                // name comes first, as in real kube-controller-manager logs.
                let log = klog::line(
                    Severity::Info,
                    at,
                    "endpoints_controller.go:353",
                    &klog::structured(
                        "Error syncing endpoints, retrying",
                        &[
                            ("logger", "endpoints-controller"),
                            ("service", service),
                            ("err", &go),
                        ],
                    ),
                );
                klog::failed_call(&config.client, at, BADGE, error)
                    .client_text(go)
                    .caller_log(log)
                    .detail(format!(
                        "syncing the endpoints of {service} failed: {error}"
                    ))
            }
        };
        config.events.emit(event);
    }
}

struct Controller {
    config: EndpointsControllerConfig,
    services: BTreeMap<String, Value>,
    pods: BTreeMap<String, Value>,
    endpoints: BTreeMap<String, Value>,
    /// EndpointSlices by `namespace/name` (the slice's own name).
    slices: BTreeMap<String, Value>,
    /// Services with a selector whose Endpoints this controller keeps.
    managed: BTreeSet<String>,
}

impl Controller {
    /// Brings every managed service's Endpoints in line, and deletes those of services gone.
    async fn sync_all(&mut self) -> Result<(), RoundError> {
        let keys: Vec<String> = self.services.keys().cloned().collect();
        for key in keys {
            self.sync(&key).await.map_err(|error| RoundError::Sync {
                service: key.clone(),
                error,
            })?;
        }
        let gone: Vec<String> = self
            .managed
            .iter()
            .filter(|k| !self.services.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            self.delete(&key).await.map_err(|error| RoundError::Sync {
                service: key.clone(),
                error,
            })?;
            self.managed.remove(&key);
        }
        Ok(())
    }

    async fn sync(&mut self, key: &str) -> Result<(), ClientError> {
        let Some(service) = self.services.get(key) else {
            return Ok(());
        };
        let Some(selector) = endpoints::selector(service) else {
            // No selector: someone else keeps these Endpoints (the apiserver, for
            // default/kubernetes), and the controller leaves them alone.
            return Ok(());
        };
        self.managed.insert(key.to_owned());
        let Some((namespace, name)) = key.split_once('/') else {
            return Ok(());
        };
        let pods: Vec<&Value> = self
            .pods
            .values()
            .filter(|p| p["metadata"]["namespace"].as_str() == Some(namespace))
            .collect();
        let desired = endpoints::desired(service, &pods);
        let slice = self.slice_of(namespace, name).map(|(k, _)| k);
        let slice_name = slice
            .as_deref()
            .and_then(|k| k.split_once('/'))
            .map_or_else(|| slices::name(service), |(_, n)| n.to_owned());
        let desired_slice = slices::desired(service, &desired, &slice_name);
        self.sync_endpoints(key, &selector, desired).await?;
        self.sync_slice(namespace, &slice_name, desired_slice).await
    }

    /// The slice this controller keeps for `namespace/name`, if the cache has one.
    fn slice_of(&self, namespace: &str, name: &str) -> Option<(String, &Value)> {
        self.slices
            .iter()
            .find(|(k, v)| {
                k.split_once('/').map(|(ns, _)| ns) == Some(namespace)
                    && slices::belongs_to(v, name)
            })
            .map(|(k, v)| (k.clone(), v))
    }

    async fn sync_slice(
        &mut self,
        namespace: &str,
        slice_name: &str,
        desired: Value,
    ) -> Result<(), ClientError> {
        let key = format!("{namespace}/{slice_name}");
        let cached = self.slices.get(&key);
        let Some(written) = keep(&self.config.client, &SLICE_KEPT, &key, cached, &desired).await?
        else {
            return Ok(());
        };
        let summary = slices::summary(&written);
        self.slices.insert(key.clone(), written);
        self.wrote(
            "The EndpointSlice controller keeps one discovery.k8s.io/v1 EndpointSlice per service, labelled kubernetes.io/service-name; kube-proxy 1.32 reads these, not the Endpoints.",
            format!("endpointslice {key}: {summary}"),
        );
        Ok(())
    }

    async fn sync_endpoints(
        &mut self,
        key: &str,
        selector: &BTreeMap<String, String>,
        desired: Value,
    ) -> Result<(), ClientError> {
        let Some((namespace, _)) = key.split_once('/') else {
            return Ok(());
        };
        let cached = self.endpoints.get(key);
        let Some(written) =
            keep(&self.config.client, &ENDPOINTS_KEPT, key, cached, &desired).await?
        else {
            return Ok(());
        };
        let summary = endpoints::summary(&written);
        self.endpoints.insert(key.to_owned(), written);
        let selector_text: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.wrote(
            format!(
                "The endpoints controller matched the pods of {namespace} with {}: ready pods with an IP become addresses, the others wait in notReadyAddresses. kube-proxy routes the service's cluster IP to the addresses.",
                selector_text.join(",")
            ),
            format!("endpoints {key}: {summary}"),
        );
        Ok(())
    }

    /// Tells that the controller's call to Alice went through: what it did, and why.
    fn wrote(&self, explanation: impl Into<String>, detail: String) {
        let config = &self.config;
        config.events.emit(
            klog::allowed_call(&config.client, config.clock.now())
                .explanation(explanation)
                .detail(detail),
        );
    }

    /// Deletes `path`; one already gone is as good.
    async fn delete_if_present(&self, path: &str) -> Result<(), ClientError> {
        match self.config.client.delete(path).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete(&mut self, key: &str) -> Result<(), ClientError> {
        let Some((namespace, name)) = key.split_once('/') else {
            return Ok(());
        };
        // Real clusters leave this to the garbage collector (the slice's ownerReference);
        // the lab has none, so the controller deletes its slice itself.
        if let Some((slice_key, _)) = self.slice_of(namespace, name) {
            let slice_name = slice_key.split_once('/').map_or("", |(_, n)| n);
            self.delete_if_present(&format!(
                "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{slice_name}"
            ))
            .await?;
            self.slices.remove(&slice_key);
            self.wrote(
                "The service is gone, so its EndpointSlice goes too (on a real cluster the garbage collector follows the slice's ownerReference).",
                format!("endpointslice {slice_key}: deleted with its service"),
            );
        }
        if !self.endpoints.contains_key(key) {
            return Ok(());
        }
        self.delete_if_present(&format!("/api/v1/namespaces/{namespace}/endpoints/{name}"))
            .await?;
        self.endpoints.remove(key);
        self.wrote(
            "The service is gone, so the endpoints controller deletes its Endpoints.",
            format!("endpoints {key}: deleted with its service"),
        );
        Ok(())
    }
}

/// One kind of object the controller keeps, one per service: where a namespace's objects of
/// the kind live, whether a stored one already says what is wanted, and how the stored
/// object's metadata carries over to what is written.
struct Kept {
    collection: fn(&str) -> String,
    same: fn(&Value, &Value) -> bool,
    updated: fn(&Value, &Value) -> Value,
}

/// The service's Endpoints, under the service's own name.
const ENDPOINTS_KEPT: Kept = Kept {
    collection: |namespace| format!("/api/v1/namespaces/{namespace}/endpoints"),
    same: endpoints::same,
    updated: endpoints::updated,
};

/// The service's EndpointSlice, `<service>-<5 characters>`.
const SLICE_KEPT: Kept = Kept {
    collection: |namespace| {
        format!("/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices")
    },
    same: slices::same,
    updated: slices::updated,
};

/// Brings the object at `key` (`namespace/name`) to `desired` unless `cached` already says the
/// same: what was written, or `None` when nothing needed writing.
async fn keep(
    client: &KubeClient,
    kept: &Kept,
    key: &str,
    cached: Option<&Value>,
    desired: &Value,
) -> Result<Option<Value>, ClientError> {
    if cached.is_some_and(|c| (kept.same)(c, desired)) {
        return Ok(None);
    }
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let collection = (kept.collection)(namespace);
    let item = format!("{collection}/{name}");
    write_through(client, &collection, &item, cached, desired, kept.updated)
        .await
        .map(Some)
}

/// Writes `desired` at `item` (in `collection`) the way a controller keeps an object it owns:
/// created when its cache has none (or, if someone created it meanwhile, replaced), replaced
/// when it has one; on a 409 the object is read again and replaced once, on a 404 created again.
/// `updated(stored, desired)` carries the stored object's metadata over to what is written.
async fn write_through(
    client: &KubeClient,
    collection: &str,
    item: &str,
    cached: Option<&Value>,
    desired: &Value,
    updated: fn(&Value, &Value) -> Value,
) -> Result<Value, ClientError> {
    let written = match cached {
        None => client.create(collection, desired).await,
        Some(current) => client.replace(item, &updated(current, desired)).await,
    };
    match written {
        // Someone wrote since our cache saw it: read it again and retry once.
        Err(e) if e.code() == Some(409) => {
            let fresh = client.get(item).await?;
            client.replace(item, &updated(&fresh, desired)).await
        }
        // Deleted behind our back: create it again.
        Err(e) if e.code() == Some(404) && cached.is_some() => {
            client.create(collection, desired).await
        }
        other => other,
    }
}
