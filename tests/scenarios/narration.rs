//! `kubecorp run` told to a room: the day fitted to a projector, without colour when piped, a
//! Markdown report, a failed check's reason, `--format json`, `--chapter`, and a step that
//! cannot be played.

use crate::allowing_skips_without;
use crate::support::{fixture, kubecorp, scenarios};

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
