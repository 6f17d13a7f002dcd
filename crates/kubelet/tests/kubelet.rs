//! The CEO against a running office, judged by the real kubectl and curl: registration, pods,
//! `kubectl logs` through Alice, the pending serving CSR, strangers at the door, and the client
//! badge renewed by CSR when the lab clock says it is time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubecorp_apiserver::pod_log::KubeletClientConfig;
use kubecorp_client::KubeClient;
use kubecorp_kubelet::KubeletConfig;
use kubecorp_office::{Office, OfficeOptions, Staff, CONTROL_PLANE_NODE};
use kubecorp_pki::Lab;
use kubecorp_testkit::{eventually, Run};
use kubecorp_trust::tls::CertSource;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const NODE: &str = CONTROL_PLANE_NODE;

use kubecorp_testkit::tool;

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
        admin
            .create(
                "/api/v1/namespaces/default/pods",
                &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
            )
            .await
            .unwrap();
        admin
            .create(
                "/api/v1/namespaces/default/pods/web/binding",
                &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}}),
            )
            .await
            .unwrap();
    }

    async fn running_pod(&self) -> Value {
        let admin = self.admin();
        eventually("pod web is Running", || {
            let admin = admin.clone();
            async move {
                let pod = admin
                    .get("/api/v1/namespaces/default/pods/web")
                    .await
                    .ok()?;
                (pod["status"]["phase"] == "Running").then_some(pod)
            }
        })
        .await
    }

    fn kubelet_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.kubelet_addr)
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
    let node = eventually("the node is registered", || {
        let admin = admin.clone();
        async move { admin.get(&format!("/api/v1/nodes/{NODE}")).await.ok() }
    })
    .await;
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

    lab.bound_pod().await;
    let pod = lab.running_pod().await;
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
async fn kubectl_logs_reaches_the_kubelet_through_the_apiserver() {
    let test = "kubectl_logs_reaches_the_kubelet_through_the_apiserver";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let lab = Lab1::start(false).await;
    lab.bound_pod().await;
    lab.running_pod().await;

    let logs = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(logs.status, 0, "{logs:?}");
    assert!(
        logs.stdout
            .contains("kubecorp: container web started from image nginx"),
        "{logs:?}"
    );
    assert_eq!(logs.stdout.lines().count(), 5, "{logs:?}");

    let tail = lab.kubectl(&kubectl, &["logs", "web", "--tail=2"]).await;
    assert_eq!(tail.status, 0, "{tail:?}");
    assert_eq!(tail.stdout.lines().count(), 2, "{tail:?}");
    assert!(tail.stdout.contains("is serving requests"), "{tail:?}");

    // The kubelet's own refusal, relayed by Alice as a BadRequest.
    let previous = lab.kubectl(&kubectl, &["logs", "web", "--previous"]).await;
    assert_eq!(previous.status, 1, "{previous:?}");
    assert_eq!(
        previous.stderr.trim_end(),
        "Error from server (BadRequest): previous terminated container \"web\" in pod \"web\" not found"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_shows_the_node_ready_and_the_pod_running_with_its_ip() {
    let test = "kubectl_get_shows_the_node_ready_and_the_pod_running_with_its_ip";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let lab = Lab1::start(false).await;
    lab.bound_pod().await;
    lab.running_pod().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_serving_certificate_rotation_logs_fail_until_an_admin_approves_the_kubelet_serving_csr(
) {
    let test = "with_serving_certificate_rotation_logs_fail_until_an_admin_approves_the_kubelet_serving_csr";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let lab = Lab1::start(true).await;
    lab.bound_pod().await;
    lab.running_pod().await;

    let refused = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(refused.status, 1, "{refused:?}");
    assert_eq!(
        refused.stderr.trim_end(),
        format!(
            "Error from server: Get \"https://127.0.0.1:{}/containerLogs/default/web/web\": remote error: tls: internal error",
            lab.kubelet_addr.port()
        )
    );
    let kubelet_log = lab
        .office
        .events
        .snapshot()
        .into_iter()
        .filter(|e| e.to == "kubelet")
        .filter_map(|e| e.server_log)
        .find(|l| l.starts_with("http: TLS handshake error"))
        .expect("the kubelet logged the refused handshake");
    assert!(
        kubelet_log.starts_with("http: TLS handshake error from 127.0.0.1:")
            && kubelet_log.ends_with(": no serving certificate available for the kubelet"),
        "{kubelet_log}"
    );

    let admin = lab.admin();
    let csr = eventually("the kubelet-serving CSR is pending", || {
        let admin = admin.clone();
        async move {
            let list = admin
                .get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
                .await
                .ok()?;
            list["items"]
                .as_array()?
                .iter()
                .find(|c| {
                    c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
                        && c["spec"]["username"] == format!("system:node:{NODE}")
                })
                .cloned()
        }
    })
    .await;
    assert!(
        csr["status"]["certificate"].is_null(),
        "serving CSRs are never auto-approved"
    );
    let name = csr["metadata"]["name"].as_str().unwrap().to_owned();

    let approve = lab
        .kubectl(&kubectl, &["certificate", "approve", &name])
        .await;
    assert_eq!(approve.status, 0, "{approve:?}");
    assert_eq!(
        approve.stdout.trim_end(),
        format!("certificatesigningrequest.certificates.k8s.io/{name} approved")
    );

    let cert_dir = lab.cert_dir.clone();
    eventually("kubelet-server-current.pem is written", || {
        let path = cert_dir.join("kubelet-server-current.pem");
        async move { path.exists().then_some(()) }
    })
    .await;
    let current = cert_dir.join("kubelet-server-current.pem");
    let served =
        kubecorp_kubelet::certs::leaf_info(&current, &std::fs::read(&current).unwrap()).unwrap();
    assert_eq!(served.issuer_cn, "kubernetes");
    assert_eq!(served.subject_cn, format!("system:node:{NODE}"));
    assert_eq!(
        served.alt_names,
        vec![format!("DNS:{NODE}"), "IP:127.0.0.1".to_string()]
    );
    let logs = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(logs.status, 0, "{logs:?}");
    assert!(logs.stdout.contains("started from image nginx"), "{logs:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_cluster_ca_badge_gets_401_unauthorized_from_the_kubelet() {
    let test = "a_caller_without_a_cluster_ca_badge_gets_401_unauthorized_from_the_kubelet";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let lab = Lab1::start(false).await;
    let url = lab.kubelet_url("/pods");
    let curl_args = |extra: Vec<String>| {
        let mut args = vec!["-sk".to_string(), "-w".into(), "\n%{http_code}".into()];
        args.extend(extra);
        args.push(url.clone());
        args
    };

    let anonymous = run_tool(&curl, curl_args(vec![])).await;
    assert_eq!(anonymous.stdout, "Unauthorized\n401", "{anonymous:?}");

    let (cert, key) = rogue_badge(
        lab.tmp.path(),
        "kube-apiserver-kubelet-client",
        &["kubeadm:cluster-admins"],
    );
    let rogue = run_tool(
        &curl,
        curl_args(vec![
            "--cert".into(),
            cert.to_string_lossy().into_owned(),
            "--key".into(),
            key.to_string_lossy().into_owned(),
        ]),
    )
    .await;
    assert_eq!(rogue.stdout, "Unauthorized\n401", "{rogue:?}");
    let logged = lab
        .office
        .events
        .snapshot()
        .into_iter()
        .filter(|e| e.to == "kubelet")
        .filter_map(|e| e.server_log)
        .find(|l| l.contains("Unable to authenticate the request"))
        .expect("the kubelet logged why");
    // A CA named `kubernetes` with another key: Go's "possibly because of" variant.
    assert!(
        logged.ends_with("failed: x509: certificate signed by unknown authority (possibly because of \\\"x509: ECDSA verification failure\\\" while trying to verify candidate authority certificate \\\"kubernetes\\\")\""),
        "{logged}"
    );

    // The apiserver's real badge gets in.
    let pki = Lab::new(&lab.dir);
    let alice = run_tool(
        &curl,
        curl_args(vec![
            "--cert".into(),
            pki.cert_path("apiserver-kubelet-client")
                .to_string_lossy()
                .into_owned(),
            "--key".into(),
            pki.key_path("apiserver-kubelet-client")
                .to_string_lossy()
                .into_owned(),
        ]),
    )
    .await;
    assert!(alice.stdout.ends_with("\n200"), "{alice:?}");
    assert!(
        alice.stdout.starts_with("{\"kind\":\"PodList\""),
        "{alice:?}"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_badge_without_rights_on_nodes_proxy_gets_403_in_the_kubelets_words() {
    let test = "a_cluster_badge_without_rights_on_nodes_proxy_gets_403_in_the_kubelets_words";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let lab = Lab1::start(false).await;
    // Bob's badge is genuine, but the scheduler may not use a node's API.
    let conf = lab.dir.join("scheduler.conf");
    let credentials = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf)
        .unwrap()
        .credentials(&conf)
        .unwrap();
    let cert = lab.tmp.path().join("scheduler.crt");
    let key = lab.tmp.path().join("scheduler.key");
    std::fs::write(&cert, &credentials.cert_pem).unwrap();
    std::fs::write(&key, &credentials.key_pem).unwrap();
    let run = run_tool(
        &curl,
        vec![
            "-sk".into(),
            "-w".into(),
            "\n%{http_code}".into(),
            "--cert".into(),
            cert.to_string_lossy().into_owned(),
            "--key".into(),
            key.to_string_lossy().into_owned(),
            lab.kubelet_url("/containerLogs/default/web/web"),
        ],
    )
    .await;
    assert_eq!(
        run.stdout,
        "Forbidden (user=system:kube-scheduler, verb=get, resource=nodes, subresource(s)=[proxy])\n403",
        "{run:?}"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_renews_its_client_badge_by_csr_when_most_of_its_life_has_passed() {
    let lab = Lab1::start(false).await;
    let conf = lab.dir.join("kubelet.conf");
    let credentials = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf)
        .unwrap()
        .credentials(&conf)
        .unwrap();
    let chain = kubecorp_pki::cert::parse_cert_chain(&conf, &credentials.cert_pem).unwrap();
    let old = kubecorp_pki::cert::CertInfo::from_der(&conf, &chain[0]).unwrap();
    // 95 % of kubelet.conf's life: past any rotation deadline (70–90 %), still valid.
    let lifetime = old.not_after - old.not_before;
    lab.office.clock.set(old.not_before + lifetime * 0.95);

    let current = lab.cert_dir.join("kubelet-client-current.pem");
    let path = current.clone();
    eventually("kubelet-client-current.pem is written", || {
        let path = path.clone();
        async move { path.exists().then_some(()) }
    })
    .await;
    let pem = std::fs::read(&current).unwrap();
    let text = String::from_utf8_lossy(&pem);
    assert!(text.contains("-----BEGIN CERTIFICATE-----") && text.contains("PRIVATE KEY-----"));
    let new = kubecorp_kubelet::certs::leaf_info(&current, &pem).unwrap();
    assert_ne!(new.serial, old.serial);
    assert_eq!(new.subject_cn, format!("system:node:{NODE}"));
    assert_eq!(new.subject_orgs, vec!["system:nodes".to_string()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&current).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let admin = lab.admin();
    let list = admin
        .get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
        .await
        .unwrap();
    let csr = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet")
        .expect("the kubelet sent a client CSR")
        .clone();
    assert_eq!(csr["spec"]["username"], format!("system:node:{NODE}"));
    assert_eq!(csr["status"]["conditions"][0]["type"], "Approved");
    assert_eq!(
        csr["status"]["conditions"][0]["message"],
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    );

    // The next heartbeat is posted with the new badge.
    let events = lab.office.events.clone();
    let serial = new.serial.clone();
    eventually("Alice sees the new badge", || {
        let events = events.clone();
        let serial = serial.clone();
        async move {
            events
                .snapshot()
                .into_iter()
                .any(|e| {
                    e.to == "apiserver"
                        && e.allowed
                        && e.identity.as_ref().is_some_and(|i| {
                            i.cn == format!("system:node:{NODE}")
                                && u128::from_str_radix(&serial, 16)
                                    .is_ok_and(|s| s.to_string() == i.serial)
                        })
                })
                .then_some(())
        }
    })
    .await;

    // client-go v1.32 csr.go logs the issue in these words and no others.
    let issued = format!(
        "certificate signing request {} is issued",
        csr["metadata"]["name"].as_str().unwrap()
    );
    assert!(
        lab.office
            .events
            .snapshot()
            .iter()
            .any(|e| e.server_log.as_deref() == Some(issued.as_str())),
        "{issued}"
    );

    // kubeadm's layout: kubelet.conf now names the rotating file instead of embedding a badge,
    // and what it names is the new badge.
    let yaml = std::fs::read_to_string(&conf).unwrap();
    let named = format!(
        "client-certificate: {}",
        std::fs::canonicalize(&lab.cert_dir)
            .unwrap()
            .join("kubelet-client-current.pem")
            .display()
    );
    assert!(yaml.contains(&named), "{yaml}");
    assert!(!yaml.contains("client-key-data"), "{yaml}");
    let identity = kubecorp_trust::tls::CertSource::kubeconfig(&conf)
        .identity()
        .unwrap();
    assert_eq!(
        u128::from_str_radix(&new.serial, 16).map(|s| s.to_string()),
        Ok(identity.serial)
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_badge_never_stops_the_kubelet_and_it_recovers_once_the_badge_is_fixed() {
    let lab = Lab1::start(false).await;
    let admin = lab.admin();
    eventually("the node is registered", || {
        let admin = admin.clone();
        async move { admin.get(&format!("/api/v1/nodes/{NODE}")).await.ok() }
    })
    .await;

    // Break kubelet.conf: the same name, but signed by a stranger's CA.
    let conf = lab.dir.join("kubelet.conf");
    let original = std::fs::read(&conf).unwrap();
    let (cert, key) = rogue_badge(
        lab.tmp.path(),
        &format!("system:node:{NODE}"),
        &["system:nodes"],
    );
    let mut broken = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf).unwrap();
    broken.set_client_cert(
        &std::fs::read_to_string(cert).unwrap(),
        &std::fs::read_to_string(key).unwrap(),
    );
    kubecorp_pki::fs::write_atomic(
        &conf,
        broken.to_yaml().as_bytes(),
        kubecorp_pki::fs::Mode::Secret,
    )
    .unwrap();

    let events = lab.office.events.clone();
    let line = eventually("the kubelet logs the refused heartbeat", || {
        let events = events.clone();
        async move {
            events
                .snapshot()
                .into_iter()
                .filter(|e| e.log_owner() == "kubelet")
                .filter_map(|e| e.server_log)
                .find(|l| l.starts_with("\"Error updating node status, will retry\""))
        }
    })
    .await;
    // The heartbeat is a GET then a PATCH (kubelet_node_status.go, v1.32); the badge may be
    // swapped between the two, so either step can be the one refused.
    let refused_get = format!(
        r#""Error updating node status, will retry" err="error getting node \"{NODE}\": Unauthorized""#
    );
    let refused_patch = r#""Error updating node status, will retry" err="error patching node status: Unauthorized""#;
    assert!(line == refused_get || line == refused_patch, "{line}");

    // Fix it: the kubelet's next heartbeat gets in again, without a restart.
    let mut fresh = lab.office.events.subscribe();
    kubecorp_pki::fs::write_atomic(&conf, &original, kubecorp_pki::fs::Mode::Secret).unwrap();
    let status_path = format!("PATCH /api/v1/nodes/{NODE}/status");
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let event = fresh.recv().await.unwrap();
            if event.to == "apiserver"
                && event.allowed
                && event
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with(&status_path))
            {
                break;
            }
        }
    })
    .await
    .expect("a heartbeat gets in after the badge is fixed");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_alices_kubelet_badge_has_no_rights_on_nodes_proxy_kubectl_logs_prints_the_kubelets_refusal(
) {
    let test = "when_alices_kubelet_badge_has_no_rights_on_nodes_proxy_kubectl_logs_prints_the_kubelets_refusal";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let lab = Lab1::start(false).await;
    lab.bound_pod().await;
    lab.running_pod().await;
    // Alice dials kubelets with Bob's badge: genuine, but without nodes/proxy.
    let conf = lab.dir.join("scheduler.conf");
    let credentials = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf)
        .unwrap()
        .credentials(&conf)
        .unwrap();
    let cert = lab.tmp.path().join("scheduler.crt");
    let key = lab.tmp.path().join("scheduler.key");
    std::fs::write(&cert, &credentials.cert_pem).unwrap();
    std::fs::write(&key, &credentials.key_pem).unwrap();
    lab.office.api.set_kubelet_client(Some(KubeletClientConfig {
        cert: CertSource::pem_files(&cert, &key),
        events: lab.office.events.clone(),
    }));

    let refused = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(refused.status, 1, "{refused:?}");
    assert_eq!(
        refused.stderr.trim_end(),
        "Error from server (Forbidden): Forbidden (user=system:kube-scheduler, verb=get, resource=nodes, subresource(s)=[proxy]) ( pods/log web)"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_serving_certificate_is_self_signed_the_way_the_real_kubelet_makes_it() {
    let test = "the_default_serving_certificate_is_self_signed_the_way_the_real_kubelet_makes_it";
    let Some(openssl) = tool("openssl", test) else {
        return;
    };
    let lab = Lab1::start(false).await;
    let shown = run_tool(
        &openssl,
        vec![
            "s_client".into(),
            "-connect".into(),
            lab.kubelet_addr.to_string(),
            "-showcerts".into(),
        ],
    )
    .await;
    let stamp = |prefix: &str| {
        shown
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {prefix:?} in {shown:?}"))
    };
    // `0 s:CN = kubecorp-control-plane@1795000000`, issued by its own throwaway CA, which is
    // sent along as the second certificate.
    let leaf = stamp(&format!("0 s:CN = {NODE}@"));
    let issuer = stamp(&format!("i:CN = {NODE}-ca@"));
    assert_eq!(leaf, issuer);
    assert_eq!(stamp(&format!("1 s:CN = {NODE}-ca@")), leaf);
    assert!(leaf.parse::<i64>().is_ok(), "{leaf}");
    assert!(lab.cert_dir.join("kubelet.crt").exists() && lab.cert_dir.join("kubelet.key").exists());
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_kubelet_gone_kubectl_logs_says_the_dial_was_refused() {
    let test = "with_the_kubelet_gone_kubectl_logs_says_the_dial_was_refused";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let mut lab = Lab1::start(false).await;
    lab.bound_pod().await;
    lab.running_pod().await;
    lab.stop_kubelet().await;
    let refused = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(refused.status, 1, "{refused:?}");
    let addr = lab.kubelet_addr;
    assert_eq!(
        refused.stderr.trim_end(),
        format!("Error from server: Get \"https://{addr}/containerLogs/default/web/web\": dial tcp {addr}: connect: connection refused")
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_report_failed_during_an_outage_runs_once_the_kubelet_recovers() {
    let lab = Lab1::start(false).await;
    let admin = lab.admin();
    // The kubelet's pod watch is open: it hears of every pod bound to it.
    lab.bound_pod().await;
    lab.running_pod().await;

    // Break kubelet.conf: its open watch still delivers, but every new call gets 401.
    let conf = lab.dir.join("kubelet.conf");
    let original = std::fs::read(&conf).unwrap();
    let (cert, key) = rogue_badge(
        lab.tmp.path(),
        &format!("system:node:{NODE}"),
        &["system:nodes"],
    );
    let mut broken = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf).unwrap();
    broken.set_client_cert(
        &std::fs::read_to_string(cert).unwrap(),
        &std::fs::read_to_string(key).unwrap(),
    );
    kubecorp_pki::fs::write_atomic(
        &conf,
        broken.to_yaml().as_bytes(),
        kubecorp_pki::fs::Mode::Secret,
    )
    .unwrap();
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
                    "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "nginx"}]}}),
        )
        .await
        .unwrap();
    let events = lab.office.events.clone();
    let line = eventually("the kubelet logs the refused status report", || {
        let events = events.clone();
        async move {
            events
                .snapshot()
                .into_iter()
                .filter(|e| e.log_owner() == "kubelet")
                .filter_map(|e| e.server_log)
                .find(|l| l.contains("\"Failed to update status for pod\" pod=\"default/late\""))
        }
    })
    .await;
    assert!(line.ends_with("err=\"Unauthorized\""), "{line}");
    let late = admin
        .get("/api/v1/namespaces/default/pods/late")
        .await
        .unwrap();
    assert_eq!(late["status"]["phase"], "Pending");

    // Repaired: nothing changes the pod, yet the kubelet reports it by itself.
    kubecorp_pki::fs::write_atomic(&conf, &original, kubecorp_pki::fs::Mode::Secret).unwrap();
    let late = eventually("pod late is Running", || {
        let admin = admin.clone();
        async move {
            let pod = admin
                .get("/api/v1/namespaces/default/pods/late")
                .await
                .ok()?;
            (pod["status"]["phase"] == "Running").then_some(pod)
        }
    })
    .await;
    assert!(late["status"]["podIP"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("10.244.")));
    lab.stop().await;
}
