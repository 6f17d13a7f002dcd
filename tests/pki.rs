//! End-to-end tests of `kubecorp pki init` and `kubecorp certs …`, judged by openssl and kubectl:
//! what init writes and how the real tools read it here; a badge verified, broken, inspected
//! and explained in `pki/verify.rs`; check-expiration and renew in `pki/renew.rs`; the key
//! pool's fill and background refill in `pki/pool.rs`; a forced init stopped by a signal leaves
//! the old set whole.

mod support;

#[path = "pki/pool.rs"]
mod pool;
#[path = "pki/renew.rs"]
mod renew;
#[path = "pki/verify.rs"]
mod verify;

use std::os::unix::fs::PermissionsExt;

use support::{kubecorp, run_tool, tool, TestLab};

const LEAVES: &[(&str, &str)] = &[
    ("apiserver.crt", "ca.crt"),
    ("apiserver-kubelet-client.crt", "ca.crt"),
    ("front-proxy-client.crt", "front-proxy-ca.crt"),
    ("etcd/server.crt", "etcd/ca.crt"),
    ("etcd/peer.crt", "etcd/ca.crt"),
    ("etcd/healthcheck-client.crt", "etcd/ca.crt"),
    ("apiserver-etcd-client.crt", "etcd/ca.crt"),
];

/// `kubecorp certs verify --cert CERT --ca CA` and any further arguments.
fn verify(cert: &str, ca: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["certs", "verify", "--cert", cert, "--ca", ca];
    args.extend_from_slice(extra);
    kubecorp(&args)
}

/// `kubecorp certs VERB… --dir LAB -o json`: the text printed and the JSON it holds.
fn certs_json(lab: &TestLab, verb: &[&str]) -> (String, serde_json::Value) {
    let mut args = vec!["certs"];
    args.extend_from_slice(verb);
    args.extend(["--dir", lab.dir_arg(), "-o", "json"]);
    let json = kubecorp(&args).success().stdout;
    let value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    (json, value)
}

/// `openssl verify -CAfile CA CERT`, the judge of a chain.
fn openssl_verify(openssl: &std::path::Path, ca: &str, cert: &str) -> support::Run {
    run_tool(openssl, ["verify", "-CAfile", ca, cert])
}

const KUBECONFIGS: &[(&str, &str)] = &[
    ("admin.conf", "kubernetes-admin"),
    ("super-admin.conf", "kubernetes-super-admin"),
    ("controller-manager.conf", "system:kube-controller-manager"),
    ("scheduler.conf", "system:kube-scheduler"),
    ("kubelet.conf", "system:node:kubecorp-control-plane"),
    ("kube-proxy.conf", "system:kube-proxy"),
];

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn pki_init_writes_every_file_kubeadm_writes_with_keys_kept_private() {
    let lab = TestLab::init(&[]);
    assert_eq!(mode(&lab.dir), 0o700, "the lab directory");
    assert_eq!(mode(&lab.path("pki")), 0o700, "pki/");
    assert_eq!(mode(&lab.path("pki/etcd")), 0o700, "pki/etcd/");
    for ca in ["ca", "front-proxy-ca", "etcd/ca"] {
        assert_eq!(mode(&lab.path(&format!("pki/{ca}.crt"))), 0o644, "{ca}.crt");
        assert_eq!(mode(&lab.path(&format!("pki/{ca}.key"))), 0o600, "{ca}.key");
    }
    for (leaf, _) in LEAVES {
        assert_eq!(mode(&lab.path(&format!("pki/{leaf}"))), 0o644, "{leaf}");
        let key = leaf.replace(".crt", ".key");
        assert_eq!(mode(&lab.path(&format!("pki/{key}"))), 0o600, "{key}");
    }
    assert_eq!(mode(&lab.path("pki/sa.key")), 0o600);
    assert_eq!(mode(&lab.path("pki/sa.pub")), 0o644);
    let sa_pub = std::fs::read_to_string(lab.path("pki/sa.pub")).unwrap();
    assert!(sa_pub.starts_with("-----BEGIN PUBLIC KEY-----"), "{sa_pub}");
    for (conf, _) in KUBECONFIGS {
        assert_eq!(mode(&lab.path(conf)), 0o600, "{conf} embeds a private key");
    }
    let ec_key = std::fs::read_to_string(lab.path("pki/apiserver.key")).unwrap();
    assert!(
        ec_key.starts_with("-----BEGIN EC PRIVATE KEY-----"),
        "{ec_key}"
    );
    // Nothing half-written is left behind.
    let stray: Vec<_> = std::fs::read_dir(lab.path("pki"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".kubecorp-"))
        .collect();
    assert!(stray.is_empty(), "temporary files left: {stray:?}");
}

