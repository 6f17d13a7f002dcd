//! Alice's desk work once a visitor is known: authorize the request, then read or write the files.
//!
//! [`Api::handle`] takes a request whose user is already authenticated and answers it the way
//! kube-apiserver does: the authorizer chain first (privileged group, Node, RBAC), then the
//! REST verbs on the stored objects, with Kubernetes' Status bodies for every refusal. It is a
//! plain async function, so tests drive it without a socket.
//!
//! # Layout
//!
//! This file holds the request and answer types, the desk's state, its bootstrap and the
//! dispatch by verb and subresource; each job has a room of its own: `authz` (the RBAC
//! objects and the authorizer chain), `health` (the paths that are not resources), `read`
//! (get, list, watch), `create`, `write` (update, patch, binding, delete, and the watch
//! cache's one door), `approval` (a CSR approved and signed), `review` (the reviews and
//! TokenRequest), `scale` and `selectors`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kubecorp_pki::issue::Ca;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

use crate::meta::{meta_str, new_uid};
use crate::pod_log::KubeletClientConfig;
use crate::rbac::{self, Attributes, Decision};
use crate::registry::{self, Resource};
use crate::request::{self, RequestInfo};
use crate::service_accounts::Bearer;
use crate::status;
use crate::store::{Store, StoreError, Stored};
use crate::tokens::TokenKeys;
use crate::user::UserInfo;
use crate::watch::{WatchCache, WatchStream};

mod approval;
mod authz;
mod create;
mod health;
mod read;
mod review;
mod scale;
mod selectors;
mod write;

pub use authz::attributes;
use authz::RbacCache;
pub use selectors::Selectors;

/// Kubernetes refuses request bodies over 3 MiB.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

const JSON: &str = "application/json";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// A request as the desk sees it: who asks, and what.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub accept: String,
    pub content_type: String,
    pub body: Bytes,
    pub user: UserInfo,
}

impl ApiRequest {
    /// A JSON request, as tests and the lab's own components send them.
    pub fn json(
        user: &UserInfo,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> ApiRequest {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        ApiRequest {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            accept: JSON.into(),
            content_type: JSON.into(),
            body: body.map(|b| Bytes::from(b.to_string())).unwrap_or_default(),
            user: user.clone(),
        }
    }
}

/// What the desk answers.
pub enum ApiResponse {
    Full {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// A `?watch=true` stream, served from the watch cache (see [`crate::watch`]).
    Watch(Box<WatchStream>),
}

impl std::fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiResponse::Full { status, body, .. } => {
                write!(f, "{status} {}", String::from_utf8_lossy(body))
            }
            ApiResponse::Watch(stream) => write!(f, "{stream:?}"),
        }
    }
}

impl ApiResponse {
    fn json(status: u16, body: &Value) -> ApiResponse {
        ApiResponse::Full {
            status,
            content_type: JSON.into(),
            body: body.to_string().into_bytes(),
        }
    }

    fn status((code, body): (u16, String)) -> ApiResponse {
        ApiResponse::Full {
            status: code,
            content_type: JSON.into(),
            body: body.into_bytes(),
        }
    }

    fn text(status: u16, body: &str) -> ApiResponse {
        ApiResponse::Full {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiResponse::Full { status, .. } => *status,
            ApiResponse::Watch(_) => 200,
        }
    }

    /// The body as JSON (tests).
    pub fn body_json(&self) -> Value {
        match self {
            ApiResponse::Full { body, .. } => serde_json::from_slice(body).unwrap_or(Value::Null),
            ApiResponse::Watch(_) => Value::Null,
        }
    }
}

/// The authorization decision made for a request, for the event stream.
#[derive(Debug, Clone)]
pub struct AuthzOutcome {
    pub attributes: Attributes,
    pub decision: Decision,
    /// What Alice logs while answering (a failed health check's reason, kept out of the body).
    pub log: Option<String>,
}

