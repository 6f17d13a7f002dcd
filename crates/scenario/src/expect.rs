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

/// What one step came to: one of four things, each with what the caller saw.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The door answered what was asked (a 2xx, a certificate collected, a wait that came true).
    Answered(Answer),
    /// The visitor was turned away, or the call failed, at a stage.
    Refused(Refusal),
    /// A command ran to its end: its exit status (none when a signal ended it) and output.
    Ran {
        exit: Option<i32>,
        text: String,
        /// What a failure's output means, when the lab recognises it.
        explanation: Option<String>,
    },
    /// A wait or a command ran out of time; the text says what was seen last.
    TimedOut { text: String },
}

/// An answer that gave the visitor what they asked for.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The HTTP status (none for a wait, which reads several answers).
    pub status: Option<u16>,
    /// What the caller prints (kubectl's line, a summary of the answer).
    pub text: String,
    /// Further texts `contains` may match (the raw body).
    pub also: Vec<String>,
    /// A collected certificate's NotAfter − NotBefore.
    pub lifetime: Option<Duration>,
}

/// A refusal, or a call that failed on its way.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// How far the visitor got: `tcp`, `tls`, `authn`, `authz` or `request`.
    pub stage: Stage,
    /// The HTTP status, when the door answered at all.
    pub status: Option<u16>,
    /// The guard's verdict on a badge, when it judged one.
    pub verdict: Option<VerdictKind>,
    /// What the caller prints (kubectl's line, the Go error text).
    pub text: String,
    /// Further texts `contains` may match (the Status message, the raw error, the guard's log).
    pub also: Vec<String>,
    /// The guard's own log line about this visitor, and who wrote it.
    pub logged: Option<Logged>,
    /// The plain explanation of the refusal, and how to fix it.
    pub explanation: Option<String>,
    pub hint: Option<String>,
    /// What kubectl prints for the same failure on its first call to the server (no discovery
    /// cache yet): five `memcache.go` lines, then its last line.
    pub uncached: Option<kubecorp_client::Uncached>,
}

/// A line a guard wrote in its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// Who wrote it: `apiserver`, `etcd`, …
    pub by: String,
    pub line: String,
}

impl Refusal {
    /// A refusal at `stage` with the caller's text and nothing more known yet.
    pub fn at(stage: Stage, text: impl Into<String>) -> Refusal {
        Refusal {
            stage,
            status: None,
            verdict: None,
            text: text.into(),
            also: Vec::new(),
            logged: None,
            explanation: None,
            hint: None,
            uncached: None,
        }
    }
}

/// Why a step's checks failed, as far as the lab knows: what came back, what the guard wrote
/// about the visitor, what that means and how to fix it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reason {
    /// What the caller saw: kubectl's line, Go's error, the last lines a command printed.
    pub saw: Option<String>,
    pub logged: Option<Logged>,
    pub means: Option<String>,
    pub hint: Option<String>,
}

/// How many lines of what came back a reason quotes.
const REASON_LINES: usize = 3;

impl Reason {
    /// What the lab knows about `outcome`.
    pub fn of(outcome: &Outcome) -> Reason {
        let text = outcome.text().trim_end();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let saw = match outcome {
            // A command says what went wrong at the end of its output.
            Outcome::Ran { .. } if lines.is_empty() => Some("the command printed nothing".into()),
            Outcome::Ran { .. } => Some(format!(
                "the command printed: {}",
                lines[lines.len().saturating_sub(REASON_LINES)..].join("\n  ")
            )),
            _ if lines.is_empty() => None,
            _ => Some(format!(
                "the caller saw: {}",
                lines[..lines.len().min(REASON_LINES)].join("\n  ")
            )),
        };
        Reason {
            saw,
            logged: match outcome {
                Outcome::Refused(r) => r.logged.clone(),
                _ => None,
            },
            means: outcome.explanation().map(str::to_owned),
            hint: outcome.hint().map(str::to_owned),
        }
    }