#[test]
fn openssl_verifies_every_leaf_against_its_own_ca_and_rejects_it_against_another() {
    let Some(openssl) = tool("openssl", "openssl_verifies_every_leaf") else {
        return;
    };
    let lab = TestLab::init(&[]);
    for (leaf, ca) in LEAVES {
        openssl_verify(&openssl, &lab.pki(ca), &lab.pki(leaf))
            .success()
            .stdout_has(": OK");
        let wrong = if *ca == "etcd/ca.crt" {
            "ca.crt"
        } else {
            "etcd/ca.crt"
        };
        openssl_verify(&openssl, &lab.pki(wrong), &lab.pki(leaf))
            .failure(2)
            .stderr_has("unable to get local issuer certificate");
    }
}

fn x509_text(openssl: &std::path::Path, file: &str) -> String {
    run_tool(
        openssl,
        [
            "x509",
            "-noout",
            "-in",
            file,
            "-subject",
            "-ext",
            "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints",
        ],
    )
    .success()
    .stdout
}

#[test]
fn openssl_reads_the_shapes_kubeadm_gives_each_certificate() {
    let Some(openssl) = tool("openssl", "openssl_reads_the_shapes") else {
        return;
    };
    let lab = TestLab::init(&["--node-name", "cp-1", "--advertise-address", "10.0.0.10"]);

    let apiserver = x509_text(&openssl, &lab.pki("apiserver.crt"));
    assert!(
        apiserver.contains("subject=CN = kube-apiserver\n"),
        "{apiserver}"
    );
    assert!(
        apiserver.contains(
            "DNS:cp-1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, IP Address:10.96.0.1, IP Address:10.0.0.10"
        ),
        "{apiserver}"
    );
    assert!(
        apiserver.contains("Digital Signature, Key Encipherment\n"),
        "{apiserver}"
    );
    assert!(
        apiserver.contains("TLS Web Server Authentication\n"),
        "{apiserver}"
    );
    assert!(apiserver.contains("CA:FALSE"), "{apiserver}");

    let etcd = x509_text(&openssl, &lab.pki("etcd/server.crt"));
    assert!(
        etcd.contains("subject=CN = cp-1\n"),
        "etcd's server CN is the node name:\n{etcd}"
    );
    assert!(
        etcd.contains("DNS:cp-1, DNS:localhost, IP Address:10.0.0.10, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"),
        "{etcd}"
    );
    assert!(
        etcd.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{etcd}"
    );

    let kubelet_client = x509_text(&openssl, &lab.pki("apiserver-kubelet-client.crt"));
    assert!(
        kubelet_client
            .contains("subject=O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client\n"),
        "{kubelet_client}"
    );
    assert!(
        kubelet_client.contains("TLS Web Client Authentication\n"),
        "{kubelet_client}"
    );
    assert!(
        !kubelet_client.contains("Subject Alternative Name"),
        "{kubelet_client}"
    );

    let etcd_client = x509_text(&openssl, &lab.pki("apiserver-etcd-client.crt"));
    assert!(
        etcd_client.contains("subject=CN = kube-apiserver-etcd-client\n"),
        "no O since 1.29:\n{etcd_client}"
    );

    let ca = x509_text(&openssl, &lab.pki("ca.crt"));
    assert!(ca.contains("subject=CN = kubernetes\n"), "{ca}");
    assert!(
        ca.contains("Digital Signature, Key Encipherment, Certificate Sign"),
        "{ca}"
    );
    assert!(ca.contains("CA:TRUE"), "{ca}");
    assert!(
        ca.contains("DNS:kubernetes"),
        "the CA's CN is copied into a SAN:\n{ca}"
    );
    let etcd_ca = x509_text(&openssl, &lab.pki("etcd/ca.crt"));
    assert!(etcd_ca.contains("subject=CN = etcd-ca\n"), "{etcd_ca}");
    let fp_ca = x509_text(&openssl, &lab.pki("front-proxy-ca.crt"));
    assert!(fp_ca.contains("subject=CN = front-proxy-ca\n"), "{fp_ca}");

    // One year for leaves and ten for CAs, backdated five minutes.
    let dates = run_tool(
        &openssl,
        ["x509", "-noout", "-dates", "-in", &lab.pki("apiserver.crt")],
    )
    .success()
    .stdout;
    let ca_dates = run_tool(
        &openssl,
        ["x509", "-noout", "-dates", "-in", &lab.pki("ca.crt")],
    )
    .success()
    .stdout;
    let year = |s: &str, field: &str| -> i32 {
        let line = s.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace()
            .rev()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        year(&dates, "notAfter") - year(&dates, "notBefore"),
        1,
        "{dates}"
    );
    assert_eq!(
        year(&ca_dates, "notAfter") - year(&ca_dates, "notBefore"),
        10,
        "{ca_dates}"
    );
}

