//! `kubecorp run` and `kubecorp test` through the binary: narration, reports, JUnit, exit codes,
//! and the messages a broken scenario file gets.

mod support;

use std::path::PathBuf;

use support::terminal::Terminal;
use support::{kubecorp, tool};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn scenarios(rel: &str) -> String {
    root()
        .join("scenarios")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// `args`, and `--allow-skip` when one of `tools` (used by the shipped scenarios' `run:` steps)
/// is missing outside CI: `tool` says so plainly (under CI it fails the test instead).
fn allowing_skips_without<'a>(test: &str, tools: &[&str], args: &[&'a str]) -> Vec<&'a str> {
    let mut args = args.to_vec();
    if tools.iter().filter(|t| tool(t, test).is_none()).count() > 0 {
        args.push("--allow-skip");
    }
    args
}

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
fn a_typo_in_a_scenario_names_file_line_column_field_and_the_right_name() {
    let file = fixture("broken/typo-in-expect.yaml");
    kubecorp(["run", &file]).failure(2).stderr_has(&format!(
        "{file}:7:7: steps[1].expect: unknown field 'staus', expected one of allowed, status, verdict, stage, text, contains, log, lifetime, exit — did you mean 'status'?"
    ));
}

#[test]
fn every_broken_fixture_names_its_line_and_field() {
    let cases = [
        (
            "broken/unknown-fault.yaml",
            ":5:14: steps[0].break.fault: 'expird' is not a fault (one of expire, not-yet-valid,",
            Some("did you mean 'expire'?"),
        ),
        (
            "broken/unknown-verdict.yaml",
            ":5:36: steps[0].expect.verdict: 'expird' is not a verdict kind",
            Some("did you mean 'expired'?"),
        ),
        (
            "broken/missing-title.yaml",
            ":1:1: missing field 'title'",
            None,
        ),
        (
            "broken/two-actions.yaml",
            ":4:5: steps[0]: a step does one thing, but this one has renew and clock",
            None,
        ),
        ("broken/not-yaml.yaml", ":3:3: not valid YAML: ", None),
    ];
    for (name, needle, suggestion) in cases {
        let file = fixture(name);
        let run = kubecorp(["run", &file]).failure(2);
        assert!(
            run.stderr.contains(&format!("{file}{needle}")),
            "{name}: {}",
            run.dump()
        );
        if let Some(s) = suggestion {
            assert!(run.stderr.contains(s), "{name}: {}", run.dump());
        }
    }
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

/// The narration with each wrapped line joined to the one it continues (and every run of
/// whitespace made one space), to look for texts whatever the width.
fn unwrapped(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every badge named in `text` (`CN=… (issuer …)`), in order.
fn badges(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(" (issuer ") {
        let issuer = from + at;
        let end = issuer + text[issuer..].find(')').unwrap_or(0) + 1;
        if let Some(cn) = text[..issuer].rfind("CN=") {
            out.push(&text[cn..end]);
        }
        from = end;
    }
    out
}

#[test]
fn the_day_fits_a_projector_of_100_columns_without_splitting_a_word_and_names_each_badge_once_per_step(
) {
    let run = kubecorp(["run", &scenarios("kubecorp-day.yaml")]).success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.len() > 500, "{}", run.dump());
    for line in &lines {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    // Every narrated text of the day is there word for word: wrapping broke lines only at
    // spaces. A word cut in two (`kubecorp-control-` / `plane`) would not be found.
    let told = unwrapped(&run.stdout);
    let day = kubecorp_scenario::parse_file(std::path::Path::new(&scenarios("kubecorp-day.yaml")))
        .expect("the day parses");
    let texts: Vec<String> = day
        .steps
        .iter()
        .filter_map(|s| s.say.clone())
        .chain(day.description.clone())
        .collect();
    assert!(texts.len() > 40, "{texts:?}");
    for text in texts {
        assert!(
            told.contains(&unwrapped(&text)),
            "not told whole: {text}\n{}",
            run.stdout
        );
    }
    for t in ["kubecorp-control-plane", "kube-apiserver-etcd-client"] {
        assert!(
            run.stdout.split_whitespace().any(|w| w.contains(t)),
            "{t} stays one word"
        );
    }
    // Each step (a block between blank lines) names a badge once: in its headline, or with
    // the first event that carries it.
    for block in run.stdout.split("\n\n") {
        let block = unwrapped(block);
        let mut seen = badges(&block);
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!(
            seen.len(),
            before,
            "a badge named twice in one step:\n{block}"
        );
    }
    // The guard refusing (expected by the story) is apart from a check that failed.
    assert!(
        run.stdout.contains("✗ authz    john → apiserver"),
        "{}",
        run.dump()
    );
    assert!(run.stdout.contains("✓ result refused"), "{}", run.dump());
    assert!(!run.stdout.contains("CHECK FAILED"), "{}", run.dump());

    let wide = kubecorp(["run", "--wide", &scenarios("kubecorp-day.yaml")]).success();
    assert!(
        wide.stdout.lines().any(|l| l.chars().count() > 300),
        "--wide keeps each line whole: {}",
        wide.dump()
    );
}

#[test]
fn kubecorp_run_narrates_the_day_without_colour_when_piped_and_writes_a_markdown_report() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("day.md");
    let (day, report_arg) = (
        scenarios("kubecorp-day.yaml"),
        report.to_str().unwrap().to_owned(),
    );
    let run = kubecorp(allowing_skips_without(
        "the day narrated",
        &["etcdctl"],
        &["run", &day, "--report", &report_arg],
    ))
    .success()
    .stdout_has("── 09:00 ──")
    .stdout_has("✓ verdict expired")
    .stdout_has("checks passed, 0 failed");
    // A JSON log line may break after a comma: compare without whitespace.
    let tight = |t: &str| t.split_whitespace().collect::<String>();
    let told = tight(&run.stdout);
    for text in [
        "john shows the badge CN=john, O=developers (issuer kubernetes) to apiserver and asks: get pods",
        "caller sees: error: You must be logged in to the server (Unauthorized)",
        "etcd logs: {\"level\":\"warn\",\"ts\":",
        "\"msg\":\"rejected connection on client endpoint\",\"remote-addr\":\"127.0.0.1:",
    ] {
        assert!(told.contains(&tight(text)), "{text}\n{}", run.dump());
    }
    assert!(!run.stdout.contains('\x1b'), "no colour when piped");
    assert!(!run.stdout.contains("PRIVATE KEY"), "no key material");
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.starts_with("# A day at KubeCorp"), "{md}");
    assert!(
        md.contains("| step | line | check | expected | actual | result |"),
        "{md}"
    );
    assert!(md.contains("```mermaid\nsequenceDiagram\n"), "{md}");
    assert!(
        md.contains("--x"),
        "a refused hop is drawn as a cross: {md}"
    );
    // The story, chapter by chapter, with the narration.
    assert!(md.contains("## The story"), "{md}");
    assert!(
        md.contains("### 11:00 Charlie's vault (etcd)"),
        "chapter titles: {md}"
    );
    // One participant per party: no address, no party twice, no arrow to oneself.
    let participants: Vec<&str> = md
        .lines()
        .filter_map(|l| l.trim().strip_prefix("participant "))
        .map(|l| l.split_once(" as ").unwrap().1)
        .collect();
    let mut unique = participants.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), participants.len(), "{participants:?}");
    assert!(
        participants.contains(&"Bob (scheduler)"),
        "{participants:?}"
    );
    assert!(
        !participants.iter().any(|p| p.contains("127.0.0.1")),
        "{participants:?}"
    );
    for line in md.lines().map(str::trim) {
        if let Some((a, rest)) = line.split_once("->>") {
            assert_ne!(a, rest.split(':').next().unwrap(), "a self-arrow: {line}");
        }
    }
}

