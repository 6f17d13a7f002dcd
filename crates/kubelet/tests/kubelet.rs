//! The CEO against a running office, judged by the real kubectl and curl: the harness (one
//! office and one kubelet on loopback), registration and pods here; `kubectl logs` through
//! Alice in `kubelet/logs.rs`, strangers at the door in `kubelet/door.rs`, the client badge
//! renewed and repaired in `kubelet/badges.rs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubecorp_apiserver::pod_log::KubeletClientConfig;
use kubecorp_client::KubeClient;
use kubecorp_kubelet::KubeletConfig;
use kubecorp_office::{Office, OfficeOptions, Staff, CONTROL_PLANE_NODE};
use kubecorp_pki::Lab;
use kubecorp_testkit::{eventually, tool, Run};
use kubecorp_trust::tls::CertSource;
use kubecorp_trust::Event;
use serde_json::{json, Value};
use tokio::sync::oneshot;

#[path = "kubelet/badges.rs"]
mod badges;
#[path = "kubelet/door.rs"]
mod door;
#[path = "kubelet/logs.rs"]
mod logs;

const NODE: &str = CONTROL_PLANE_NODE;

/// A real tool run to the end off the runtime's threads.
async fn run_tool(tool: &Path, args: Vec<String>) -> Run {
    let tool = tool.to_owned();
    tokio::task::spawn_blocking(move || kubecorp_testkit::run_tool(&tool, args))
        .await
        .unwrap()
}

