//! `kubecorp run` (one scenario, narrated for a room) and `kubecorp test` (many, checked for CI):
//! arguments in, the scenario library's runner, narrator and suite out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use kubecorp_scenario::junit::Entry;
use kubecorp_scenario::model::Step;
use kubecorp_scenario::narrate::suite_lines;
use kubecorp_scenario::present::Pause;
use kubecorp_scenario::run::{Observer, RunOptions, Verdict};
use kubecorp_scenario::tape::{Tape, Tee};

use crate::output::{color, line};

/// How `kubecorp run` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunFormat {
    /// Narrated lines for a room (coloured on a terminal unless NO_COLOR is set).
    Text,
    /// One JSON object per line: steps, events, outputs, checks and the result.
    Json,
}

/// What `run` and `test` share: the PKI to play on, whether a skipped step may pass, whether
/// the lab stays on disk.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub pki: Option<PathBuf>,
    pub allow_skip: bool,
    pub keep: bool,
}

/// The exit status CI reads: 0 every check passed (or, with `--allow-skip`, none failed), 1 a
/// check failed or a step was skipped. (2, an invalid file or usage, is decided before a run.)
fn exit_code(verdict: Verdict, allow_skip: bool) -> ExitCode {
    match verdict {
        Verdict::Passed => ExitCode::SUCCESS,
        Verdict::Skipped if allow_skip => ExitCode::SUCCESS,
        Verdict::Skipped => {
            eprintln!("A skipped step is not a pass: exit 1 (--allow-skip accepts skips; CI=true makes them failures).");
            ExitCode::from(1)
        }
        Verdict::Failed => ExitCode::from(1),
    }
}

