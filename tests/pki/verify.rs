//! A badge judged: `kubecorp certs verify` against openssl at the same instant, Go's texts for
//! a wrong or expired CA, each `kubecorp break` fault as verify reads it, `certs inspect`, and
//! `kubecorp explain` on a copied error.

use super::support::{kubecorp, run_tool, tool, TestLab};
use super::{certs_json, verify};

#[test]
fn openssl_attime_and_kubecorp_verify_at_agree_on_expired_and_not_yet_valid_badges() {
    let Some(openssl) = tool("openssl", "openssl_attime_agrees") else {
        return;
    };
    let lab = TestLab::init(&[]);
    let cert = lab.pki("apiserver.crt");
    let ca = lab.pki("ca.crt");
    let now = time::OffsetDateTime::now_utc();
    let cases = [
        (
            now + time::Duration::days(400),
            "+400d",
            2,
            "certificate has expired",
            "is after",
        ),
        (
            now - time::Duration::days(1),
            "-1d",
            2,
            "certificate is not yet valid",
            "is before",
        ),
        (now + time::Duration::days(30), "+30d", 0, "OK", ""),
    ];
    for (at, offset, openssl_status, openssl_text, go_text) in cases {
        let epoch = at.unix_timestamp().to_string();
        let o = run_tool(
            &openssl,
            ["verify", "-attime", &epoch, "-CAfile", &ca, &cert],
        );
        assert_eq!(o.status, openssl_status, "{}", o.dump());
        assert!(
            o.stdout.contains(openssl_text) || o.stderr.contains(openssl_text),
            "{}",
            o.dump()
        );
        let k = verify(&cert, &ca, &["--at", offset, "--usage", "server"]);
        if openssl_status == 0 {
            k.success().stdout_has("OK");
        } else {
            k.failure(1)
                .stdout_has("x509: certificate has expired or is not yet valid: current time ")
                .stdout_has(go_text)
                .stdout_has("hint:");
        }
    }
}

#[test]
fn verify_prints_gos_text_an_explanation_and_a_hint_for_the_wrong_ca() {
    let lab = TestLab::init(&[]);
    verify(
        &lab.pki("apiserver-etcd-client.crt"),
        &lab.pki("ca.crt"),
        &["--usage", "client"],
    )
    .failure(1)
    .stdout_has("x509: certificate signed by unknown authority\n")
    .stdout_has("what it means:")
    .stdout_has("hint:");
    verify(
        &lab.pki("apiserver.crt"),
        &lab.pki("ca.crt"),
        &["--name", "kubernetes.default", "--usage", "server"],
    )
    .success();
    verify(&lab.pki("apiserver.crt"), &lab.pki("ca.crt"), &["--name", "evil.example", "--usage", "server"])
        .failure(1)
        .stdout_has("x509: certificate is valid for kubecorp-control-plane, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local, not evil.example");
    verify(
        &lab.pki("apiserver.crt"),
        &lab.pki("ca.crt"),
        &["--usage", "client"],
    )
    .failure(1)
    .stdout_has("x509: certificate specifies an incompatible key usage");
}

#[test]
fn inspect_shows_the_badge_and_its_kubecorp_role() {
    let lab = TestLab::init(&[]);
    kubecorp(["certs", "inspect", "apiserver", "--dir", lab.dir_arg()])
        .success()
        .stdout_has("Subject:        CN = kube-apiserver")
        .stdout_has("Issuer:         CN = kubernetes")
        .stdout_has("364d left")
        .stdout_has("DNS:kubernetes.default.svc.cluster.local")
        .stdout_has("TLS Web Server Authentication")
        .stdout_has("Key:            ECDSA P-256")
        .stdout_has("Alice's guard badge");
    kubecorp([
        "certs",
        "inspect",
        "kube-proxy.conf",
        "--dir",
        lab.dir_arg(),
    ])
    .success()
    .stdout_has("service-account token");
    kubecorp(["certs", "inspect", &lab.pki("etcd/ca.crt")])
        .success()
        .stdout_has("Charlie's own signature stamp");
    let (json, v) = certs_json(&lab, &["inspect", "admin.conf"]);
    assert_eq!(v["subject_orgs"][0], "kubeadm:cluster-admins");
    assert!(!json.contains("PRIVATE KEY"), "no key material in reports");
}