#[test]
fn a_failed_expectation_in_kubecorp_run_says_what_was_expected_and_what_happened() {
    kubecorp(["run", &fixture("failing/wrong-status.yaml")])
        .failure(1)
        .stdout_has("✗ CHECK FAILED: status: expected 200, got 403")
        .stdout_has("what it means: The badge is genuine and the apiserver knows who this is")
        .stdout_has("hint: Grant exactly this");
}

#[test]
fn kubecorp_run_format_json_prints_one_json_object_per_line() {
    let run = kubecorp([
        "run",
        &scenarios("break/expired-client-badge.yaml"),
        "--format",
        "json",
    ])
    .success();
    let values: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let refusal = values
        .iter()
        .find(|v| v["type"] == "event" && v["stage"] == "authn" && v["allowed"] == false)
        .expect("the 401 is an event");
    assert_eq!(refusal["verdict"], "expired");
    assert_eq!(refusal["mine"], true);
    assert_eq!(refusal["schema"], "kubecorp/v1");
    assert!(
        refusal["step"].as_u64().is_some_and(|n| n >= 1),
        "{refusal}"
    );
    assert!(refusal["identity"]["not_after"].is_string(), "{refusal}");
    // Records are numbered in order, so a reader can resume after the last it saw.
    let seqs: Vec<u64> = values.iter().filter_map(|v| v["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=values.len() as u64).collect::<Vec<_>>());
    let last = values.last().unwrap();
    assert_eq!(last["type"], "result");
    assert_eq!(last["passed"], true);
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
fn kubecorp_run_step_without_a_terminal_goes_on_at_each_enter_not_at_each_key() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
        .args(["run", "--step", &scenarios("break/rogue-ca.yaml")])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let said = Arc::new(Mutex::new(String::new()));
    let sink = said.clone();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 512];
        while let Ok(n @ 1..) = stderr.read(&mut chunk) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    let next = "[Enter] for the next step";
    let wait_for = |what: &str, times: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = said.lock().unwrap().clone();
            if now.matches(what).count() >= times {
                return now;
            }
            assert!(Instant::now() < deadline, "never {times}× {what:?}:\n{now}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(next, 1);
    // Two keys and Enter: one line, so one pause.
    stdin.write_all(b"ab\n").unwrap();
    wait_for(next, 2);
    // Were each key a press, "b" and Enter would have passed step 2's pause and its reveal.
    std::thread::sleep(Duration::from_secs(1));
    let held = said.lock().unwrap().clone();
    assert!(!held.contains("What will happen?"), "{held}");
    assert_eq!(held.matches(next).count(), 2, "{held}");
    stdin.write_all(b"\n").unwrap();
    wait_for("What will happen? [Enter] to see", 1);
    stdin.write_all(b"\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let stderr = said.lock().unwrap().clone();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("any key"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("✓ status 401"), "{stdout}");
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
fn a_problem_in_a_chapter_names_the_chapter_file_and_a_missing_chapter_the_story() {
    let dir = fixture("broken-chapter");
    kubecorp(["run", &format!("{dir}/story.yaml")])
        .failure(2)
        .stderr_has(&format!(
            "{dir}/story.yaml:2:33: chapters[2]: {dir}/missing.yaml: no such chapter file"
        ))
        .stderr_has(&format!(
            "{dir}/bad.yaml:4:14: steps[0].expect: unknown field 'staus'"
        ));
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

#[test]
fn kubecorp_run_step_in_a_terminal_shows_the_action_first_and_what_came_of_it_on_the_next_key() {
    let test = "the presenter's pace in a terminal (tmux)";
    let Some(tmux) = tool("tmux", test) else {
        return;
    };
    let term = Terminal::new(tmux, "pace");
    term.tmux(&[
        "new-session",
        "-d",
        "-s",
        "room",
        "-x",
        "100",
        "-y",
        "50",
        "sh",
    ])
    .success();
    term.tmux(&["set-option", "-g", "history-limit", "20000"])
        .success();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubecorp"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    term.type_line(
        "room:0",
        &format!(
            "export PATH={bin}:$PATH NO_COLOR=1; cd {}",
            scenarios("break")
        ),
    );
    term.type_line(
        "room:0",
        "stty -g > /tmp/kubecorp-pace-$$.before; kubecorp run --step rogue-ca.yaml; echo exit=$?; \
         stty -g | cmp -s - /tmp/kubecorp-pace-$$.before && echo terminal=as-\"before\" \
         || echo terminal=chan\"ged\"; rm -f /tmp/kubecorp-pace-$$.before",
    );
    let count = |screen: &str, what: &str| screen.matches(what).count();
    let next = "[any key] for the next step";
    term.wait_for("room:0", next, 60);
    // Step 1 is a fault: the trainer's own doing, shown with what it did at once.
    term.press("room:0", "Space");
    term.wait_until("room:0", "the second step's pause", 60, |s| {
        count(s, next) == 2
    });
    // Step 2 is a call: its action, then a pause for the room to predict.
    term.press("room:0", "n");
    let reveal = "What will happen? [any key] to see";
    let predict = term.wait_for("room:0", reveal, 60);
    assert!(
        predict.contains("▸ controller-manager shows the badge"),
        "the action is shown: {predict}"
    );
    for outcome in ["caller sees:", "✓ status 401", "checks passed"] {
        assert!(
            !predict.contains(outcome),
            "{outcome} before the reveal: {predict}"
        );
    }
    // An arrow key sends three bytes: it is still one press.
    term.press("room:0", "Right");
    // Not `exit=` alone: the typed command line has it.
    let told = term.wait_for_any("room:0", &["exit=0", "exit=1", "exit=2"], 60);
    assert!(told.contains("exit=0"), "{told}");
    let told = term.wait_for_any("room:0", &["terminal=as-before", "terminal=changed"], 10);
    assert!(told.contains("terminal=as-before"), "{told}");
    assert!(
        told.contains("caller sees: error: You must be logged in to the server (Unauthorized)"),
        "{told}"
    );
    assert!(told.contains("✓ status 401"), "{told}");
    assert_eq!(
        count(&told, reveal),
        1,
        "one reveal, for the one call: {told}"
    );
    // The terminal is 100 columns: no line of the narration is longer (capture-pane -J would
    // join a line the terminal had to wrap).
    let story = &told[told.find("A badge from a CA nobody trusts").unwrap()..];
    for line in story.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }
}

#[test]
fn ctrl_c_at_a_key_wait_ends_the_run_and_gives_the_terminal_back_as_it_was() {
    let test = "Ctrl-C at the presenter's key wait (tmux)";
    let Some(tmux) = tool("tmux", test) else {
        return;
    };
    let term = Terminal::new(tmux, "pace-ctrl-c");
    term.tmux(&[
        "new-session",
        "-d",
        "-s",
        "room",
        "-x",
        "100",
        "-y",
        "50",
        "sh",
    ])
    .success();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubecorp"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    term.type_line(
        "room:0",
        &format!(
            "export PATH={bin}:$PATH NO_COLOR=1; cd {}",
            scenarios("break")
        ),
    );
    term.type_line(
        "room:0",
        "stty -g > /tmp/kubecorp-ctrl-c-$$.before; kubecorp run --step rogue-ca.yaml; echo exit=$?; \
         stty -g | cmp -s - /tmp/kubecorp-ctrl-c-$$.before && echo terminal=as-\"before\" \
         || echo terminal=chan\"ged\"; rm -f /tmp/kubecorp-ctrl-c-$$.before",
    );
    term.wait_for("room:0", "[any key] for the next step", 60);
    term.press("room:0", "C-c");
    let told = term.wait_for_any("room:0", &["terminal=as-before", "terminal=changed"], 60);
    assert!(told.contains("exit=130"), "{told}");
    assert!(told.contains("interrupted (SIGINT): the lab "), "{told}");
    assert!(told.contains("terminal=as-before"), "{told}");
}

#[test]
fn kubecorp_run_chapter_plays_the_chapters_before_it_untold_and_tells_the_rest() {
    let day = scenarios("kubecorp-day.yaml");
    let run = kubecorp(["run", &day, "--chapter", "vault"])
        .success()
        .stdout_has(
            "(chapters 1–2 played without narration, so the office is as the story left it:",
        )
        .stdout_has("11:00 Charlie's vault (etcd)")
        .stdout_has("── 14:00 ──")
        .stdout_has("checks passed, 0 failed");
    assert!(!run.stdout.contains("── 09:00 ──"), "{}", run.dump());
    assert!(
        !run.stdout.contains("Bob the scheduler places"),
        "{}",
        run.dump()
    );
    kubecorp(["run", &day, "--chapter", "lunch"])
        .failure(2)
        .stderr_has("kubecorp-day.yaml: --chapter lunch: no such chapter; give its number or a word of its file or title:")
        .stderr_has("  3  1100-etcd-vault  11:00 Charlie's vault (etcd)");
    kubecorp(["run", &scenarios("break/rogue-ca.yaml"), "--chapter", "2"])
        .failure(2)
        .stderr_has("--chapter 2: this story has no chapters");
    kubecorp(["run", &day, "--pace", "0"])
        .failure(2)
        .stderr_has("expected a number of seconds between 0 and 3600");
}

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

/// A step that fails before it can say what it does still has its own step: in the narration a
/// headline, in `--format json` the step number on its check.
#[test]
fn a_step_that_cannot_be_played_is_its_own_step_in_the_narration_and_the_json_records() {
    let file = fixture("reds/no-such-kubeconfig.yaml");
    let run = kubecorp(["run", &file, "--format", "json"]);
    let values: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let check = values
        .iter()
        .find(|v| v["type"] == "check")
        .unwrap_or_else(|| panic!("no check: {}", run.dump()));
    assert_eq!(check["step"], 2, "{check}");
    assert_eq!(check["passed"], false, "{check}");
    assert_eq!(check["place"], format!("{file}:5"), "{check}");
    let step = values
        .iter()
        .find(|v| v["type"] == "step" && v["step"] == 2)
        .unwrap_or_else(|| panic!("no step 2: {}", run.dump()));
    assert_eq!(
        step["headline"], "step 2 (request) could not be played",
        "{step}"
    );
    kubecorp(["run", "--wide", &file]).stdout_has(
        "  ▸ step 2 (request) could not be played\n    ✗ CHECK FAILED: runs: expected the step runs, got ",
    );
}

#[test]
fn kubecorp_run_keep_leaves_the_office_open_with_kubeconfigs_that_dial_it_until_enter() {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};
    let test = "kubectl against an office kept open";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
        .args(["run", "--keep", &fixture("keep/questions.yaml")])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let kubeconfig = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{e}: the office was not kept open:\n{}", said.join("\n")));
        said.push(line.clone());
        if let Some(rest) = line.strip_prefix("Try: kubectl --kubeconfig ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(
        kubeconfig.ends_with("/lab/users/admin.conf"),
        "{kubeconfig}"
    );
    let apiserver = said
        .iter()
        .find_map(|l| l.strip_prefix("The office stays open for questions (apiserver "))
        .and_then(|l| l.split(',').next())
        .unwrap_or_else(|| panic!("{}", said.join("\n")))
        .to_owned();
    let conf = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(conf.contains(&apiserver), "dials {apiserver}: {conf}");
    // The real kubectl, with the printed kubeconfig, reaches this run's office.
    let asked = support::run_tool(
        &kubectl,
        [
            "--kubeconfig",
            &kubeconfig,
            "get",
            "pods",
            "-n",
            "default",
            "-o",
            "name",
        ],
    )
    .success();
    assert!(asked.stdout.contains("pod/questions"), "{}", asked.dump());

    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(0), "{}", rest.join("\n"));
    let lab = std::path::Path::new(&kubeconfig)
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    assert!(
        rest.iter()
            .any(|l| l.contains(&format!("The lab is kept in {}", lab.display()))),
        "{}",
        rest.join("\n")
    );
    assert!(lab.join("pki/ca.crt").is_file(), "the lab stays on disk");
    std::fs::remove_dir_all(lab.parent().unwrap()).unwrap();
}