/// Whether a CI service runs this (`CI=true` or `CI=1`, as they set it).
pub(crate) fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `kubecorp run FILE`.
pub fn run(
    file: &Path,
    show: &crate::show::Show,
    format: RunFormat,
    report: Option<&Path>,
    web: Option<std::net::SocketAddr>,
    options: Options,
) -> Result<ExitCode> {
    let pki = resolve_pki(options.pki)?;
    let scenario = match kubecorp_scenario::parse_file(file) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(pki) = &pki {
        if let Err(e) = kubecorp_scenario::run::fits_pki(&scenario, pki) {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    }
    // With the page, a paced run waits for the page's next ▶ (or a key), its token printed.
    let hub = web.map(|_| kubecorp_web::Hub::new());
    let pace = match (&hub, show.mode()) {
        (Some(hub), Some(mode)) => Some(kubecorp_web::Pace::new(
            hub.clone(),
            mode,
            kubecorp_web::Token::random()?,
        )),
        _ => None,
    };
    // The presenter first: a chapter that is not there is said before the office opens.
    let mut presenter = match (format, show.presenter(&scenario, pace.clone())) {
        (RunFormat::Text, Ok(p)) => Some(p),
        (RunFormat::Text, Err(e)) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
        (RunFormat::Json, _) if show.chapter.is_some() => {
            eprintln!("--chapter tells the story from a chapter for a room: it needs --format text (JSON lines record every step)");
            return Ok(ExitCode::from(2));
        }
        (RunFormat::Json, _) => None,
    };
    let opts = RunOptions {
        pki,
        ci: ci(),
        keep: options.keep,
    };
    // Every run is recorded: the JSON lines, the HTML report and the page read the same tape.
    let mut tape = Tape::new();
    if format == RunFormat::Json {
        tape = tape.with_sink(|record| line(&record.to_json()));
    }
    let runtime = runtime()?;
    let signals = {
        let _inside = runtime.enter();
        crate::stop::on_signal()?
    };
    let page = match (web, hub) {
        (Some(addr), Some(hub)) => {
            let page =
                runtime.block_on(crate::web::serve(hub.clone(), None, pace.clone(), addr))?;
            match &pace {
                Some(pace) => eprintln!(
                    "The page follows the run at {}?token={}\n  the token lets the page go on (next ▶) and change the pace: share it with care",
                    page.url,
                    pace.token().as_str()
                ),
                None => eprintln!("The page follows the run at {}", page.url),
            }
            tape = tape.with_sink(move |record| hub.push_record(record));
            Some(page)
        }
        _ => None,
    };
    // `--keep` (RunOptions::keep): the runner holds the office open here after the last step.
    let mut stay = crate::show::StayOpen(pace.clone());
    let result = match &mut presenter {
        Some(presenter) => {
            let result = runtime.block_on(kubecorp_scenario::run::run(
                &scenario,
                &opts,
                &mut Tee(presenter, &mut Tee(&mut stay, &mut tape)),
            ));
            presenter.narrator().summary(&result);
            result
        }
        None => {
            let mut pauses = Pauses {
                wait: show.pauses().then(|| show.wait(pace.clone())),
            };
            runtime.block_on(kubecorp_scenario::run::run(
                &scenario,
                &opts,
                &mut Tee(&mut pauses, &mut Tee(&mut stay, &mut tape)),
            ))
        }
    };
    // A key wait the page ended may still hold the terminal: it is the shell's again.
    crate::key::restore();
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
    if let Some(kept) = &result.kept {
        eprintln!(
            "The lab is kept in {} (private keys included): remove it when done.",
            kept.display()
        );
    }
    // The run is over: from here Ctrl-C is the page's, and leaves nothing behind.
    signals.abort();
    if let Some(page) = page {
        eprintln!(
            "The page stays open at {} for questions; Ctrl-C to leave.",
            page.url
        );
        runtime.block_on(crate::stop::interrupted())?;
        page.stop();
    }
    Ok(exit_code(result.verdict(), options.allow_skip))
}

/// `--step` or `--pace` with JSON lines: a pause before each step.
struct Pauses {
    wait: Option<Box<dyn FnMut(Pause) + Send>>,
}

impl Observer for Pauses {
    fn before_step(&mut self, _step: &Step) {
        if let Some(wait) = &mut self.wait {
            wait(Pause::Step);
        }
    }
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
    jobs: Option<usize>,
    options: Options,
) -> Result<ExitCode> {
    let found = kubecorp_scenario::suite::collect(paths)?;
    for note in found.notes() {
        line(&note);
    }
    if found.files.is_empty() {
        anyhow::bail!("no scenario files found (a *.yaml file with a top-level steps:, chapters: or challenge:)");
    }
    let pki = resolve_pki(options.pki)?;
    let wanted =
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let (jobs, note) =
        kubecorp_scenario::jobs::cap(wanted, kubecorp_scenario::jobs::open_file_limit());
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let (plays, notes) = kubecorp_scenario::suite::plays(found.files);
    if let Some(pki) = &pki {
        // Said before anything runs: these would only fail later with a puzzling 403.
        let misfits: Vec<String> = plays
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .filter_map(|s| kubecorp_scenario::run::fits_pki(s, pki).err())
            .map(|e| e.to_string())
            .collect();
        if !misfits.is_empty() {
            anyhow::bail!(
                "{} cannot run on --pki {}:\n{}",
                match misfits.len() {
                    1 => "1 scenario".to_owned(),
                    n => format!("{n} scenarios"),
                },
                pki.display(),
                misfits.join("\n")
            );
        }
    }
    let opts = RunOptions {
        pki,
        ci: ci(),
        keep: false,
    };
    for note in notes {
        line(&note);
    }
    let runtime = runtime()?;
    let signals = {
        let _inside = runtime.enter();
        crate::stop::on_signal()?
    };
    let entries = runtime.block_on(kubecorp_scenario::suite::run_all(
        plays,
        &opts,
        jobs,
        |entry| {
            for l in suite_lines(entry, color()) {
                line(&l);
            }
        },
    ));
    signals.abort();
    if let Some(path) = junit {
        let xml = kubecorp_scenario::junit::junit(&entries)
            .map_err(|e| anyhow::anyhow!("writing JUnit XML: {e}"))?;
        kubecorp_scenario::report::write_atomic(path, &xml)
            .with_context(|| format!("writing {}", path.display()))?;
        line(&format!("JUnit report written to {}", path.display()));
    }
    let ran = |verdict| {
        entries
            .iter()
            .filter(|e| matches!(e, Entry::Ran(r) if r.verdict() == verdict))
            .count()
    };
    let (passed, failed, skipped) = (
        ran(Verdict::Passed),
        ran(Verdict::Failed),
        ran(Verdict::Skipped),
    );
    let invalid = entries.len() - passed - failed - skipped;
    line(&format!(
        "{passed} passed, {failed} failed, {skipped} skipped{}",
        match invalid {
            0 => String::new(),
            n => format!(", {n} not valid"),
        }
    ));
    Ok(if invalid > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else if skipped > 0 {
        exit_code(Verdict::Skipped, options.allow_skip)
    } else {
        ExitCode::SUCCESS
    })
}
