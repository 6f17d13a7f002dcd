//! Alice and Charlie over real mutual TLS, judged by the real kubectl and openssl: the running
//! office and its helpers, the door, storage and bad input here; CSRs, `kubectl explain`, RBAC,
//! the front proxy, tokens and watches in `kubectl/`.

#[path = "kubectl/apps.rs"]
mod apps;
#[path = "kubectl/csr.rs"]
mod csr;
#[path = "kubectl/explain.rs"]
mod explain;
#[path = "kubectl/front_proxy.rs"]
mod front_proxy;
#[path = "kubectl/python_client.rs"]
mod python_client;
#[path = "kubectl/rbac.rs"]
mod rbac;
#[path = "kubectl/tokens.rs"]
mod tokens;
#[path = "kubectl/watch.rs"]
mod watch;

use std::path::PathBuf;

use kubecorp_office::{Office, OfficeOptions};
use kubecorp_testkit::lab::FreshLab;
use kubecorp_testkit::{run_tool, tool, Run};

/// An office running on its own runtime thread, so tests can call kubectl synchronously.
struct Running {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    url: String,
    etcd_url: String,
    clock: kubecorp_trust::LabClock,
    events: kubecorp_trust::Events,
    kubectl: PathBuf,
    /// Kept open for the test's lifetime; dropping it closes the office's doors.
    _office: Office,
    _runtime: tokio::runtime::Runtime,
}

impl Running {
    /// An office on a PKI with ECDSA P-256 keys, quick to make (most tests are not about keys).
    fn start(test: &str) -> Option<Running> {
        Running::start_with_keys(test, kubecorp_pki::KeyAlgorithm::EcdsaP256)
    }

    /// An office on a PKI with keys of `algorithm` (RSA-2048 is kubeadm's).
    fn start_with_keys(test: &str, algorithm: kubecorp_pki::KeyAlgorithm) -> Option<Running> {
        let kubectl = tool("kubectl", test)?;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let runtime = kubecorp_testkit::runtime();
        let options = OfficeOptions {
            key_algorithm: algorithm,
            ..OfficeOptions::ephemeral(&dir)
        };
        let office = runtime
            .block_on(Office::start(options))
            .expect("the office opens");
        Some(Running {
            url: office.apiserver_url(),
            etcd_url: office.etcd_url.clone(),
            clock: office.clock.clone(),
            events: office.events.clone(),
            tmp,
            dir,
            kubectl,
            _office: office,
            _runtime: runtime,
        })
    }

