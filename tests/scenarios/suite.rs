//! `kubecorp test`: every shipped scenario green, a red's exit code, JUnit case and reason, an
//! invalid file, a PKI made elsewhere, and a story in chapters played once as a whole.

use crate::allowing_skips_without;
use crate::support::{fixture, kubecorp, scenarios};

#[test]
fn kubecorp_test_passes_every_shipped_scenario_and_writes_one_junit_case_per_expectation() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("report.xml");
    let (dir, xml_arg) = (scenarios(""), xml.to_str().unwrap().to_owned());
    let run = kubecorp(allowing_skips_without(
        "the shipped scenarios",
        &["kubectl", "openssl", "curl", "etcdctl"],
        &["test", &dir, "--junit", &xml_arg, "-j", "4"],
    ))
    .success();
    let mut lines = run.stdout.lines().rev();
    let (last, before) = (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    );
    assert!(last.contains(" passed, 0 failed, "), "{}", run.dump());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            last.ends_with(" passed, 0 failed, 0 skipped"),
            "{}",
            run.dump()
        );
    }
    assert!(
        before.starts_with("JUnit report written to "),
        "{}",
        run.dump()
    );
    assert!(
        run.stdout.contains("kubecorp-day.yaml  A day at KubeCorp"),
        "{}",
        run.dump()
    );
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(xml.contains("<testsuite name=\""), "{xml}");
    assert!(xml.contains("status 403"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
}

#[test]
fn a_failing_expectation_makes_kubecorp_test_exit_1_and_is_a_junit_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("report.xml");
    kubecorp([
        "test",
        &fixture("failing"),
        &scenarios("break/rogue-ca.yaml"),
        "--junit",
        xml.to_str().unwrap(),
    ])
    .failure(1)
    .stdout_has("1 passed, 1 failed")
    .stdout_has("wrong-status.yaml:9: step 4: status: expected 200, got 403");
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
    assert!(xml.contains("status: expected 200, got 403"), "{xml}");
    assert!(xml.contains("rogue-ca.yaml"), "{xml}");
}

#[test]
fn kubecorp_test_reports_an_invalid_file_with_its_error_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("report.xml");
    kubecorp([
        "test",
        &fixture("broken/unknown-fault.yaml"),
        "--junit",
        xml.to_str().unwrap(),
    ])
    .failure(2)
    .stdout_has("not a valid scenario")
    .stdout_has("did you mean 'expire'?")
    .stdout_has("0 passed, 0 failed, 0 skipped, 1 not valid");
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(xml.contains("<error"), "{xml}");
}

#[test]
fn kubecorp_test_with_pki_runs_the_rules_against_a_pki_made_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("kubernetes");
    // Made today, while the scenarios' clocks read 2026-04-24: the lab clock moves to a time
    // when every certificate of this PKI is valid.
    kubecorp(["pki", "init", "--dir", lab.to_str().unwrap()]).success();
    let pki = lab.join("pki");
    kubecorp([
        "test",
        &scenarios("break/rogue-ca.yaml"),
        &scenarios("break/wrong-group.yaml"),
        &scenarios("break/expired-client-badge.yaml"),
        "--pki",
        pki.to_str().unwrap(),
    ])
    .success()
    .stdout_has("3 passed, 0 failed");
    // `kubecorp run` takes it too.
    kubecorp([
        "run",
        &scenarios("break/wrong-group.yaml"),
        "--pki",
        lab.to_str().unwrap(),
    ])
    .success()
    .stdout_has("checks passed, 0 failed");
    // kubeadm's root works as well as its pki/ directory: `--pki /etc/kubernetes`.
    kubecorp([
        "test",
        &scenarios("break/wrong-group.yaml"),
        "--pki",
        lab.to_str().unwrap(),
    ])
    .success()
    .stdout_has("1 passed, 0 failed");
    kubecorp([
        "test",
        &scenarios("break"),
        "--pki",
        tmp.path().to_str().unwrap(),
    ])
    .failure(2)
    .stderr_has("no ca.crt");
}