/// The apiserver's state: the store, the clock, the signer and the watchers.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: LabClock,
    /// The recent changes every watch is served from; [`Api::publish`] is its one door.
    watch_cache: Arc<WatchCache>,
    /// Held from a write to the store until its change is in the watch cache, so changes enter
    /// it in revision order (etcd's watch gives the real cacher that order), and held while a
    /// watch lists its initial objects, so the list and the cache stand at the same revision.
    writes: tokio::sync::Mutex<()>,
    /// The cluster CA's certificate and key: the CSR signer kube-controller-manager runs.
    signer: Option<Ca>,
    /// When the health checks last read from etcd, and what came of it.
    etcd_checked: Mutex<Option<(std::time::Instant, Option<String>)>>,
    /// The RBAC objects as last read from the store, shared by every request until a write to
    /// them (see [`Api::invalidate_rbac`]).
    rbac: Mutex<RbacCache>,
    /// The badge shown to kubelets for `kubectl logs` (see [`crate::pod_log`]).
    kubelet_client: Mutex<Option<KubeletClientConfig>>,
    /// `sa.key`/`sa.pub`: what signs and checks service-account tokens (see [`crate::tokens`]).
    service_account_keys: Mutex<Option<TokenKeys>>,
    /// Held from picking a Service's cluster IP until the Service is stored, so two creates
    /// cannot take the same address (the real allocator reserves it in its own registry).
    service_ips: tokio::sync::Mutex<()>,
    /// kube-aggregator's proxy badge and each APIService's last check (see [`crate::aggregator`]).
    aggregator: crate::aggregator::State,
}

/// How many bootstrap writes are under way at once.
const BOOTSTRAP_WRITERS: usize = 8;

/// How often a bootstrap write the vault did not answer is tried ([`StoreError::unanswered`]:
/// no answer in time, or the connection broke; a refused badge is not tried again).
const BOOTSTRAP_TRIES: u64 = 3;

impl Api {
    pub fn new(store: Store, clock: LabClock, signer: Option<Ca>) -> Api {
        Api {
            inner: Arc::new(Inner {
                store,
                clock,
                watch_cache: Arc::new(WatchCache::default()),
                writes: tokio::sync::Mutex::new(()),
                signer,
                rbac: Mutex::new(RbacCache::default()),
                etcd_checked: Mutex::new(None),
                kubelet_client: Mutex::new(None),
                service_account_keys: Mutex::new(None),
                service_ips: tokio::sync::Mutex::new(()),
                aggregator: Default::default(),
            }),
        }
    }

    /// `--kubelet-client-certificate`/`--kubelet-client-key`: what Alice shows a kubelet when
    /// she fetches `pods/log` (kubeadm: `apiserver-kubelet-client`). Without it, `kubectl logs`
    /// answers 500.
    /// `--proxy-client-cert-file`: the badge shown to extension servers (see
    /// [`crate::aggregator`]).
    pub fn with_proxy_client(self, client: crate::aggregator::ProxyClientConfig) -> Api {
        self.inner.aggregator.set_proxy_client(client);
        self
    }

    pub(crate) fn aggregator(&self) -> &crate::aggregator::State {
        &self.inner.aggregator
    }

    pub fn with_kubelet_client(self, client: KubeletClientConfig) -> Api {
        self.set_kubelet_client(Some(client));
        self
    }

    /// Sets (or clears) the kubelet client badge of a running apiserver; clones share it.
    pub fn set_kubelet_client(&self, client: Option<KubeletClientConfig>) {
        *self
            .inner
            .kubelet_client
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = client;
    }

    /// `--service-account-signing-key-file` and `--service-account-key-file`: without them no
    /// token is issued and a bearer token is never accepted.
    pub fn with_service_account_keys(self, keys: TokenKeys) -> Api {
        *self
            .inner
            .service_account_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(keys);
        self
    }

