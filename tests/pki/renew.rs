//! `kubecorp certs check-expiration` and `certs renew`: kubeadm's two tables on the lab clock,
//! a renewal that keeps the name and changes key and serial, what renew refuses and why, the
//! seed article's old spellings, and renewals at once on one lab.

use super::support::{kubecorp, run_tool, tool, TestLab};
use super::{certs_json, openssl_verify, x509_text};

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

    let (_, v) = certs_json(&lab, &["check-expiration"]);
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
    openssl_verify(&openssl, &lab.pki("ca.crt"), &lab.pki("apiserver.crt")).success();

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
