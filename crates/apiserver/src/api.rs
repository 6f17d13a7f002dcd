//! Alice's desk work once a visitor is known: authorize the request, then read or write the files.
//!
//! [`Api::handle`] takes a request whose user is already authenticated and answers it the way
//! kube-apiserver does: the authorizer chain first (privileged group, Node, RBAC), then the
//! REST verbs on the stored objects, with Kubernetes' Status bodies for every refusal. It is a
//! plain async function, so tests drive it without a socket.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kubecorp_pki::issue::Ca;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

use crate::meta::{merge_patch, meta_str, new_uid};
use crate::node_restriction::{self, Operation};
use crate::pod_log::KubeletClientConfig;
use crate::rbac::{self, Attributes, Decision, RbacState};
use crate::registry::{self, Resource};
use crate::request::{self, query_param, RequestInfo};
use crate::service_accounts::Bearer;
use crate::status;
use crate::store::{Store, StoreError, Stored};
use crate::table;
use crate::tokens::TokenKeys;
use crate::user::UserInfo;
use crate::watch::{Change, Start, Target, WatchCache, WatchOptions, WatchStream};

mod scale;

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

/// Label and field selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

/// One requirement of a selector, in apimachinery's grammar: `k=v`, `k==v`, `k!=v`,
/// `k in (a,b)`, `k notin (a,b)`, `k`, `!k` (fields: the first three only).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn parse(term: &str, set_based: bool) -> Option<Requirement> {
        let term = term.trim();
        if term.is_empty() {
            return None;
        }
        if let Some((k, v)) = term.split_once("!=") {
            return Some(Requirement::NotEquals(k.trim().into(), v.trim().into()));
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return Some(Requirement::Equals(k.trim().into(), v.trim().into()));
        }
        if !set_based {
            return None;
        }
        let values = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        if let Some((k, rest)) = term.split_once(" notin ") {
            return Some(Requirement::NotIn(k.trim().into(), values(rest)?));
        }
        if let Some((k, rest)) = term.split_once(" in ") {
            return Some(Requirement::In(k.trim().into(), values(rest)?));
        }
        match term.strip_prefix('!') {
            Some(k) => Some(Requirement::DoesNotExist(k.trim().into())),
            None => Some(Requirement::Exists(term.into())),
        }
    }

    /// Whether a value (`None`: the key is absent) meets the requirement.
    fn holds(&self, value: Option<&str>) -> bool {
        match self {
            Requirement::Equals(_, v) => value == Some(v.as_str()),
            Requirement::NotEquals(_, v) => value != Some(v.as_str()),
            Requirement::In(_, vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(_, vs) => !value.is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::Exists(_) => value.is_some(),
            Requirement::DoesNotExist(_) => value.is_none(),
        }
    }

    fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }
}

/// Splits a selector at the commas that are not inside `( )`.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

impl Selectors {
    fn parse(query: &str) -> Selectors {
        let parse = |s: Option<String>, set_based: bool| -> Vec<Requirement> {
            s.map(|s| {
                split_terms(&s)
                    .into_iter()
                    .filter_map(|t| Requirement::parse(t, set_based))
                    .collect()
            })
            .unwrap_or_default()
        };
        Selectors {
            labels: parse(query_param(query, "labelSelector"), true),
            fields: parse(query_param(query, "fieldSelector"), false),
        }
    }

    /// A watch of one named object: `fieldSelector=metadata.name=<name>` added, as the
    /// apiserver does for `GET …/pods/NAME?watch=true`.
    pub fn with_name(mut self, name: &str) -> Selectors {
        self.fields
            .push(Requirement::Equals("metadata.name".into(), name.into()));
        self
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels_ok = self.labels.iter().all(|r| {
            r.holds(
                obj["metadata"]["labels"]
                    .get(r.key())
                    .and_then(Value::as_str),
            )
        });
        let fields_ok = self.fields.iter().all(|r| {
            let mut cur = obj;
            for part in r.key().split('.') {
                cur = &cur[part];
            }
            // A field the object lacks reads as "" (field selectors compare strings).
            r.holds(Some(cur.as_str().unwrap_or("")))
        });
        labels_ok && fields_ok
    }
}

/// The RBAC objects last read, and how many times they have been written since the start.
#[derive(Default)]
struct RbacCache {
    state: Option<Arc<RbacState>>,
    generation: u64,
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

    fn invalidate_rbac(&self) {
        let mut cache = self.inner.rbac.lock().unwrap_or_else(|e| e.into_inner());
        cache.state = None;
        cache.generation += 1;
    }

    async fn rbac_state(&self) -> Result<Arc<RbacState>, StoreError> {
        let generation = {
            let cache = self.inner.rbac.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(state) = &cache.state {
                return Ok(state.clone());
            }
            cache.generation
        };
        let mut objects = Vec::new();
        for name in [
            "clusterroles",
            "clusterrolebindings",
            "roles",
            "rolebindings",
        ] {
            let r = registry::find(rbac::RBAC_GROUP, "v1", name)
                .expect("rbac resources are registered");
            objects.extend(
                self.inner
                    .store
                    .list(&r.prefix(None))
                    .await?
                    .0
                    .into_iter()
                    .map(|s| s.value),
            );
        }
        let state = Arc::new(RbacState::from_objects(objects));
        let mut cache = self.inner.rbac.lock().unwrap_or_else(|e| e.into_inner());
        // A write to the RBAC objects while they were being read: this read may predate it, so
        // it answers this request only and the next one reads again.
        if cache.generation == generation {
            cache.state = Some(state.clone());
        }
        Ok(state)
    }