    /// The token keys, if the apiserver has them.
    pub fn service_account_keys(&self) -> Option<TokenKeys> {
        self.inner
            .service_account_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The bearer-token authenticator: what a token says, for the apiserver's own audience.
    pub async fn authenticate_token(&self, token: &str) -> Result<Bearer, StoreError> {
        match self.service_account_keys() {
            Some(keys) => {
                crate::service_accounts::authenticate(
                    &keys,
                    &self.inner.store,
                    token,
                    &[],
                    self.inner.clock.now(),
                )
                .await
            }
            None => Ok(Bearer::NotOurs),
        }
    }

    /// The watch cache (tests read and tune it: [`WatchCache::set_bookmark_period`],
    /// [`WatchCache::set_capacity`]).
    pub fn watch_cache(&self) -> &WatchCache {
        &self.inner.watch_cache
    }

    pub fn clock(&self) -> &LabClock {
        &self.inner.clock
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Writes what a fresh kubeadm cluster has: the four namespaces, the default RBAC policy,
    /// and the `kubernetes` service. Existing objects are kept.
    pub async fn bootstrap(&self) -> Result<(), StoreError> {
        let now = kubecorp_trust::gotime::rfc3339(self.inner.clock.now());
        let mut objects: Vec<Value> = ["default", "kube-system", "kube-public", "kube-node-lease"]
            .iter()
            .map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}))
            .collect();
        objects.extend(rbac::bootstrap_policy());
        objects.extend(crate::service_accounts::bootstrap_accounts());
        objects.push(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
        }));
        // Each write is a create-if-absent transaction (an existing object is kept), and they
        // go to etcd side by side: a start is as quick as the slowest write, not their sum. At
        // most BOOTSTRAP_WRITERS at once (some 130 objects share Alice's one connection, and a
        // busy vault answers each in turn), and a write the vault did not answer is tried again,
        // as kube-apiserver's bootstrap controllers retry until etcd answers. A refusal (her
        // badge refused in the handshake) ends the bootstrap at once: trying changes nothing.
        let writers = std::sync::Arc::new(tokio::sync::Semaphore::new(BOOTSTRAP_WRITERS));
        let mut writes = tokio::task::JoinSet::new();
        for mut obj in objects {
            let resource = resource_of(&obj).expect("bootstrap objects have known kinds");
            let ns = meta_str(&obj, "namespace").to_string();
            let key = resource.key(
                Some(&ns).filter(|n| !n.is_empty()).map(|s| s.as_str()),
                meta_str(&obj, "name"),
            );
            obj["metadata"]["uid"] = json!(new_uid());
            obj["metadata"]["creationTimestamp"] = json!(now);
            let store = self.inner.store.clone();
            let writers = writers.clone();
            writes.spawn(async move {
                let _turn = writers.acquire_owned().await;
                let mut tries = 1;
                loop {
                    match store.create(&key, &obj).await {
                        Err(e) if e.unanswered() && tries < BOOTSTRAP_TRIES => {
                            tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
                            tries += 1;
                        }
                        written => return written,
                    }
                }
            });
        }
        while let Some(written) = writes.join_next().await {
            match written {
                Ok(Ok(_)) | Ok(Err(StoreError::Exists(_))) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "a bootstrap write failed: {e}"
                    )))
                }
            }
        }
        self.invalidate_rbac();
        // The watch cache begins after the bootstrap writes, as the cacher begins after its list.
        self.begin_watch_cache().await
    }

    /// Begins the watch cache at the store's revision, unless it has begun.
    async fn begin_watch_cache(&self) -> Result<(), StoreError> {
        if self.inner.watch_cache.started() {
            return Ok(());
        }
        let _order = self.inner.writes.lock().await;
        if !self.inner.watch_cache.started() {
            let revision = self.inner.store.revision().await?;
            self.inner.watch_cache.begin_after(revision);
            self.inner.store.feed(&self.inner.watch_cache, revision);
        }
        Ok(())
    }

    /// Answers one authenticated request; also returns the authorization decision made.
    pub async fn handle(&self, req: ApiRequest) -> (ApiResponse, Option<AuthzOutcome>) {
        if req.body.len() > MAX_BODY {
            return (
                ApiResponse::status(status::request_entity_too_large()),
                None,
            );
        }
        let info = request::parse(&req.method, &req.path, &req.query);
        let attrs = attributes(&req.user, &info);
        let decision = match self.authorize(&attrs).await {
            Ok(d) => d,
            Err(e) => return (storage_error(e), None),
        };
        let mut outcome = AuthzOutcome {
            attributes: attrs.clone(),
            decision: decision.clone(),
            log: None,
        };
        if !decision.is_allowed() {
            return (
                ApiResponse::status(status::forbidden(&attrs, decision.reason())),
                Some(outcome),
            );
        }
        // A group another server answers for (an APIService): passed on, as kube-aggregator does.
        if let Some(target) = crate::aggregator::route(self, &info.path).await {
            return (self.proxy(&req, &target).await, Some(outcome));
        }
        let response = if info.resource_request {
            self.resource(&req, &info).await
        } else if let Some(answer) = self.health(&info.path, &req.query).await {
            outcome.log = answer.log;
            ApiResponse::text(answer.status, &answer.body)
        } else if info.path.trim_matches('/') == "apis" {
            self.extend_apis(self.non_resource(&req, &info)).await
        } else {
            self.non_resource(&req, &info)
        };
        (response, Some(outcome))
    }

    async fn resource(&self, req: &ApiRequest, info: &RequestInfo) -> ApiResponse {
        let Some(resource) = registry::find(&info.group, &info.version, &info.resource) else {
            return ApiResponse::status(status::not_found_path());
        };
        if !info.subresource.is_empty()
            && !resource.subresources.contains(&info.subresource.as_str())
        {
            return ApiResponse::status(status::not_found_path());
        }
        let ns = if resource.namespaced {
            info.namespace.as_deref()
        } else {
            None
        };
        if resource.virtual_only {
            return match info.verb.as_str() {
                "create" => self
                    .review(req, resource, ns)
                    .await
                    .unwrap_or_else(storage_error),
                verb => ApiResponse::status(status::method_not_supported(
                    resource.name,
                    resource.group,
                    verb,
                )),
            };
        }
        let result = match (info.verb.as_str(), info.subresource.as_str()) {
            ("list", _) => self.list(req, resource, ns).await,
            ("watch", _) => self.watch(req, resource, ns, &info.name).await,
            ("get", "") => self.get(req, resource, ns, &info.name).await,
            ("create", "") => self.create(req, resource, ns).await,
            ("create", "binding") => self.bind(req, resource, ns, &info.name).await,
            ("create", "token") => {
                self.token_request(req, ns.unwrap_or("default"), &info.name)
                    .await
            }
            ("update" | "patch", "") => self.update(req, resource, ns, &info.name, None).await,
            ("update" | "patch", "status") => {
                self.update(req, resource, ns, &info.name, Some("status"))
                    .await
            }
            ("update" | "patch", "approval") => self.approve(req, resource, &info.name).await,
            ("get" | "update" | "patch", "scale") => {
                self.scale(req, resource, ns, &info.name).await
            }
            ("get", "status") => self.get(req, resource, ns, &info.name).await,
            ("get", "log") => {
                let client = self
                    .inner
                    .kubelet_client
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                crate::pod_log::pod_log(
                    &self.inner.store,
                    &self.inner.clock,
                    client,
                    ns.unwrap_or("default"),
                    &info.name,
                    &req.query,
                )
                .await
            }
            ("delete", "") => self.delete(req, resource, ns, &info.name).await,
            ("deletecollection", "") => self.delete_collection(req, resource, ns).await,
            (verb, _) => Ok(ApiResponse::status(status::method_not_supported(
                resource.name,
                resource.group,
                verb,
            ))),
        };
        result.unwrap_or_else(storage_error)
    }

    fn now(&self) -> String {
        kubecorp_trust::gotime::rfc3339(self.inner.clock.now())
    }
}

