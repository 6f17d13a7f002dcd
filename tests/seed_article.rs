//! The seed article's 9:00 chapter, typed as the article types it, against `kubecorp up`.
//!
//! `openssl genrsa`/`req` make john's key and CSR; `cat <<EOF | kubectl apply -f -` files the
//! CSR with and without `expirationSeconds: 86400`; `kubectl certificate approve`; the
//! certificate comes back through `jsonpath … | base64 -d`; a kubeconfig made with
//! `kubectl config set-credentials` authenticates as john, who is forbidden until a rolebinding
//! exists. Then the office reopens a day later on the lab clock (`up --now +25h`): the one-day
//! badge is refused with 401 while the long-lived one still works.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubecorp_testkit::free_port;
use support::{tool, up_command, Run};

/// `kubecorp up` as a child process, killed with SIGTERM when dropped.
struct Up {
    child: Child,
}

impl Up {
    fn open(dir: &Path, api: &str, now: Option<&str>) -> Up {
        let mut command = up_command(dir, api);
        if let Some(now) = now {
            command.arg(format!("--now={now}"));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubecorp up starts");
        Up { child }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a shell line in `dir` with `KUBECONFIG` set, as the reader of the article would.
fn sh(dir: &Path, kubeconfig: &Path, line: &str) -> Run {
    let out = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("sh runs");
    Run {
        what: line.to_owned(),
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits until the admin can list namespaces.
fn wait_open(work: &Path, admin: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let run = sh(work, admin, "kubectl get namespaces");
        if run.status == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the office did not open within 20 s:\n{}",
            run.dump()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const CSR_ONE_DAY: &str = r#"cat <<EOF | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: john-developer
spec:
  request: $(cat john.csr | base64 | tr -d '\n')
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400  # one day
  usages:
  - client auth
EOF"#;

const CSR_LONG_LIVED: &str = r#"cat <<EOF | kubectl apply -f -
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: john-developer-long-lived
spec:
  request: $(cat john.csr | base64 | tr -d '\n')
  signerName: kubernetes.io/kube-apiserver-client
  usages:
  - client auth
EOF"#;

/// A kubeconfig for john made the way the article's reader would make one.
fn john_kubeconfig(work: &Path, admin: &Path, name: &str, crt: &str, server: &str) -> PathBuf {
    let conf = work.join(format!("{name}.kubeconfig"));
    let c = conf.to_string_lossy();
    for line in [
        format!("kubectl config --kubeconfig {c} set-cluster kubecorp --server {server} --certificate-authority lab/pki/ca.crt --embed-certs"),
        format!("kubectl config --kubeconfig {c} set-credentials john --client-certificate {crt} --client-key john.key --embed-certs"),
        format!("kubectl config --kubeconfig {c} set-context john@kubecorp --cluster kubecorp --user john"),
        format!("kubectl config --kubeconfig {c} use-context john@kubecorp"),
    ] {
        sh(work, admin, &line).success();
    }
    conf
}

#[test]
fn the_seed_articles_commands_work_verbatim_against_kubecorp_up() {
    let test = "the_seed_articles_commands_work_verbatim";
    let (Some(_kubectl), Some(_openssl), Some(_base64)) = (
        tool("kubectl", test),
        tool("openssl", test),
        tool("base64", test),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let dir = work.join("lab");
    let api = format!("127.0.0.1:{}", free_port());
    let server = format!("https://{api}");

    let up = Up::open(&dir, &api, None);
    // The admin's kubeconfig, pointed at this office's port (kubeadm writes :6443).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("admin.conf").exists() {
        assert!(Instant::now() < deadline, "up made no admin.conf");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let admin = work.join("admin.conf");
    std::fs::copy(dir.join("admin.conf"), &admin).unwrap();
    sh(
        work,
        &admin,
        &format!("kubectl config set-cluster kubernetes --server {server}"),
    )
    .success();
    wait_open(work, &admin);

    // 9:00, john's badge, exactly as the article makes it.
    sh(work, &admin, "openssl genrsa -out john.key 2048").success();
    sh(
        work,
        &admin,
        r#"openssl req -new -key john.key -out john.csr -subj "/CN=john/O=developers""#,
    )
    .success();
    sh(work, &admin, CSR_ONE_DAY)
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/john-developer created");
    sh(work, &admin, CSR_LONG_LIVED).success().stdout_has(
        "certificatesigningrequest.certificates.k8s.io/john-developer-long-lived created",
    );
    sh(work, &admin, "kubectl get csr")
        .success()
        .stdout_has("john-developer ")
        .stdout_has("24h")
        .stdout_has("Pending");
    sh(work, &admin, "kubectl certificate approve john-developer")
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/john-developer approved");
    sh(
        work,
        &admin,
        "kubectl certificate approve john-developer-long-lived",
    )
    .success()
    .stdout_has("certificatesigningrequest.certificates.k8s.io/john-developer-long-lived approved");
    sh(
        work,
        &admin,
        "kubectl get csr john-developer -o jsonpath='{.status.certificate}' | base64 -d > john.crt",
    )
    .success();
    sh(work, &admin, "kubectl get csr john-developer-long-lived -o jsonpath='{.status.certificate}' | base64 -d > john-long-lived.crt").success();

    // The one-day badge lives a day; the long-lived one gets the signer's one-year default.
    let one_day = sh(work, &admin, "openssl x509 -in john.crt -noout -subject -startdate -enddate && openssl x509 -in john.crt -noout -checkend 86000 && ! openssl x509 -in john.crt -noout -checkend 86500").success();
    assert!(
        one_day.stdout.contains("subject=CN = john, O = developers"),
        "{}",
        one_day.dump()
    );
    sh(work, &admin, "openssl x509 -in john-long-lived.crt -noout -checkend 31449600 && ! openssl x509 -in john-long-lived.crt -noout -checkend 31622400").success();
    sh(
        work,
        &admin,
        "openssl verify -CAfile lab/pki/ca.crt john.crt john-long-lived.crt",
    )
    .success()
    .stdout_has("john.crt: OK")
    .stdout_has("john-long-lived.crt: OK");

    // john is john, and forbidden until someone binds him to a role.
    let john = john_kubeconfig(work, &admin, "john", "john.crt", &server);
    let john_long = john_kubeconfig(work, &admin, "john-long", "john-long-lived.crt", &server);
    sh(work, &john, "kubectl auth whoami")
        .success()
        .stdout_has("john")
        .stdout_has("developers");
    sh(work, &john, "kubectl get pods").failure(1).stderr_has(
        "Error from server (Forbidden): pods is forbidden: User \"john\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"",
    );
    sh(
        work,
        &admin,
        "kubectl create rolebinding john-view --clusterrole=view --user=john -n default",
    )
    .success()
    .stdout_has("rolebinding.rbac.authorization.k8s.io/john-view created");
    sh(work, &john, "kubectl get pods")
        .success()
        .stderr_has("No resources found in default namespace.");
    drop(up);

    // A day and an hour later on the lab clock: the one-day badge is refused, the other is not.
    let _later = Up::open(&dir, &api, Some("+25h"));
    wait_open(work, &admin);
    sh(work, &john, "kubectl get pods")
        .failure(1)
        .stderr_has("error: You must be logged in to the server (Unauthorized)");
    sh(work, &john_long, "kubectl auth whoami")
        .success()
        .stdout_has("john");
}