    /// The authorizer chain kubeadm configures (`--authorization-mode=Node,RBAC`, with the
    /// privileged `system:masters` group in front).
    pub async fn authorize(&self, attrs: &Attributes) -> Result<Decision, StoreError> {
        let state = self.rbac_state().await?;
        let pods = if attrs.user.name.starts_with("system:node:") {
            let r = registry::find("", "v1", "pods").expect("pods are registered");
            self.inner
                .store
                .list(&r.prefix(None))
                .await?
                .0
                .into_iter()
                .map(|s| s.value)
                .collect()
        } else {
            Vec::new()
        };
        Ok(rbac::authorize_request(&state, &pods, attrs))
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

    /// `/healthz`, `/livez`, `/readyz` and one check below them (see [`crate::health`]);
    /// `None` for any other path.
    async fn health(&self, path: &str, query: &str) -> Option<crate::health::Answer> {
        let parts: Vec<&str> = path.trim_matches('/').splitn(2, '/').collect();
        let names = crate::health::checks(parts[0])?;
        let wanted: Vec<&'static str> = match parts.get(1) {
            None => names.to_vec(),
            Some(one) => vec![*names.iter().find(|n| *n == one)?],
        };
        let mut results = Vec::with_capacity(wanted.len());
        let mut etcd: Option<Option<String>> = None;
        for name in wanted {
            let failure = match name {
                // One read from etcd answers both etcd checks of one request.
                "etcd" | "etcd-readiness" => match &etcd {
                    Some(outcome) => outcome.clone(),
                    None => {
                        let outcome = self.etcd_check().await;
                        etcd = Some(outcome.clone());
                        outcome
                    }
                },
                _ => None,
            };
            results.push(crate::health::Checked { name, failure });
        }
        Some(match parts.get(1) {
            Some(_) => crate::health::single(&results[0]),
            None => crate::health::overall(parts[0], &results, query),
        })
    }

