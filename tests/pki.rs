//! End-to-end tests of `kubecorp pki init` and `kubecorp certs …`, judged by openssl and kubectl.

mod support;

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
        run_tool(
            &openssl,
            ["verify", "-CAfile", &lab.pki(ca), &lab.pki(leaf)],
        )
        .success()
        .stdout_has(": OK");
        let wrong = if *ca == "etcd/ca.crt" {
            "ca.crt"
        } else {
            "etcd/ca.crt"
        };
        run_tool(
            &openssl,
            ["verify", "-CAfile", &lab.pki(wrong), &lab.pki(leaf)],
        )
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
        run_tool(
            &openssl,
            [
                "verify",
                "-CAfile",
                ca.to_str().unwrap(),
                cert.to_str().unwrap(),
            ],
        )
        .success();
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
        let k = kubecorp([
            "certs", "verify", "--cert", &cert, "--ca", &ca, "--at", offset, "--usage", "server",
        ]);
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
    kubecorp([
        "certs",
        "verify",
        "--cert",
        &lab.pki("apiserver-etcd-client.crt"),
        "--ca",
        &lab.pki("ca.crt"),
        "--usage",
        "client",
    ])
    .failure(1)
    .stdout_has("x509: certificate signed by unknown authority\n")
    .stdout_has("what it means:")
    .stdout_has("hint:");
    kubecorp([
        "certs",
        "verify",
        "--cert",
        &lab.pki("apiserver.crt"),
        "--ca",
        &lab.pki("ca.crt"),
        "--name",
        "kubernetes.default",
        "--usage",
        "server",
    ])
    .success();
    kubecorp(["certs", "verify", "--cert", &lab.pki("apiserver.crt"), "--ca", &lab.pki("ca.crt"), "--name", "evil.example", "--usage", "server"])
        .failure(1)
        .stdout_has("x509: certificate is valid for kubecorp-control-plane, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local, not evil.example");
    kubecorp([
        "certs",
        "verify",
        "--cert",
        &lab.pki("apiserver.crt"),
        "--ca",
        &lab.pki("ca.crt"),
        "--usage",
        "client",
    ])
    .failure(1)
    .stdout_has("x509: certificate specifies an incompatible key usage");
}

#[test]
fn check_expiration_prints_kubeadms_two_tables_on_the_lab_clock() {
    let lab = TestLab::init(&[]);
    let out = kubecorp(["certs", "check-expiration", "--dir", lab.dir_arg()])
        .success()
        .stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED"), "{out}");
    let names: Vec<&str> = lines[1..12]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "admin.conf",
            "apiserver",
            "apiserver-etcd-client",
            "apiserver-kubelet-client",
            "controller-manager.conf",
            "etcd-healthcheck-client",
            "etcd-peer",
            "etcd-server",
            "front-proxy-client",
            "scheduler.conf",
            "super-admin.conf"
        ]
    );
    assert!(
        lines[1].contains(" UTC   364d            ca                      no"),
        "{out}"
    );
    assert!(lines[3].contains("etcd-ca"), "{out}");
    assert_eq!(lines[12], "");
    assert!(
        lines[13].starts_with(
            "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED"
        ),
        "{out}"
    );
    assert!(
        lines[14].starts_with("ca ") && lines[14].contains("   9y              no"),
        "{out}"
    );
    assert!(
        lines[15].starts_with("etcd-ca ") && lines[16].starts_with("front-proxy-ca "),
        "{out}"
    );

    let later = kubecorp([
        "certs",
        "check-expiration",
        "--dir",
        lab.dir_arg(),
        "--now",
        "+400d",
    ])
    .success()
    .stdout;
    assert!(
        later.lines().nth(1).unwrap().contains("<invalid>"),
        "{later}"
    );
    assert!(later.lines().nth(14).unwrap().contains("8y"), "{later}");

    std::fs::remove_file(lab.path("admin.conf")).unwrap();
    let missing = kubecorp(["certs", "check-expiration", "--dir", lab.dir_arg()])
        .success()
        .stdout;
    assert_eq!(
        missing.lines().nth(1).unwrap().trim_end(),
        "!MISSING! admin.conf",
        "{missing}"
    );

    let json = kubecorp([
        "certs",
        "check-expiration",
        "--dir",
        lab.dir_arg(),
        "-o",
        "json",
    ])
    .success()
    .stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "CertificateExpirationInfo");
    assert_eq!(v["certificates"][0]["missing"], true);
    assert_eq!(v["certificates"][1]["caName"], "ca");
    assert_eq!(v["certificateAuthorities"].as_array().unwrap().len(), 3);
}

