//! Alice's storage as kube-apiserver's etcd client keeps it, against Charlie and against the
//! real etcd 3.4 (Debian's `etcd-server`, started with the lab's PKI): reads and writes ride one
//! kept HTTP/2 connection; etcd's own watch feeds her watch cache, so a change made through a
//! second apiserver reaches a watch through her; and when etcd is down or refuses her badge,
//! kubectl prints what kube-apiserver answers, `Error from server: context deadline exceeded`.

use std::path::{Path, PathBuf};

use kubecorp_apiserver::store::grpc::GrpcError;
use kubecorp_apiserver::store::{EtcdStore, Store, StoreError};
use kubecorp_client::dial::Reply;
use kubecorp_client::KubeClient;
use kubecorp_office::start::{self, shutdown_pair, Stop};
use kubecorp_office::{Office, OfficeOptions, Staff, CONTROL_PLANE_NODE};
use kubecorp_pki::{Authority, Lab};
use kubecorp_testkit::etcd::RealEtcd;
use kubecorp_testkit::{eventually, free_port, run_tool, tool};
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::{Event, Events, LabClock, Stage};
use serde_json::json;
use tokio::net::TcpListener;

/// The CN on `apiserver-etcd-client` (kubeadm's).
const ALICE_AT_THE_VAULT: &str = "kube-apiserver-etcd-client";

/// The vault Alice stores in.
enum Vault {
    /// Charlie, stopped when `stop` fires.
    Charlie { stop: Stop },
    /// `/usr/bin/etcd`, killed on drop.
    Real(RealEtcd),
}

impl Vault {
    /// Stops the vault: Charlie shuts his door; the real etcd is killed.
    fn stop(&mut self) {
        match self {
            Vault::Charlie { stop } => stop.stop(),
            Vault::Real(etcd) => etcd.stop(),
        }
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A quiet office (Alice only) storing in `vault`, its lab under `dir`.
struct Floor {
    _dir: tempfile::TempDir,
    lab: PathBuf,
    office: Office,
    vault: Vault,
    /// The vault's client port.
    port: u16,
}

fn pki_lab(dir: &Path, clock: &LabClock) -> Lab {
    let lab = Lab::new(dir);
    let algorithm = OfficeOptions::ephemeral(dir).key_algorithm;
    kubecorp_office::ensure_pki(&lab, CONTROL_PLANE_NODE, clock, algorithm).expect("the lab's PKI");
    lab
}

impl Floor {
    /// Alice on Charlie (started apart from the office, so the test can stop him).
    async fn on_charlie() -> Floor {
        let dir = tempfile::tempdir().unwrap();
        let lab_dir = dir.path().join("lab");
        let clock = LabClock::real();
        let events = Events::new();
        let lab = pki_lab(&lab_dir, &clock);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, shutdown) = shutdown_pair();
        start::etcd(&lab, listener, &clock, &events, &shutdown);
        let office =
            open_office(&lab_dir, format!("https://127.0.0.1:{port}"), clock, events).await;
        Floor {
            _dir: dir,
            lab: lab_dir,
            office,
            vault: Vault::Charlie { stop },
            port,
        }
    }

    /// Alice on the real etcd 3.4, started with the lab's etcd PKI as kubeadm starts etcd.
    async fn on_real_etcd(test: &str) -> Option<Floor> {
        let etcd = tool("etcd", test)?;
        let dir = tempfile::tempdir().unwrap();
        let lab_dir = dir.path().join("lab");
        let clock = LabClock::real();
        let lab = pki_lab(&lab_dir, &clock);
        // Healthy before Alice starts, so her start-up deadline is not spent on etcd's own.
        let real = RealEtcd::start(&etcd, CONTROL_PLANE_NODE, &lab.pki_dir(), dir.path()).await;
        let port = real.client_port;
        let office = open_office(&lab_dir, real.client_url.clone(), clock, Events::new()).await;
        Some(Floor {
            _dir: dir,
            lab: lab_dir,
            office,
            vault: Vault::Real(real),
            port,
        })
    }

    fn admin(&self) -> KubeClient {
        self.office.client("kubectl", "admin.conf").unwrap()
    }

    /// Charlie's narration of Alice's TLS connections: one line per connection.
    fn alices_connections(&self) -> usize {
        self.office
            .events
            .snapshot()
            .iter()
            .filter(|e| alice_came_in(e))
            .count()
    }
}

fn alice_came_in(e: &Event) -> bool {
    e.to == "etcd"
        && e.stage == Stage::Tls
        && e.allowed
        && e.identity
            .as_ref()
            .is_some_and(|i| i.cn == ALICE_AT_THE_VAULT)
}

/// Alice's first log line containing `needle`, once she has written it (`what` names the wait).
async fn alice_logged(floor: &Floor, what: &str, needle: &str) -> String {
    eventually(what, || async {
        floor
            .office
            .events
            .snapshot()
            .into_iter()
            .filter(|e| e.log_owner() == "apiserver")
            .filter_map(|e| e.server_log)
            .find(|l| l.contains(needle))
    })
    .await
}

async fn open_office(lab: &Path, etcd: String, clock: LabClock, events: Events) -> Office {
    Office::start(OfficeOptions {
        staff: Staff::NONE,
        external_etcd: Some(etcd),
        clock,
        events,
        ..OfficeOptions::ephemeral(lab)
    })
    .await
    .expect("the office opens on the vault")
}

/// This process's established TCP connections to `port`, as the kernel counts them (the
/// judge for the real etcd, which narrates nothing; etcd's own gateway also dials its port).
fn established_to(port: u16) -> usize {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote_port = fields
                .get(2)
                .and_then(|r| r.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            remote_port == Some(port)
                && fields.get(3) == Some(&"01")
                && fields.get(9).is_some_and(|inode| ours.contains(*inode))
        })
        .count()
}