    /// [`Running::start`], with openssl beside kubectl for the tests that make keys and CSRs.
    fn with_openssl(test: &str) -> Option<(Running, PathBuf)> {
        let lab = Running::start(test)?;
        let openssl = tool("openssl", test)?;
        Some((lab, openssl))
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

    /// A kubeconfig for `user` made the way the seed article makes one (`kubectl config
    /// set-cluster / set-credentials / set-context / use-context`), trusting the lab's CA.
    fn kubeconfig_for(&self, user: &str, crt: &str, key: &str) -> String {
        let conf = self
            .tmp
            .path()
            .join(format!("{user}.conf"))
            .to_string_lossy()
            .into_owned();
        let ca = self.dir.join("pki/ca.crt").to_string_lossy().into_owned();
        let context = format!("{user}@kubecorp");
        let c = conf.as_str();
        for args in [
            vec![
                "set-cluster",
                "kubecorp",
                "--server",
                &self.url,
                "--certificate-authority",
                &ca,
                "--embed-certs",
            ],
            vec![
                "set-credentials",
                user,
                "--client-certificate",
                crt,
                "--client-key",
                key,
                "--embed-certs",
            ],
            vec![
                "set-context",
                &context,
                "--cluster",
                "kubecorp",
                "--user",
                user,
            ],
            vec!["use-context", &context],
        ] {
            let mut all = vec!["config", "--kubeconfig", c];
            all.extend(args);
            run_tool(&self.kubectl, all).success();
        }
        conf
    }

    /// The first line Alice logged that contains `needle`, waiting a moment for it to arrive
    /// (she logs a refusal as she answers it).
    fn alices_log(&self, needle: &str) -> String {
        for _ in 0..500 {
            if let Some(line) = self
                .events
                .snapshot()
                .into_iter()
                .filter(|e| e.to == "apiserver")
                .filter_map(|e| e.server_log)
                .find(|l| l.contains(needle))
            {
                return line;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("Alice never logged {needle:?}");
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
fn kubectl_refuses_an_apiserver_whose_badge_comes_from_another_ca() {
    let Some(lab) = Running::start("kubectl_refuses_an_apiserver") else {
        return;
    };
    let other = FreshLab::new("kubecorp-control-plane");
    let conf = other.lab.kubeconfig_path("admin.conf");
    lab.kubectl(conf.to_str().unwrap(), &["get", "pods"])
        .failure(1)
        .stderr_has("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority");
}

#[test]
fn a_client_badge_from_a_rogue_ca_gets_401_not_a_handshake_failure() {
    let Some(lab) = Running::start("a_client_badge_from_a_rogue_ca") else {
        return;
    };
    let other = FreshLab::new("kubecorp-control-plane");
    // Trust the right CA for Alice's badge, but show a badge the Founder never signed.
    let rogue = other.lab.kubeconfig_path("admin.conf");
    let rogue = rogue.to_str().unwrap();
    let crt = lab.write(
        "rogue.crt",
        &decoded_from(&lab, rogue, "client-certificate-data"),
    );
    let key = lab.write("rogue.key", &decoded_from(&lab, rogue, "client-key-data"));
    let conf = lab.kubeconfig_for("rogue", &crt, &key);
    let conf = conf.as_str();
    lab.kubectl(conf, &["auth", "whoami"])
        .failure(1)
        .stderr_has("error: You must be logged in to the server (Unauthorized)");
    // `get` reads the API list first: five memcache.go lines, then client-go's generic text,
    // which Alice's event for that call tells as what the caller sees.
    let get = lab.kubectl(conf, &["get", "pods"]).failure(1);
    let credentials = "error: You must be logged in to the server (the server has asked for the client to provide credentials)";
    assert_eq!(
        get.stderr.trim_end().lines().last(),
        Some(credentials),
        "{}",
        get.dump()
    );
    assert_eq!(
        get.stderr
            .matches(r#"memcache.go:265] "Unhandled Error" err="couldn't get current server API group list: the server has asked for the client to provide credentials""#)
            .count(),
        5,
        "{}",
        get.dump()
    );
    let told = lab
        .events
        .snapshot()
        .into_iter()
        .find(|e| e.detail.as_deref() == Some("GET /api 401"))
        .and_then(|e| e.client_text);
    assert_eq!(told.as_deref(), Some(credentials));
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
        log.starts_with("\"Unable to authenticate the request\" err=\"[x509: certificate signed by unknown authority, verifying certificate SN="),
        "{log}"
    );
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
        refused.stderr.contains("alert unknown ca"),
        "{}",
        refused.dump()
    );
}

fn base64_of(s: &str) -> String {
    base64_of_bytes(s.as_bytes())
}

/// One embedded field of a kubeconfig's user (`client-certificate-data`, …), decoded.
fn decoded_from(lab: &Running, kubeconfig: &str, field: &str) -> String {
    let raw = run_tool(
        &lab.kubectl,
        [
            "config",
            "view",
            "--raw",
            "--kubeconfig",
            kubeconfig,
            "-o",
            &format!("jsonpath={{.users[0].user.{field}}}"),
        ],
    )
    .success()
    .stdout;
    base64_decoded(&raw)
}

/// One embedded field of the lab's admin.conf, decoded.
fn decoded(lab: &Running, field: &str) -> String {
    decoded_from(lab, &lab.conf("admin.conf"), field)
}

fn base64_of_bytes(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Base64 text, decoded to the UTF-8 it holds.
fn base64_decoded(b64: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// curl against the apiserver, trusting the cluster CA; `badge` adds the admin's cert and key.
fn curl_api(lab: &Running, curl: &std::path::Path, badge: bool, extra: &[&str]) -> Run {
    let mut args = vec![
        "-sS".to_string(),
        "-w".to_string(),
        "\n%{http_code}".to_string(),
        "--cacert".to_string(),
        lab.dir.join("pki/ca.crt").to_string_lossy().into_owned(),
    ];
    if badge {
        args.push("--cert".into());
        args.push(lab.write("admin.crt", &decoded(lab, "client-certificate-data")));
        args.push("--key".into());
        args.push(lab.write("admin.key", &decoded(lab, "client-key-data")));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    run_tool(curl, &args)
}

/// curl POSTing `body` (curl's `--data-binary` argument) as JSON to the namespaces as the admin.
fn post_namespace(lab: &Running, curl: &std::path::Path, extra: &[&str], body: &str) -> Run {
    let url = format!("{}/api/v1/namespaces", lab.url);
    let mut args = vec!["-X", "POST", "-H", "Content-Type: application/json"];
    args.extend_from_slice(extra);
    args.extend(["--data-binary", body, &url]);
    curl_api(lab, curl, true, &args)
}

#[test]
fn bad_input_over_tls_gets_kubernetes_status_answers_and_never_kills_the_server() {
    let Some(lab) = Running::start("bad_input_over_tls") else {
        return;
    };
    let Some(curl) = tool("curl", "bad_input_over_tls") else {
        return;
    };
    let url = |p: &str| format!("{}{p}", lab.url);

    // A body over 3 MiB: 413.
    let big = lab.tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; 3 * 1024 * 1024 + 1]).unwrap();
    let at_big = format!("@{}", big.display());
    let r = post_namespace(&lab, &curl, &["-H", "Expect:"], &at_big)
        .success()
        .stdout_has("Request entity too large: limit is 3145728");
    assert!(r.stdout.ends_with("\n413"), "{}", r.dump());

    // Invalid JSON: 400 Status.
    let r = post_namespace(&lab, &curl, &[], "{not json")
        .success()
        // curl's user agent gets indented JSON, as the apiserver library writes it for curl.
        .stdout_has("{\n  \"kind\": \"Status\",\n  \"apiVersion\": \"v1\",\n")
        .stdout_has("\"reason\": \"BadRequest\"")
        .stdout_has("\"code\": 400\n}");
    assert!(r.stdout.ends_with("\n400"), "{}", r.dump());

    // An unknown path: 404 Status. (curl to an IP address sends no SNI, and that is fine.)
    let r = curl_api(&lab, &curl, true, &[&url("/nope")])
        .success()
        .stdout_has("\"message\": \"the server could not find the requested resource\"")
        .stdout_has("\"reason\": \"NotFound\"");
    assert!(r.stdout.ends_with("\n404"), "{}", r.dump());
    // `?pretty=false` wins over the user agent: compact.
    curl_api(&lab, &curl, true, &[&url("/nope?pretty=false")])
        .success()
        .stdout_has("{\"kind\":\"Status\",\"apiVersion\":\"v1\",");

    // No badge at all: system:anonymous, forbidden from pods, welcome at /healthz.
    let r = curl_api(&lab, &curl, false, &[&url("/api/v1/namespaces/default/pods")])
        .success()
        .stdout_has("pods is forbidden: User \\\"system:anonymous\\\" cannot list resource \\\"pods\\\" in API group \\\"\\\" in the namespace \\\"default\\\"");
    assert!(r.stdout.ends_with("\n403"), "{}", r.dump());
    let r = curl_api(&lab, &curl, false, &[&url("/healthz")]).success();
    assert_eq!(r.stdout, "ok\n200", "{}", r.dump());

    // Plain HTTP bytes at the TLS port: a logged handshake error, and the server lives on.
    let addr = lab.url.trim_start_matches("https://").to_string();
    {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink);
    }
    lab.admin(&["get", "namespaces"])
        .success()
        .stdout_has("kube-system");
    let log = lab
        .events
        .snapshot()
        .into_iter()
        .find_map(|e| e.server_log.filter(|l| l.contains("TLS handshake error")))
        .expect("the handshake error is an event");
    assert!(
        log.starts_with("http: TLS handshake error from 127.0.0.1:"),
        "{log}"
    );
}

#[test]
fn a_watch_streams_a_new_namespace_as_added() {
    let Some(lab) = Running::start("a_watch_streams") else {
        return;
    };
    let Some(curl) = tool("curl", "a_watch_streams") else {
        return;
    };
    let crt = lab.write("admin.crt", &decoded(&lab, "client-certificate-data"));
    let key = lab.write("admin.key", &decoded(&lab, "client-key-data"));
    let child = std::process::Command::new(&curl)
        .args([
            "-sS",
            "-N",
            "--max-time",
            "3",
            "--cacert",
            &lab.dir.join("pki/ca.crt").to_string_lossy(),
            "--cert",
            &crt,
            "--key",
            &key,
            &format!("{}/api/v1/namespaces?watch=true", lab.url),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    lab.admin(&["create", "namespace", "watched"])
        .success()
        .stdout_has("namespace/watched created");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let added = stdout
        .lines()
        .find(|l| l.contains("\"name\":\"watched\""))
        .unwrap_or_else(|| panic!("the new namespace streams by:\n{stdout}"));
    assert!(added.contains("\"type\":\"ADDED\""), "{added}");
}

#[test]
fn services_get_a_cluster_ip_from_the_service_range_and_a_taken_or_foreign_one_is_refused() {
    let Some(lab) = Running::start("services_get_a_cluster_ip") else {
        return;
    };
    lab.admin(&["create", "service", "clusterip", "api", "--tcp=8080:80"])
        .success()
        .stdout_has("service/api created");
    let ip = lab
        .admin(&["get", "service", "api", "-o", "jsonpath={.spec.clusterIP}"])
        .success()
        .stdout;
    let addr: std::net::Ipv4Addr = ip.trim().parse().expect("a cluster IP");
    let n = u32::from(addr);
    assert!(
        n > u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0))
            && n < u32::from(std::net::Ipv4Addr::new(10, 112, 0, 0)),
        "{addr} is in kubeadm's 10.96.0.0/12"
    );
    let fixed = |name: &str, ip: &str| {
        lab.write(
            &format!("{name}.yaml"),
            &format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  clusterIP: {ip}\n  ports:\n  - port: 53\n"),
        )
    };
    lab.admin(&["apply", "-f", &fixed("dns", "10.96.0.10")])
        .success()
        .stdout_has("service/dns created");
    lab.admin(&["apply", "-f", &fixed("again", "10.96.0.10")])
        .failure(1)
        .stderr_has("The Service \"again\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated");
    lab.admin(&["apply", "-f", &fixed("out", "192.168.1.1")])
        .failure(1)
        .stderr_has("The Service \"out\" is invalid: spec.clusterIPs: Invalid value: []string{\"192.168.1.1\"}: failed to allocate IP 192.168.1.1: the provided IP (192.168.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12");
}

#[test]
fn kubectl_patch_type_json_applies_rfc6902_operations_and_a_bad_path_is_422() {
    let Some(lab) = Running::start("kubectl_patch_type_json") else {
        return;
    };
    lab.admin(&["create", "namespace", "team"]).success();
    let patch = |ops: &str| lab.admin(&["patch", "namespace", "team", "--type=json", "-p", ops]);
    patch(r#"[{"op":"add","path":"/metadata/labels","value":{"tier":"gold"}}]"#)
        .success()
        .stdout_has("namespace/team patched");
    lab.admin(&["get", "namespace", "team", "--show-labels"])
        .success()
        .stdout_has("tier=gold");
    // Set-based selectors, as kubectl sends them.
    lab.admin(&[
        "get",
        "namespaces",
        "-l",
        "tier in (gold,silver)",
        "-o",
        "name",
    ])
    .success()
    .stdout_has("namespace/team");
    let others = lab
        .admin(&["get", "namespaces", "-l", "!tier", "-o", "name"])
        .success();
    assert!(
        others.stdout.contains("namespace/default") && !others.stdout.contains("namespace/team"),
        "{}",
        others.dump()
    );
    patch(r#"[{"op":"remove","path":"/metadata/annotations/nope"}]"#)
        .failure(1)
        .stderr_has("The request is invalid: : ");
}

#[test]
fn readyz_lists_its_checks_and_a_broken_etcd_badge_fails_the_etcd_check_with_the_reason_only_in_the_log(
) {
    let Some(lab) = Running::start("readyz") else {
        return;
    };
    let verbose = lab.admin(&["get", "--raw", "/readyz?verbose"]).success();
    assert_eq!(
        verbose.stdout,
        "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]etcd-readiness ok\n[+]poststarthook/rbac/bootstrap-roles ok\n[+]shutdown ok\nreadyz check passed\n",
        "{}",
        verbose.dump()
    );
    lab.admin(&["get", "--raw", "/livez"]).success();

    // `kubecorp break expire apiserver-etcd-client`: Alice's next read from etcd is refused.
    let pki_lab = kubecorp_pki::Lab::new(&lab.dir);
    kubecorp_pki::fault::inflict(
        &pki_lab,
        kubecorp_pki::fault::Fault::Expire,
        "apiserver-etcd-client",
        lab.clock.now(),
    )
    .unwrap();
    // The etcd check reads etcd at most once a second and answers with the last outcome in
    // between, as kube-apiserver's does; a read waits for a connection until the check's 2 s
    // deadline: the failure shows within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while lab.admin(&["get", "--raw", "/readyz"]).status == 0 {
        assert!(std::time::Instant::now() < deadline, "readyz never failed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    lab.admin(&["get", "--raw", "/readyz"]).failure(1).stderr_has(
        "Error from server (InternalError): an error on the server (\"[+]ping ok\\n[+]log ok\\n[-]etcd failed: reason withheld\\n[-]etcd-readiness failed: reason withheld\\n[+]poststarthook/rbac/bootstrap-roles ok\\n[+]shutdown ok\\nreadyz check failed\") has prevented the request from succeeding",
    );
    lab.admin(&["get", "--raw", "/readyz/etcd"])
        .failure(1)
        .stderr_has(
            // etcd refuses the badge in every handshake; clientv3 waits for a connection until the
            // check's deadline and returns the context's error (storagebackend/factory/etcd3.go).
            "(\"internal server error: error getting data from etcd: context deadline exceeded\")",
        );
    let logged = lab
        .events
        .snapshot()
        .into_iter()
        .filter_map(|e| e.server_log)
        .find(|l| l.starts_with("etcd,etcd-readiness check failed: readyz"))
        .expect("the reason is logged");
    assert_eq!(
        logged,
        // healthz.go v1.32 `"%s check failed: %s\n%v"`; etcd3.go `error getting data from etcd: %w`.
        "etcd,etcd-readiness check failed: readyz\n[-]etcd failed: error getting data from etcd: context deadline exceeded\n[-]etcd-readiness failed: error getting data from etcd: context deadline exceeded\n"
    );
}