    /// The reason in lines; without what the caller saw when the check already quotes it.
    pub fn text(&self, quotes_what_came: bool) -> Option<String> {
        let mut lines = Vec::new();
        if !quotes_what_came {
            lines.extend(self.saw.clone());
        }
        if let Some(l) = &self.logged {
            lines.push(format!("{} logged: {}", l.by, l.line));
        }
        if let Some(m) = &self.means {
            lines.push(format!("what it means: {m}"));
        }
        if let Some(h) = &self.hint {
            lines.push(format!("hint: {h}"));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

impl Outcome {
    /// Whether the visitor got what they asked for (a 2xx, exit 0, a certificate).
    pub fn allowed(&self) -> bool {
        match self {
            Outcome::Answered(_) => true,
            Outcome::Ran { exit, .. } => *exit == Some(0),
            Outcome::Refused(_) | Outcome::TimedOut { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Answered(a) => a.status,
            Outcome::Refused(r) => r.status,
            _ => None,
        }
    }

    /// The stage where it stopped; `request` when it went all the way. None for commands and
    /// time-outs, which pass no door.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Outcome::Answered(_) => Some(Stage::Request),
            Outcome::Refused(r) => Some(r.stage),
            _ => None,
        }
    }

    pub fn verdict(&self) -> Option<VerdictKind> {
        match self {
            Outcome::Refused(r) => r.verdict,
            _ => None,
        }
    }

    /// What the caller prints (kubectl's line, the Go error text, or a command's output).
    pub fn text(&self) -> &str {
        match self {
            Outcome::Answered(a) => &a.text,
            Outcome::Refused(r) => &r.text,
            Outcome::Ran { text, .. } | Outcome::TimedOut { text } => text,
        }
    }

    /// Further texts `contains` may match.
    pub fn also(&self) -> &[String] {
        match self {
            Outcome::Answered(a) => &a.also,
            Outcome::Refused(r) => &r.also,
            _ => &[],
        }
    }

    pub fn lifetime(&self) -> Option<Duration> {
        match self {
            Outcome::Answered(a) => a.lifetime,
            _ => None,
        }
    }

    /// A command's exit status.
    pub fn exit(&self) -> Option<i32> {
        match self {
            Outcome::Ran { exit, .. } => *exit,
            _ => None,
        }
    }

    pub fn explanation(&self) -> Option<&str> {
        match self {
            Outcome::Refused(r) => r.explanation.as_deref(),
            Outcome::Ran { explanation, .. } => explanation.as_deref(),
            _ => None,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Outcome::Refused(r) => r.hint.as_deref(),
            _ => None,
        }
    }

    /// The caller's text, replaced (several answers told as one).
    pub fn set_text(&mut self, new: String) {
        match self {
            Outcome::Answered(a) => a.text = new,
            Outcome::Refused(r) => r.text = new,
            Outcome::Ran { text, .. } | Outcome::TimedOut { text } => *text = new,
        }
    }
}

/// In JSON an outcome is one flat object, as readers of `--format json` have always had it.
impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            allowed: bool,
            status: Option<u16>,
            stage: Option<Stage>,
            verdict: Option<VerdictKind>,
            text: &'a str,
            also: &'a [String],
            lifetime: Option<Duration>,
            exit: Option<i32>,
            explanation: Option<&'a str>,
            hint: Option<&'a str>,
        }
        Flat {
            allowed: self.allowed(),
            status: self.status(),
            stage: self.stage(),
            verdict: self.verdict(),
            text: self.text(),
            also: self.also(),
            lifetime: self.lifetime(),
            exit: self.exit(),
            explanation: self.explanation(),
            hint: self.hint(),
        }
        .serialize(serializer)
    }
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
    #[serde(flatten)]
    pub state: CheckState,
    /// For a failed check, the reason the lab knows, one item a line: what the caller saw (when
    /// `actual` does not already quote it), the guard's log line, what it means, the hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Passed,
    Failed,
    /// Not checked (an outside tool is missing and this is not CI).
    Skipped,
}

/// In JSON a check carries `passed` and `skipped`, as readers of `--format json` have always had
/// them.
impl Serialize for CheckState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("passed", &(*self != CheckState::Failed))?;
        map.serialize_entry("skipped", &(*self == CheckState::Skipped))?;
        map.end()
    }
}

impl Check {
    /// Whether the check held (a skipped check did not fail, but was not checked either).
    pub fn passed(&self) -> bool {
        self.state == CheckState::Passed
    }

    pub fn failed(&self) -> bool {
        self.state == CheckState::Failed
    }