/// Twenty calls through Alice: five ConfigMaps created, read, patched and deleted.
async fn twenty_calls(admin: &KubeClient) {
    let path = "/api/v1/namespaces/default/configmaps";
    for i in 0..5 {
        let name = format!("kept-{i}");
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": "0"}});
        admin.create(path, &body).await.unwrap();
        let read = admin.get(&format!("{path}/{name}")).await.unwrap();
        assert_eq!(read["data"]["n"], "0");
        admin
            .merge_patch(&format!("{path}/{name}"), &json!({"data": {"n": "1"}}))
            .await
            .unwrap();
        admin.delete(&format!("{path}/{name}")).await.unwrap();
    }
}

#[tokio::test]
async fn twenty_calls_through_alice_ride_one_kept_connection_to_charlie() {
    let floor = Floor::on_charlie().await;
    let admin = floor.admin();
    twenty_calls(&admin).await;
    assert_eq!(
        floor.alices_connections(),
        1,
        "Charlie narrates one TLS connection from Alice for her start-up and twenty calls"
    );
    assert_eq!(established_to(floor.port), 1);
    // Each call is narrated as its gRPC method on the one connection.
    let events = floor.office.events.snapshot();
    let txns = events
        .iter()
        .filter(|e| e.to == "etcd" && e.detail.as_deref() == Some("gRPC /etcdserverpb.KV/Txn OK"))
        .count();
    assert!(
        txns >= 15,
        "creates, patches and deletes are transactions: {txns}"
    );
    assert!(events
        .iter()
        .any(|e| e.detail.as_deref() == Some("gRPC /etcdserverpb.KV/Range OK")));
    assert!(events
        .iter()
        .any(|e| e.detail.as_deref() == Some("gRPC /etcdserverpb.Watch/Watch OK")));
}

/// kube-apiserver closes its etcd client when it shuts down; so does Alice, watch and all, so
/// Charlie is not left draining her connection until his deadline cuts it.
#[tokio::test]
async fn alice_closing_her_storage_ends_her_connection_to_charlie_watch_included() {
    let floor = Floor::on_charlie().await;
    let admin = floor.admin();
    twenty_calls(&admin).await;
    assert_eq!(established_to(floor.port), 1, "one kept connection first");
    let store = floor.office.api.store().clone();
    store.close().await;
    eventually("Alice's connection to Charlie is closed", || async {
        (established_to(floor.port) == 0).then_some(())
    })
    .await;
    // A call after it is not dialled again: grpc-go's own words for a closed ClientConn.
    let error = store
        .get("/registry/namespaces/default")
        .await
        .expect_err("a closed store answers nothing");
    assert_eq!(
        error.to_string(),
        "rpc error: code = Canceled desc = grpc: the client connection is closing"
    );
    assert_eq!(established_to(floor.port), 0, "nothing dialled again");
}

#[tokio::test]
async fn twenty_calls_through_alice_ride_one_kept_connection_to_the_real_etcd() {
    let Some(floor) =
        Floor::on_real_etcd("twenty_calls_through_alice_ride_one_kept_connection_to_the_real_etcd")
            .await
    else {
        return;
    };
    twenty_calls(&floor.admin()).await;
    assert_eq!(established_to(floor.port), 1);
}

