//! `kubecorp serve`: the office spread over several processes. Stopping Alice leaves Bob and the
//! CEO running and narrating their failed calls; when she is back, they carry on by themselves.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{kubectl_until, run_tool, tool, TestLab};

/// One `kubecorp serve` process, its narration written to a file; SIGTERM when dropped.
struct Served {
    child: Child,
    out: PathBuf,
}

impl Served {
    fn start(lab: &TestLab, name: &str, args: &[&str]) -> Served {
        let out = lab.tmp.path().join(format!("{name}.out"));
        let child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
            .arg("serve")
            .args(args)
            .args(["--dir", lab.dir_arg()])
            .env("NO_COLOR", "1")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kubecorp serve starts");
        Served { child, out }
    }

    fn said(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let said = self.said();
            if said.contains(needle) {
                return said;
            }
            assert!(
                Instant::now() < deadline,
                "never said {needle:?}; said:\n{said}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if !self.running() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn stopping_the_apiserver_leaves_the_staff_running_and_narrating_and_they_recover() {
    let Some(kubectl) = tool("kubectl", "stopping_the_apiserver_leaves_the_staff") else {
        return;
    };
    let lab = TestLab::init(&[]);
    let (etcd, api, kubelet) = (free_addr(), free_addr(), free_addr());
    let etcd_url = format!("https://{etcd}");
    let api_url = format!("https://{api}");
    let _etcd = Served::start(&lab, "etcd", &["etcd", "--listen", &etcd]);
    let mut alice = Served::start(
        &lab,
        "apiserver",
        &["apiserver", "--listen", &api, "--etcd", &etcd_url],
    );
    alice.wait_for("serves https://");
    let mut bob = Served::start(&lab, "scheduler", &["scheduler", "--apiserver", &api_url]);
    let mut ceo = Served::start(
        &lab,
        "kubelet",
        &["kubelet", "--listen", &kubelet, "--apiserver", &api_url],
    );
    let conf = lab.path("admin.conf");
    let admin = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", conf.to_str().unwrap(), "--server", &api_url];
        all.extend_from_slice(args);
        all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = admin(&["run", "web", "--image", "nginx"]);
    run_tool(&kubectl, &args).success();
    let get = admin(&["get", "pods", "web", "--no-headers"]);
    let get: Vec<&str> = get.iter().map(String::as_str).collect();
    kubectl_until(&kubectl, &get, "Running");

    // Alice leaves; Bob and the CEO keep working and say what fails.
    alice.stop();
    let refused = format!("dial tcp {api}: connect: connection refused");
    ceo.wait_for(&refused);
    assert!(bob.running() && ceo.running(), "the staff survive");

    // She is back on the same address: the staff carry on by themselves.
    let _alice = Served::start(
        &lab,
        "apiserver-again",
        &["apiserver", "--listen", &api, "--etcd", &etcd_url],
    );
    let args = admin(&["run", "api", "--image", "nginx"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while run_tool(&kubectl, &args).status != 0 {
        assert!(Instant::now() < deadline, "the apiserver did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let get = admin(&["get", "pods", "api", "--no-headers"]);
    let get: Vec<&str> = get.iter().map(String::as_str).collect();
    kubectl_until(&kubectl, &get, "Running");
    assert!(
        bob.said().contains("scheduler → apiserver"),
        "{}",
        bob.said()
    );
}