#[test]
fn kubectl_reads_every_kubeconfig_with_kubeadm_names() {
    let Some(kubectl) = tool("kubectl", "kubectl_reads_every_kubeconfig") else {
        return;
    };
    let Some(openssl) = tool("openssl", "kubectl_reads_every_kubeconfig") else {
        return;
    };
    let lab = TestLab::init(&[]);
    for (conf, user) in KUBECONFIGS {
        let path = lab.path(conf);
        let path = path.to_str().unwrap();
        let view = run_tool(&kubectl, ["config", "view", "--kubeconfig", path])
            .success()
            .stdout;
        assert!(
            view.contains(&format!("name: {user}@kubernetes")),
            "{conf}:\n{view}"
        );
        assert!(
            view.contains("server: https://127.0.0.1:6443"),
            "{conf}:\n{view}"
        );
        assert!(
            view.contains("client-certificate-data: DATA+OMITTED"),
            "{conf}:\n{view}"
        );
        assert!(
            view.contains("client-key-data: DATA+OMITTED"),
            "{conf}:\n{view}"
        );
        let current = run_tool(
            &kubectl,
            ["config", "current-context", "--kubeconfig", path],
        )
        .success()
        .stdout;
        assert_eq!(current.trim(), format!("{user}@kubernetes"));

        // The embedded badge carries the user's name and verifies against the embedded CA.
        let raw = |field: &str| {
            let b64 = run_tool(
                &kubectl,
                [
                    "config",
                    "view",
                    "--raw",
                    "--kubeconfig",
                    path,
                    "-o",
                    &format!("jsonpath={field}"),
                ],
            )
            .success()
            .stdout;
            let file = lab.tmp.path().join(format!("{conf}-{}.pem", field.len()));
            use base64::Engine;
            std::fs::write(
                &file,
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .unwrap(),
            )
            .unwrap();
            file
        };
        let cert = raw("{.users[0].user.client-certificate-data}");
        let ca = raw("{.clusters[0].cluster.certificate-authority-data}");
        let subject = run_tool(
            &openssl,
            ["x509", "-noout", "-subject", "-in", cert.to_str().unwrap()],
        )
        .success()
        .stdout;
        assert!(
            subject.trim_end().ends_with(&format!("CN = {user}")),
            "{conf}: {subject}"
        );
        openssl_verify(&openssl, ca.to_str().unwrap(), cert.to_str().unwrap()).success();
    }
    let admin = run_tool(
        &openssl,
        [
            "x509",
            "-noout",
            "-subject",
            "-in",
            &lab.pki("../admin.conf"),
        ],
    );
    // admin.conf is YAML, not PEM: openssl cannot read it directly, kubectl can.
    assert_ne!(admin.status, 0);
}

