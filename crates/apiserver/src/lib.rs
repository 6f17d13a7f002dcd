//! Alice at the front door: the kube-apiserver of KubeCorp.
//!
//! Every visitor shows a badge (a client certificate). Alice reads the name and teams off it
//! ([`user`]), asks the rulebook what that person may do ([`rbac`], with the Node authorizer
//! in [`node_authz`] for kubelets), answers refusals in the exact words Kubernetes uses
//! ([`status`]), and runs the badge office where people ask the Founder for new badges
//! ([`csr`]). kubectl 1.32 sends a few requests in protobuf; [`protobuf`] reads them.
//!
//! # Layout
//!
//! - [`user`]: who the badge says you are (`UserInfo`).
//! - [`status`]: metav1.Status bodies for 401, 403, 404, 409, 422 and friends.
//! - [`rbac`]: request attributes, the kubeadm 1.32 default rulebook, and RBAC evaluation.
//! - [`node_authz`]: the Node authorizer, which lets a kubelet see only its own pods' secrets.
//! - [`cluster_policy`]: every ClusterRole and ClusterRoleBinding of kube-apiserver's bootstrap
//!   policy (upstream's fixtures), kubeadm's and the lab's. `admin`, `edit` and `view` are
//!   written as kube-apiserver writes them, without rules: the controller manager's
//!   clusterrole-aggregation controller fills them.
//! - [`namespaced_policy`]: the Roles and RoleBindings of kube-system and kube-public, from
//!   upstream's bootstrap-policy fixtures and kubeadm.
//! - [`node_restriction`]: the NodeRestriction admission plugin: a kubelet writes only its own
//!   Node, Lease and pods, and creates mirror pods only.
//! - [`tokens`]: service-account tokens: signed with `sa.key`, checked against `sa.pub`, their
//!   401 texts, and the published keys (`/openid/v1/jwks`).
//! - [`service_accounts`]: the accounts, TokenRequest, TokenReview and the published keys.
//! - [`csr`]: CertificateSigningRequest validation, admission, approval and signing.
//! - [`protobuf`]: decoding the `application/vnd.kubernetes.protobuf` bodies kubectl sends.
//! - [`impersonation`]: `kubectl --as`: each thing impersonated asked of the authorizers first.
//! - [`aggregator`]: kube-aggregator: APIServices, their availability checks, and requests for
//!   their groups passed on with the front-proxy-client badge and `X-Remote-*` headers.
//! - [`extension_auth`]: the `extension-apiserver-authentication` ConfigMap extension API
//!   servers read to check Alice's front-proxy badge.
//! - [`authn`]: the front-proxy (request-header) and x509 authenticators that reads a badge *after* the handshake (401 on failure).
//! - [`request`], [`registry`]: what a path asks for, and the resources served.
//! - [`decode`], [`schema`]: bodies read as kube-apiserver's decoder reads them (nesting limit,
//!   the Go type of each field), refused in its words.
//! - [`validation`]: object names checked by each kind's rule (DNS-1123, DNS-1035, path segment).
//! - [`pod_log`]: `kubectl logs`, fetched from the pod's kubelet over TLS with
//!   `apiserver-kubelet-client`.
//! - [`api`]: the desk: authorization, then the REST verbs, reviews, approval and signing;
//!   `api/scale.rs` answers `deployments/scale` and `replicasets/scale`.
//! - [`apps`]: Deployments and ReplicaSets on their way in: defaults, `metadata.generation`,
//!   the autoscaling/v1 Scale, their `kubectl get` columns.
//! - [`watch`]: the watch cache: recent changes by revision, replayed and streamed to watchers.
//! - [`store`]: objects under `/registry/…`, in etcd over one kept gRPC connection (or in memory
//!   for tests); etcd's watch feeds the watch cache.
//! - [`discovery`], [`table`], [`meta`]: what kubectl needs to read the answers.
//! - [`openapi`]: `/openapi/v3`, v1.32's schemas of the kinds served (`kubectl explain`).
//! - [`server`]: the TLS front door; every step becomes an event.
#![forbid(unsafe_code)]

pub mod aggregator;
pub mod api;
pub mod apps;
pub mod authn;
pub mod cluster_policy;
pub mod csr;
pub mod decode;
pub mod discovery;
pub mod extension_auth;
pub mod health;
pub mod impersonation;
pub mod meta;
pub mod namespaced_policy;
pub mod node_authz;
pub mod node_restriction;
pub mod openapi;
pub mod pod_log;
pub mod protobuf;
pub mod rbac;
/// The resource table lives with the client, which shares it with the scenario runner.
pub use kubecorp_client::resources as registry;
pub mod request;
pub mod schema;
pub mod server;
pub mod service_accounts;
pub mod status;
pub mod store;
pub mod table;
pub mod tokens;
pub mod user;
pub mod validation;
pub mod watch;