/// A watch through Alice from the list's resourceVersion, then a ConfigMap created through a
/// second apiserver on the same etcd: Alice's watch sees it ADDED.
async fn a_second_apiserver_s_change_reaches_alice_s_watch(floor: &Floor) {
    let admin = floor.admin();
    let path = "/api/v1/namespaces/default/configmaps";
    let listed = admin.get(path).await.unwrap();
    let rv = listed["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watch = admin
        .watch(&format!("{path}?watch=true&resourceVersion={rv}"))
        .await
        .unwrap();

    let clock = floor.office.clock.clone();
    let events = floor.office.events.clone();
    let (_stop, shutdown) = shutdown_pair();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second_addr = listener.local_addr().unwrap();
    let (_second, _task) = start::apiserver(
        &Lab::new(&floor.lab),
        listener,
        &floor.office.etcd_url,
        &clock,
        &events,
        &shutdown,
        None,
    )
    .await
    .expect("a second apiserver opens on the same etcd");
    let second = admin
        .clone()
        .with_server(&format!("https://{second_addr}"))
        .unwrap();
    second
        .create(
            path,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-the-second-desk"}}),
        )
        .await
        .unwrap();

    let seen = tokio::time::timeout(kubecorp_testkit::WAIT, async {
        loop {
            let event = watch.next().await.expect("the watch stays open").unwrap();
            if event.object["metadata"]["name"] == "from-the-second-desk" {
                return event;
            }
        }
    })
    .await
    .expect("Alice's watch hears of the second apiserver's ConfigMap");
    assert_eq!(seen.kind, "ADDED");
}

#[tokio::test]
async fn a_watch_through_alice_sees_a_change_made_through_a_second_apiserver_on_charlie() {
    let floor = Floor::on_charlie().await;
    a_second_apiserver_s_change_reaches_alice_s_watch(&floor).await;
}

#[tokio::test]
async fn a_watch_through_alice_sees_a_change_made_through_a_second_apiserver_on_the_real_etcd() {
    let Some(floor) = Floor::on_real_etcd(
        "a_watch_through_alice_sees_a_change_made_through_a_second_apiserver_on_the_real_etcd",
    )
    .await
    else {
        return;
    };
    a_second_apiserver_s_change_reaches_alice_s_watch(&floor).await;
}

/// kubectl's text for a list through Alice, from the real kubectl when it is installed.
fn kubectl_get_configmaps(floor: &Floor, test: &str) -> Option<kubecorp_testkit::Run> {
    let kubectl = tool("kubectl", test)?;
    let server = format!("https://{}", floor.office.apiserver_addr);
    let kubeconfig = floor.lab.join("admin.conf");
    Some(run_tool(
        &kubectl,
        [
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--server",
            &server,
            "get",
            "configmaps",
        ],
    ))
}

/// The admin's read of the configmaps fails as a kube-apiserver that cannot reach etcd answers
/// it: kubectl prints `context deadline exceeded`.
async fn reading_configmaps_times_out(admin: &KubeClient) {
    let refused = admin
        .get("/api/v1/namespaces/default/configmaps")
        .await
        .unwrap_err();
    assert_eq!(
        refused.kubectl_text(),
        "Error from server: context deadline exceeded"
    );
}

/// The vault stops: kubectl prints kube-apiserver's 500 for clientv3's error, and Alice's log
/// says why her dial failed.
async fn with_the_vault_down_kubectl_reads_context_deadline_exceeded(mut floor: Floor, test: &str) {
    floor.admin().get("/api/v1/namespaces").await.unwrap();
    floor.vault.stop();
    let admin = floor.admin();
    reading_configmaps_times_out(&admin).await;
    if let Some(run) = tokio::task::block_in_place(|| kubectl_get_configmaps(&floor, test)) {
        run.failure(1)
            .stderr_has("Error from server: context deadline exceeded");
    }
    let logged = alice_logged(&floor, "Alice logs her failed dial", "connection refused").await;
    assert_eq!(
        logged,
        format!(
            "[core] grpc: addrConn.createTransport failed to connect to {{Addr: \"127.0.0.1:{port}\", ServerName: \"127.0.0.1:{port}\", }}. Err: connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:{port}: connect: connection refused\"",
            port = floor.port
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_charlie_down_kubectl_reads_kube_apiservers_context_deadline_exceeded() {
    let test = "with_charlie_down_kubectl_reads_kube_apiservers_context_deadline_exceeded";
    with_the_vault_down_kubectl_reads_context_deadline_exceeded(Floor::on_charlie().await, test)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_real_etcd_down_kubectl_reads_kube_apiservers_context_deadline_exceeded() {
    let test = "with_the_real_etcd_down_kubectl_reads_kube_apiservers_context_deadline_exceeded";
    let Some(floor) = Floor::on_real_etcd(test).await else {
        return;
    };
    with_the_vault_down_kubectl_reads_context_deadline_exceeded(floor, test).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_charlie_refuses_alices_expired_badge_kubectl_reads_context_deadline_exceeded_and_her_log_says_why(
) {
    let floor = Floor::on_charlie().await;
    let admin = floor.admin();
    admin.get("/api/v1/namespaces").await.unwrap();
    kubecorp_pki::fault::inflict(
        &Lab::new(&floor.lab),
        kubecorp_pki::fault::Fault::Expire,
        "apiserver-etcd-client",
        floor.office.clock.now(),
    )
    .unwrap();
    reading_configmaps_times_out(&admin).await;
    let logged = alice_logged(
        &floor,
        "Alice logs the refused handshake",
        "authentication handshake failed",
    )
    .await;
    assert!(
        logged.ends_with("Err: connection error: desc = \"transport: authentication handshake failed: remote error: tls: expired certificate\""),
        "{logged}"
    );
}

#[tokio::test]
async fn events_share_one_lease_and_etcd_forgets_them_after_kube_apiservers_hour_and_a_minute() {
    let floor = Floor::on_charlie().await;
    let admin = floor.admin();
    let path = "/api/v1/namespaces/default/events";
    for name in ["web.scheduled", "web.pulled"] {
        admin
            .create(
                path,
                &json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
                    "reason": "Scheduled", "message": "Successfully assigned default/web", "type": "Normal"}),
            )
            .await
            .unwrap();
    }
    // `--event-ttl` 1 h: the lease manager asks for 3660 s and attaches both Events to it.
    let grants = floor
        .office
        .events
        .snapshot()
        .iter()
        .filter(|e| e.detail.as_deref() == Some("gRPC /etcdserverpb.Lease/LeaseGrant OK"))
        .count();
    assert_eq!(grants, 1);

    floor.office.clock.advance(time::Duration::seconds(3600));
    admin.get(&format!("{path}/web.scheduled")).await.unwrap();
    floor.office.clock.advance(time::Duration::seconds(61));
    let gone = eventually("etcd forgets the Event with its lease", || async {
        admin.get(&format!("{path}/web.scheduled")).await.err()
    })
    .await;
    assert_eq!(
        gone.kubectl_text(),
        "Error from server (NotFound): events \"web.scheduled\" not found"
    );
}

/// A read of `/registry/namespaces/default` from Alice's store at `port`, showing `badge`.
async fn read_showing(lab: &Lab, port: u16, badge: &str) -> StoreError {
    let store = Store::Etcd(
        EtcdStore::connect(
            &format!("https://127.0.0.1:{port}"),
            Some(CertSource::pem_files(
                lab.cert_path(badge),
                lab.key_path(badge),
            )),
            TrustSource::bundle(lab.ca_cert_path(Authority::Etcd)),
            LabClock::real(),
            Events::new(),
        )
        .unwrap(),
    );
    store
        .get("/registry/namespaces/default")
        .await
        .expect_err("the read gets no answer")
}

/// The bootstrap tries again only a write the vault did not answer (`StoreError::unanswered`):
/// a badge refused in the handshake, or nothing listening, is an answer that trying again does
/// not change; a vault that took the connection and said nothing may answer a later try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_badge_or_a_closed_port_is_an_answer_and_a_vault_that_says_nothing_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let clock = LabClock::real();
    let lab = pki_lab(dir.path(), &clock);

    // Charlie, who refuses a badge the cluster CA signed, in the handshake.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let charlie = listener.local_addr().unwrap().port();
    let (_stop, shutdown) = shutdown_pair();
    start::etcd(&lab, listener, &clock, &Events::new(), &shutdown);
    // A port nothing listens on: `connection refused`.
    let closed = free_port();
    // A vault that takes the connection and never says a word: each call's deadline passes
    // inside the handshake.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let quiet = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            kept.push(tcp);
        }
    });

    // Each read waits out its deadline; the three wait side by side.
    let (refused, nobody, unanswered) = tokio::join!(
        read_showing(&lab, charlie, "apiserver-kubelet-client"),
        read_showing(&lab, closed, "apiserver-etcd-client"),
        read_showing(&lab, quiet, "apiserver-etcd-client"),
    );
    held.abort();

    assert_eq!(refused.to_string(), "context deadline exceeded");
    let StoreError::Etcd(GrpcError::DeadlineExceeded {
        last_dial: Some(dial),
    }) = &refused
    else {
        panic!("not a refused dial: {refused:?}");
    };
    assert_eq!(dial.reply, Reply::Refusal);
    assert_eq!(
        dial.desc,
        "transport: authentication handshake failed: remote error: tls: unknown certificate authority"
    );
    assert!(!refused.unanswered());

    assert_eq!(nobody.to_string(), "context deadline exceeded");
    assert!(!nobody.unanswered(), "{nobody:?}");

    assert_eq!(unanswered.to_string(), "context deadline exceeded");
    assert!(unanswered.unanswered(), "{unanswered:?}");
}