    pub fn skipped(&self) -> bool {
        self.state == CheckState::Skipped
    }

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
            state: if ok {
                CheckState::Passed
            } else {
                CheckState::Failed
            },
            why: None,
        }
    }

    /// A step that could not be carried out at all.
    pub fn failed_to_run(step: usize, line: u32, error: String) -> Check {
        Check::new(step, line, "runs", "the step runs".into(), error, false)
    }

    /// A step that was not carried out, and why.
    pub fn not_run(step: usize, line: u32, what: &str, why: String) -> Check {
        Check {
            state: CheckState::Skipped,
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
        match self.state {
            CheckState::Skipped => format!("{}: skipped ({})", self.what, self.actual),
            CheckState::Passed => format!("{} {}", self.what, self.expected),
            CheckState::Failed => format!(
                "{}: expected {}, got {}",
                self.what, self.expected, self.actual
            ),
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "nothing".to_owned(), |v| v.to_string())
}

/// Checks everything in `expect` that does not need the event stream; a failed check carries
/// the reason (see [`explain_failures`]).
pub fn check(step: usize, expect: &Expect, outcome: &Outcome) -> Vec<Check> {
    let mut out = checks(step, expect, outcome);
    explain_failures(&mut out, outcome);
    out
}

/// Gives every failed check the reason the lab knows for `outcome`.
pub fn explain_failures(checks: &mut [Check], outcome: &Outcome) {
    let reason = Reason::of(outcome);
    for c in checks.iter_mut().filter(|c| c.failed()) {
        // `text` and `contains` already show the caller's text as what came.
        c.why = reason.text(matches!(c.what.as_str(), "text" | "contains"));
    }
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
            word(outcome.allowed()).into(),
            allowed == outcome.allowed(),
        ));
    }
    if let Some(status) = expect.status {
        out.push(Check::new(
            step,
            line,
            "status",
            status.to_string(),
            opt(outcome.status()),
            outcome.status() == Some(status),
        ));
    }
    if let Some(stage) = expect.stage {
        out.push(Check::new(
            step,
            line,
            "stage",
            stage.to_string(),
            opt(outcome.stage()),
            outcome.stage() == Some(stage),
        ));
    }
    if let Some(verdict) = expect.verdict {
        out.push(Check::new(
            step,
            line,
            "verdict",
            verdict.to_string(),
            opt(outcome.verdict()),
            outcome.verdict() == Some(verdict),
        ));
    }
    if let Some(text) = &expect.text {
        out.push(Check::new(
            step,
            line,
            "text",
            format!("{text:?}"),
            format!("{:?}", outcome.text().trim_end()),
            outcome.text().trim_end() == text.trim_end(),
        ));
    }
    for needle in &expect.contains {
        let found = outcome.text().contains(needle.as_str())
            || outcome.also().iter().any(|t| t.contains(needle.as_str()));
        out.push(Check::new(
            step,
            line,
            "contains",
            format!("{needle:?}"),
            format!("{:?}", short(outcome.text())),
            found,
        ));
    }
    if let Some(lifetime) = expect.lifetime {
        let ok = outcome
            .lifetime()
            .is_some_and(|l| (l - lifetime).abs() <= Duration::minutes(10));
        out.push(Check::new(
            step,
            line,
            "lifetime",
            format_duration(lifetime),
            opt(outcome.lifetime().map(format_duration)),
            ok,
        ));
    }
    if let Some(exit) = expect.exit {
        out.push(Check::new(
            step,
            line,
            "exit",
            exit.to_string(),
            opt(outcome.exit()),
            outcome.exit() == Some(exit),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(text: &str) -> Expect {
        let file = format!("title: t\nsteps:\n  - request: {{get: pods}}\n    expect: {text}\n");
        let scenario = crate::parse_str(std::path::Path::new("t.yaml"), &file).unwrap();
        scenario.steps[0].expect.clone().unwrap()
    }

    #[test]
    fn a_failed_check_carries_what_the_caller_saw_what_the_guard_logged_and_what_it_means() {
        let mut refused = Refusal::at(
            Stage::Tls,
            "remote error: tls: unknown certificate authority",
        );
        refused.logged = Some(Logged {
            by: "etcd".into(),
            line: r#"{"msg":"rejected connection on client endpoint"}"#.into(),
        });
        refused.explanation = Some("etcd trusts only the etcd CA".into());
        refused.hint = Some("use apiserver-etcd-client".into());
        let checks = check(
            2,
            &expect("{status: 200, text: ok}"),
            &Outcome::Refused(refused),
        );
        assert_eq!(checks[0].describe(), "status: expected 200, got nothing");
        assert_eq!(
            checks[0].why.as_deref(),
            Some("the caller saw: remote error: tls: unknown certificate authority\netcd logged: {\"msg\":\"rejected connection on client endpoint\"}\nwhat it means: etcd trusts only the etcd CA\nhint: use apiserver-etcd-client")
        );
        // A text check shows the caller's text already: its reason does not repeat it.
        assert_eq!(
            checks[1].why.as_deref(),
            Some("etcd logged: {\"msg\":\"rejected connection on client endpoint\"}\nwhat it means: etcd trusts only the etcd CA\nhint: use apiserver-etcd-client")
        );
    }

    #[test]
    fn a_failed_command_is_explained_by_the_last_lines_it_printed() {
        let ran = Outcome::Ran {
            exit: Some(60),
            text: "* Trying 127.0.0.1\n\ncurl: (60) SSL certificate problem: certificate has expired\nMore details here: https://curl.se/docs/sslcerts.html\n\n".into(),
            explanation: None,
        };
        let checks = check(0, &expect("{exit: 0}"), &ran);
        assert_eq!(checks[0].describe(), "exit: expected 0, got 60");
        assert_eq!(
            checks[0].why.as_deref(),
            Some("the command printed: * Trying 127.0.0.1\n  curl: (60) SSL certificate problem: certificate has expired\n  More details here: https://curl.se/docs/sslcerts.html")
        );
        let passed = check(0, &expect("{exit: 60}"), &ran);
        assert_eq!(passed[0].why, None, "a check that held needs no reason");
    }
}