#[test]
fn a_story_in_chapters_runs_once_in_one_lab_and_a_failure_names_the_chapter_file() {
    let dir = fixture("chapters");
    let run = kubecorp(["test", &dir])
        .failure(1)
        .stdout_has("· 2 chapters of ")
        .stdout_has("story.yaml  A story in two chapters (1 of 2 checks failed")
        .stdout_has("0 passed, 1 failed");
    // Chapter two's request is steps[1] of two.yaml, at line 5; its expect at line 6.
    assert!(
        run.stdout.contains(&format!(
            "{dir}/two.yaml:6: step 2: status: expected 200, got 403"
        )),
        "{}",
        run.dump()
    );
    // The chapters are not played again on their own.
    assert!(!run.stdout.contains("Chapter one ("), "{}", run.dump());
    // Alone, a chapter plays its setup too.
    kubecorp(["test", &fixture("chapters/one.yaml")])
        .success()
        .stdout_has("Chapter one (2 checks");
}

#[test]
fn kubecorp_test_plays_the_shipped_day_once_as_a_whole() {
    let (day, chapters) = (scenarios("kubecorp-day.yaml"), scenarios("day"));
    let run = kubecorp(allowing_skips_without(
        "the day played once",
        &["etcdctl"],
        &["test", &day, &chapters],
    ))
    .success()
    .stdout_has("· 7 chapters of ")
    .stdout_has("kubecorp-day.yaml  A day at KubeCorp");
    // One scenario: passed, or (etcdctl missing outside CI) skipped.
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(
        [
            "1 passed, 0 failed, 0 skipped",
            "0 passed, 0 failed, 1 skipped"
        ]
        .contains(&last),
        "{}",
        run.dump()
    );
}

/// A red says what was expected, what came and why: `kubecorp test`'s lines, `kubecorp run`'s
/// summary and the JUnit `<failure>` carry the caller's text, the explanation and the hint; the
/// JUnit case is named by its step and kind of check, and the scenario's narration is the
/// suite's `<system-out>`.
#[test]
fn a_red_explains_itself_in_the_terminal_and_in_junit_under_a_stable_name() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("report.xml");
    let saw = r#"the caller saw: Error from server (Forbidden): pods is forbidden: User "john" cannot list resource "pods" in API group "" in the namespace "default""#;
    let means = "what it means: The badge is genuine and the apiserver knows who this is (john), but no RBAC rule lets them list pods in the namespace default.";
    let run = kubecorp([
        "test",
        &fixture("failing/wrong-status.yaml"),
        "--junit",
        xml.to_str().unwrap(),
    ]);
    let red = format!(
        "    {}:9: step 4: status: expected 200, got 403\n      {saw}\n      {means}",
        fixture("failing/wrong-status.yaml")
    );
    assert!(run.stdout.contains(&red), "{}", run.dump());
    assert!(
        run.stdout.contains("      hint: Grant exactly this"),
        "{}",
        run.dump()
    );
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(
        xml.contains(
            r#"<testcase name="step 4: status" classname="An expectation that does not hold""#
        ),
        "{xml}"
    );
    assert!(xml.contains(r#"<testcase name="step 1: result""#), "{xml}");
    assert!(
        xml.contains(r#"<failure message="status: expected 200, got 403">"#),
        "{xml}"
    );
    assert!(xml.contains("\nthe caller saw: Error from server (Forbidden): pods is forbidden: User &quot;john&quot;"), "{xml}");
    assert!(xml.contains(&format!("\n{means}")), "{xml}");
    assert!(
        xml.contains("<system-out>An expectation that does not hold\n  John has no RoleBinding"),
        "{xml}"
    );
    assert!(
        xml.contains("  ▸ john shows the badge CN=john, O=developers (issuer kubernetes) to apiserver and asks: get pods"),
        "{xml}"
    );
    // `kubecorp run` ends with the same red and its reason.
    let run = kubecorp(["run", "--wide", &fixture("failing/wrong-status.yaml")]);
    let red = format!(
        "  ✗ CHECK FAILED: {}:9: step 4: status: expected 200, got 403\n      {saw}\n      {means}",
        fixture("failing/wrong-status.yaml")
    );
    assert!(run.stdout.contains(&red), "{}", run.dump());
}
