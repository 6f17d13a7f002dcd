//! What happened at a step, held up against what the scenario expects.
//!
//! An [`Outcome`] is what the caller saw (allowed or not, the HTTP status, the text it would
//! print) plus what the guards said on the event stream (how far the visitor got, the verdict).
//! Each field of an `expect:` becomes one [`Check`]: a line in the narration, a row in the
//! report, a test case in JUnit.

use kubecorp_trust::{Event, Stage, VerdictKind};
use serde::Serialize;
use time::Duration;

use crate::model::{format_duration, Expect, LogExpect};

/// What one step did, as far as expectations can see.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Whether the visitor got what they asked for (a 2xx, exit 0, a certificate).
    pub allowed: bool,
    pub status: Option<u16>,
    /// The stage where it stopped; `request` when it went all the way.
    pub stage: Option<Stage>,
    pub verdict: Option<VerdictKind>,
    /// What the caller prints (kubectl's line, the Go error text, or a command's output).
    pub text: String,
    /// Further texts `contains` may match (the Status message, the raw error).
    pub also: Vec<String>,
    pub lifetime: Option<Duration>,
    pub exit: Option<i32>,
    /// The plain explanation of a refusal, and how to fix it.
    pub explanation: Option<String>,
    pub hint: Option<String>,
}

