//! `kubecorp up` as a user runs it: the office opens, narrates, refuses a busy port, and closes on SIGTERM.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{run_tool, tool, TestLab};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    ])
    .failure(2)
    .stderr_has(&format!("apiserver: cannot listen on {addr}: "));
}

#[test]
fn up_narrates_badge_checks_and_closes_cleanly_on_sigterm() {
    let Some(kubectl) = tool("kubectl", "up_narrates_badge_checks") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let api = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
        .args([
            "up",
            "--dir",
            dir.to_str().unwrap(),
            "--apiserver-listen",
            &api,
            "--etcd-listen",
            "127.0.0.1:0",
            "--kubelet-listen",
            "127.0.0.1:0",
            "--proxy-healthz-listen",
            "127.0.0.1:0",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let conf = dir.join("kube-proxy.conf");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut forbidden = None;
    while Instant::now() < deadline {
        if conf.exists() {
            let run = run_tool(
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
            if run.stderr.contains("Forbidden") {
                forbidden = Some(run);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let forbidden = forbidden.expect("the office opened within 20 s");
    assert!(
        forbidden.stderr.contains("Error from server (Forbidden): secrets is forbidden: User \"system:kube-proxy\" cannot list resource \"secrets\" in API group \"\" at the cluster scope"),
        "{}",
        forbidden.dump()
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("KubeCorp is open"), "{stdout}");
    assert!(
        stdout.contains("✗ authz    system:kube-proxy → apiserver"),
        "{stdout}"
    );
    assert!(
        stdout.contains("caller sees: Error from server (Forbidden): secrets is forbidden"),
        "{stdout}"
    );
    assert!(
        stdout.contains("what it means: the badge is genuine, but no rule in the rulebook (RBAC)"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("Closing the office."),
        "{stdout}"
    );
}
