//! Alice and Charlie over real mutual TLS, judged by the real kubectl and openssl.

mod support;

use std::path::PathBuf;

use kubecorp_office::{Office, OfficeOptions};
use support::{run_tool, tool, Run};

/// An office running on its own runtime thread, so tests can call kubectl synchronously.
struct Running {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    url: String,
    etcd_url: String,
    clock: kubecorp_trust::LabClock,
    events: kubecorp_trust::Events,
    kubectl: PathBuf,
    _runtime: tokio::runtime::Runtime,
}

impl Running {
    fn start(test: &str) -> Option<Running> {
        let kubectl = tool("kubectl", test)?;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let office = runtime
            .block_on(Office::start(OfficeOptions::ephemeral(&dir)))
            .expect("the office opens");
        let running = Running {
            url: office.apiserver_url(),
            etcd_url: office.etcd_url.clone(),
            clock: office.clock.clone(),
            events: office.events.clone(),
            tmp,
            dir,
            kubectl,
            _runtime: runtime,
        };
        std::mem::forget(office); // runs until the runtime is dropped with the test
        Some(running)
    }

    fn conf(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// kubectl against the running apiserver, with a fresh discovery cache.
    fn kubectl(&self, kubeconfig: &str, args: &[&str]) -> Run {
        let cache = self.tmp.path().join("kube-cache");
        let mut all = vec![
            "--kubeconfig".to_string(),
            kubeconfig.to_string(),
            "--server".to_string(),
            self.url.clone(),
            "--cache-dir".to_string(),
            cache.to_string_lossy().into_owned(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run_tool(&self.kubectl, &all)
    }

    fn admin(&self, args: &[&str]) -> Run {
        self.kubectl(&self.conf("admin.conf"), args)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
}

#[test]
fn kubectl_lists_namespaces_and_shows_version_with_the_admin_badge() {
    let Some(lab) = Running::start("kubectl_lists_namespaces") else {
        return;
    };
    let ns = lab.admin(&["get", "namespaces"]).success();
    for name in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        assert!(ns.stdout.contains(name), "{}", ns.dump());
    }
    assert!(ns.stdout.starts_with("NAME "), "{}", ns.dump());
    lab.admin(&["version"])
        .success()
        .stdout_has("Server Version: v1.32.0-kubecorp");
    lab.admin(&["get", "pods", "-A"])
        .success()
        .stderr_has("No resources found");
    lab.admin(&["auth", "whoami"])
        .success()
        .stdout_has("kubernetes-admin")
        .stdout_has("kubeadm:cluster-admins");
    lab.admin(&["api-resources"])
        .success()
        .stdout_has("certificatesigningrequests")
        .stdout_has("csr");
    lab.admin(&["cluster-info"])
        .success()
        .stdout_has("Kubernetes control plane is running at");
}

#[test]
fn the_seed_articles_csr_flow_gives_john_a_badge_that_is_forbidden_until_bound() {
    let Some(lab) = Running::start("the_seed_articles_csr_flow") else {
        return;
    };
    let Some(openssl) = tool("openssl", "the_seed_articles_csr_flow") else {
        return;
    };
    let key = lab.tmp.path().join("john.key");
    let csr = lab.tmp.path().join("john.csr");
    run_tool(&openssl, ["genrsa", "-out", key.to_str().unwrap(), "2048"]).success();
    run_tool(
        &openssl,
        [
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
            "-subj",
            "/CN=john/O=developers",
        ],
    )
    .success();
    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap());
    let manifest = lab.write(
        "john-csr.yaml",
        &format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: john-developer\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 86400  # one day\n  usages:\n  - client auth\n"
        ),
    );
    lab.admin(&["apply", "-f", &manifest])
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/john-developer created");
    lab.admin(&["get", "csr"])
        .success()
        .stdout_has("Pending")
        .stdout_has("kubernetes-admin")
        .stdout_has("24h");
    lab.admin(&["certificate", "approve", "john-developer"])
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/john-developer approved");
    lab.admin(&["get", "csr", "john-developer"])
        .success()
        .stdout_has("Approved,Issued");
    let cert_b64 = lab
        .admin(&[
            "get",
            "csr",
            "john-developer",
            "-o",
            "jsonpath={.status.certificate}",
        ])
        .success()
        .stdout;
    let crt = lab.tmp.path().join("john.crt");
    std::fs::write(
        &crt,
        base64::engine::general_purpose::STANDARD
            .decode(cert_b64.trim())
            .unwrap(),
    )
    .unwrap();
    let text = run_tool(
        &openssl,
        [
            "x509",
            "-noout",
            "-subject",
            "-dates",
            "-in",
            crt.to_str().unwrap(),
        ],
    )
    .success()
    .stdout;
    assert!(
        text.contains("subject=CN = john, O = developers"),
        "the CSR's subject is kept as written: {text}"
    );
    run_tool(
        &openssl,
        [
            "verify",
            "-CAfile",
            &format!("{}/pki/ca.crt", lab.dir.display()),
            crt.to_str().unwrap(),
        ],
    )
    .success();

    // A kubeconfig for john, made the way the article makes it.
    let john = lab.tmp.path().join("john.conf");
    let john = john.to_str().unwrap();
    run_tool(
        &lab.kubectl,
        [
            "config",
            "--kubeconfig",
            john,
            "set-cluster",
            "kubecorp",
            "--server",
            &lab.url,
            "--certificate-authority",
            &format!("{}/pki/ca.crt", lab.dir.display()),
            "--embed-certs",
        ],
    )
    .success();
    run_tool(
        &lab.kubectl,
        [
            "config",
            "--kubeconfig",
            john,
            "set-credentials",
            "john",
            "--client-certificate",
            crt.to_str().unwrap(),
            "--client-key",
            key.to_str().unwrap(),
            "--embed-certs",
        ],
    )
    .success();
    run_tool(
        &lab.kubectl,
        [
            "config",
            "--kubeconfig",
            john,
            "set-context",
            "john@kubecorp",
            "--cluster",
            "kubecorp",
            "--user",
            "john",
        ],
    )
    .success();
    run_tool(
        &lab.kubectl,
        [
            "config",
            "--kubeconfig",
            john,
            "use-context",
            "john@kubecorp",
        ],
    )
    .success();

    lab.kubectl(john, &["auth", "whoami"])
        .success()
        .stdout_has("john")
        .stdout_has("developers");
    lab.kubectl(john, &["get", "pods"])
        .failure(1)
        .stderr_has("Error from server (Forbidden): pods is forbidden: User \"john\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"");
    lab.kubectl(john, &["auth", "can-i", "list", "pods"])
        .failure(1)
        .stdout_has("no");
    lab.admin(&[
        "create",
        "rolebinding",
        "john-view",
        "--clusterrole=view",
        "--user=john",
        "-n",
        "default",
    ])
    .success()
    .stdout_has("rolebinding.rbac.authorization.k8s.io/john-view created");
    lab.kubectl(john, &["get", "pods"])
        .success()
        .stderr_has("No resources found in default namespace.");
    lab.kubectl(john, &["auth", "can-i", "list", "pods"])
        .success()
        .stdout_has("yes");
    lab.kubectl(john, &["get", "secrets"])
        .failure(1)
        .stderr_has("Error from server (Forbidden): secrets is forbidden: User \"john\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\"");

    // A day later on the lab clock, the one-day badge has expired: 401.
    lab.clock.advance(time::Duration::days(2));
    lab.kubectl(john, &["get", "pods"])
        .failure(1)
        .stderr_has("error: You must be logged in to the server (Unauthorized)");
    let events = lab.events.snapshot();
    let refused = events
        .iter()
        .find(|e| e.stage == kubecorp_trust::Stage::Authn && !e.allowed)
        .expect("the refusal is an event");
    let log = refused.server_log.as_deref().unwrap_or("");
    assert!(
        log.contains("\"Unable to authenticate the request\""),
        "{log}"
    );
    assert!(
        log.contains("x509: certificate has expired or is not yet valid: current time"),
        "{log}"
    );
    assert!(
        !format!("{events:?}").contains("PRIVATE KEY"),
        "no key material in events"
    );
}

#[test]
fn a_long_lived_csr_gets_the_one_year_default() {
    let Some(lab) = Running::start("a_long_lived_csr") else {
        return;
    };
    let Some(openssl) = tool("openssl", "a_long_lived_csr") else {
        return;
    };
    let key = lab.tmp.path().join("k.key");
    let csr = lab.tmp.path().join("k.csr");
    run_tool(&openssl, ["genrsa", "-out", key.to_str().unwrap(), "2048"]).success();
    run_tool(
        &openssl,
        [
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
            "-subj",
            "/CN=john/O=developers",
        ],
    )
    .success();
    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap());
    let manifest = lab.write("long.yaml", &format!("apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: john-developer-long-lived\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n  usages:\n  - client auth\n"));
    lab.admin(&["create", "-f", &manifest]).success();
    lab.admin(&["get", "csr"]).success().stdout_has("<none>");
    lab.admin(&["certificate", "approve", "john-developer-long-lived"])
        .success();
    let json = lab
        .admin(&["get", "csr", "john-developer-long-lived", "-o", "json"])
        .success()
        .stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(v["status"]["certificate"].as_str().unwrap())
        .unwrap();
    let crt = lab.write("long.crt", &String::from_utf8(pem).unwrap());
    let end = run_tool(&openssl, ["x509", "-noout", "-enddate", "-in", &crt])
        .success()
        .stdout;
    let next_year = (time::OffsetDateTime::now_utc() + time::Duration::days(364))
        .year()
        .to_string();
    assert!(end.contains(&next_year), "one year: {end}");
    lab.admin(&["create", "-f", &manifest])
        .failure(1)
        .stderr_has("Error from server (AlreadyExists): error when creating");
    lab.admin(&["delete", "csr", "john-developer-long-lived"])
        .success()
        .stdout_has(
            "certificatesigningrequest.certificates.k8s.io \"john-developer-long-lived\" deleted",
        );
    lab.admin(&["get", "csr", "john-developer-long-lived"])
        .failure(1)
        .stderr_has("Error from server (NotFound): certificatesigningrequests.certificates.k8s.io \"john-developer-long-lived\" not found");
}

#[test]
fn kubectl_refuses_an_apiserver_whose_badge_comes_from_another_ca() {
    let Some(lab) = Running::start("kubectl_refuses_an_apiserver") else {
        return;
    };
    let other = support::TestLab::init(&[]);
    let conf = other.path("admin.conf");
    lab.kubectl(conf.to_str().unwrap(), &["get", "pods"])
        .failure(1)
        .stderr_has("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority");
}

#[test]
fn a_client_badge_from_a_rogue_ca_gets_401_not_a_handshake_failure() {
    let Some(lab) = Running::start("a_client_badge_from_a_rogue_ca") else {
        return;
    };
    let other = support::TestLab::init(&[]);
    // Trust the right CA for Alice's badge, but show a badge the Founder never signed.
    let conf = lab.tmp.path().join("rogue.conf");
    let conf = conf.to_str().unwrap();
    let k = &lab.kubectl;
    let rogue = other.path("admin.conf");
    let creds = |field: &str| {
        run_tool(
            k,
            [
                "config",
                "view",
                "--raw",
                "--kubeconfig",
                rogue.to_str().unwrap(),
                "-o",
                &format!("jsonpath={{.users[0].user.{field}}}"),
            ],
        )
        .success()
        .stdout
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let crt = lab.write(
        "rogue.crt",
        &String::from_utf8(b64.decode(creds("client-certificate-data").trim()).unwrap()).unwrap(),
    );
    let key = lab.write(
        "rogue.key",
        &String::from_utf8(b64.decode(creds("client-key-data").trim()).unwrap()).unwrap(),
    );
    run_tool(
        k,
        [
            "config",
            "--kubeconfig",
            conf,
            "set-cluster",
            "c",
            "--server",
            &lab.url,
            "--certificate-authority",
            &lab.dir.join("pki/ca.crt").to_string_lossy(),
            "--embed-certs",
        ],
    )
    .success();
    run_tool(
        k,
        [
            "config",
            "--kubeconfig",
            conf,
            "set-credentials",
            "u",
            "--client-certificate",
            &crt,
            "--client-key",
            &key,
            "--embed-certs",
        ],
    )
    .success();
    run_tool(
        k,
        [
            "config",
            "--kubeconfig",
            conf,
            "set-context",
            "x",
            "--cluster",
            "c",
            "--user",
            "u",
        ],
    )
    .success();
    run_tool(k, ["config", "--kubeconfig", conf, "use-context", "x"]).success();
    lab.kubectl(conf, &["auth", "whoami"])
        .failure(1)
        .stderr_has("error: You must be logged in to the server (Unauthorized)");
    let log = lab
        .events
        .snapshot()
        .into_iter()
        .find_map(|e| {
            e.server_log
                .filter(|l| l.contains("Unable to authenticate"))
        })
        .expect("the apiserver logs why");
    assert!(
        log.contains("failed: x509: certificate signed by unknown authority (possibly because of"),
        "{log}"
    );
}

#[test]
fn objects_are_stored_in_etcd_under_registry_keys_over_mtls() {
    let Some(lab) = Running::start("objects_are_stored_in_etcd") else {
        return;
    };
    let Some(curl) = tool("curl", "objects_are_stored_in_etcd") else {
        return;
    };
    lab.admin(&["create", "namespace", "sales"])
        .success()
        .stdout_has("namespace/sales created");
    let pki = |p: &str| lab.dir.join("pki").join(p).to_string_lossy().into_owned();
    // Charlie answers the apiserver's badge, in etcd's own JSON (base64 keys and values).
    let key = base64_of("/registry/namespaces/sales");
    let out = run_tool(
        &curl,
        [
            "-sS",
            "--cacert",
            &pki("etcd/ca.crt"),
            "--cert",
            &pki("apiserver-etcd-client.crt"),
            "--key",
            &pki("apiserver-etcd-client.key"),
            "-X",
            "POST",
            &format!("{}/v3/kv/range", lab.etcd_url),
            "-d",
            &format!("{{\"key\":\"{key}\"}}"),
        ],
    )
    .success()
    .stdout;
    assert!(out.contains(&format!("\"key\":\"{key}\"")), "{out}");
    // and refuses the admin's badge (signed by the cluster CA) in the handshake.
    let admin_crt = lab.write("admin.crt", &decoded(&lab, "client-certificate-data"));
    let admin_key = lab.write("admin.key", &decoded(&lab, "client-key-data"));
    let refused = run_tool(
        &curl,
        [
            "-sS",
            "--cacert",
            &pki("etcd/ca.crt"),
            "--cert",
            &admin_crt,
            "--key",
            &admin_key,
            &format!("{}/health", lab.etcd_url),
        ],
    );
    assert_ne!(refused.status, 0, "{}", refused.dump());
    assert!(
        refused.stderr.contains("unknown ca") || refused.stderr.contains("alert"),
        "{}",
        refused.dump()
    );
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn decoded(lab: &Running, field: &str) -> String {
    let raw = run_tool(
        &lab.kubectl,
        [
            "config",
            "view",
            "--raw",
            "--kubeconfig",
            &lab.conf("admin.conf"),
            "-o",
            &format!("jsonpath={{.users[0].user.{field}}}"),
        ],
    )
    .success()
    .stdout;
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .unwrap(),
    )
    .unwrap()
}
