//! `kubecorp run` (one scenario, narrated for a room) and `kubecorp test` (many, checked for CI).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use kubecorp_scenario::expect::{Check, Outcome};
use kubecorp_scenario::junit::Entry;
use kubecorp_scenario::model::{Action, Scenario, Step};
use kubecorp_scenario::run::{Observer, OfficeInfo, Quiet, RunOptions, ScenarioResult};
use kubecorp_scenario::tape::{Tape, Tee};
use kubecorp_trust::Event;

/// How `kubecorp run` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    /// Narrated lines for a room (coloured on a terminal unless NO_COLOR is set).
    Text,
    /// One JSON object per line: steps, events, outputs, checks and the result.
    Json,
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Writes a line to stdout; a closed pipe ends the program quietly.
fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// `kubecorp run FILE`.
pub fn run(
    file: &Path,
    step_by_step: bool,
    format: RunFormat,
    report: Option<&Path>,
    web: Option<std::net::SocketAddr>,
    pki: Option<PathBuf>,
) -> Result<ExitCode> {
    let pki = resolve_pki(pki)?;
    let scenario = match kubecorp_scenario::parse_file(file) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let opts = RunOptions { pki, ci: ci() };
    // Every run is recorded: the JSON lines, the HTML report and the page read the same tape.
    let mut tape = Tape::new();
    if format == RunFormat::Json {
        tape = tape.with_sink(|record| line(&record.to_json()));
    }
    let runtime = runtime()?;
    let page = match web {
        Some(addr) => {
            let hub = kubecorp_web::Hub::new();
            let page = runtime.block_on(crate::web::serve(hub.clone(), None, addr))?;
            eprintln!("The page follows the run at {}", page.url);
            tape = tape.with_sink(move |record| hub.push_record(record));
            Some(page)
        }
        None => None,
    };
    let result = match format {
        RunFormat::Text => {
            let mut narrator = Narrator::new(color, step_by_step);
            let result = runtime.block_on(kubecorp_scenario::run::run(
                &scenario,
                &opts,
                &mut Tee(&mut narrator, &mut tape),
            ));
            narrator.summary(&result);
            result
        }
        RunFormat::Json => {
            let mut pauses = Pauses { step_by_step };
            runtime.block_on(kubecorp_scenario::run::run(
                &scenario,
                &opts,
                &mut Tee(&mut pauses, &mut tape),
            ))
        }
    };
    tape.finish(&result);
    if let Some(path) = report {
        let text = match path.extension().is_some_and(|e| e == "html" || e == "htm") {
            true => kubecorp_web::page::report(&result.title, tape.records()),
            false => kubecorp_scenario::report::markdown(&result, tape.records()),
        };
        kubecorp_scenario::report::write_atomic(path, &text)
            .with_context(|| format!("writing the report {}", path.display()))?;
        if format == RunFormat::Text {
            line(&format!("Report written to {}", path.display()));
        }
    }
    if let Some(page) = page {
        eprintln!(
            "The page stays open at {} for questions; Ctrl-C to leave.",
            page.url
        );
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        page.stop();
    }
    Ok(if result.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn pause(step_by_step: bool) {
    if step_by_step {
        eprint!("  [Enter] for the next step ");
        let mut buf = String::new();
        // Blocking here is the point: the room decides when the story goes on.
        let _ = tokio::task::block_in_place(|| std::io::stdin().read_line(&mut buf));
    }
}

/// The narration for a room.
struct Narrator {
    color: bool,
    step_by_step: bool,
    /// Whether a refusal of this step was already told through its event.
    told_refusal: bool,
    /// Refusals already told in this step, and how often each came back (background staff
    /// retry, and a room needs to hear it once).
    repeats: std::collections::HashMap<String, usize>,
}

impl Narrator {
    fn new(color: bool, step_by_step: bool) -> Narrator {
        Narrator {
            color,
            step_by_step,
            told_refusal: false,
            repeats: std::collections::HashMap::new(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn summary(&self, result: &ScenarioResult) {
        let failed = result.failures().count();
        let skipped = result.checks.iter().filter(|c| c.skipped).count();
        let passed = result.checks.len() - failed - skipped;
        let mut text = format!(
            "{passed} checks passed, {failed} failed{} ({} ms)",
            if skipped > 0 {
                format!(", {skipped} skipped")
            } else {
                String::new()
            },
            result.elapsed.as_millis()
        );
        if failed > 0 {
            text = self.paint("31;1", &text);
            line("");
            line(&text);
            for c in result.failures() {
                line(&format!(
                    "  ✗ {}: step {}: {}",
                    c.place(&result.file),
                    c.step + 1,
                    c.describe()
                ));
            }
        } else {
            line("");
            line(&self.paint("32;1", &text));
        }
    }
}

fn indent(text: &str, by: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Observer for Narrator {
    fn opened(&mut self, scenario: &Scenario, office: &OfficeInfo) {
        line(&self.paint("1", &scenario.title));
        if let Some(d) = &scenario.description {
            line(&indent(d, "  "));
        }
        line(&self.paint(
            "2",
            &format!(
                "  (the office is open: apiserver {}, etcd {}, lab {})",
                office.apiserver,
                office.etcd,
                office.dir.display()
            ),
        ));
    }

    fn before_step(&mut self, _step: &Step) {
        pause(self.step_by_step);
    }

    fn step(&mut self, step: &Step, headline: &str) {
        self.told_refusal = false;
        self.repeats.clear();
        line("");
        if let Some(at) = &step.at {
            line(&self.paint("1;36", &format!("── {at} ──")));
        }
        match step.action {
            Action::Say => line(&self.paint("36", &indent(headline, "  "))),
            _ => {
                if let Some(say) = &step.say {
                    line(&self.paint("36", &indent(say, "  ")));
                }
                line(&format!("  ▸ {}", self.paint("1", headline)));
            }
        }
    }

    fn event(&mut self, event: &Event, mine: bool) {
        if mine || !event.allowed {
            if !event.allowed && mine {
                self.told_refusal = true;
            }
            if !event.allowed {
                let key = format!(
                    "{}|{}|{}|{:?}",
                    event.from, event.to, event.stage, event.client_text
                );
                let seen = self.repeats.entry(key).or_insert(0);
                *seen += 1;
                if *seen > 1 {
                    return;
                }
            }
            let text = kubecorp_office::narrate::narrate(event, self.color);
            line(&indent(&text, "    "));
        }
    }

    fn output(&mut self, text: &str) {
        if !text.trim().is_empty() {
            line(&self.paint("2", &indent(text, "    │ ")));
        }
    }

    fn outcome(&mut self, _step: &Step, outcome: &Outcome) {
        let again: usize = self.repeats.values().map(|n| n - 1).sum();
        if again > 0 {
            line(&self.paint(
                "2",
                &format!("    (the same refusals came back {again} more times: the staff retry)"),
            ));
        }
        if outcome.exit.is_some() {
            return; // a command's output was shown as it is
        }
        let first: String = outcome.text.lines().take(4).collect::<Vec<_>>().join("\n");
        if outcome.allowed {
            if !first.is_empty() {
                line(&indent(&first, "    → "));
            }
        } else if outcome.stage.is_none() {
            // A wait that ran out of time: what it last saw.
            line(&indent(&first, "    → "));
        } else if !self.told_refusal {
            line(&indent(&first, "    → caller sees: "));
            if let Some(e) = &outcome.explanation {
                line(&format!("      what it means: {e}"));
            }
            if let Some(h) = &outcome.hint {
                line(&format!("      hint: {h}"));
            }
        }
    }

    fn check(&mut self, check: &Check) {
        let text = if check.skipped {
            self.paint("33", &format!("– {}", check.describe()))
        } else if check.passed {
            format!("{} {}", self.paint("32", "✓"), check.describe())
        } else {
            self.paint("31;1", &format!("✗ {}", check.describe()))
        };
        line(&format!("    {text}"));
    }
}

/// `--step` with `--format json`: waits for Enter before each step.
struct Pauses {
    step_by_step: bool,
}

impl Observer for Pauses {
    fn before_step(&mut self, _step: &Step) {
        pause(self.step_by_step);
    }
}

/// Every `*.yaml` under `paths` (directories recursively), sorted, without repeats.
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The files to play, parsed. A file that is a chapter of another scenario in the same run is
/// played inside that story, not again on its own; one line says so for each story.
fn plays(files: Vec<PathBuf>) -> Vec<(PathBuf, Result<Scenario, kubecorp_scenario::ParseErrors>)> {
    let key = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let parsed: Vec<_> = files
        .into_iter()
        .map(|f| {
            let s = kubecorp_scenario::parse_file(&f);
            (f, s)
        })
        .collect();
    let mut inside = std::collections::HashSet::new();
    for (file, s) in &parsed {
        if let Ok(s) = s {
            let here: Vec<_> = s
                .chapters
                .iter()
                .filter(|c| parsed.iter().any(|(f, _)| key(f) == key(c)))
                .collect();
            if !here.is_empty() {
                line(&format!(
                    "· {} chapters of {} are played inside it, not on their own: {}",
                    here.len(),
                    file.display(),
                    here.iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            inside.extend(here.into_iter().map(|c| key(c)));
        }
    }
    parsed
        .into_iter()
        .filter(|(f, _)| !inside.contains(&key(f)))
        .collect()
}

/// `--pki`: kubeadm's root (`/etc/kubernetes`) or its pki directory (`/etc/kubernetes/pki`).
fn resolve_pki(pki: Option<PathBuf>) -> Result<Option<PathBuf>> {
    let pki = pki.map(|dir| match dir.join("pki").join("ca.crt").exists() {
        true => dir.join("pki"),
        false => dir,
    });
    if let Some(dir) = &pki {
        if !dir.join("ca.crt").exists() {
            anyhow::bail!(
                "{}: no ca.crt (expected kubeadm's directory, e.g. /etc/kubernetes, or its pki/)",
                dir.display()
            );
        }
    }
    Ok(pki)
}

/// `kubecorp test PATH…`.
pub fn test(
    paths: &[PathBuf],
    junit: Option<&Path>,
    pki: Option<PathBuf>,
    jobs: Option<usize>,
) -> Result<ExitCode> {
    let files = collect(paths)?;
    if files.is_empty() {
        anyhow::bail!("no scenario files (*.yaml) found");
    }
    let pki = resolve_pki(pki)?;
    let wanted =
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let (jobs, note) =
        kubecorp_scenario::jobs::cap(wanted, kubecorp_scenario::jobs::open_file_limit());
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let opts = RunOptions { pki, ci: ci() };
    let rt = runtime()?;
    let entries: Vec<Entry> = rt.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(jobs));
        let mut tasks = Vec::new();
        for (file, parsed) in plays(files) {
            let limit = limit.clone();
            let opts = opts.clone();
            let named = file.clone();
            tasks.push((
                named,
                tokio::spawn(async move {
                    let scenario = match parsed {
                        Ok(s) => s,
                        Err(e) => {
                            return Entry::Invalid {
                                file,
                                error: e.to_string(),
                            }
                        }
                    };
                    let _permit = limit.acquire_owned().await;
                    Entry::Ran(kubecorp_scenario::run::run(&scenario, &opts, &mut Quiet).await)
                }),
            ));
        }
        let mut entries = Vec::new();
        for (file, task) in tasks {
            let entry = match task.await {
                Ok(e) => e,
                Err(e) => Entry::Invalid {
                    file,
                    error: format!("the run stopped: {e}"),
                },
            };
            // One line per scenario, in file order, as soon as it and those before it are done.
            match &entry {
                Entry::Ran(r) if r.passed() => {
                    let skipped = r.checks.iter().filter(|c| c.skipped).count();
                    line(&format!(
                        "{} {}  {} ({} checks{}, {} ms)",
                        paint("32", "✓"),
                        r.file.display(),
                        r.title,
                        r.checks.len() - skipped,
                        if skipped > 0 {
                            format!(", {skipped} skipped")
                        } else {
                            String::new()
                        },
                        r.elapsed.as_millis()
                    ))
                }
                Entry::Ran(r) => {
                    line(&format!(
                        "{} {}  {} ({} of {} checks failed, {} ms)",
                        paint("31;1", "✗"),
                        r.file.display(),
                        r.title,
                        r.failures().count(),
                        r.checks.len(),
                        r.elapsed.as_millis()
                    ));
                    for c in r.failures() {
                        line(&format!(
                            "    {}: step {}: {}",
                            c.place(&r.file),
                            c.step + 1,
                            c.describe()
                        ));
                    }
                }
                Entry::Invalid { file, error } => {
                    line(&format!(
                        "{} {}  not a valid scenario",
                        paint("31;1", "✗"),
                        file.display()
                    ));
                    line(&indent(error, "    "));
                }
            }
            entries.push(entry);
        }
        entries
    });
    if let Some(path) = junit {
        let xml = kubecorp_scenario::junit::junit(&entries)
            .map_err(|e| anyhow::anyhow!("writing JUnit XML: {e}"))?;
        kubecorp_scenario::report::write_atomic(path, &xml)
            .with_context(|| format!("writing {}", path.display()))?;
        line(&format!("JUnit report written to {}", path.display()));
    }
    let passed = entries.iter().filter(|e| e.passed()).count();
    let failed = entries.len() - passed;
    line(&format!("{passed} passed, {failed} failed"));
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
