//! Every scenario shipped in `scenarios/` runs and passes; a failure names the scenario and the check.

use std::path::{Path, PathBuf};

use kubecorp_scenario::run::Verdict;

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_shipped_scenario_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(!files.is_empty(), "no scenarios under {}", root.display());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    // As `kubecorp test` does: one scenario per CPU at a time, so waits are not starved.
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(cpus));
    let mut tasks = Vec::new();
    for file in files {
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            let scenario = match kubecorp_scenario::parse_file(&file) {
                Ok(s) => s,
                Err(e) => return Err(format!("{e}")),
            };
            if scenario.challenge.is_some() {
                // A challenge's scripted solution calls the `kubecorp` binary: `kubecorp test`
                // plays those (tests/scenarios.rs and tests/challenges.rs at the root).
                return Ok(());
            }
            let opts = kubecorp_scenario::run::RunOptions {
                ci,
                ..Default::default()
            };
            let result =
                kubecorp_scenario::run::run(&scenario, &opts, &mut kubecorp_scenario::run::Quiet)
                    .await;
            match result.verdict() {
                Verdict::Passed => Ok(()),
                // Outside CI a missing tool skips its step: said plainly, never a pass.
                Verdict::Skipped => {
                    for c in result.skips() {
                        eprintln!(
                            "skipped: {}: step {}: {}",
                            c.place(&file),
                            c.step + 1,
                            c.describe()
                        );
                    }
                    Ok(())
                }
                Verdict::Failed => {
                    let lines: Vec<String> = result
                        .failures()
                        .map(|c| {
                            format!(
                                "  {}: step {}: {}",
                                c.place(&file),
                                c.step + 1,
                                c.describe()
                            )
                        })
                        .collect();
                    Err(format!(
                        "{} ({}):\n{}",
                        file.display(),
                        scenario.title,
                        lines.join("\n")
                    ))
                }
            }
        }));
    }
    let mut failed = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            failed.push(e);
        }
    }
    assert!(
        failed.is_empty(),
        "failing scenarios:\n{}",
        failed.join("\n")
    );
}
