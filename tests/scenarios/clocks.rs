//! A scenario's clock next to the machine's: curl and openssl under faketime, kubectl and
//! etcdctl on scenarios dated ten years away.

use crate::support::{self, fixture, kubecorp, scenarios};

/// curl and openssl check the lab's badges against the machine's clock. Under faketime (which
/// reaches them and the kubecorp binary alike through LD_PRELOAD) the machine's clock reads two,
/// then twenty, years from now, past every badge a lab made on the scenario's date (2026-04-24)
/// and past its CAs' ten years: the lab clock keeps the scenario's 9:00 on the machine's date,
/// so the badges are valid for them and the shipped curl and openssl story passes. kubectl and
/// etcdctl are Go binaries that faketime cannot reach: the next test covers them.
#[test]
fn curl_and_openssl_find_the_labs_badges_valid_with_the_machine_clock_years_ahead() {
    let test = "curl and openssl with the machine clock years ahead";
    let (Some(faketime), Some(_), Some(_)) = (
        support::tool("faketime", test),
        support::tool("curl", test),
        support::tool("openssl", test),
    ) else {
        return;
    };
    for ahead in ["+2y", "+20y"] {
        let args = [
            "-f",
            ahead,
            env!("CARGO_BIN_EXE_kubecorp"),
            "run",
            "--wide",
            &scenarios("tools/curl-and-openssl.yaml"),
        ];
        let out = std::process::Command::new(&faketime)
            .args(args)
            .env("NO_COLOR", "1")
            // Timers read the monotonic clock: leave it alone, only the calendar moves.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .output()
            .unwrap();
        support::Run::from_output(format!("faketime {}", args.join(" ")), out)
            .success()
            .stdout_has("rather than 2026-04-24T09:00:00Z: the scenario's time of day on the machine's date, because its run: steps use real tools")
            .stdout_has("✓ contains \"apiserver.crt: OK\"")
            .stdout_has("✓ contains \"alert unknown ca\"")
            .stdout_has("checks passed, 0 failed");
    }
}

/// kubectl and etcdctl read the machine's clock directly (Go does not call the C library for
/// it), so faketime cannot move it for them. They are covered the other way round: scenarios
/// whose clocks read ten years before and after the machine's date, where a lab made on that
/// date would give them expired or not-yet-valid badges, pass, because the lab makes its badges
/// around the machine's now.
#[test]
fn kubectl_and_etcdctl_find_the_labs_badges_valid_whatever_the_scenarios_date() {
    let test = "kubectl and etcdctl on a scenario clock years away";
    let (Some(_), Some(_)) = (
        support::tool("kubectl", test),
        support::tool("etcdctl", test),
    ) else {
        return;
    };
    for (file, date) in [
        ("clock/ten-years-ago.yaml", "2016-04-24T09:00:00Z"),
        ("clock/ten-years-ahead.yaml", "2036-04-24T09:00:00Z"),
    ] {
        kubecorp(["run", "--wide", &fixture(file)])
            .success()
            .stdout_has(&format!(
                "T09:00:00Z rather than {date}: the scenario's time of day on the machine's date"
            ))
            .stdout_has("✓ contains \"kubernetes-admin\"")
            .stdout_has("✓ contains \"is healthy\"")
            .stdout_has("4 checks passed, 0 failed");
    }
}
