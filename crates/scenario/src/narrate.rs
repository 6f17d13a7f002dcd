//! The narration for a room: each step's headline, the guards' words, what the caller saw with
//! its explanation, and every check as ✓ or ✗, in colour on a terminal.
//!
//! Background staff retry: the same refusal is told once per step, with a count of how often it
//! came back. Lines go to whatever writer the caller gives (the binary's stdout).

use std::collections::HashMap;

use kubecorp_trust::Event;

use crate::expect::{Check, CheckState, Outcome};
use crate::junit::Entry;
use crate::model::{Action, Scenario, Step};
use crate::run::{Observer, OfficeInfo, ScenarioResult};

/// Where narrated lines go, one at a time.
pub type Lines = Box<dyn FnMut(&str) + Send>;

/// `text` in an ANSI colour (`"31;1"` bold red), or as it is without colour.
pub fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Every line of `text` with `by` in front.
pub fn indent(text: &str, by: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tells a run to a room.
pub struct Narrator {
    color: bool,
    out: Lines,
    /// Whether a refusal of this step was already told through its event.
    told_refusal: bool,
    /// Refusals already told in this step, and how often each came back (background staff
    /// retry, and a room needs to hear it once).
    repeats: HashMap<String, usize>,
}

impl Narrator {
    pub fn new(color: bool, out: impl FnMut(&str) + Send + 'static) -> Narrator {
        Narrator {
            color,
            out: Box::new(out),
            told_refusal: false,
            repeats: HashMap::new(),
        }
    }

    fn line(&mut self, text: &str) {
        (self.out)(text);
    }

    fn paint(&self, code: &str, text: &str) -> String {
        paint(self.color, code, text)
    }

    /// The closing lines: how many checks passed, failed and were skipped, and each failure.
    pub fn summary(&mut self, result: &ScenarioResult) {
        let failed = result.failures().count();
        let skipped = result.checks.iter().filter(|c| c.skipped()).count();
        let passed = result.checks.len() - failed - skipped;
        let text = format!(
            "{passed} checks passed, {failed} failed{} ({} ms)",
            if skipped > 0 {
                format!(", {skipped} skipped")
            } else {
                String::new()
            },
            result.elapsed.as_millis()
        );
        self.line("");
        if failed > 0 {
            let text = self.paint("31;1", &text);
            self.line(&text);
            for c in result.failures() {
                self.line(&format!(
                    "  ✗ {}: step {}: {}",
                    c.place(&result.file),
                    c.step + 1,
                    c.describe()
                ));
            }
        } else {
            let text = self.paint("32;1", &text);
            self.line(&text);
        }
    }
}

impl Observer for Narrator {
    fn opened(&mut self, scenario: &Scenario, office: &OfficeInfo) {
        let title = self.paint("1", &scenario.title);
        self.line(&title);
        if let Some(d) = &scenario.description {
            self.line(&indent(d, "  "));
        }
        let open = self.paint(
            "2",
            &format!(
                "  (the office is open: apiserver {}, etcd {}, lab {})",
                office.apiserver,
                office.etcd,
                office.dir.display()
            ),
        );
        self.line(&open);
    }

    fn step(&mut self, step: &Step, headline: &str) {
        self.told_refusal = false;
        self.repeats.clear();
        self.line("");
        if let Some(at) = &step.at {
            let at = self.paint("1;36", &format!("── {at} ──"));
            self.line(&at);
        }
        match step.action {
            Action::Say => {
                let text = self.paint("36", &indent(headline, "  "));
                self.line(&text);
            }
            _ => {
                if let Some(say) = &step.say {
                    let say = self.paint("36", &indent(say, "  "));
                    self.line(&say);
                }
                let headline = format!("  ▸ {}", self.paint("1", headline));
                self.line(&headline);
            }
        }
    }

    fn event(&mut self, event: &Event, mine: bool) {
        if !mine && event.allowed {
            return;
        }
        if !event.allowed {
            if mine {
                self.told_refusal = true;
            }
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
        self.line(&indent(&text, "    "));
    }

    fn output(&mut self, text: &str) {
        if !text.trim().is_empty() {
            let text = self.paint("2", &indent(text, "    │ "));
            self.line(&text);
        }
    }

    fn outcome(&mut self, _step: &Step, outcome: &Outcome) {
        let again: usize = self.repeats.values().map(|n| n - 1).sum();
        if again > 0 {
            let text = self.paint(
                "2",
                &format!("    (the same refusals came back {again} more times: the staff retry)"),
            );
            self.line(&text);
        }
        let first: String = outcome
            .text()
            .lines()
            .take(4)
            .collect::<Vec<_>>()
            .join("\n");
        match outcome {
            // A command's output was shown as it is.
            Outcome::Ran { .. } => {}
            Outcome::Answered(_) => {
                if !first.is_empty() {
                    self.line(&indent(&first, "    → "));
                }
            }
            // A wait (or a command) that ran out of time: what it last saw.
            Outcome::TimedOut { .. } => self.line(&indent(&first, "    → ")),
            Outcome::Refused(refusal) if !self.told_refusal => {
                self.line(&indent(&first, "    → caller sees: "));
                if let Some(e) = &refusal.explanation {
                    self.line(&format!("      what it means: {e}"));
                }
                if let Some(h) = &refusal.hint {
                    self.line(&format!("      hint: {h}"));
                }
            }
            Outcome::Refused(_) => {}
        }
    }

    fn check(&mut self, check: &Check) {
        let text = match check.state {
            CheckState::Skipped => self.paint("33", &format!("– {}", check.describe())),
            CheckState::Passed => format!("{} {}", self.paint("32", "✓"), check.describe()),
            CheckState::Failed => self.paint("31;1", &format!("✗ {}", check.describe())),
        };
        self.line(&format!("    {text}"));
    }
}

/// The lines `kubecorp test` prints for one scenario: ✓ or ✗ with its title and counts, then
/// each failure, or the parse error of a file that is not a valid scenario.
pub fn suite_lines(entry: &Entry, color: bool) -> Vec<String> {
    match entry {
        Entry::Ran(r) if r.passed() => {
            let skipped = r.checks.iter().filter(|c| c.skipped()).count();
            vec![format!(
                "{} {}  {} ({} checks{}, {} ms)",
                paint(color, "32", "✓"),
                r.file.display(),
                r.title,
                r.checks.len() - skipped,
                if skipped > 0 {
                    format!(", {skipped} skipped")
                } else {
                    String::new()
                },
                r.elapsed.as_millis()
            )]
        }
        Entry::Ran(r) => {
            let mut out = vec![format!(
                "{} {}  {} ({} of {} checks failed, {} ms)",
                paint(color, "31;1", "✗"),
                r.file.display(),
                r.title,
                r.failures().count(),
                r.checks.len(),
                r.elapsed.as_millis()
            )];
            out.extend(r.failures().map(|c| {
                format!(
                    "    {}: step {}: {}",
                    c.place(&r.file),
                    c.step + 1,
                    c.describe()
                )
            }));
            out
        }
        Entry::Invalid { file, error } => vec![
            format!(
                "{} {}  not a valid scenario",
                paint(color, "31;1", "✗"),
                file.display()
            ),
            indent(error, "    "),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn narrator() -> (Narrator, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let n = Narrator::new(false, move |l: &str| {
            sink.lock().unwrap().push(l.to_owned())
        });
        (n, lines)
    }

    fn step() -> Step {
        let scenario = crate::parse_str(
            std::path::Path::new("t.yaml"),
            "title: t\nlab: {staff: none}\nsteps:\n  - request: {as: scheduler.conf, get: pods}\n",
        )
        .unwrap();
        scenario.steps[0].clone()
    }

    fn refusal() -> Event {
        let mut e = Event::new(
            time::OffsetDateTime::UNIX_EPOCH,
            "system:kube-scheduler",
            "apiserver",
            kubecorp_trust::Stage::Authn,
        );
        e.allowed = false;
        e.client_text = Some("error: You must be logged in to the server (Unauthorized)".into());
        e
    }

    #[test]
    fn a_refusal_the_staff_repeat_is_told_once_with_how_often_it_came_back() {
        let (mut n, lines) = narrator();
        let step = step();
        n.step(&step, "scheduler asks");
        for _ in 0..3 {
            n.event(&refusal(), false);
        }
        n.outcome(
            &step,
            &Outcome::Answered(crate::expect::Answer {
                status: Some(200),
                text: "web".into(),
                ..Default::default()
            }),
        );
        let lines = lines.lock().unwrap().join("\n");
        assert_eq!(lines.matches("Unauthorized").count(), 1, "{lines}");
        assert!(
            lines.contains("(the same refusals came back 2 more times: the staff retry)"),
            "{lines}"
        );
        assert!(lines.contains("    → web"), "{lines}");
    }

    #[test]
    fn a_refusal_already_told_by_the_guard_is_not_told_again_by_the_caller() {
        let (mut n, lines) = narrator();
        let step = step();
        n.step(&step, "scheduler asks");
        n.event(&refusal(), true);
        let mut r = crate::expect::Refusal::at(kubecorp_trust::Stage::Authn, "caller text");
        r.explanation = Some("the badge expired".into());
        n.outcome(&step, &Outcome::Refused(r.clone()));
        let told = lines.lock().unwrap().join("\n");
        assert!(!told.contains("→ caller sees: caller text"), "{told}");
        assert!(!told.contains("what it means: the badge expired"), "{told}");

        let (mut n, lines) = narrator();
        n.step(&step, "scheduler asks");
        n.outcome(&step, &Outcome::Refused(r));
        let told = lines.lock().unwrap().join("\n");
        assert!(told.contains("    → caller sees: caller text"), "{told}");
        assert!(
            told.contains("      what it means: the badge expired"),
            "{told}"
        );
    }

    #[test]
    fn without_colour_the_narration_has_no_escape_codes_and_the_summary_counts_each_state() {
        let (mut n, lines) = narrator();
        let result = ScenarioResult {
            file: "t.yaml".into(),
            title: "t".into(),
            checks: vec![
                Check::failed_to_run(0, 3, "no kubeconfig".into()),
                Check::not_run(1, 5, "run", "kubectl is not installed".into()),
            ],
            hops: Vec::new(),
            elapsed: std::time::Duration::from_millis(7),
        };
        for c in &result.checks {
            n.check(c);
        }
        n.summary(&result);
        let told = lines.lock().unwrap().join("\n");
        assert!(!told.contains('\x1b'), "{told}");
        assert!(
            told.contains("    ✗ runs: expected the step runs, got no kubeconfig"),
            "{told}"
        );
        assert!(
            told.contains("    – run: skipped (kubectl is not installed)"),
            "{told}"
        );
        assert!(
            told.contains("0 checks passed, 1 failed, 1 skipped (7 ms)"),
            "{told}"
        );
        assert!(
            told.contains("  ✗ t.yaml:3: step 1: runs: expected the step runs"),
            "{told}"
        );
    }
}
