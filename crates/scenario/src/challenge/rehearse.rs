//! A challenge file played by `kubecorp run` and `kubecorp test`: the office broken, the check
//! failing as the learner first sees it, the scripted solution, the check passing, and then each
//! tempting wrong repair, in an office of its own, caught by the criterion it names.

use std::path::PathBuf;
use std::time::Instant;

use kubecorp_office::OfficeOptions;
use kubecorp_trust::Events;

use super::check::{check, Verdict};
use super::start::open;
use super::state::Source;
use super::Criterion;
use crate::expect::{Check, CheckState};
use crate::model::Scenario;
use crate::run::{play, Doors, LabDir, Observer, OfficeInfo, RunOptions, ScenarioResult, Venue};

fn line_check(line: u32, what: String, expected: String, actual: String, passed: bool) -> Check {
    Check {
        step: 0,
        line,
        file: None,
        what,
        expected,
        actual,
        state: if passed {
            CheckState::Passed
        } else {
            CheckState::Failed
        },
        why: None,
    }
}

fn failures(verdict: &Verdict) -> String {
    let failed: Vec<String> = verdict
        .lines
        .iter()
        .filter(|l| !l.passed)
        .map(|l| {
            format!(
                "✗ {} ({}): {}",
                l.what,
                l.criterion,
                l.reason.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    match failed.is_empty() {
        true => "every criterion held".into(),
        false => failed.join("; "),
    }
}

fn record(result: &mut ScenarioResult, observer: &mut dyn Observer, c: Check) {
    observer.check(&c);
    result.checks.push(c);
}

/// A lab directory of its own for one play.
fn lab_dir() -> Result<(LabDir, PathBuf), String> {
    let tmp = LabDir::new("kubecorp-challenge-", false)
        .map_err(|e| format!("cannot make a lab directory: {e}"))?;
    let dir = tmp.lab();
    Ok((tmp, dir))
}

/// Plays `scenario`'s challenge as described above; every stage is a check of the result.
pub async fn rehearse(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> ScenarioResult {
    let started = Instant::now();
    let mut result = ScenarioResult {
        file: scenario.file.clone(),
        title: scenario.title.clone(),
        checks: Vec::new(),
        hops: Vec::new(),
        elapsed: std::time::Duration::ZERO,
        kept: None,
        narration: String::new(),
    };
    let Some(challenge) = &scenario.challenge else {
        return result;
    };
    let source = Source::File(scenario.file.clone());

    // The learner's way: broken, checked, repaired, checked.
    match lab_dir() {
        Err(e) => record(&mut result, observer, Check::failed_to_run(0, 1, e)),
        Ok((_tmp, dir)) => {
            match open(
                scenario,
                source.clone(),
                OfficeOptions::ephemeral(&dir),
                opts,
            )
            .await
            {
                Err(e) => record(
                    &mut result,
                    observer,
                    Check::failed_to_run(0, 1, e.to_string()),
                ),
                Ok(opened) => {
                    observer.opened(
                        scenario,
                        &OfficeInfo {
                            dir: dir.clone(),
                            apiserver: opened.office.apiserver_url(),
                            etcd: opened.office.etcd_url.clone(),
                        },
                    );
                    let first = check(challenge, &opened.state, &dir, opts).await;
                    record(
                        &mut result,
                        observer,
                        line_check(
                            challenge.check.first().map_or(1, |s| s.line),
                            "check right after start".into(),
                            "the symptom is there".into(),
                            failures(&first),
                            first.failed(Criterion::Symptom),
                        ),
                    );
                    if challenge.solve.is_empty() {
                        record(
                            &mut result,
                            observer,
                            Check::not_run(
                                0,
                                1,
                                "scripted solution",
                                "this challenge has no challenge.solve".into(),
                            ),
                        );
                    } else {
                        let venue = Venue {
                            dir: dir.clone(),
                            doors: Doors::of(&opened.office),
                            clock: opened.office.clock.clone(),
                            events: opened.office.events.clone(),
                            key_algorithm: scenario.lab.key_algorithm,
                        };
                        let checks = play(&challenge.solve, &venue, opts, observer).await;
                        let skipped = checks.iter().find(|c| c.skipped()).cloned();
                        result.checks.extend(checks);
                        match skipped {
                            // Without the tool, the solution was not played: say so, claim nothing.
                            Some(c) => record(
                                &mut result,
                                observer,
                                Check::not_run(
                                    0,
                                    c.line,
                                    "check after the scripted solution",
                                    c.actual,
                                ),
                            ),
                            None => {
                                let after = check(challenge, &opened.state, &dir, opts).await;
                                record(
                                    &mut result,
                                    observer,
                                    line_check(
                                        challenge.solve.first().map_or(1, |s| s.line),
                                        "check after the scripted solution".into(),
                                        "every criterion holds".into(),
                                        failures(&after),
                                        after.passed(),
                                    ),
                                );
                            }
                        }
                    }
                    opened.office.shutdown().await;
                }
            }
        }
    }

    // Each tempting wrong repair, on an office of its own.
    for wrong in &challenge.wrong {
        let (_tmp, dir) = match lab_dir() {
            Ok(d) => d,
            Err(e) => {
                record(
                    &mut result,
                    observer,
                    Check::failed_to_run(0, wrong.line, e),
                );
                continue;
            }
        };
        let options = OfficeOptions {
            events: Events::new(),
            ..OfficeOptions::ephemeral(&dir)
        };
        let opened = match open(scenario, source.clone(), options, opts).await {
            Ok(o) => o,
            Err(e) => {
                record(
                    &mut result,
                    observer,
                    Check::failed_to_run(0, wrong.line, e.to_string()),
                );
                continue;
            }
        };
        let venue = Venue {
            dir: dir.clone(),
            doors: Doors::of(&opened.office),
            clock: opened.office.clock.clone(),
            events: opened.office.events.clone(),
            key_algorithm: scenario.lab.key_algorithm,
        };
        let checks = play(&wrong.steps, &venue, opts, &mut crate::run::Quiet).await;
        let what = format!("wrong repair: {}", wrong.title);
        match checks.iter().find(|c| !c.passed()) {
            Some(c) if c.skipped() => record(
                &mut result,
                observer,
                Check::not_run(0, wrong.line, &what, c.actual.clone()),
            ),
            Some(c) => record(
                &mut result,
                observer,
                line_check(
                    wrong.line,
                    what,
                    "its steps run".into(),
                    c.describe(),
                    false,
                ),
            ),
            None => {
                let verdict = check(challenge, &opened.state, &dir, opts).await;
                record(
                    &mut result,
                    observer,
                    line_check(
                        wrong.line,
                        what,
                        format!("the check fails on {}", wrong.fails),
                        failures(&verdict),
                        verdict.failed(wrong.fails),
                    ),
                );
            }
        }
        opened.office.shutdown().await;
    }
    result.elapsed = started.elapsed();
    result
}
