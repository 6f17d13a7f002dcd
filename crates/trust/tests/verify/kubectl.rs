//! Go itself as the judge: kubectl dials a badge served by `openssl s_server` and prints the
//! line the lab says it would.

use rcgen::ExtendedKeyUsagePurpose;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use kubecorp_trust::{classify_text, VerdictKind};

use crate::fixtures::{Badge, Ca, Guard};

/// kubectl is a Go 1.23 program: serve a badge with `openssl s_server`, point kubectl at it,
/// and compare the line it prints with ours. Skipped when either tool is missing.
#[test]
fn kubectl_prints_the_same_lines_as_the_lab() {
    let test = "kubectl_prints_the_same_lines_as_the_lab";
    // Missing under CI=true fails; elsewhere the test says plainly it was skipped.
    let Some(openssl) = kubecorp_testkit::tool("openssl", test) else {
        return;
    };
    let Some(kubectl) = kubecorp_testkit::tool("kubectl", test) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("kubecorp-trust-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let ca = Ca::rsa_root("kubernetes");
    let recreated = Ca::rsa_root("kubernetes");
    let expired_ca = Ca::root_valid(
        "kubernetes",
        datetime!(2016-01-01 00:00:00 UTC),
        datetime!(2026-01-01 00:00:00 UTC),
    );
    let now = OffsetDateTime::now_utc();
    let fresh = Badge::apiserver()
        .sans(&["kubernetes", "10.96.0.1", "127.0.0.1"])
        .valid(now - Duration::days(1), now + Duration::days(365));

    let no_ip_sans = fresh.clone().sans(&["kubernetes"]);
    let legacy = Badge {
        common_name: "kubernetes".into(),
        ..fresh.clone()
    }
    .sans(&[]);
    let client_only = fresh
        .clone()
        .usages(vec![ExtendedKeyUsagePurpose::ClientAuth]);

    // (server's CA, the CA kubectl trusts, the server's badge, --tls-server-name)
    let cases: [(&Ca, &Ca, &Badge, &str); 7] = [
        (&recreated, &ca, &fresh, "kubernetes"),
        (&ca, &ca, &fresh, "10.0.0.99"),
        (&ca, &ca, &fresh, "example.com"),
        (&expired_ca, &expired_ca, &fresh, "kubernetes"),
        (&ca, &ca, &no_ip_sans, "10.0.0.99"),
        (&ca, &ca, &legacy, "kubernetes"),
        (&ca, &ca, &client_only, "kubernetes"),
    ];
    if now < datetime!(2026-01-01 00:00:00 UTC) {
        eprintln!("note: the expired-CA case is only meaningful after 2026-01-01");
    }
    for (i, (signer, trusted, badge, name)) in cases.into_iter().enumerate() {
        let (cert, key) = signer.sign_keeping_key(badge);
        let files = |ext: &str| dir.join(format!("{i}.{ext}"));
        std::fs::write(files("crt.der"), &cert).unwrap();
        std::fs::write(files("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(files("ca.der"), &trusted.der).unwrap();
        let to_pem = |from: &std::path::Path, to: &std::path::Path| {
            let status = std::process::Command::new(&openssl)
                .args(["x509", "-inform", "DER", "-in"])
                .arg(from)
                .arg("-out")
                .arg(to)
                .status()
                .unwrap();
            assert!(status.success());
        };
        to_pem(&files("crt.der"), &files("crt.pem"));
        to_pem(&files("ca.der"), &files("ca.pem"));

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Server(
            std::process::Command::new(&openssl)
                .args(["s_server", "-quiet", "-www", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert")
                .arg(files("crt.pem"))
                .arg("-key")
                .arg(files("key.pem"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let output = std::process::Command::new(&kubectl)
            .args([
                "--kubeconfig=/dev/null",
                "--token=lab",
                "--request-timeout=10s",
            ])
            .arg(format!("--server=https://127.0.0.1:{port}"))
            .arg(format!(
                "--certificate-authority={}",
                files("ca.pem").display()
            ))
            .arg(format!("--tls-server-name={name}"))
            .args(["get", "--raw", "/version"])
            .env("TZ", "UTC")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        drop(server);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let go_line = stderr.lines().last().unwrap_or_default();

        let ours = Guard::trusting(&[trusted])
            .dialling(name)
            .at(OffsetDateTime::now_utc())
            .check(&cert);
        let wanted = format!(
            "Unable to connect to the server: tls: failed to verify certificate: {}",
            ours.text
        );
        eprintln!("kubectl: {go_line}");
        assert!(!ours.is_valid(), "case {i}: {ours:?}");
        if ours.kind == VerdictKind::CaExpired {
            // Both lines hold the current time, whose seconds may differ: compare around it.
            let around = |s: &str| {
                let before = s.split(" current time ").next().unwrap_or_default();
                let after = s.rsplit(" is after ").next().unwrap_or_default();
                (before.to_owned(), after.to_owned())
            };
            assert_eq!(around(go_line), around(&wanted), "case {i}");
        } else {
            assert_eq!(go_line, wanted, "case {i}");
        }
        assert_eq!(
            classify_text(go_line),
            Some(match ours.kind {
                VerdictKind::CaExpired => VerdictKind::Expired,
                other => other,
            })
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// An `openssl s_server` that is stopped however the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}
