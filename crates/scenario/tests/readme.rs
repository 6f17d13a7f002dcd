//! The examples in scenarios/README.md are valid scenario text.

use std::path::Path;

fn yaml_blocks(text: &str) -> Vec<String> {
    text.split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_step_kind_and_expectation_in_the_readme_parses() {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/README.md"),
    )
    .unwrap();
    let blocks = yaml_blocks(&readme);
    assert_eq!(
        blocks.len(),
        6,
        "the file, chapters, setup, the step kinds, the expectations, a challenge"
    );
    let file = blocks[0].replace("  - ...\n", "  - say: hello\n");
    kubecorp_scenario::parse_str(Path::new("README.md#file"), &file)
        .unwrap_or_else(|e| panic!("{e}"));
    // Chapters are relative to the file: the README's example names the shipped day.
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/README.md");
    let day = kubecorp_scenario::parse_str(&here, &blocks[1]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(day.chapters.len(), 2);
    assert!(day.steps.iter().all(|s| s.file.is_some()));
    let setup = format!("title: t\n{}", blocks[2]);
    let alone = kubecorp_scenario::parse_str(Path::new("README.md#setup"), &setup)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alone.steps.iter().filter(|s| s.setup).count(), 2);
    let steps = format!("title: t\nsteps:\n{}", indent(&blocks[3]));
    let scenario = kubecorp_scenario::parse_str(Path::new("README.md#steps"), &steps)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(scenario.steps.len() >= 20, "{}", scenario.steps.len());
    let expect = format!(
        "title: t\nsteps:\n  - request: {{get: pods}}\n{}",
        indent(&indent(&blocks[4]))
    );
    kubecorp_scenario::parse_str(Path::new("README.md#expect"), &expect)
        .unwrap_or_else(|e| panic!("{e}"));
    let challenge = kubecorp_scenario::parse_str(Path::new("README.md#challenge"), &blocks[5])
        .unwrap_or_else(|e| panic!("{e}"));
    let challenge = challenge.challenge.expect("a challenge");
    assert_eq!(
        (
            challenge.hints.len(),
            challenge.check.len(),
            challenge.wrong.len()
        ),
        (3, 2, 1)
    );
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
