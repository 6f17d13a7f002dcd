//! A quiet test office: Charlie and Alice only, on ephemeral loopback ports and a lab clock
//! stopped at 09:00, so a component under test is the only one talking and log lines can be
//! compared whole. Also: the objects several crates' tests start from, and kubectl run as the
//! admin against the office.

use std::path::Path;

use kubecorp_client::KubeClient;
use kubecorp_office::{Office, OfficeOptions, Staff};
use kubecorp_trust::{Event, LabClock};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::{eventually, run_tool, Run};

/// The moment the quiet office's lab clock is stopped at.
pub const NINE_AM: OffsetDateTime = datetime!(2026-11-29 09:00:00 UTC);

/// An office with only etcd and the apiserver, its lab in a temporary directory (kept as long
/// as the returned guard lives), the lab clock stopped at [`NINE_AM`].
pub async fn quiet_office() -> (tempfile::TempDir, Office) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let office = Office::start(OfficeOptions {
        staff: Staff::NONE,
        clock: LabClock::fixed(NINE_AM),
        ..OfficeOptions::ephemeral(dir.path().join("lab"))
    })
    .await
    .expect("the office opens");
    (dir, office)
}

/// The whole office as `kubecorp up` opens it, on ephemeral ports and the machine's clock.
pub async fn whole_office() -> (tempfile::TempDir, Office) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let office = Office::start(OfficeOptions::ephemeral(dir.path().join("lab")))
        .await
        .expect("the office opens");
    (dir, office)
}

/// A client dialing Alice as `component`, with the badge of `kubeconfig` in the lab.
pub fn client(office: &Office, component: &str, kubeconfig: &str) -> KubeClient {
    office
        .client(component, kubeconfig)
        .unwrap_or_else(|e| panic!("{component} with {kubeconfig}: {e}"))
}

/// The first event `from` told that `pick` accepts, waiting for it (see [`eventually`]).
pub async fn said(office: &Office, from: &str, what: &str, pick: impl Fn(&Event) -> bool) -> Event {
    eventually(what, || async {
        office
            .events
            .snapshot()
            .into_iter()
            .find(|e| e.from == from && pick(e))
    })
    .await
}

/// The first event `from` told whose detail is exactly `detail`, waiting for it.
pub async fn said_detail(office: &Office, from: &str, detail: &str) -> Event {
    said(office, from, detail, |e| {
        e.detail.as_deref() == Some(detail)
    })
    .await
}

/// Asserts that `from` was refused nothing: no event of theirs says not allowed.
pub fn assert_never_refused(office: &Office, from: &str) {
    let refused: Vec<Event> = office
        .events
        .snapshot()
        .into_iter()
        .filter(|e| e.from == from && !e.allowed)
        .collect();
    assert!(refused.is_empty(), "{from} was refused: {refused:#?}");
}

/// Creates, as `admin`, the service the endpoints and kube-proxy tests route to: `default/web`,
/// cluster IP `10.96.0.10`, selecting `app=web`, TCP port 80 to the pods' 8080. Returns it as
/// Alice stored it.
pub async fn web_service(admin: &KubeClient) -> Value {
    admin
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "web"},
                             "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}}),
        )
        .await
        .expect("the service web is created")
}

/// Creates, as `admin`, a pod `name` labelled `app=web` on the control-plane node, and gives it
/// the IP `ip`, Running and Ready, as the kubelet would report it.
pub async fn ready_pod(admin: &KubeClient, name: &str, ip: &str) {
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "labels": {"app": "web"}},
                    "spec": {"nodeName": "kubecorp-control-plane",
                             "containers": [{"name": "web", "image": "nginx"}]}}),
        )
        .await
        .unwrap();
    admin
        .merge_patch(
            &format!("/api/v1/namespaces/default/pods/{name}/status"),
            &json!({"status": {"phase": "Running", "podIP": ip,
                               "conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .await
        .unwrap();
}

/// Creates, as `admin`, pod `default/web` (one nginx container, also named `web`) on no node
/// yet. Returns it as Alice stored it.
pub async fn web_pod(admin: &KubeClient) -> Value {
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
        )
        .await
        .expect("the pod web is created")
}

/// The real kubectl (`bin`) with the office's `admin.conf` and its discovery cache in `cache`,
/// run off the runtime's threads.
pub async fn kubectl(bin: &Path, office: &Office, cache: &Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        "--kubeconfig".into(),
        office.dir.join("admin.conf").to_string_lossy().into_owned(),
        "--server".into(),
        office.apiserver_url(),
        "--cache-dir".into(),
        cache.to_string_lossy().into_owned(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let bin = bin.to_owned();
    tokio::task::spawn_blocking(move || run_tool(&bin, &all))
        .await
        .expect("kubectl ran to the end")
}