#[test]
fn a_second_init_reuses_the_ca_and_keeps_existing_files_unless_forced() {
    let Some(openssl) = tool("openssl", "a_second_init_reuses_the_ca") else {
        return;
    };
    let lab = TestLab::init(&[]);
    let ca_before = std::fs::read(lab.path("pki/ca.crt")).unwrap();
    let admin_before = std::fs::read(lab.path("admin.conf")).unwrap();
    std::fs::remove_file(lab.path("pki/apiserver.crt")).unwrap();
    std::fs::remove_file(lab.path("pki/apiserver.key")).unwrap();
    kubecorp(["pki", "init", "--dir", lab.dir_arg()])
        .success()
        .stdout_has("[certs] Using existing ca certificate authority")
        .stdout_has("[certs] Generating \"apiserver\" certificate and key")
        .stdout_has("[kubeconfig] Using existing kubeconfig file:");
    assert_eq!(std::fs::read(lab.path("pki/ca.crt")).unwrap(), ca_before);
    assert_eq!(std::fs::read(lab.path("admin.conf")).unwrap(), admin_before);
    openssl_verify(&openssl, &lab.pki("ca.crt"), &lab.pki("apiserver.crt")).success();

    kubecorp(["pki", "init", "--dir", lab.dir_arg(), "--force"])
        .success()
        .stdout_has("[certs] Generating \"ca\" certificate and key");
    assert_ne!(std::fs::read(lab.path("pki/ca.crt")).unwrap(), ca_before);
}

#[test]
fn pki_init_makes_rsa_2048_keys_by_default_as_kubeadm_and_writes_them_as_pkcs1() {
    let Some(openssl) = tool("openssl", "pki_init_makes_rsa_2048_keys_by_default") else {
        return;
    };
    let lab = TestLab::init_as_kubeadm(&[]);
    // kubeadm writes RSA keys as PKCS#1 (client-go's keyutil.MarshalPrivateKeyToPEM), sa.key too.
    for key in ["apiserver.key", "ca.key", "etcd/ca.key", "sa.key"] {
        let pem = std::fs::read_to_string(lab.path(&format!("pki/{key}"))).unwrap();
        assert!(
            pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
            "{key}: {pem}"
        );
    }
    kubecorp(["certs", "inspect", "apiserver", "--dir", lab.dir_arg()])
        .success()
        .stdout_has("Key:            RSA 2048");
    let text = run_tool(
        &openssl,
        ["x509", "-noout", "-text", "-in", &lab.pki("apiserver.crt")],
    )
    .success()
    .stdout;
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(
        text.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{text}"
    );
    for (leaf, ca) in LEAVES {
        openssl_verify(&openssl, &lab.pki(ca), &lab.pki(leaf)).success();
    }
    // The key on disk is the certificate's key.
    let from_key = run_tool(
        &openssl,
        ["pkey", "-in", &lab.pki("apiserver.key"), "-pubout"],
    )
    .success()
    .stdout;
    let from_cert = run_tool(
        &openssl,
        [
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            &lab.pki("apiserver.crt"),
        ],
    )
    .success()
    .stdout;
    assert_eq!(from_key, from_cert);
}

