//! The real `kubectl top` (kubectl 1.32) against the office: Alice passes `metrics.k8s.io` on to
//! metrics-server with her front-proxy-client badge, and metrics-server checks it; with that
//! badge expired, `kubectl top nodes` and `kubectl get --raw` print what a real 1.32 cluster
//! prints.

use std::path::PathBuf;
use std::time::Duration;

use kubecorp_office::{Office, OfficeOptions};
use kubecorp_testkit::{run_tool, tool, Run};
use serde_json::Value;

/// An office on its own runtime, so kubectl can be called synchronously.
struct Running {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    cache: PathBuf,
    url: String,
    kubectl: PathBuf,
    office: Office,
    runtime: tokio::runtime::Runtime,
}

impl Running {
    fn start(test: &str) -> Option<Running> {
        let kubectl = tool("kubectl", test)?;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let runtime = kubecorp_testkit::runtime();
        let office = runtime
            .block_on(Office::start(OfficeOptions::ephemeral(&dir)))
            .expect("the office opens");
        Some(Running {
            cache: tmp.path().join("kube-cache"),
            _tmp: tmp,
            dir,
            url: office.apiserver_url(),
            kubectl,
            office,
            runtime,
        })
    }

    /// kubectl with the lab kubeconfig `conf`, with a fresh discovery cache each time.
    fn kubectl(&self, conf: &str, args: &[&str]) -> Run {
        let _ = std::fs::remove_dir_all(&self.cache);
        let mut all = vec![
            "--kubeconfig".to_string(),
            self.dir.join(conf).to_string_lossy().into_owned(),
            "--server".to_string(),
            self.url.clone(),
            "--cache-dir".to_string(),
            self.cache.to_string_lossy().into_owned(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run_tool(&self.kubectl, &all)
    }

    fn admin(&self, args: &[&str]) -> Run {
        self.kubectl("admin.conf", args)
    }

    fn get(&self, path: &str) -> Option<Value> {
        let client = self.office.client("kubectl", "admin.conf").unwrap();
        self.runtime.block_on(client.get(path)).ok()
    }

    /// Runs Alice's availability check until the APIService's Available is `want`.
    fn until_available(&self, want: &str) -> Value {
        let path = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io";
        for _ in 0..200 {
            self.runtime.block_on(self.office.api.check_apiservices());
            if let Some(apiservice) = self.get(path) {
                if apiservice["status"]["conditions"][0]["status"] == want {
                    return apiservice;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("APIService v1beta1.metrics.k8s.io never became Available={want}");
    }

    /// Waits for `check` on the object at `path`.
    fn until(&self, path: &str, check: impl Fn(&Value) -> bool) {
        for _ in 0..300 {
            if self.get(path).is_some_and(|v| check(&v)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{path} never got there");
    }

    /// The server log lines metrics-server wrote so far.
    fn metrics_server_logs(&self) -> Vec<String> {
        self.office
            .events
            .snapshot()
            .into_iter()
            .filter(|e| e.to == "metrics-server")
            .filter_map(|e| e.server_log)
            .collect()
    }
}

/// A running pod `web` on a Ready node, and metrics-server Available.
fn busy_office(test: &str) -> Option<Running> {
    let lab = Running::start(test)?;
    lab.until("/api/v1/nodes/kubecorp-control-plane", |n| {
        n["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    });
    lab.admin(&["run", "web", "--image", "nginx"]).success();
    lab.until("/api/v1/namespaces/default/pods/web", |p| {
        p["status"]["phase"] == "Running"
    });
    lab.until_available("True");
    Some(lab)
}

#[test]
fn kubectl_top_nodes_and_pods_read_metrics_server_through_alices_front_proxy() {
    let Some(lab) = busy_office("kubectl_top_nodes_and_pods") else {
        return;
    };
    let nodes = lab.admin(&["top", "nodes"]).success();
    assert_eq!(
        nodes.words_of_line(0),
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
        "{}",
        nodes.dump()
    );
    let row = nodes.words_of_line(1);
    assert_eq!(row[0], "kubecorp-control-plane", "{}", nodes.dump());
    assert!(
        row[1].ends_with('m') && row[2].ends_with('%'),
        "{}",
        nodes.dump()
    );
    assert!(
        row[3].ends_with("Mi") && row[4].ends_with('%'),
        "{}",
        nodes.dump()
    );

    let pods = lab.admin(&["top", "pods", "-A"]).success();
    assert_eq!(
        pods.words_of_line(0),
        ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{}",
        pods.dump()
    );
    assert!(
        pods.stdout
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["default", "web"])),
        "{}",
        pods.dump()
    );

    lab.admin(&["get", "apiservice", "v1beta1.metrics.k8s.io"])
        .success()
        .stdout_has("kube-system/metrics-server")
        .stdout_has("True");
    // metrics-server saw Alice's front-proxy badge vouch for the administrator.
    let events = lab.office.events.snapshot();
    assert!(
        events.iter().any(|e| e.to == "metrics-server"
            && e.from == "front-proxy-client"
            && e.allowed
            && e.detail
                .as_deref()
                .is_some_and(|d| d.contains("for kubernetes-admin"))),
        "no request vouched for by front-proxy-client: {events:#?}"
    );
}

#[test]
fn an_expired_front_proxy_client_makes_kubectl_top_say_the_metrics_api_is_not_available() {
    let Some(lab) = busy_office("an_expired_front_proxy_client") else {
        return;
    };
    let pki = kubecorp_pki::Lab::new(&lab.dir);
    kubecorp_pki::fault::inflict(
        &pki,
        kubecorp_pki::fault::Fault::Expire,
        "front-proxy-client",
        lab.office.clock.now(),
    )
    .unwrap();
    let apiservice = lab.until_available("False");
    let condition = &apiservice["status"]["conditions"][0];
    assert_eq!(condition["reason"], "FailedDiscoveryCheck");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.starts_with("failing or missing response from https://127.0.0.1:")
            && message.ends_with("/apis/metrics.k8s.io/v1beta1: 401"),
        "{message}"
    );
    // kubectl 1.32 reads aggregated discovery first: the unavailable APIService's version is
    // marked Stale there, client-go drops stale versions, and `kubectl top` (top_node.go) finds
    // no metrics.k8s.io/v1beta1.
    let top = lab.admin(&["top", "nodes"]).failure(1);
    assert_eq!(
        top.stderr,
        "error: Metrics API not available\n",
        "{}",
        top.dump()
    );
    // Asked directly, kube-aggregator's 503 `service unavailable`, in client-go's words.
    let raw = lab
        .admin(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])
        .failure(1);
    assert_eq!(
        raw.stderr,
        "Error from server (ServiceUnavailable): the server is currently unable to handle the request\n",
        "{}",
        raw.dump()
    );
    lab.admin(&["get", "apiservice"])
        .success()
        .stdout_has("False (FailedDiscoveryCheck)");
    // metrics-server's own log says why, as a real one does (real-errors.tsv R048).
    let logs = lab.metrics_server_logs();
    assert!(
        logs.iter().any(|l| l.starts_with(
            "\"Unable to authenticate the request\" err=\"[x509: certificate has expired or is not yet valid: current time "
        ) && l.contains(", verifying certificate SN=")),
        "{logs:#?}"
    );

    // The real fix: a renewed front-proxy-client, read by Alice at her next call.
    kubecorp_pki::renew::renew(&pki, "front-proxy-client", lab.office.clock.now()).unwrap();
    lab.until_available("True");
    lab.admin(&["top", "nodes"])
        .success()
        .stdout_has("kubecorp-control-plane");
}

#[test]
fn the_metrics_api_is_refused_to_a_caller_rbac_does_not_let_read_it() {
    let Some(lab) = busy_office("the_metrics_api_is_refused") else {
        return;
    };
    // The lab's Hard-Way kube-proxy.conf: Alice authorizes before she passes anything on.
    let run = lab
        .kubectl("kube-proxy.conf", &["top", "pods", "-A"])
        .failure(1);
    assert!(
        run.stderr.contains("Error from server (Forbidden): pods.metrics.k8s.io is forbidden: User \"system:kube-proxy\" cannot list resource \"pods\" in API group \"metrics.k8s.io\" at the cluster scope"),
        "{}",
        run.dump()
    );
}