#[test]
fn renew_keeps_the_name_and_changes_the_key_and_serial() {
    let Some(openssl) = tool("openssl", "renew_keeps_the_name") else {
        return;
    };
    let lab = TestLab::init(&["--advertise-address", "10.0.0.10"]);
    let before = x509_text(&openssl, &lab.pki("apiserver.crt"));
    let serial = |f: &str| {
        run_tool(&openssl, ["x509", "-noout", "-serial", "-in", f])
            .success()
            .stdout
    };
    let old_serial = serial(&lab.pki("apiserver.crt"));
    let old_key = std::fs::read(lab.path("pki/apiserver.key")).unwrap();
    kubecorp(["certs", "renew", "apiserver", "--dir", lab.dir_arg()])
        .success()
        .stdout_has("certificate for serving the Kubernetes API renewed\n")
        .stdout_has("Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.");
    assert_eq!(
        x509_text(&openssl, &lab.pki("apiserver.crt")),
        before,
        "subject, SANs and usages are copied"
    );
    assert_ne!(serial(&lab.pki("apiserver.crt")), old_serial);
    assert_ne!(
        std::fs::read(lab.path("pki/apiserver.key")).unwrap(),
        old_key,
        "a new key"
    );
    run_tool(
        &openssl,
        [
            "verify",
            "-CAfile",
            &lab.pki("ca.crt"),
            &lab.pki("apiserver.crt"),
        ],
    )
    .success();

    kubecorp(["certs", "renew", "scheduler.conf", "--dir", lab.dir_arg()])
        .success()
        .stdout_has(
            "certificate embedded in the kubeconfig file for the scheduler manager to use renewed",
        );
    let all = kubecorp(["certs", "renew", "all", "--dir", lab.dir_arg()])
        .success()
        .stdout;
    assert_eq!(all.matches(" renewed\n").count(), 11, "{all}");
}