#[test]
fn bad_input_gets_one_clear_error_naming_the_file_or_argument() {
    let lab = TestLab::init(&[]);
    let tmp = lab.tmp.path();
    let full = std::fs::read_to_string(lab.path("pki/apiserver.crt")).unwrap();
    // (file, what it holds, or None for no file at all, what `certs verify` says of it)
    let cases = [
        (
            "nope.crt",
            None,
            "no such file (expected a PEM certificate)",
        ),
        (
            "notes.txt",
            Some("hello"),
            "expected a PEM CERTIFICATE block, found no PEM block at all",
        ),
        (
            "truncated.crt",
            Some(&full[..full.len() / 2]),
            "expected a PEM CERTIFICATE block, found a damaged PEM block",
        ),
    ];
    for (name, content, error) in cases {
        let file = tmp.join(name);
        if let Some(content) = content {
            std::fs::write(&file, content).unwrap();
        }
        verify(file.to_str().unwrap(), &lab.pki("ca.crt"), &[])
            .failure(2)
            .stderr_has(&format!("{}: {error}", file.display()));
    }

    // A key that does not belong to its certificate.
    std::fs::copy(
        lab.path("pki/front-proxy-client.key"),
        lab.path("pki/apiserver.key"),
    )
    .unwrap();
    kubecorp(["pki", "init", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has(
            "apiserver.key: the private key does not match the public key of the certificate",
        );

    let file = tmp.join("a-file");
    std::fs::write(&file, "x").unwrap();
    kubecorp(["pki", "init", "--dir", file.to_str().unwrap()])
        .failure(2)
        .stderr_has("is not a directory");
    kubecorp(["certs", "check-expiration", "--dir", file.to_str().unwrap()])
        .failure(2)
        .stderr_has("is not a directory");

    kubecorp(["certs", "inspect", "apiservr", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has("unknown certificate name `apiservr`");
    kubecorp([
        "certs",
        "check-expiration",
        "--dir",
        lab.dir_arg(),
        "--now",
        "tomorrow",
    ])
    .failure(2)
    .stderr_has("invalid --now `tomorrow`: expected an RFC 3339 time");
    kubecorp([
        "pki",
        "init",
        "--dir",
        tmp.join("x").to_str().unwrap(),
        "--advertise-address",
        "ten",
    ])
    .failure(2)
    .stderr_has("invalid --advertise-address `ten`");
    kubecorp([
        "pki",
        "init",
        "--dir",
        tmp.join("y").to_str().unwrap(),
        "--key-algorithm",
        "dsa",
    ])
    .failure(2)
    .stderr_has("unknown key algorithm `dsa`");
}

#[test]
fn times_no_certificate_can_hold_are_errors_naming_the_flag_never_panics() {
    let fresh = tempfile::tempdir().unwrap();
    let dir = fresh.path().join("lab");
    let dir = dir.to_str().unwrap();
    kubecorp(["pki", "init", "--dir", dir, "--now", "9999-12-31T00:00:00Z"])
        .failure(2)
        .stderr_has("error: --now 9999-12-31T00:00:00Z: kubernetes's NotAfter would be 9999-12-31T00:00:00Z + 3650 days, outside the years 0000 to 9999 a certificate can name");
    kubecorp(["pki", "init", "--dir", dir, "--now", "0000-01-01"])
        .failure(2)
        .stderr_has("error: --now 0000-01-01: kubernetes's NotBefore would be -0001-12-31T23:55:00Z, outside the years 0000 to 9999 a certificate can name");
    kubecorp(["pki", "init", "--dir", dir, "--now", "+99999999999y"])
        .failure(2)
        .stderr_has("error: invalid --now `+99999999999y`: expected an RFC 3339 time (2027-01-01T09:00:00Z), a date (2027-01-01) or an offset from now (+400d, -1h, +2w)");

    let lab = TestLab::init(&[]);
    let dir = lab.dir.to_str().unwrap();
    kubecorp(["certs", "renew", "all", "--dir", dir, "--now", "9999-06-01"])
        .failure(2)
        .stderr_has("error: --now 9999-06-01: ");
    kubecorp([
        "break",
        "expire",
        "apiserver",
        "--dir",
        dir,
        "--now",
        "9999-12-01",
    ])
    .failure(2)
    .stderr_has("error: --now 9999-12-01: ");
    // The same grammar as a scenario's `clock: {advance: 2w}`.
    kubecorp(["certs", "check-expiration", "--dir", dir, "--now", "+2w"]).success();
}

#[test]
fn init_on_a_lab_with_a_new_ca_next_to_old_leaves_names_every_file_the_ca_did_not_sign() {
    // What a `pki init --force` killed after writing the CA leaves behind.
    let old = TestLab::init(&[]);
    let new = TestLab::init(&[]);
    for file in ["pki/ca.crt", "pki/ca.key"] {
        std::fs::copy(new.path(file), old.path(file)).unwrap();
    }
    let run = kubecorp(["pki", "init", "--dir", old.dir.to_str().unwrap()]).failure(2);
    for file in [
        "pki/apiserver.crt",
        "pki/apiserver-kubelet-client.crt",
        "admin.conf",
        "super-admin.conf",
        "kubelet.conf",
        "controller-manager.conf",
        "scheduler.conf",
        "kube-proxy.conf",
    ] {
        assert!(run.stderr.contains(file), "{file}: {}", run.stderr);
    }
    assert!(
        !run.stderr.contains("etcd/server.crt"),
        "the etcd CA was not replaced: {}",
        run.stderr
    );
    run.stderr_has("make a new set with `kubecorp pki init --force`");
    kubecorp(["pki", "init", "--dir", old.dir.to_str().unwrap(), "--force"]).success();
    kubecorp(["pki", "init", "--dir", old.dir.to_str().unwrap()]).success();
}

/// Every file under `dir` (the lock file aside), by path relative to it, with its bytes.
fn files_in(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                todo.push(entry.path());
            } else if entry.file_name() != ".kubecorp.lock" {
                let name = entry.path().strip_prefix(dir).unwrap().to_path_buf();
                out.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn sigterm_or_ctrl_c_during_a_forced_init_leave_the_old_set_byte_for_byte() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};
    for (signal, number) in [("-TERM", 15), ("-INT", 2)] {
        let lab = TestLab::init(&[]);
        let before = files_in(&lab.dir);
        // The new set's keys come from a key pool whose one key is a named pipe nobody writes
        // to: the forced init waits there, its new set begun beside the old, until the signal.
        let pool = lab.tmp.path().join("pool");
        let rsa = pool.join("RSA-2048");
        std::fs::create_dir_all(&rsa).unwrap();
        for dir in [&pool, &rsa] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let made = std::process::Command::new("mkfifo")
            .arg(rsa.join("waiting.key"))
            .status()
            .unwrap();
        assert!(made.success());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubecorp"))
            .args([
                "pki",
                "init",
                "--dir",
                lab.dir_arg(),
                "--force",
                "--key-pool",
            ])
            .args(["--key-algorithm", "RSA-2048"])
            .env("KUBECORP_KEY_POOL", &pool)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let staging = loop {
            let begun = std::fs::read_dir(&lab.dir).unwrap().flatten().find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".kubecorp-new-")
            });
            if let Some(entry) = begun {
                break entry.path();
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!("no new set begun: {}", String::from_utf8_lossy(&out.stderr));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let ended = loop {
            if let Some(ended) = child.try_wait().unwrap() {
                break ended;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                // A process a non-interactive shell started with `&` ignores SIGINT, and so do
                // its children: the init then never hears the Ctrl-C this test sends.
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                let sigint_ignored = status
                    .lines()
                    .find_map(|l| l.strip_prefix("SigIgn:"))
                    .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
                    .is_some_and(|mask| mask & (1 << (2 - 1)) != 0);
                panic!("{signal}: the init did not end within 60 s (SIGINT ignored by these tests, as by anything a non-interactive shell starts with `&`: {sigint_ignored})");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(ended.signal(), Some(number), "{signal}: {ended:?}");
        assert_eq!(files_in(&lab.dir), before, "{signal}: the old set changed");
        assert!(staging.is_dir(), "{signal}");

        // The next command that takes the lab's lock removes the half-begun set.
        kubecorp(["pki", "init", "--dir", lab.dir_arg()]).success();
        assert!(!staging.exists(), "{signal}: {} is left", staging.display());
        assert_eq!(files_in(&lab.dir), before, "{signal}");
    }
}
