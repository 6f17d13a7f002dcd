//! metrics-server: the aggregated API server behind `metrics.k8s.io`, a guest at Alice's door.
//!
//! `kubectl top nodes` asks Alice for `/apis/metrics.k8s.io/v1beta1/nodes`. Alice keeps no
//! such thing: an `apiregistration.k8s.io/v1` APIService, `v1beta1.metrics.k8s.io`, tells her
//! that another server answers for that group, and she passes the request on (kube-aggregator,
//! which runs inside kube-apiserver). On that hop she shows her **front-proxy-client** badge,
//! signed by the front-proxy CA, and names the real caller in `X-Remote-User`,
//! `X-Remote-Group` and `X-Remote-Extra-*`.
//!
//! This server checks that hop as metrics-server (k8s.io/apiserver v0.32's delegating
//! authentication) does: it reads Alice's `extension-apiserver-authentication` ConfigMap, and
//! believes the headers only from a badge signed by the `requestheader-client-ca-file` whose CN
//! is among `requestheader-allowed-names`; everything else is a 401 in its own log. It then asks
//! Alice, by SubjectAccessReview, whether the named caller may read the metrics.
//!
//! The figures are the lab's own: no container runs, so each pod's CPU and memory are made from
//! its name (steady, plausible, different per pod), and a node's are the sum of its pods' plus a
//! base load. Every object says so in an annotation.
//!
//! # Layout
//!
//! - [`delegation`]: the ConfigMap read, the request-header and x509 authenticators, the
//!   SubjectAccessReview.
//! - [`door`]: the TLS door with its self-signed badge, and the requests it answers.
//! - [`usage`]: NodeMetrics and PodMetrics from the nodes and pods Alice lists.
//! - [`manifest`]: what `kubectl apply -f components.yaml` would create: the account, its RBAC,
//!   the Service and its Endpoints, and the APIService.
#![forbid(unsafe_code)]

pub mod delegation;
pub mod door;
pub mod manifest;
pub mod usage;

use std::future::Future;

use kubecorp_client::KubeClient;
use kubecorp_trust::{Events, LabClock};
use tokio::net::TcpListener;

/// The name on every event.
pub const COMPONENT: &str = "metrics-server";
/// The group and version served.
pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";
/// The APIService that registers it with Alice.
pub const APISERVICE: &str = "v1beta1.metrics.k8s.io";

/// What metrics-server needs: its client to Alice (its service account's token), the clock and
/// the event stream.
#[derive(Clone)]
pub struct MetricsConfig {
    /// `kube-system/metrics-server`'s client: reads the ConfigMap, nodes and pods, and asks
    /// SubjectAccessReviews.
    pub client: KubeClient,
    pub clock: LabClock,
    pub events: Events,
    /// Where its self-signed badge's keys come from (the lab's, see
    /// [`kubecorp_pki::key_source`]).
    pub keys: kubecorp_pki::key_source::KeySource,
}

/// Why metrics-server stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Its self-signed serving badge could not be made (Go: `unable to generate self signed
    /// cert`).
    #[error("metrics-server: error creating self-signed certificates: unable to generate self signed cert: {problem}")]
    SelfSigned { problem: String },
    /// The private directory that holds the badge could not be made or written.
    #[error("metrics-server: keeping the self-signed certificate in {dir}: {problem}")]
    Store { dir: String, problem: String },
    /// Accepting connections failed for good.
    #[error("metrics-server: accepting on {addr}: {reason}")]
    Accept { addr: String, reason: String },
}

/// Serves `metrics.k8s.io` on `listener` until `shutdown` completes.
pub async fn run(
    config: MetricsConfig,
    listener: TcpListener,
    shutdown: impl Future,
) -> Result<(), MetricsError> {
    door::serve(config, listener, shutdown).await
}