/// An office (etcd and Alice only) and one kubelet on loopback.
struct Lab1 {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    office: Office,
    kubelet_addr: SocketAddr,
    cert_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Lab1 {
    async fn start(rotate_server_certificates: bool) -> Lab1 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let office = Office::start(OfficeOptions {
            staff: Staff::NONE,
            ..OfficeOptions::ephemeral(&dir)
        })
        .await
        .expect("the office opens");
        let lab = Lab::new(&dir);
        // What the office will pass: --kubelet-client-certificate/--kubelet-client-key.
        office.api.set_kubelet_client(Some(KubeletClientConfig {
            cert: CertSource::pem_files(
                lab.cert_path("apiserver-kubelet-client"),
                lab.key_path("apiserver-kubelet-client"),
            ),
            events: office.events.clone(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let kubelet_addr = listener.local_addr().unwrap();
        let mut config = KubeletConfig::for_lab(
            &lab,
            NODE,
            kubelet_addr.ip(),
            &dir.join("kubelet.conf"),
            &office.apiserver_url(),
            office.clock.clone(),
            office.events.clone(),
        )
        .unwrap();
        let cert_dir = config.cert_dir.clone();
        config.rotate_server_certificates = rotate_server_certificates;
        config.sync_interval = Duration::from_millis(50);
        config.heartbeat_interval = Duration::from_millis(200);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = kubecorp_kubelet::run(config, listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        Lab1 {
            tmp,
            dir,
            office,
            kubelet_addr,
            cert_dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The outside judge `tool` (or `None`, `test` skipped without it) and a started lab.
    async fn judged_by(tool_name: &str, test: &str) -> Option<(Lab1, PathBuf)> {
        let judge = tool(tool_name, test)?;
        Some((Lab1::start(false).await, judge))
    }

    /// [`Lab1::judged_by`], with a kubelet that asks for its serving badge by CSR.
    async fn rotating_judged_by(tool_name: &str, test: &str) -> Option<(Lab1, PathBuf)> {
        let judge = tool(tool_name, test)?;
        Some((Lab1::start(true).await, judge))
    }

    fn admin(&self) -> KubeClient {
        self.office.client("kubectl", "admin.conf").unwrap()
    }

    /// kubectl as the admin, with a fresh discovery cache.
    async fn kubectl(&self, kubectl: &Path, args: &[&str]) -> Run {
        let mut all = vec![
            "--kubeconfig".to_string(),
            self.dir.join("admin.conf").to_string_lossy().into_owned(),
            "--server".to_string(),
            self.office.apiserver_url(),
            "--cache-dir".to_string(),
            self.tmp
                .path()
                .join("kube-cache")
                .to_string_lossy()
                .into_owned(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run_tool(kubectl, all).await
    }

    /// Creates pod `web` (one container `web`) and binds it to the node as the admin.
    async fn bound_pod(&self) {
        let admin = self.admin();
        kubecorp_testkit::office::web_pod(&admin).await;
        admin
            .create(
                "/api/v1/namespaces/default/pods/web/binding",
                &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}}),
            )
            .await
            .unwrap();
    }

    /// Pod `name` once the kubelet reports it Running.
    async fn running(&self, name: &str) -> Value {
        let admin = self.admin();
        let path = format!("/api/v1/namespaces/default/pods/{name}");
        eventually(&format!("pod {name} is Running"), || async {
            let pod = admin.get(&path).await.ok()?;
            (pod["status"]["phase"] == "Running").then_some(pod)
        })
        .await
    }

    /// Pod `web` bound to the node and reported Running.
    async fn web_running(&self) -> Value {
        self.bound_pod().await;
        self.running("web").await
    }

    /// The Node object, once the kubelet has registered it.
    async fn registered_node(&self) -> Value {
        let admin = self.admin();
        let path = format!("/api/v1/nodes/{NODE}");
        eventually("the node is registered", || async {
            admin.get(&path).await.ok()
        })
        .await
    }

    /// The first server log line of an event `pick` accepts that `line` accepts, waiting for it.
    async fn logged(
        &self,
        what: &str,
        pick: impl Fn(&Event) -> bool,
        line: impl Fn(&str) -> bool,
    ) -> String {
        eventually(what, || async {
            self.office
                .events
                .snapshot()
                .into_iter()
                .filter(|e| pick(e))
                .filter_map(|e| e.server_log)
                .find(|l| line(l))
        })
        .await
    }

    /// The badge of the lab's kubeconfig `conf` written out as PEM files: (cert, key).
    fn badge_files(&self, conf: &str) -> (PathBuf, PathBuf) {
        let conf = self.dir.join(conf);
        let credentials = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf)
            .unwrap()
            .credentials(&conf)
            .unwrap();
        let stem = conf.file_stem().unwrap().to_string_lossy().into_owned();
        let cert = self.tmp.path().join(format!("{stem}.crt"));
        let key = self.tmp.path().join(format!("{stem}.key"));
        std::fs::write(&cert, &credentials.cert_pem).unwrap();
        std::fs::write(&key, &credentials.key_pem).unwrap();
        (cert, key)
    }

    /// Breaks kubelet.conf: the same name, but signed by a stranger's CA. Hands back what the
    /// file held, for [`Lab1::restore_kubelet_conf`].
    fn break_kubelet_conf(&self) -> Vec<u8> {
        let conf = self.dir.join("kubelet.conf");
        let original = std::fs::read(&conf).unwrap();
        let (cert, key) = rogue_badge(
            self.tmp.path(),
            &format!("system:node:{NODE}"),
            &["system:nodes"],
        );
        let mut broken = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf).unwrap();
        broken.set_client_cert(
            &std::fs::read_to_string(cert).unwrap(),
            &std::fs::read_to_string(key).unwrap(),
        );
        self.restore_kubelet_conf(broken.to_yaml().as_bytes());
        original
    }

    /// Writes `bytes` as kubelet.conf, the way an admin repairs it.
    fn restore_kubelet_conf(&self, bytes: &[u8]) {
        let conf = self.dir.join("kubelet.conf");
        kubecorp_pki::fs::write_atomic(&conf, bytes, kubecorp_pki::fs::Mode::Secret).unwrap();
    }

    /// curl's arguments for `path` on the kubelet's door, with a badge if given; curl prints
    /// the body, then the status code on a line of its own.
    fn curl_args(&self, path: &str, badge: Option<(&Path, &Path)>) -> Vec<String> {
        let mut args = vec!["-sk".to_string(), "-w".into(), "\n%{http_code}".into()];
        if let Some((cert, key)) = badge {
            args.push("--cert".into());
            args.push(cert.to_string_lossy().into_owned());
            args.push("--key".into());
            args.push(key.to_string_lossy().into_owned());
        }
        args.push(format!("https://{}{path}", self.kubelet_addr));
        args
    }

    /// Stops the kubelet only; the office stays open.
    async fn stop_kubelet(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    async fn stop(mut self) {
        self.stop_kubelet().await;
        self.office.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_registers_its_node_ready_and_reports_a_bound_pod_running_with_a_pod_ip() {
    let lab = Lab1::start(false).await;
    let admin = lab.admin();
    let node = lab.registered_node().await;
    let ready = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["reason"], "KubeletReady");
    assert_eq!(
        node["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}])
    );
    assert_eq!(
        node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
        lab.kubelet_addr.port()
    );

    let lease = eventually("the node lease is renewed", || {
        let admin = admin.clone();
        async move {
            admin
                .get(&format!(
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}"
                ))
                .await
                .ok()
        }
    })
    .await;
    assert_eq!(lease["spec"]["holderIdentity"], NODE);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);

    let pod = lab.web_running().await;
    let ip = pod["status"]["podIP"].as_str().unwrap();
    assert!(ip.starts_with("10.244."), "{ip}");
    assert_eq!(pod["status"]["hostIP"], "127.0.0.1");
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(status["name"], "web");
    assert_eq!(status["ready"], true);
    assert!(status["state"]["running"]["startedAt"].is_string());
    assert!(pod["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True"));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_shows_the_node_ready_and_the_pod_running_with_its_ip() {
    let test = "kubectl_get_shows_the_node_ready_and_the_pod_running_with_its_ip";
    let Some((lab, kubectl)) = Lab1::judged_by("kubectl", test).await else {
        return;
    };
    lab.web_running().await;
    let nodes = lab.kubectl(&kubectl, &["get", "nodes"]).await;
    assert!(
        nodes
            .stdout
            .lines()
            .any(|l| l.starts_with(NODE) && l.split_whitespace().nth(1) == Some("Ready")),
        "{nodes:?}"
    );
    let pods = lab.kubectl(&kubectl, &["get", "pods", "-o", "wide"]).await;
    assert!(
        pods.stdout.contains("Running") && pods.stdout.contains("10.244."),
        "{pods:?}"
    );

    lab.stop().await;
}

/// Writes a badge for `cn`, `orgs` signed by a CA the cluster never heard of (also named
/// `kubernetes`); returns (cert, key).
fn rogue_badge(dir: &Path, cn: &str, orgs: &[&str]) -> (PathBuf, PathBuf) {
    use kubecorp_pki::issue::{Ca, Shape, CA_VALIDITY};
    let now = time::OffsetDateTime::now_utc();
    let ca = Ca::generate(
        "kubernetes",
        kubecorp_pki::KeyAlgorithm::EcdsaP256.generate().unwrap(),
        now,
        CA_VALIDITY,
    )
    .unwrap();
    let key = kubecorp_pki::KeyAlgorithm::EcdsaP256.generate().unwrap();
    let shape = Shape {
        common_name: cn.to_owned(),
        organizations: orgs.iter().map(|o| o.to_string()).collect(),
        sans: vec![],
        server_auth: false,
        client_auth: true,
    };
    let cert = ca.issue_now(&shape, &key, now).unwrap();
    let cert_path = dir.join("rogue.crt");
    let key_path = dir.join("rogue.key");
    std::fs::write(&cert_path, kubecorp_pki::cert::cert_pem(&cert)).unwrap();
    std::fs::write(
        &key_path,
        kubecorp_pki::keys::private_key_pem(&key).unwrap(),
    )
    .unwrap();
    (cert_path, key_path)
}
