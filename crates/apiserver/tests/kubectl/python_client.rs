//! The official Kubernetes Python client (`pip install kubernetes`) as a judge: its generated
//! models refuse objects that lack what a real apiserver sends, so a list it can read is a list
//! a real client can read. The script is `tests/python/client_judge.py`.

use super::Running;
use kubecorp_testkit::{run_tool, tool};

#[test]
fn the_official_python_client_lists_creates_reads_and_gets_a_token_with_admin_conf() {
    let test = "python_client_judge";
    let Some(lab) = Running::start(test) else {
        return;
    };
    let Some(python) = tool("python3", test) else {
        return;
    };
    let probe = run_tool(&python, ["-c", "import kubernetes"]);
    if probe.status != 0 {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{test}: the Python module `kubernetes` is not installed, and CI=true requires it"
            );
        }
        println!("SKIPPED {test}: the Python module `kubernetes` is not installed (python3 -m pip install kubernetes)");
        return;
    }
    // The office opens before its kubelet registers: wait for the Node the client will list.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while lab
        .admin(&["get", "nodes", "-o", "name"])
        .stdout
        .trim()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{test}: no Node registered within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_judge.py");
    let run = run_tool(&python, [script, &lab.conf("admin.conf"), &lab.url]).success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let line = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{}", run.dump()))
            .to_string()
    };
    assert_eq!(
        line("namespaces:"),
        "namespaces: default kube-node-lease kube-public kube-system"
    );
    assert_eq!(line("pods listed:"), "pods listed: V1PodList");
    assert!(line("nodes:").len() > "nodes: ".len(), "{}", run.dump());
    for info in lines.iter().filter(|l| l.starts_with("nodeInfo:")) {
        assert!(
            info.contains(" True True True v1.32"),
            "{info}\n{}",
            run.dump()
        );
    }
    assert_eq!(line("configmap created:"), "configmap created: judge True");
    assert_eq!(
        line("configmap read:"),
        "configmap read: hello from the official client python"
    );
    assert_eq!(
        line("token for:"),
        "token for: system:serviceaccount:default:default True"
    );
}