#[test]
fn a_badge_checked_against_a_same_name_ca_with_another_key_says_possibly_because_of() {
    let ours = TestLab::init(&[]);
    let theirs = TestLab::init(&[]);
    verify(&ours.pki("apiserver.crt"), &theirs.pki("ca.crt"), &["--usage", "server"])
        .failure(1)
        .stdout_has(
            "x509: certificate signed by unknown authority (possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"kubernetes\")",
        );
    let rsa = TestLab::init(&["--key-algorithm", "rsa-2048"]);
    let rsa2 = TestLab::init(&["--key-algorithm", "rsa-2048"]);
    verify(&rsa.pki("apiserver.crt"), &rsa2.pki("ca.crt"), &[])
        .failure(1)
        .stdout_has("(possibly because of \"crypto/rsa: verification error\" while trying to verify candidate authority certificate \"kubernetes\")");
}

#[test]
fn an_expired_ca_fails_verification_naming_the_cas_own_dates() {
    // A lab made ten years and ten days ago: its CA has just expired.
    let lab = TestLab::init(&["--now", "-3660d"]);
    let renew = kubecorp(["certs", "renew", "apiserver", "--dir", lab.dir_arg()]).success();
    assert!(
        renew
            .stderr
            .contains("warning: the CA `ca` is valid only from"),
        "{}",
        renew.dump()
    );
    let (_, ca) = certs_json(&lab, &["inspect", "ca"]);
    let ca_not_after = ca["not_after"].as_str().unwrap().to_string();
    verify(
        &lab.pki("apiserver.crt"),
        &lab.pki("ca.crt"),
        &["--usage", "server"],
    )
    .failure(1)
    .stdout_has("x509: certificate has expired or is not yet valid: current time ")
    .stdout_has(&format!(" is after {ca_not_after}"));
    let table = kubecorp(["certs", "check-expiration", "--dir", lab.dir_arg()])
        .success()
        .stdout;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ca ") && l.contains("<invalid>")),
        "{table}"
    );
}

#[test]
fn break_rewrites_a_badge_the_way_a_real_mistake_would_and_undo_restores_it() {
    let lab = TestLab::init(&[]);
    let d = lab.dir_arg();
    let (cert, ca) = (lab.pki("apiserver.crt"), lab.pki("ca.crt"));
    let original = std::fs::read(&cert).unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("expire", &["--usage", "server"], "x509: certificate has expired or is not yet valid: current time "),
        ("not-yet-valid", &["--usage", "server"], " is before "),
        ("rogue-ca", &["--usage", "server"], "x509: certificate signed by unknown authority\n"),
        ("same-name-ca", &["--usage", "server"], "(possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"kubernetes\")"),
        ("drop-san", &["--usage", "server", "--name", "kubernetes"], "x509: certificate is not valid for any names, but wanted to match kubernetes"),
        ("drop-san", &["--usage", "server", "--name", "kube-apiserver"], "x509: certificate relies on legacy Common Name field, use SANs instead"),
        ("wrong-usage", &["--usage", "server"], "x509: certificate specifies an incompatible key usage"),
    ];
    for (fault, extra, text) in cases {
        kubecorp(["break", fault, "apiserver", "--dir", d])
            .success()
            .stdout_has("apiserver: ");
        verify(&cert, &ca, extra).failure(1).stdout_has(text);
        kubecorp(["break", "--undo", "apiserver", "--dir", d])
            .success()
            .stdout_has("restored");
        assert_eq!(std::fs::read(&cert).unwrap(), original, "{fault} undone");
        verify(&cert, &ca, &["--usage", "server"]).success();
    }
    // drop-san on a badge whose CN is not a name: Go lists the remaining names.
    kubecorp(["break", "drop-san", "etcd-server", "--dir", d]).success();
    verify(
        &lab.pki("etcd/server.crt"),
        &lab.pki("etcd/ca.crt"),
        &["--name", "127.0.0.1"],
    )
    .failure(1)
    .stdout_has(
        "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
    );

    kubecorp(["break", "wrong-group", "admin.conf", "--dir", d]).success();
    let json = kubecorp(["certs", "inspect", "admin.conf", "--dir", d, "-o", "json"])
        .success()
        .stdout;
    assert!(json.contains("kubecorp:wrong-group"), "{json}");
    kubecorp(["break", "wrong-node-name", "kubelet.conf", "--dir", d]).success();
    kubecorp(["certs", "inspect", "kubelet.conf", "--dir", d])
        .success()
        .stdout_has("CN = system:node:kubecorp-control-plane-impostor");
    kubecorp(["break", "wrong-node-name", "scheduler.conf", "--dir", d])
        .failure(2)
        .stderr_has("only a kubelet badge");
    kubecorp(["break", "mismatched-key", "scheduler.conf", "--dir", d]).success();
    kubecorp(["pki", "init", "--dir", d]).failure(2).stderr_has(
        "scheduler.conf: the private key does not match the public key of the certificate",
    );
    // Renewal heals it: a new key, and a certificate for that key.
    kubecorp(["certs", "renew", "scheduler.conf", "--dir", d]).success();
    kubecorp(["break", "--undo", "kubelet.conf", "--dir", d]).success();
    kubecorp(["break", "--undo", "admin.conf", "--dir", d]).success();
    kubecorp(["break", "--undo", "etcd-server", "--dir", d]).success();
    kubecorp(["pki", "init", "--dir", d]).success();

    kubecorp(["break", "explode", "apiserver", "--dir", d])
        .failure(2)
        .stderr_has("invalid value 'explode' for '[FAULT]'")
        .stderr_has("[possible values: expire, not-yet-valid, rogue-ca, same-name-ca, drop-san,");
    kubecorp(["break", "expire", "apiservr", "--dir", d])
        .failure(2)
        .stderr_has("(not a badge name); known names: admin.conf");
    kubecorp(["break", "--undo", "etcd-peer", "--dir", d])
        .failure(2)
        .stderr_has("nothing to undo");
}