/// The stored object with its `resourceVersion` (the revision of its last write).
fn with_version(stored: Stored) -> Value {
    let mut obj = stored.value;
    obj["metadata"]["resourceVersion"] = json!(stored.revision.to_string());
    obj
}

fn resource_of(obj: &Value) -> Option<&'static Resource> {
    let kind = obj["kind"].as_str()?;
    registry::RESOURCES.iter().find(|r| r.kind == kind)
}

/// Reads a request body: JSON, or the protobuf kubectl 1.32 sends for approvals and reviews,
/// refused in kube-apiserver's words when it is not an object of the resource's kind (see
/// [`crate::decode`]).
fn decode_body(req: &ApiRequest, r: &Resource) -> Result<Value, ApiResponse> {
    if req.content_type.starts_with(PROTOBUF) {
        return crate::protobuf::decode(r.kind, &req.body)
            .map_err(|e| ApiResponse::status(status::bad_request(&e.to_string())));
    }
    if req.body.is_empty() {
        return Err(ApiResponse::status(status::bad_request("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")));
    }
    crate::decode::object(&req.body, r.kind)
        .map_err(|e| ApiResponse::status(status::bad_request(&e.to_string())))
}

/// A patched object that no longer decodes: the 422 `applyPatch` answers, whose cause carries
/// the whole patched object (k8s.io/apiserver v0.32 `endpoints/handlers/patch.go`).
fn patched_type_check(next: &Value, r: &Resource) -> Result<(), ApiResponse> {
    let Some(schema) = crate::schema::of_kind(r.kind) else {
        return Ok(());
    };
    crate::decode::check(next, schema).map_err(|e| {
        let cause = status::Cause::invalid(
            "patch",
            &status::go_quote(&next.to_string()),
            &e.to_string(),
        );
        ApiResponse::status(status::invalid("", "", "", &[cause]))
    })
}

/// A storage error that is not a Status: k8s.io/apiserver v0.32
/// `endpoints/handlers/responsewriters/status.go` (`ErrorToAPIStatus`) answers 500 with the
/// error's own text and no reason, which kubectl prints as `Error from server: <text>`
/// (`context deadline exceeded` when etcd cannot be reached or refuses Alice's badge).
fn storage_error(e: StoreError) -> ApiResponse {
    ApiResponse::Full {
        status: 500,
        content_type: JSON.into(),
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": e.to_string(), "code": 500})
        .to_string()
        .into_bytes(),
    }
}
