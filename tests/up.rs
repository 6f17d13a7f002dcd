//! `kubecorp up` as a user runs it: the office opens, narrates, refuses a busy port, and closes on SIGTERM.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubecorp_testkit::free_port;
use support::{kubectl_until, run_tool, tool, up_command, up_command_as_kubeadm, TestLab};

#[test]
fn a_busy_port_is_a_clear_error_naming_the_component_and_the_address() {
    let lab = TestLab::init(&[]);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    support::kubecorp([
        "up",
        "--dir",
        lab.dir_arg(),
        "--apiserver-listen",
        &addr,
        "--etcd-listen",
        "127.0.0.1:0",
        "--etcd-peer-listen",
        "127.0.0.1:0",
    ])
    .failure(2)
    .stderr_has(&format!("apiserver: cannot listen on {addr}: "));
}

/// What `up` has printed to `out` once it holds `needle`: waits for that line (the office
/// prints it; nothing here guesses how long that takes), failing with what was said if `up`
/// exits first or says nothing of the kind in `patience`.
#[track_caller]
fn said(
    child: &mut std::process::Child,
    out: &std::path::Path,
    needle: &str,
    patience: Duration,
) -> String {
    let deadline = Instant::now() + patience;
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("up exited ({status}) before saying {needle:?}:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "up never said {needle:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn up_narrates_badge_checks_and_closes_cleanly_on_sigterm() {
    let Some(kubectl) = tool("kubectl", "up_narrates_badge_checks") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let api = format!("127.0.0.1:{}", free_port());
    let out = tmp.path().join("up.out");
    let err = tmp.path().join("up.err");
    // `up`'s own defaults: the PKI it makes has kubeadm's RSA-2048 keys (a debug build on a
    // busy machine takes seconds to make them, hence the patience for the opening line).
    let mut child = up_command_as_kubeadm(&dir, &api)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    // "KubeCorp is open" comes after every door is bound and the default RBAC is in etcd.
    said(
        &mut child,
        &out,
        "KubeCorp is open",
        Duration::from_secs(300),
    );
    let key = std::fs::read_to_string(dir.join("pki/apiserver.key")).unwrap();
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{key}");
    let conf = dir.join("kube-proxy.conf");
    let forbidden = run_tool(
        &kubectl,
        [
            "--kubeconfig",
            conf.to_str().unwrap(),
            "--server",
            &format!("https://{api}"),
            "get",
            "secrets",
            "-A",
        ],
    );
    assert!(
        forbidden.stderr.contains("Error from server (Forbidden): secrets is forbidden: User \"system:kube-proxy\" cannot list resource \"secrets\" in API group \"\" at the cluster scope"),
        "{}",
        forbidden.dump()
    );
    // The refusal's narration may follow kubectl's answer: wait for it before closing.
    said(
        &mut child,
        &out,
        "caller sees: Error from server (Forbidden): secrets is forbidden",
        Duration::from_secs(60),
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.wait().unwrap();
    let stdout = std::fs::read_to_string(&out).unwrap();
    assert!(
        status.success(),
        "{stdout}\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    for needle in [
        "KubeCorp is open",
        "✗ authz    system:kube-proxy → apiserver",
        "caller sees: Error from server (Forbidden): secrets is forbidden",
        "what it means: The badge is genuine and the apiserver knows who this is (system:kube-proxy), but no RBAC rule lets them",
        "The built-in `view` role does not cover secrets",
    ] {
        assert!(stdout.contains(needle), "{needle:?} in:\n{stdout}");
    }
    assert!(
        stdout.trim_end().ends_with("Closing the office."),
        "{stdout}"
    );
}

#[test]
fn breaking_bobs_badge_leaves_a_pod_pending_live_and_renewing_it_heals_the_office() {
    let Some(kubectl) = tool("kubectl", "breaking_bobs_badge_live") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let api = format!("127.0.0.1:{}", free_port());
    let out = tmp.path().join("up.out");
    let mut child = up_command(&dir, &api)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = format!("https://{api}");
    let conf = dir.join("admin.conf");
    let admin = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["--kubeconfig", conf.to_str().unwrap(), "--server", &server];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    };
    let run = |extra: &[&str]| run_tool(&kubectl, admin(extra));
    let until = |extra: &[&str], needle: &str| {
        let args = admin(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl_until(&kubectl, &args, needle)
    };
    until(&["get", "nodes", "--no-headers"], " Ready");
    run(&["run", "web", "--image", "nginx"]).success();
    until(&["get", "pod", "web", "--no-headers"], "Running");

    // In another terminal: `kubecorp break expire scheduler.conf`.
    support::kubecorp([
        "break",
        "expire",
        "scheduler.conf",
        "--dir",
        dir.to_str().unwrap(),
    ])
    .success();
    run(&["run", "late", "--image", "nginx"]).success();
    let deadline = Instant::now() + Duration::from_secs(20);
    let narrated = loop {
        let said = std::fs::read_to_string(&out).unwrap_or_default();
        if said.contains("✗ authn    system:kube-scheduler → apiserver")
            && said.contains("Failed to watch *v1.Pod: failed to list *v1.Pod: Unauthorized")
        {
            break said;
        }
        assert!(
            Instant::now() < deadline,
            "no live refusal narrated:\n{said}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        narrated.contains("x509: certificate has expired or is not yet valid: current time"),
        "{narrated}"
    );
    assert!(
        narrated.contains("scheduler logs: E"),
        "Bob's own log line is his: {narrated}"
    );
    run(&["get", "pod", "late", "--no-headers"])
        .success()
        .stdout_has("Pending");

    // `kubecorp certs renew scheduler.conf`: Bob recovers at his next retry, no restart.
    support::kubecorp([
        "certs",
        "renew",
        "scheduler.conf",
        "--dir",
        dir.to_str().unwrap(),
    ])
    .success();
    until(&["get", "pod", "late", "--no-headers"], "Running");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}