#[test]
fn renew_refuses_cas_sa_and_kubelet_conf_with_the_reason() {
    let lab = TestLab::init(&[]);
    kubecorp(["certs", "renew", "ca", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has("`ca` cannot be renewed: kubeadm never renews a certificate authority");
    kubecorp(["certs", "renew", "sa", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has("not a certificate");
    kubecorp(["certs", "renew", "kubelet.conf", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has("the kubelet rotates its own client certificate");
}

#[test]
fn the_seed_articles_renew_spellings_lead_to_the_right_command() {
    let lab = TestLab::init(&[]);
    kubecorp(["certs", "renew", "scheduler", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has("unknown certificate name `scheduler`")
        .stderr_has("`kubecorp certs renew scheduler.conf`");
    kubecorp(["alpha", "certs", "renew", "scheduler"])
        .failure(2)
        .stderr_has("removed in 1.21")
        .stderr_has("kubecorp certs renew scheduler.conf");
    kubecorp(["alpha", "certs", "renew", "etcd-server"])
        .failure(2)
        .stderr_has("`kubeadm alpha certs renew etcd-server` no longer exists");
    kubecorp(["alpha", "certs", "renew", "etcd-server"])
        .failure(2)
        .stderr_has("kubecorp certs renew etcd-server");
    kubecorp(["certs", "renew", "etcd-server", "--dir", lab.dir_arg()]).success();
    kubecorp(["certs", "renew", "kube-proxy", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has("kube-proxy has nothing to do with admin.conf");
    kubecorp(["certs", "renew", "apiservr", "--dir", lab.dir_arg()])
        .failure(2)
        .stderr_has("did you mean `apiserver`?");
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
    run_tool(
        &openssl,
        [
            "verify",
            "-CAfile",
            &lab.pki("ca.crt"),
            &lab.pki("apiserver.crt"),
        ],
    )
    .success();

    kubecorp(["pki", "init", "--dir", lab.dir_arg(), "--force"])
        .success()
        .stdout_has("[certs] Generating \"ca\" certificate and key");
    assert_ne!(std::fs::read(lab.path("pki/ca.crt")).unwrap(), ca_before);
}

#[test]
fn rsa_2048_as_kubeadm_defaults_to_works_and_writes_pkcs1_keys() {
    let Some(openssl) = tool("openssl", "rsa_2048_works") else {
        return;
    };
    let lab = TestLab::init(&["--key-algorithm", "rsa-2048"]);
    let key = std::fs::read_to_string(lab.path("pki/apiserver.key")).unwrap();
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{key}");
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
        run_tool(
            &openssl,
            ["verify", "-CAfile", &lab.pki(ca), &lab.pki(leaf)],
        )
        .success();
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
    let json = kubecorp([
        "certs",
        "inspect",
        "admin.conf",
        "--dir",
        lab.dir_arg(),
        "-o",
        "json",
    ])
    .success()
    .stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["subject_orgs"][0], "kubeadm:cluster-admins");
    assert!(!json.contains("PRIVATE KEY"), "no key material in reports");
}

#[test]
fn bad_input_gets_one_clear_error_naming_the_file_or_argument() {
    let lab = TestLab::init(&[]);
    let tmp = lab.tmp.path();
    let missing = tmp.join("nope.crt");
    kubecorp([
        "certs",
        "verify",
        "--cert",
        missing.to_str().unwrap(),
        "--ca",
        &lab.pki("ca.crt"),
    ])
    .failure(2)
    .stderr_has(&format!(
        "{}: no such file (expected a PEM certificate)",
        missing.display()
    ));

    let not_pem = tmp.join("notes.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    kubecorp([
        "certs",
        "verify",
        "--cert",
        not_pem.to_str().unwrap(),
        "--ca",
        &lab.pki("ca.crt"),
    ])
    .failure(2)
    .stderr_has(&format!(
        "{}: expected a PEM CERTIFICATE block, found no PEM block at all",
        not_pem.display()
    ));

    let truncated = tmp.join("truncated.crt");
    let full = std::fs::read_to_string(lab.path("pki/apiserver.crt")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    kubecorp([
        "certs",
        "verify",
        "--cert",
        truncated.to_str().unwrap(),
        "--ca",
        &lab.pki("ca.crt"),
    ])
    .failure(2)
    .stderr_has(&format!(
        "{}: expected a PEM CERTIFICATE block, found a damaged PEM block",
        truncated.display()
    ));

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
fn a_badge_checked_against_a_same_name_ca_with_another_key_says_possibly_because_of() {
    let ours = TestLab::init(&[]);
    let theirs = TestLab::init(&[]);
    kubecorp(["certs", "verify", "--cert", &ours.pki("apiserver.crt"), "--ca", &theirs.pki("ca.crt"), "--usage", "server"])
        .failure(1)
        .stdout_has(
            "x509: certificate signed by unknown authority (possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"kubernetes\")",
        );
    let rsa = TestLab::init(&["--key-algorithm", "rsa-2048"]);
    let rsa2 = TestLab::init(&["--key-algorithm", "rsa-2048"]);
    kubecorp(["certs", "verify", "--cert", &rsa.pki("apiserver.crt"), "--ca", &rsa2.pki("ca.crt")])
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
    let ca = kubecorp([
        "certs",
        "inspect",
        "ca",
        "--dir",
        lab.dir_arg(),
        "-o",
        "json",
    ])
    .success()
    .stdout;
    let ca: serde_json::Value = serde_json::from_str(&ca).unwrap();
    let ca_not_after = ca["not_after"].as_str().unwrap().to_string();
    kubecorp([
        "certs",
        "verify",
        "--cert",
        &lab.pki("apiserver.crt"),
        "--ca",
        &lab.pki("ca.crt"),
        "--usage",
        "server",
    ])
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

fn verify(cert: &str, ca: &str, extra: &[&str]) -> support::Run {
    let mut args = vec!["certs", "verify", "--cert", cert, "--ca", ca];
    args.extend_from_slice(extra);
    kubecorp(&args)
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

#[test]
fn five_renewals_at_once_on_one_lab_leave_every_pair_matching() {
    let lab = TestLab::init(&[]);
    let dir = lab.dir.to_str().unwrap().to_owned();
    let renewals: Vec<_> = (0..5)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || kubecorp(["certs", "renew", "all", "--dir", &dir]).success())
        })
        .collect();
    for r in renewals {
        r.join().unwrap();
    }
    // init loads every pair and refuses a key that does not match its certificate.
    kubecorp(["pki", "init", "--dir", &dir]).success();
    let stray: Vec<_> = std::fs::read_dir(lab.path("pki"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".kubecorp-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