/// One expectation, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The step's position (0-based).
    pub step: usize,
    /// The line of the step's `expect:` in the file.
    pub line: u32,
    /// The chapter file that line is in, when the step came from a chapter (`chapters:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    /// What is checked: `status`, `verdict`, `log by etcd`, …
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
    /// Not checked (an outside tool is missing and this is not CI).
    pub skipped: bool,
    /// For a failed check: what the step's outcome means, and the hint, when the lab knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Check {
    fn new(
        step: usize,
        line: u32,
        what: &str,
        expected: String,
        actual: String,
        ok: bool,
    ) -> Check {
        Check {
            step,
            line,
            file: None,
            what: what.to_owned(),
            expected,
            actual,
            passed: ok,
            skipped: false,
            why: None,
        }
    }

    /// A step that could not be carried out at all.
    pub fn failed_to_run(step: usize, line: u32, error: String) -> Check {
        Check::new(step, line, "runs", "the step runs".into(), error, false)
    }

    /// A step that was not carried out, and why.
    pub fn skipped(step: usize, line: u32, what: &str, why: String) -> Check {
        Check {
            skipped: true,
            ..Check::new(step, line, what, String::new(), why, true)
        }
    }

    /// `FILE:LINE` of the check: its chapter's file, or `scenario` (the file that was run).
    pub fn place(&self, scenario: &std::path::Path) -> String {
        format!(
            "{}:{}",
            self.file.as_deref().unwrap_or(scenario).display(),
            self.line
        )
    }

    /// `status: expected 403, got 200`.
    pub fn describe(&self) -> String {
        if self.skipped {
            format!("{}: skipped ({})", self.what, self.actual)
        } else if self.passed {
            format!("{} {}", self.what, self.expected)
        } else {
            format!(
                "{}: expected {}, got {}",
                self.what, self.expected, self.actual
            )
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

/// Checks everything in `expect` that does not need the event stream; a failed check carries
/// the outcome's explanation and hint.
pub fn check(step: usize, expect: &Expect, outcome: &Outcome) -> Vec<Check> {
    let why = match (&outcome.explanation, &outcome.hint) {
        (Some(e), Some(h)) => Some(format!("What it means: {e} — hint: {h}")),
        (Some(e), None) => Some(format!("What it means: {e}")),
        (None, Some(h)) => Some(format!("Hint: {h}")),
        (None, None) => None,
    };
    let mut out = checks(step, expect, outcome);
    for c in &mut out {
        if !c.passed {
            c.why.clone_from(&why);
        }
    }
    out
}

fn checks(step: usize, expect: &Expect, outcome: &Outcome) -> Vec<Check> {
    let line = expect.line;
    let mut out = Vec::new();
    if let Some(allowed) = expect.allowed {
        let word = |b: bool| if b { "allowed" } else { "refused" };
        out.push(Check::new(
            step,
            line,
            "result",
            word(allowed).into(),
            word(outcome.allowed).into(),
            allowed == outcome.allowed,
        ));
    }
    if let Some(status) = expect.status {
        out.push(Check::new(
            step,
            line,
            "status",
            status.to_string(),
            opt(outcome.status),
            outcome.status == Some(status),
        ));
    }
    if let Some(stage) = expect.stage {
        out.push(Check::new(
            step,
            line,
            "stage",
            stage.to_string(),
            opt(outcome.stage),
            outcome.stage == Some(stage),
        ));
    }
    if let Some(verdict) = expect.verdict {
        out.push(Check::new(
            step,
            line,
            "verdict",
            verdict.to_string(),
            opt(outcome.verdict),
            outcome.verdict == Some(verdict),
        ));
    }
    if let Some(text) = &expect.text {
        out.push(Check::new(
            step,
            line,
            "text",
            format!("{text:?}"),
            format!("{:?}", outcome.text.trim_end()),
            outcome.text.trim_end() == text.trim_end(),
        ));
    }
    for needle in &expect.contains {
        let found = outcome.text.contains(needle.as_str())
            || outcome.also.iter().any(|t| t.contains(needle.as_str()));
        out.push(Check::new(
            step,
            line,
            "contains",
            format!("{needle:?}"),
            format!("{:?}", short(&outcome.text)),
            found,
        ));
    }
    if let Some(lifetime) = expect.lifetime {
        let ok = outcome
            .lifetime
            .is_some_and(|l| (l - lifetime).abs() <= Duration::minutes(10));
        out.push(Check::new(
            step,
            line,
            "lifetime",
            format_duration(lifetime),
            opt(outcome.lifetime.map(format_duration)),
            ok,
        ));
    }
    if let Some(exit) = expect.exit {
        out.push(Check::new(
            step,
            line,
            "exit",
            exit.to_string(),
            opt(outcome.exit),
            outcome.exit == Some(exit),
        ));
    }
    out
}

/// Whether an event is the log line `log` asks for: written by `log.by` (the door, or the
/// caller for a client-side log line), with the text asked for.
pub fn log_matches(log: &LogExpect, event: &Event) -> bool {
    if event.log_owner() != log.by {
        return false;
    }
    let texts = [event.server_log.as_deref(), event.detail.as_deref()];
    texts.iter().flatten().any(|t| {
        log.contains.as_deref().is_none_or(|c| t.contains(c))
            && log
                .text
                .as_deref()
                .is_none_or(|x| t.trim_end() == x.trim_end())
    })
}

/// The check for one `log:` expectation, given the step's events.
pub fn check_log(step: usize, line: u32, log: &LogExpect, events: &[Event]) -> Check {
    let expected = match (&log.text, &log.contains) {
        (Some(t), _) => format!("{t:?}"),
        (None, Some(c)) => format!("a line containing {c:?}"),
        (None, None) => "a line".into(),
    };
    let found = events.iter().find(|e| log_matches(log, e));
    let actual = match found {
        Some(e) => format!("{:?}", e.server_log.as_deref().unwrap_or_default()),
        None => {
            let theirs: Vec<&str> = events
                .iter()
                .filter(|e| e.log_owner() == log.by)
                .filter_map(|e| e.server_log.as_deref())
                .collect();
            if theirs.is_empty() {
                format!("no log line from {}", log.by)
            } else {
                format!("{:?}", theirs.join(" | "))
            }
        }
    };
    Check::new(
        step,
        line,
        &format!("log by {}", log.by),
        expected,
        actual,
        found.is_some(),
    )
}

fn short(text: &str) -> String {
    let text = text.trim_end();
    if text.chars().count() > 300 {
        let cut: String = text.chars().take(300).collect();
        format!("{cut}…")
    } else {
        text.to_owned()
    }
}
