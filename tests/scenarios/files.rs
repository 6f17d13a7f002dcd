//! A broken scenario file through the binary: file, line, column, field and the right name.

use crate::support::{fixture, kubecorp};

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