#[test]
fn explain_turns_a_copied_error_into_its_meaning_and_a_fix() {
    kubecorp([
        "explain",
        "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority",
    ])
    .success()
    .stdout_has("unknown-authority — the caller checked the server's badge during the TLS handshake")
    .stdout_has("confirm it:")
    .stdout_has("kubecorp certs verify --cert FILE --ca CA.crt");
    kubecorp([
        "explain",
        "error: You must be logged in to the server (Unauthorized)",
    ])
    .success()
    .stdout_has("authn-401 — the server checked the caller's client badge and refused it")
    .stdout_has("checked by: server");
    kubecorp(["explain", "Error from server (Forbidden): pods is forbidden: User \"john\" cannot list resource \"pods\""])
        .success()
        .stdout_has("kubectl create rolebinding NAME --role=NAME --user=john -n NAMESPACE");
    // A multi-line paste, judged whole: -o json says whose check failed and keeps the kind.
    kubecorp([
        "explain",
        "-o",
        "json",
        "E0801 01:24:16.670165   11300 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"https://10.0.0.1:6443/api?timeout=32s\\\": tls: failed to verify certificate: x509: certificate signed by unknown authority\"\nUnable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority",
    ])
    .success()
    .stdout_has("\"kind\": \"unknown-authority\"")
    .stdout_has("\"checked_by\": \"client\"");
    kubecorp([
        "explain",
        "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout",
    ])
    .success()
    .stdout_has("checked by: none")
    .stdout_has("this is not a certificate problem: ");
    kubecorp(["explain", "expired"])
        .success()
        .stdout_has("expired — ");
    kubecorp(["explain", "sudo kubeadm alpha certs renew scheduler"])
        .success()
        .stdout_has("kubecorp certs renew scheduler.conf");
    kubecorp(["explain", "the printer is on fire"])
        .failure(2)
        .stderr_has("no explanation for \"the printer is on fire\"");
}

#[test]
fn explain_reads_a_whole_paste_from_standard_input_and_a_lone_deadline_is_not_called_a_cert_problem(
) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    // etcdctl 3.5's output when etcd refuses the badge: a retry warning, then the error.
    let paste = concat!(
        r#"{"level":"warn","ts":"2026-04-24T09:00:00.000Z","logger":"etcd-client","caller":"v3@v3.5.16/retry_interceptor.go:63","msg":"retrying of unary invoker failed","target":"etcd-endpoints://0xc000024000/127.0.0.1:2379","attempt":0,"error":"rpc error: code = DeadlineExceeded desc = latest balancer error: last connection error: connection error: desc = \"transport: authentication handshake failed: remote error: tls: unknown certificate authority\""}"#,
        "\nError: context deadline exceeded\n"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
        .args(["explain", "-"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kubecorp binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(paste.as_bytes())
        .expect("the paste is written");
    let out = child.wait_with_output().expect("kubecorp explain ends");
    let run = kubecorp_testkit::Run::from_output("kubecorp explain -".into(), out);
    run.success()
        .stdout_has("handshake-refused — the server checked the caller's client badge")
        .stdout_has("checked by: server");

    kubecorp(["explain", "Error: context deadline exceeded"])
        .success()
        .stdout_has("deadline — not said here: the client gave up waiting for an answer")
        .stdout_has("checked by: unknown")
        .stdout_has("very often a refused TLS handshake");
}