    /// kube-apiserver's etcd check: a read within `--etcd-healthcheck-timeout` (2 s), sent at
    /// most once per half that timeout; a check in between gets the last one's outcome
    /// (`newETCD3Check`: "limit to a request every half of the configured timeout").
    async fn etcd_check(&self) -> Option<String> {
        let timeout = std::time::Duration::from_secs(2);
        {
            let last = self
                .inner
                .etcd_checked
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((at, outcome)) = &*last {
                if at.elapsed() < timeout / 2 {
                    return outcome.clone();
                }
            }
        }
        let sent = std::time::Instant::now();
        // kube-apiserver v1.32 (storage/storagebackend/factory/etcd3.go, the etcd prober):
        // `error getting data from etcd: %w` around the client's error.
        let outcome = match tokio::time::timeout(timeout, self.inner.store.revision()).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("error getting data from etcd: {e}")),
            Err(_) => Some("error getting data from etcd: context deadline exceeded".into()),
        };
        *self
            .inner
            .etcd_checked
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some((sent, outcome.clone()));
        outcome
    }

    fn non_resource(&self, req: &ApiRequest, info: &RequestInfo) -> ApiResponse {
        let parts: Vec<&str> = info.path.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            ["version"] => ApiResponse::Full {
                status: 200,
                content_type: JSON.into(),
                body: crate::discovery::version_body().into_bytes(),
            },
            ["api"] | ["apis"] if crate::discovery::wants_aggregated(&req.accept) => {
                let body = crate::discovery::aggregated(parts[0] == "api");
                ApiResponse::Full {
                    status: 200,
                    content_type: crate::discovery::AGGREGATED_CONTENT_TYPE.into(),
                    body: body.to_string().into_bytes(),
                }
            }
            ["api"] => ApiResponse::json(200, &crate::discovery::legacy_api()),
            ["apis"] => ApiResponse::json(200, &crate::discovery::legacy_apis()),
            ["api", "v1"] => ApiResponse::json(
                200,
                &crate::discovery::resource_list("", "v1").expect("core is served"),
            ),
            ["apis", group] => crate::discovery::group(group)
                .map(|g| ApiResponse::json(200, &g))
                .unwrap_or_else(|| ApiResponse::status(status::not_found_path())),
            ["apis", group, version] => crate::discovery::resource_list(group, version)
                .map(|g| ApiResponse::json(200, &g))
                .unwrap_or_else(|| ApiResponse::status(status::not_found_path())),
            [".well-known", "openid-configuration"] => match self.service_account_keys() {
                Some(keys) => ApiResponse::json(200, &keys.discovery()),
                None => ApiResponse::status(status::not_found_path()),
            },
            ["openid", "v1", "jwks"] => match self.service_account_keys() {
                Some(keys) => ApiResponse::Full {
                    status: 200,
                    content_type: "application/jwk-set+json".into(),
                    body: keys.jwks().to_string().into_bytes(),
                },
                None => ApiResponse::status(status::not_found_path()),
            },
            ["openapi", "v3"] => ApiResponse::json(200, &crate::discovery::openapi_index()),
            ["openapi", "v3", rest @ ..] => {
                crate::discovery::openapi_group_version(&rest.join("/"))
                    .map(|d| ApiResponse::json(200, &d))
                    .unwrap_or_else(|| ApiResponse::status(status::not_found_path()))
            }
            _ => ApiResponse::status(status::not_found_path()),
        }
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

    async fn get(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        match self.inner.store.get(&r.key(ns, name)).await? {
            Some(stored) => {
                let obj = with_version(stored);
                if table::wants_table(&req.accept) {
                    let rv = meta_str(&obj, "resourceVersion").to_string();
                    return Ok(ApiResponse::json(
                        200,
                        &table::table(r, &[obj], &rv, self.inner.clock.now()),
                    ));
                }
                Ok(ApiResponse::json(200, &obj))
            }
            None => Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            ))),
        }
    }

    async fn list_objects(
        &self,
        r: &Resource,
        ns: Option<&str>,
        selectors: &Selectors,
    ) -> Result<(Vec<Value>, i64), StoreError> {
        let (items, revision) = self.inner.store.list(&r.prefix(ns)).await?;
        let objects = items
            .into_iter()
            .map(with_version)
            .filter(|o| selectors.matches(o))
            .collect();
        Ok((objects, revision))
    }

    async fn list(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let selectors = Selectors::parse(&req.query);
        let (objects, revision) = self.list_objects(r, ns, &selectors).await?;
        let rv = revision.to_string();
        if table::wants_table(&req.accept) {
            return Ok(ApiResponse::json(
                200,
                &table::table(r, &objects, &rv, self.inner.clock.now()),
            ));
        }
        Ok(ApiResponse::json(
            200,
            &json!({"kind": r.list_kind(), "apiVersion": r.api_version(), "metadata": {"resourceVersion": rv}, "items": objects}),
        ))
    }

    /// `?watch=true`: options read and checked as kube-apiserver does, then a stream from the
    /// watch cache (see [`crate::watch`] for what each resourceVersion means).
    async fn watch(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let options = match WatchOptions::parse(&req.query) {
            Ok(o) => o,
            Err(refusal) => return Ok(ApiResponse::status(refusal)),
        };
        let mut selectors = Selectors::parse(&req.query);
        if !name.is_empty() {
            selectors = selectors.with_name(name);
        }
        let requested = match options.requested_revision() {
            Ok(rv) => rv,
            Err(refusal) => return Ok(ApiResponse::status(refusal)),
        };
        self.begin_watch_cache().await?;
        let cache = &self.inner.watch_cache;
        let target = Target {
            prefix: r.prefix(ns),
            selectors: selectors.clone(),
            kind: r.kind,
            api_version: r.api_version(),
        };
        let start = match options.send_initial_events {
            Some(true) => {
                if let Err(status) = cache.wait_until_fresh(requested).await {
                    return Ok(ApiResponse::Watch(Box::new(WatchStream::error(&status))));
                }
                // No write lands between the list and the cache position it starts from.
                let order = self.inner.writes.lock().await;
                let (objects, _) = self.list_objects(r, ns, &selectors).await?;
                let (cursor, current) = cache.position_now();
                drop(order);
                Start::Initial {
                    objects,
                    cursor,
                    current,
                }
            }
            // `sendInitialEvents=false` from "" or "0": from now on.
            Some(false) if requested == 0 => {
                Start::After(u64::try_from(cache.current()).unwrap_or(0))
            }
            _ => Start::After(requested),
        };
        Ok(ApiResponse::Watch(Box::new(
            cache.stream(target, &options, start),
        )))
    }

    /// The one door into the watch cache. The caller holds `Inner::writes` from its store
    /// write until this returns, so changes enter in revision order.
    fn publish(
        &self,
        kind: &'static str,
        key: &str,
        revision: i64,
        object: &Value,
        prev: Option<&Value>,
    ) {
        if key.starts_with("/registry/cluster") || key.starts_with("/registry/role") {
            self.invalidate_rbac();
        }
        if self.inner.store.feeds_watch_cache() {
            // etcd's watch brings every change, this one too (see `store::feed`).
            return;
        }
        self.inner.watch_cache.record(Change {
            revision,
            kind,
            key: key.into(),
            object: object.clone(),
            prev: prev.cloned(),
        });
    }

    /// A deletion enters the cache with the object's last state at the deletion's revision.
    fn publish_deletion(&self, key: &str, deleted_at: i64, last: &Value) {
        let mut gone = last.clone();
        if let Some(meta) = gone.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(deleted_at.to_string()));
        }
        self.publish("DELETED", key, deleted_at, &gone, None);
    }

    async fn create(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let mut obj = match decode_body(req, r) {
            Ok(o) => o,
            Err(resp) => return Ok(resp),
        };
        crate::meta::generate_name(&mut obj);
        let name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let cause =
                status::Cause::required("metadata.name", "name or generateName is required");
            return Ok(ApiResponse::status(status::invalid(
                r.kind,
                r.group,
                "",
                &[cause],
            )));
        }
        let causes = crate::validation::name_causes(r.kind, &name);
        if !causes.is_empty() {
            return Ok(ApiResponse::status(status::invalid(
                r.kind, r.group, &name, &causes,
            )));
        }
        if let Some(problem) = crate::validation::key_problem(&name) {
            return Ok(ApiResponse::status(status::bad_request(&problem)));
        }
        if let Some(ns) = ns {
            let body_ns = meta_str(&obj, "namespace");
            if !body_ns.is_empty() && body_ns != ns {
                return Ok(ApiResponse::status(status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                )));
            }
            let namespaces =
                registry::find("", "v1", "namespaces").expect("namespaces are registered");
            if self
                .inner
                .store
                .get(&namespaces.key(None, ns))
                .await?
                .is_none()
            {
                return Ok(ApiResponse::status(status::not_found("namespaces", "", ns)));
            }
            obj["metadata"]["namespace"] = json!(ns);
        }
        obj["apiVersion"] = json!(r.api_version());
        obj["kind"] = json!(r.kind);
        obj["metadata"]["uid"] = json!(new_uid());
        obj["metadata"]["creationTimestamp"] = json!(self.now());
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        crate::apps::prepare_create(r, &mut obj);
        let write = node_restriction::Write {
            user: &req.user,
            operation: Operation::Create,
            group: r.group,
            resource: r.name,
            subresource: "",
            namespace: ns.unwrap_or(""),
            name: "",
            object: Some(&obj),
            old: None,
        };
        if let Some(refused) = self.node_restriction(write).await? {
            return Ok(refused);
        }
        // Lives until the object is stored (see `Inner::service_ips`).
        let mut reserved = None;
        match r.name {
            "certificatesigningrequests" => {
                if let Err(message) = crate::csr::shape_check(&obj) {
                    return Ok(ApiResponse::status(status::bad_request(&message)));
                }
                obj = crate::csr::prepare_create(&obj, &req.user);
                if let Err(causes) = crate::csr::validate_create(&obj) {
                    return Ok(ApiResponse::status(status::invalid(
                        r.kind, r.group, &name, &causes,
                    )));
                }
                if let Err(message) = crate::csr::admission_create(&obj) {
                    return Ok(ApiResponse::status(status::forbidden_with(
                        r.name, r.group, &name, &message,
                    )));
                }
                if let Some(condition) = self.auto_approval(&obj, &req.user).await? {
                    obj["status"]["conditions"] = json!([condition]);
                    self.sign_if_approved(&mut obj);
                }
            }
            "pods" if obj["status"]["phase"].is_null() => obj["status"]["phase"] = json!("Pending"),
            "services" => {
                reserved = Some(self.inner.service_ips.lock().await);
                if let Err(cause) = self.allocate_cluster_ip(&mut obj).await? {
                    return Ok(ApiResponse::status(status::invalid(
                        r.kind,
                        r.group,
                        &name,
                        &[cause],
                    )));
                }
            }
            "namespaces" => obj["status"]["phase"] = json!("Active"),
            _ => {}
        }
        let key = r.key(ns, &name);
        let order = self.inner.writes.lock().await;
        let created = self.inner.store.create(&key, &obj).await;
        drop(reserved);
        match created {
            Ok(rev) => {
                obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                self.publish("ADDED", &key, rev, &obj, None);
                drop(order);
                if r.name == "namespaces" {
                    // The service account controller's work, done at once in the lab.
                    self.create_internal(crate::service_accounts::account(
                        &name,
                        crate::service_accounts::DEFAULT,
                    ))
                    .await?;
                }
                Ok(ApiResponse::json(201, &obj))
            }
            Err(StoreError::Exists(_)) => Ok(ApiResponse::status(status::already_exists(
                r.name, r.group, &name,
            ))),
            Err(e) => Err(e),
        }
    }

    /// Stores an object the apiserver makes itself (a namespace's `default` ServiceAccount);
    /// one that exists already is kept.
    async fn create_internal(&self, mut obj: Value) -> Result<(), StoreError> {
        let Some(r) = resource_of(&obj) else {
            return Ok(());
        };
        let ns = meta_str(&obj, "namespace").to_string();
        let key = r.key(
            Some(ns.as_str()).filter(|n| !n.is_empty()),
            meta_str(&obj, "name"),
        );
        obj["metadata"]["uid"] = json!(new_uid());
        obj["metadata"]["creationTimestamp"] = json!(self.now());
        let order = self.inner.writes.lock().await;
        match self.inner.store.create(&key, &obj).await {
            Ok(rev) => {
                obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                self.publish("ADDED", &key, rev, &obj, None);
                drop(order);
                Ok(())
            }
            Err(StoreError::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `serviceaccounts/NAME/token`: a TokenRequest answered with a signed token (see
    /// [`crate::service_accounts::token_request`]).
    async fn token_request(
        &self,
        req: &ApiRequest,
        ns: &str,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let Some(keys) = self.service_account_keys() else {
            return Ok(ApiResponse::status(status::internal_unknown(
                "the token signer is not configured (--service-account-signing-key-file)",
            )));
        };
        let sa =
            registry::find("", "v1", "serviceaccounts").expect("serviceaccounts are registered");
        let Some(account) = self.inner.store.get(&sa.key(Some(ns), name)).await? else {
            return Ok(ApiResponse::status(status::not_found(
                "serviceaccounts",
                "",
                name,
            )));
        };
        let body = if req.body.is_empty() {
            json!({})
        } else if req.content_type.starts_with(PROTOBUF) {
            match crate::protobuf::decode("TokenRequest", &req.body) {
                Ok(b) => b,
                Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
            }
        } else {
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(b) => b,
                Err(e) => {
                    return Ok(ApiResponse::status(status::bad_request(&format!(
                        "couldn't get version/kind; json parse error: {e}"
                    ))))
                }
            }
        };
        let pod = match body["spec"]["boundObjectRef"]["kind"].as_str() {
            Some("Pod") => {
                let pods = registry::find("", "v1", "pods").expect("pods are registered");
                let pod_name = body["spec"]["boundObjectRef"]["name"]
                    .as_str()
                    .unwrap_or("");
                match self.inner.store.get(&pods.key(Some(ns), pod_name)).await? {
                    Some(p) => Some(p.value),
                    None => {
                        return Ok(ApiResponse::status(status::not_found("pods", "", pod_name)))
                    }
                }
            }
            _ => None,
        };
        Ok(
            match crate::service_accounts::token_request(
                &keys,
                ns,
                name,
                &account.value,
                &body,
                pod.as_ref(),
                self.inner.clock.now(),
            ) {
                Ok(answer) => ApiResponse::json(201, &answer),
                Err(refusal) => ApiResponse::status(refusal),
            },
        )
    }

    /// The NodeRestriction admission plugin for a write by a kubelet (see
    /// [`crate::node_restriction`]): `Some(403)` when it refuses, `None` to go on.
    async fn node_restriction(
        &self,
        write: node_restriction::Write<'_>,
    ) -> Result<Option<ApiResponse>, StoreError> {
        let Some(node) = node_restriction::node_of(write.user) else {
            return Ok(None);
        };
        // A mirror pod's owner must carry the UID of the node's own Node object.
        let node_obj = match (write.resource, write.operation) {
            ("pods", Operation::Create) if !node.is_empty() => {
                let nodes = registry::find("", "v1", "nodes").expect("nodes are registered");
                self.inner
                    .store
                    .get(&nodes.key(None, node))
                    .await?
                    .map(|s| s.value)
            }
            _ => None,
        };
        let lookups = node_restriction::Lookups {
            node: node_obj.as_ref(),
        };
        Ok(node_restriction::admit(&write, lookups)
            .err()
            .map(|refusal| ApiResponse::status(refusal.response())))
    }

    /// A Service's defaults and its virtual IP from kubeadm's `--service-cluster-ip-range`
    /// (10.96.0.0/12): a free address picked at random, or the one asked for if it is in the
    /// range and free. The refusal is the `spec.clusterIPs` cause the real allocator gives.
    async fn allocate_cluster_ip(
        &self,
        svc: &mut Value,
    ) -> Result<Result<(), status::Cause>, StoreError> {
        let spec = &mut svc["spec"];
        if spec["type"].as_str().unwrap_or("").is_empty() {
            spec["type"] = json!("ClusterIP");
        }
        if spec["sessionAffinity"].is_null() {
            spec["sessionAffinity"] = json!("None");
        }
        if let Some(ports) = spec["ports"].as_array_mut() {
            for port in ports {
                if port["protocol"].is_null() {
                    port["protocol"] = json!("TCP");
                }
                if port["targetPort"].is_null() {
                    port["targetPort"] = port["port"].clone();
                }
            }
        }
        if spec["type"] == "ExternalName" {
            return Ok(Ok(()));
        }
        let asked = spec["clusterIP"].as_str().unwrap_or("").to_owned();
        if asked == "None" {
            spec["clusterIPs"] = json!(["None"]);
            return Ok(Ok(()));
        }
        let services = registry::find("", "v1", "services").expect("services are registered");
        let (all, _) = self.inner.store.list(&services.prefix(None)).await?;
        let used: std::collections::HashSet<String> = all
            .iter()
            .filter_map(|s| s.value["spec"]["clusterIP"].as_str().map(str::to_owned))
            .collect();
        const RANGE: &str = "10.96.0.0/12";
        let (base, size) = (u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0)), 1u32 << 20);
        let ip = if asked.is_empty() {
            let mut pick = None;
            for _ in 0..64 {
                let mut b = [0u8; 4];
                crate::meta::fill_random(&mut b);
                let offset = 1 + u32::from_be_bytes(b) % (size - 2);
                let candidate = std::net::Ipv4Addr::from(base + offset).to_string();
                if !used.contains(&candidate) {
                    pick = Some(candidate);
                    break;
                }
            }
            match pick {
                Some(ip) => ip,
                None => {
                    return Ok(Err(status::Cause::invalid(
                        "spec.clusterIPs",
                        "[]string{}",
                        "failed to allocate a serviceIP: range is full",
                    )))
                }
            }
        } else {
            let refuse = |detail: String| {
                status::Cause::invalid(
                    "spec.clusterIPs",
                    &format!("[]string{{{}}}", status::go_quote(&asked)),
                    &format!("failed to allocate IP {asked}: {detail}"),
                )
            };
            let in_range = asked
                .parse::<std::net::Ipv4Addr>()
                .map(u32::from)
                .is_ok_and(|a| a > base && a < base + size - 1);
            if !in_range {
                return Ok(Err(refuse(format!(
                    "the provided IP ({asked}) is not in the valid range. The range of valid IPs is {RANGE}"
                ))));
            }
            if used.contains(&asked) {
                return Ok(Err(refuse("provided IP is already allocated".into())));
            }
            asked
        };
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
        if spec["internalTrafficPolicy"].is_null() {
            spec["internalTrafficPolicy"] = json!("Cluster");
        }
        Ok(Ok(()))
    }

    /// `pods/binding`: Bob the scheduler assigns a pod to a node.
    async fn bind(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let binding = match crate::decode::object(&req.body, "Binding") {
            Ok(b) => b,
            Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
        };
        let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
        let key = r.key(ns, name);
        let Some(stored) = self.inner.store.get(&key).await? else {
            return Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            )));
        };
        let mut pod = stored.value.clone();
        if let Some(current) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            let detail = format!("pod {name} is already assigned to node {current:?}");
            return Ok(ApiResponse::status(status::conflict(
                r.name, r.group, name, &detail,
            )));
        }
        pod["spec"]["nodeName"] = json!(node);
        // The binding registry marks the pod scheduled, replacing any earlier PodScheduled.
        let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                               "lastTransitionTime": self.now()});
        let mut conditions: Vec<Value> = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["type"] != "PodScheduled")
            .collect();
        conditions.push(scheduled);
        pod["status"]["conditions"] = json!(conditions);
        let order = self.inner.writes.lock().await;
        let rev = self
            .inner
            .store
            .update(&key, &pod, Some(stored.revision))
            .await?;
        pod["metadata"]["resourceVersion"] = json!(rev.to_string());
        self.publish(
            "MODIFIED",
            &key,
            rev,
            &pod,
            Some(&with_version(stored.clone())),
        );
        drop(order);
        Ok(ApiResponse::json(
            201,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        ))
    }

    async fn update(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let key = r.key(ns, name);
        let Some(stored) = self.inner.store.get(&key).await? else {
            return Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            )));
        };
        let current = with_version(stored.clone());
        let mut next = if req.method == "PATCH"
            && req.content_type.starts_with("application/json-patch+json")
        {
            // RFC 6902 operations on the object as stored (json-patch does the work).
            let patch: json_patch::Patch = match serde_json::from_slice(&req.body) {
                Ok(p) => p,
                Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
            };
            let mut next = current.clone();
            if let Err(e) = json_patch::patch(&mut next, &patch) {
                return Ok(ApiResponse::status(status::json_patch_failed(
                    &e.to_string(),
                )));
            }
            next
        } else {
            if req.method == "PATCH" && !req.content_type.starts_with(PROTOBUF) {
                let body = match crate::decode::patch(&req.body, r.kind) {
                    Ok(b) => b,
                    Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
                };
                let mut next = current.clone();
                merge_patch(&mut next, &body);
                next
            } else if req.method == "PATCH" {
                let body = match decode_body(req, r) {
                    Ok(b) => b,
                    Err(resp) => return Ok(resp),
                };
                let mut next = current.clone();
                merge_patch(&mut next, &body);
                next
            } else {
                match decode_body(req, r) {
                    Ok(b) => b,
                    Err(resp) => return Ok(resp),
                }
            }
        };
        if req.method == "PATCH" {
            if let Err(refusal) = patched_type_check(&next, r) {
                return Ok(refusal);
            }
        }
        let expected = match meta_str(&next, "resourceVersion") {
            "" => None,
            rv => match rv.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    return Ok(ApiResponse::status(status::bad_request(&format!(
                        "invalid resourceVersion {rv:?}"
                    ))))
                }
            },
        };
        if let Some(sub) = sub {
            // A status update changes only the status; everything else comes from the store.
            let mut merged = current.clone();
            merged[sub] = next[sub].clone();
            next = merged;
        } else if r.name == "certificatesigningrequests" {
            // spec is immutable, and status only changes through /approval and /status.
            next["spec"] = current["spec"].clone();
            next["status"] = current["status"].clone();
        }
        crate::apps::prepare_update(r, &current, &mut next, sub);
        if meta_str(&next, "name") != name {
            let cause = status::Cause::invalid(
                "metadata.name",
                meta_str(&next, "name"),
                "field is immutable",
            );
            return Ok(ApiResponse::status(status::invalid(
                r.kind,
                r.group,
                name,
                &[cause],
            )));
        }
        next["apiVersion"] = json!(r.api_version());
        next["kind"] = json!(r.kind);
        next["metadata"]["uid"] = current["metadata"]["uid"].clone();
        next["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"].clone();
        if let Some(ns) = ns {
            next["metadata"]["namespace"] = json!(ns);
        }
        if let Some(m) = next["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let write = node_restriction::Write {
            user: &req.user,
            operation: Operation::Update,
            group: r.group,
            resource: r.name,
            subresource: sub.unwrap_or(""),
            namespace: ns.unwrap_or(""),
            name,
            object: Some(&next),
            old: Some(&current),
        };
        if let Some(refused) = self.node_restriction(write).await? {
            return Ok(refused);
        }
        self.write(
            r,
            &key,
            name,
            next,
            (expected.or(Some(stored.revision)), &current),
            expected.is_some(),
        )
        .await
    }

    async fn write(
        &self,
        r: &Resource,
        key: &str,
        name: &str,
        mut obj: Value,
        (expected, prev): (Option<i64>, &Value),
        client_said: bool,
    ) -> Result<ApiResponse, StoreError> {
        // `prev` is the object at `expected`: a write that lands replaced exactly it.
        let order = self.inner.writes.lock().await;
        match self.inner.store.update(key, &obj, expected).await {
            Ok(rev) => {
                obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                self.publish("MODIFIED", key, rev, &obj, Some(prev));
                drop(order);
                Ok(ApiResponse::json(200, &obj))
            }
            Err(StoreError::Conflict { .. }) if client_said => Ok(ApiResponse::status(status::conflict(
                r.name,
                r.group,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ))),
            Err(StoreError::NotFound(_)) => Ok(ApiResponse::status(status::not_found(r.name, r.group, name))),
            Err(e) => Err(e),
        }
    }

    async fn delete(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let key = r.key(ns, name);
        if node_restriction::node_of(&req.user).is_some() {
            let existing = self.inner.store.get(&key).await?.map(with_version);
            let write = node_restriction::Write {
                user: &req.user,
                operation: Operation::Delete,
                group: r.group,
                resource: r.name,
                subresource: "",
                namespace: ns.unwrap_or(""),
                name,
                object: None,
                old: existing.as_ref(),
            };
            if let Some(refused) = self.node_restriction(write).await? {
                return Ok(refused);
            }
        }
        let order = self.inner.writes.lock().await;
        match self.inner.store.delete(&key).await? {
            Some((stored, deleted_at)) => {
                let obj = with_version(stored);
                self.publish_deletion(&key, deleted_at, &obj);
                drop(order);
                Ok(ApiResponse::json(200, &obj))
            }
            None => Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            ))),
        }
    }

    /// `DELETE` on a collection: every object the selectors pick, answered with the list of
    /// what was deleted (as the generic registry's `DeleteCollection` does).
    async fn delete_collection(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let selectors = Selectors::parse(&req.query);
        let (objects, revision) = self.list_objects(r, ns, &selectors).await?;
        let mut deleted = Vec::new();
        for obj in objects {
            let key = r.key(
                ns.or(Some(meta_str(&obj, "namespace")).filter(|n| !n.is_empty())),
                meta_str(&obj, "name"),
            );
            let order = self.inner.writes.lock().await;
            if let Some((stored, deleted_at)) = self.inner.store.delete(&key).await? {
                let gone = with_version(stored);
                self.publish_deletion(&key, deleted_at, &gone);
                deleted.push(gone);
            }
            drop(order);
        }
        Ok(ApiResponse::json(
            200,
            &json!({"kind": r.list_kind(), "apiVersion": r.api_version(),
                    "metadata": {"resourceVersion": revision.to_string()}, "items": deleted}),
        ))
    }

    /// `PUT …/certificatesigningrequests/NAME/approval`: approving needs the `approve` verb on
    /// the signer as well, then the signer (kube-controller-manager's, with ca.key) issues.
    async fn approve(
        &self,
        req: &ApiRequest,
        r: &Resource,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let key = r.key(None, name);
        let Some(stored) = self.inner.store.get(&key).await? else {
            return Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            )));
        };
        let current = with_version(stored.clone());
        let body = match decode_body(req, r) {
            Ok(b) => b,
            Err(resp) => return Ok(resp),
        };
        let mut next = current.clone();
        if req.method == "PATCH" {
            merge_patch(&mut next, &body);
        } else {
            next["status"]["conditions"] = body["status"]["conditions"].clone();
        }
        if let Err(refusal) = patched_type_check(&next, r) {
            return Ok(refusal);
        }
        if let Err(causes) = crate::csr::validate_approval_update(&current, &next) {
            return Ok(ApiResponse::status(status::invalid(
                r.kind, r.group, name, &causes,
            )));
        }
        let mut next = crate::csr::prepare_approval_update(&current, &next, self.inner.clock.now());
        let signer = current["spec"]["signerName"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let newly_decided = has_condition(&next, "Approved")
            && !has_condition(&current, "Approved")
            || has_condition(&next, "Denied") && !has_condition(&current, "Denied");
        if newly_decided {
            let mut allowed = false;
            for attrs in crate::csr::signer_permission_attributes(&req.user, "approve", &signer) {
                if self.authorize(&attrs).await?.is_allowed() {
                    allowed = true;
                    break;
                }
            }
            if !allowed {
                let message = crate::csr::not_permitted_to_approve(&signer);
                return Ok(ApiResponse::status(status::forbidden_with(
                    r.name, r.group, name, &message,
                )));
            }
        }
        self.sign_if_approved(&mut next);
        if let Some(m) = next["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let expected = match meta_str(&body, "resourceVersion") {
            "" => Some(stored.revision),
            rv => rv.parse().ok(),
        };
        self.write(r, &key, name, next, (expected, &current), true)
            .await
    }

    /// The signer: an Approved CSR for a built-in signer gets its certificate, or a Failed
    /// condition saying why the signer refused.
    fn sign_if_approved(&self, csr: &mut Value) {
        let Some(ca) = &self.inner.signer else { return };
        if !has_condition(csr, "Approved")
            || has_condition(csr, "Failed")
            || csr["status"]["certificate"].is_string()
        {
            return;
        }
        let now = self.inner.clock.now();
        match crate::csr::sign(ca, csr, now, crate::csr::DEFAULT_MAX_DURATION) {
            Ok(pem) => {
                use base64::Engine;
                csr["status"]["certificate"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(pem));
            }
            // Only a broken signer rule becomes a Failed condition; an unknown signer or an
            // expired CA leaves the CSR approved and unsigned, as kube-controller-manager does.
            Err(failure) => {
                if let Some(condition) = failure.failed_condition(now) {
                    match csr["status"]["conditions"].as_array_mut() {
                        Some(c) => c.push(condition),
                        None => csr["status"]["conditions"] = json!([condition]),
                    }
                }
            }
        }
    }

    async fn auto_approval(
        &self,
        csr: &Value,
        user: &UserInfo,
    ) -> Result<Option<Value>, StoreError> {
        let state = self.rbac_state().await?;
        let can = |attrs: &Attributes| rbac::authorize_request(&state, &[], attrs).is_allowed();
        Ok(crate::csr::should_auto_approve(
            csr,
            user,
            can,
            self.inner.clock.now(),
        ))
    }

    /// SelfSubjectReview, (Self)SubjectAccessReview, SelfSubjectRulesReview: answered, never stored.
    async fn review(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let body = match decode_body(req, r) {
            Ok(b) => b,
            Err(resp) => return Ok(resp),
        };
        let mut out = json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": {"creationTimestamp": null}});
        out["spec"] = body["spec"].clone();
        match r.name {
            "selfsubjectreviews" => {
                out["status"] = json!({"userInfo": req.user.to_json()});
            }
            "selfsubjectaccessreviews" | "subjectaccessreviews" | "localsubjectaccessreviews" => {
                let subject = if r.name == "selfsubjectaccessreviews" {
                    req.user.clone()
                } else {
                    let spec = &body["spec"];
                    UserInfo {
                        name: spec["user"].as_str().unwrap_or("").into(),
                        uid: spec["uid"].as_str().unwrap_or("").into(),
                        groups: spec["groups"]
                            .as_array()
                            .map(|g| {
                                g.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        extra: Default::default(),
                    }
                };
                let Some(mut attrs) = Attributes::from_access_review_spec(&subject, &body["spec"])
                else {
                    let cause = status::Cause::required("spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes must be specified");
                    return Ok(ApiResponse::status(status::invalid(
                        r.kind,
                        r.group,
                        "",
                        &[cause],
                    )));
                };
                if let Some(ns) = ns {
                    attrs.namespace = ns.to_string();
                }
                let decision = self.authorize(&attrs).await?;
                let mut st = json!({"allowed": decision.is_allowed()});
                if matches!(decision, Decision::Deny(_)) {
                    st["denied"] = json!(true);
                }
                if !decision.reason().is_empty() {
                    st["reason"] = json!(decision.reason());
                }
                out["status"] = st;
            }
            "selfsubjectrulesreviews" => {
                let namespace = body["spec"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string();
                let state = self.rbac_state().await?;
                let (resource_rules, non_resource_rules) =
                    rbac::rules_for(&state, &req.user, &namespace);
                out["status"] = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
            }
            "tokenreviews" => {
                let token = body["spec"]["token"].as_str().unwrap_or("");
                let audiences: Vec<String> = body["spec"]["audiences"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let outcome = match self.service_account_keys() {
                    Some(keys) => {
                        crate::service_accounts::authenticate(
                            &keys,
                            &self.inner.store,
                            token,
                            &audiences,
                            self.inner.clock.now(),
                        )
                        .await?
                    }
                    None => Bearer::NotOurs,
                };
                out["status"] = crate::service_accounts::review_status(&outcome);
            }
            _ => {
                out["status"] = json!({});
            }
        }
        Ok(ApiResponse::json(201, &out))
    }
}

fn has_condition(csr: &Value, kind: &str) -> bool {
    csr["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
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

/// The request's authorizer attributes (k8s RequestInfo → authorizer.Attributes).
pub fn attributes(user: &UserInfo, info: &RequestInfo) -> Attributes {
    if !info.resource_request {
        return Attributes::non_resource(user, &info.verb, &info.path);
    }
    let mut attrs = Attributes::resource(
        user,
        &info.verb,
        info.namespace.as_deref().unwrap_or(""),
        &info.group,
        &info.resource,
    )
    .with_name(&info.name)
    .with_subresource(&info.subresource);
    attrs.api_version = info.version.clone();
    // Kubernetes authorizes subresource requests with the parent's verb.
    if info.subresource == "binding" || info.subresource == "log" {
        attrs.verb = if info.subresource == "log" {
            "get".into()
        } else {
            "create".into()
        };
    }
    attrs
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

#[cfg(test)]
mod selector_tests {
    use super::*;

    fn pick(selector: &str) -> Vec<&'static str> {
        let pods = [
            ("web", json!({"app": "web", "tier": "front"})),
            ("api", json!({"app": "api"})),
            ("db", json!({})),
        ];
        let s = Selectors::parse(&format!(
            "labelSelector={}",
            selector
                .replace(' ', "%20")
                .replace('(', "%28")
                .replace(')', "%29")
                .replace(',', "%2C")
                .replace('!', "%21")
                .replace('=', "%3D")
        ));
        pods.iter()
            .filter(|(_, labels)| s.matches(&json!({"metadata": {"labels": labels}})))
            .map(|(name, _)| *name)
            .collect()
    }

    #[test]
    fn label_selectors_speak_the_whole_grammar_kubectl_sends() {
        assert_eq!(pick("app=web"), ["web"]);
        assert_eq!(pick("app==web"), ["web"]);
        assert_eq!(pick("app!=web"), ["api", "db"]);
        assert_eq!(pick("app in (web,api)"), ["web", "api"]);
        assert_eq!(pick("app notin (web)"), ["api", "db"]);
        assert_eq!(pick("tier"), ["web"]);
        assert_eq!(pick("!tier"), ["api", "db"]);
        assert_eq!(pick("app in (web,api),!tier"), ["api"]);
    }

    #[test]
    fn field_selectors_compare_strings_and_can_negate() {
        let s = Selectors::parse("fieldSelector=spec.nodeName%21%3Dn1");
        assert!(s.matches(&json!({"spec": {"nodeName": "n2"}})));
        assert!(!s.matches(&json!({"spec": {"nodeName": "n1"}})));
        let s = Selectors::parse("fieldSelector=spec.nodeName%3D");
        assert!(
            s.matches(&json!({"spec": {}})),
            "an unbound pod has nodeName \"\""
        );
    }
}
