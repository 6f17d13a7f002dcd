//! The narration for a room: each step's headline, the guards' words, what the caller saw with
//! its explanation, and every check as ✓ or ✗, in colour on a terminal.
//!
//! Background staff retry: the same refusal is told once per step, with a count of how often it
//! came back; a badge is shown with the first event of the step that carries it, not again.
//! Lines are fitted to a [`Width`] (wrapped at spaces, indented under the line they continue)
//! and go to whatever writer the caller gives (the binary's stdout).
//!
//! A guard's refusal is part of the story (`✗ authn …`, then `✓ refused at authn` when the file
//! expected it); a check of the scenario that failed says so in words: `✗ CHECK FAILED: …`.

use std::collections::{HashMap, HashSet};

use kubecorp_trust::Event;

use crate::expect::{Check, CheckState, Outcome, Refusal};
use crate::fit::{fit, wrap, Width};
use crate::junit::Entry;
use crate::model::{Action, Scenario, Step};
use crate::run::{Observer, OfficeInfo, ScenarioResult, Verdict};
use kubecorp_client::DISCOVERY_TRIES;

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

/// How a failed check is marked, apart from a guard's refusal (`✗ authn …`), which the story
/// may expect.
pub const CHECK_FAILED: &str = "✗ CHECK FAILED:";

/// Tells a run to a room.
pub struct Narrator {
    color: bool,
    width: Width,
    out: Lines,
    /// What callers see, as the step's own refusals told it through their events: the caller's
    /// outcome is not told again when its text is among them.
    told_refusal: Vec<String>,
    /// Refusals already told in this step, and how often each came back (background staff
    /// retry, and a room needs to hear it once).
    repeats: HashMap<String, usize>,
    /// Badges already shown in this step (its headline names the caller's, and the staff show
    /// theirs call after call): a room needs to read each once.
    badges: HashSet<String>,
    /// The step's headline, which may name the badge already.
    headline: String,
}

impl Narrator {
    pub fn new(color: bool, out: impl FnMut(&str) + Send + 'static) -> Narrator {
        Narrator {
            color,
            width: Width::Unlimited,
            out: Box::new(out),
            told_refusal: Vec::new(),
            repeats: HashMap::new(),
            badges: HashSet::new(),
            headline: String::new(),
        }
    }

    /// Fits every line to `width` (by default lines are printed as they are).
    pub fn width(mut self, width: Width) -> Narrator {
        self.width = width;
        self
    }

    fn line(&mut self, text: &str) {
        (self.out)(text);
    }

    /// `text` fitted to the width (continuations `hang` spaces deeper), each line in `code`'s
    /// colour.
    fn say(&mut self, code: Option<&str>, text: &str, hang: usize) {
        for l in fit(text, self.width, hang) {
            let l = match code {
                Some(code) => self.paint(code, &l),
                None => l,
            };
            self.line(&l);
        }
    }

    /// One line of `text` after `first`, continuations after `rest`, fitted to the width.
    fn say_after(&mut self, code: Option<&str>, first: &str, rest: &str, text: &str) {
        for l in wrap(text, first, rest, self.width) {
            let l = match code {
                Some(code) => self.paint(code, &l),
                None => l,
            };
            self.line(&l);
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        paint(self.color, code, text)
    }

    /// A remark of the presenter's, dimmed: `(chapters 1–2 played without narration …)`.
    pub fn note(&mut self, text: &str) {
        self.line("");
        self.say(Some("2"), &format!("  {text}"), 3);
    }

    /// The closing lines: how many checks passed, failed and were skipped, each failure, and
    /// each step that could not run.
    pub fn summary(&mut self, result: &ScenarioResult) {
        let failed = result.failures().count();
        let skipped = result.skips().count();
        let passed = result.checks.len() - failed - skipped;
        let text = format!(
            "{passed} checks passed, {failed} failed, {skipped} skipped ({} ms)",
            result.elapsed.as_millis()
        );
        self.line("");
        let colour = match result.verdict() {
            Verdict::Failed => "31;1",
            Verdict::Skipped => "33;1",
            Verdict::Passed => "32;1",
        };
        let text = self.paint(colour, &text);
        self.line(&text);
        for (red, why) in failures(result) {
            self.say_after(None, &format!("  {CHECK_FAILED} "), "      ", &red);
            for l in why.iter().flat_map(|w| w.lines()) {
                self.say_after(None, "      ", "        ", l);
            }
        }
        for c in result.skips() {
            let text = format!(
                "{}: step {}: {}",
                c.place(&result.file),
                c.step + 1,
                c.describe()
            );
            self.say_after(None, "  – ", "      ", &text);
        }
    }
}

impl Observer for Narrator {
    fn opened(&mut self, scenario: &Scenario, office: &OfficeInfo) {
        self.say(Some("1"), &scenario.title, 2);
        if let Some(d) = &scenario.description {
            self.say(None, &indent(d, "  "), 0);
        }
        let open = format!(
            "  (the office is open: apiserver {}, etcd {}, lab {})",
            office.apiserver,
            office.etcd,
            office.dir.display()
        );
        self.say(Some("2"), &open, 1);
    }

    fn step(&mut self, step: &Step, headline: &str) {
        self.told_refusal.clear();
        self.repeats.clear();
        self.badges.clear();
        headline.clone_into(&mut self.headline);
        self.line("");
        if let Some(at) = &step.at {
            let at = self.paint("1;36", &format!("── {at} ──"));
            self.line(&at);
        }
        match step.action {
            Action::Say => self.say(Some("36"), &indent(headline, "  "), 0),
            _ => {
                if let Some(say) = &step.say {
                    self.say(Some("36"), &indent(say, "  "), 0);
                }
                self.say_after(Some("1"), "  ▸ ", "    ", headline);
            }
        }
    }

    fn event(&mut self, event: &Event, mine: bool) {
        if !mine && event.allowed {
            return;
        }
        if !event.allowed {
            if let (true, Some(text)) = (mine, &event.client_text) {
                self.told_refusal.push(text.clone());
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
        let mut event = event.clone();
        if let Some(id) = &event.identity {
            let badge = id.to_string();
            if self.headline.contains(&badge) || !self.badges.insert(badge) {
                event.identity = None;
            }
        }
        let text = kubecorp_office::narrate::narrate(&event, self.color);
        let text = indent(&text, "    ");
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            // Under the hop, past the time: `    09:00:01  ✓ tls      admin → apiserver`.
            self.say(None, first, 10);
        }
        for l in lines {
            self.say(None, l, 2);
        }
    }

    fn output(&mut self, text: &str) {
        for l in text.trim_end().lines() {
            if !l.trim().is_empty() {
                self.say_after(Some("2"), "    │ ", "    │   ", l.trim_end());
            }
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
            // A wait (or a command) that ran out of time: what it last saw.
            Outcome::Answered(_) | Outcome::TimedOut { .. } => {
                for l in first.lines() {
                    self.say_after(None, "    → ", "        ", l);
                }
            }
            // The guard's event told what the caller sees: its explanation was told with it.
            Outcome::Refused(r) if self.told_refusal.contains(&r.text) => {}
            Outcome::Refused(refusal) => {
                for l in first.lines() {
                    self.say_after(None, "    → caller sees: ", "        ", l);
                }
                if let Some(e) = &refusal.explanation {
                    self.say(None, &format!("      what it means: {e}"), 2);
                }
                if let Some(h) = &refusal.hint {
                    self.say(None, &format!("      hint: {h}"), 2);
                }
            }
        }
        if let Outcome::Refused(Refusal {
            uncached: Some(u),
            text,
            ..
        }) = outcome
        {
            let note = format!(
                "on its first call to this server (no discovery cache yet) kubectl prints this {DISCOVERY_TRIES} times first:"
            );
            self.say_after(Some("2"), "    → ", "      ", &note);
            self.say_after(Some("2"), "        ", "          ", &u.logged);
            if &u.last != text {
                self.say_after(Some("2"), "      and ends with: ", "        ", &u.last);
            }
        }
    }

    fn check(&mut self, check: &Check) {
        // A failed check's reason was told just above, with the outcome; the summary repeats
        // it with the failure.
        let text = check.describe();
        match check.state {
            CheckState::Skipped => self.say_after(Some("33"), "    – ", "      ", &text),
            CheckState::Passed => {
                let mark = format!("    {} ", self.paint("32", "✓"));
                self.say_after(None, &mark, "      ", &text);
            }
            CheckState::Failed => {
                let mark = format!("    {CHECK_FAILED} ");
                self.say_after(Some("31;1"), &mark, "      ", &text);
            }
        }
    }
}

/// Each failed check of `result` (`FILE:LINE: step N: status: expected 200, got 403`) with the
/// reason the lab knows, told once for checks of the same step that share it.
pub fn failures(result: &ScenarioResult) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut told: Option<(usize, Option<&std::path::Path>, &str)> = None;
    for c in result.failures() {
        let red = format!(
            "{}: step {}: {}",
            c.place(&result.file),
            c.step + 1,
            c.describe()
        );
        let why = c.why.as_deref().filter(|why| {
            let this = (c.step, c.file.as_deref(), *why);
            let new = told != Some(this);
            told = Some(this);
            new
        });
        out.push((red, why.map(str::to_owned)));
    }
    out
}

/// The lines `kubecorp test` prints for one scenario: ✓, – (a step skipped) or ✗ with its title
/// and counts, then each failure or skipped step, or the parse error of a file that is not a
/// valid scenario.
pub fn suite_lines(entry: &Entry, color: bool) -> Vec<String> {
    match entry {
        Entry::Ran(r) if r.verdict() == Verdict::Passed => {
            vec![format!(
                "{} {}  {} ({} checks, {} ms)",
                paint(color, "32", "✓"),
                r.file.display(),
                r.title,
                r.checks.len(),
                r.elapsed.as_millis()
            )]
        }
        Entry::Ran(r) if r.verdict() == Verdict::Skipped => {
            let skipped = r.skips().count();
            let mut out = vec![format!(
                "{} {}  {} ({} checks passed, {skipped} skipped, {} ms)",
                paint(color, "33;1", "–"),
                r.file.display(),
                r.title,
                r.checks.len() - skipped,
                r.elapsed.as_millis()
            )];
            out.extend(r.skips().map(|c| {
                format!(
                    "    {}: step {}: {}",
                    c.place(&r.file),
                    c.step + 1,
                    c.describe()
                )
            }));
            out
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
            for (red, why) in failures(r) {
                out.push(format!("    {red}"));
                out.extend(why.map(|w| indent(&w, "      ")));
            }
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

    fn admin(path: &str) -> Event {
        Event::new(
            time::OffsetDateTime::UNIX_EPOCH,
            "kubernetes-admin",
            "apiserver",
            kubecorp_trust::Stage::Authz,
        )
        .allowed(true)
        .identity(Some(kubecorp_trust::Identity {
            cn: "kubernetes-admin".into(),
            orgs: vec!["kubeadm:cluster-admins".into()],
            issuer: "kubernetes".into(),
            serial: "1".into(),
            not_before: time::OffsetDateTime::UNIX_EPOCH,
            not_after: time::OffsetDateTime::UNIX_EPOCH,
            sans: Vec::new(),
            usages: Vec::new(),
        }))
        .detail(format!("GET {path} 200"))
    }

    #[test]
    fn each_badge_is_shown_once_per_step_and_not_at_all_when_the_headline_names_it() {
        let (mut n, lines) = narrator();
        let step = step();
        let badge = "[badge CN=kubernetes-admin, O=kubeadm:cluster-admins (issuer kubernetes)]";
        n.step(&step, "admin gets nodes");
        n.event(&admin("/api/v1/nodes"), true);
        n.event(&admin("/api/v1/nodes/a"), true);
        let told = lines.lock().unwrap().join("\n");
        assert_eq!(told.matches(badge).count(), 1, "{told}");
        assert!(told.contains("GET /api/v1/nodes/a 200"), "{told}");

        n.step(&step, "admin gets pods");
        n.event(&admin("/api/v1/pods"), true);
        let told = lines.lock().unwrap().join("\n");
        assert_eq!(
            told.matches(badge).count(),
            2,
            "a new step shows it again: {told}"
        );

        let shows = "admin shows the badge CN=kubernetes-admin, O=kubeadm:cluster-admins \
            (issuer kubernetes) to apiserver and asks: get pods";
        n.step(&step, shows);
        n.event(&admin("/api/v1/pods"), true);
        let told = lines.lock().unwrap().join("\n");
        assert_eq!(
            told.matches(badge).count(),
            2,
            "the headline named it: {told}"
        );
    }

    #[test]
    fn at_a_width_every_line_fits_and_continuations_are_indented_under_their_line() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let mut n = Narrator::new(false, move |l: &str| {
            sink.lock().unwrap().push(l.to_owned())
        })
        .width(Width::Columns(60));
        let step = step();
        n.step(&step, "scheduler asks");
        let mut r = crate::expect::Refusal::at(
            kubecorp_trust::Stage::Authn,
            "error: You must be logged in to the server (Unauthorized)",
        );
        r.explanation = Some(
            "the badge was signed by a CA the apiserver does not trust: its client-ca-file \
             holds only the cluster CA"
                .into(),
        );
        n.outcome(&step, &Outcome::Refused(r));
        n.check(&Check::failed_to_run(
            0,
            3,
            "no kubeconfig at /tmp/lab/scheduler.conf".into(),
        ));
        let lines = lines.lock().unwrap();
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:#?}");
        let at = lines
            .iter()
            .position(|l| l.starts_with("      what it means: the badge"))
            .expect("the explanation");
        assert!(lines[at + 1].starts_with("        "), "{lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("    ✗ CHECK FAILED: runs: expected")),
            "{lines:#?}"
        );
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
        let unauthorized = "error: You must be logged in to the server (Unauthorized)";
        let mut told_by_guard =
            crate::expect::Refusal::at(kubecorp_trust::Stage::Authn, unauthorized);
        told_by_guard.explanation = Some("the badge expired".into());
        n.outcome(&step, &Outcome::Refused(told_by_guard));
        let told = lines.lock().unwrap().join("\n");
        assert!(!told.contains("→ caller sees:"), "{told}");
        assert!(!told.contains("what it means: the badge expired"), "{told}");

        // The guard's own line (Alice: "the visitor gave up") is not what the caller saw (its TLS
        // stack refused Alice's badge): the caller's text and its explanation are told too.
        let (mut n, lines) = narrator();
        n.step(&step, "scheduler asks");
        let mut gave_up = refusal();
        gave_up.client_text = None;
        gave_up.explanation = Some("the visitor gave up".into());
        n.event(&gave_up, true);
        let mut r = crate::expect::Refusal::at(
            kubecorp_trust::Stage::Tls,
            "x509: certificate is valid for kubernetes, not localhost",
        );
        r.explanation = Some("a badge for another door".into());
        n.outcome(&step, &Outcome::Refused(r));
        let told = lines.lock().unwrap().join("\n");
        assert!(
            told.contains(
                "    → caller sees: x509: certificate is valid for kubernetes, not localhost"
            ),
            "{told}"
        );
        assert!(
            told.contains("      what it means: a badge for another door"),
            "{told}"
        );
    }

    #[test]
    fn a_kubectl_refusal_also_tells_what_kubectl_prints_with_no_discovery_cache() {
        let (mut n, lines) = narrator();
        let step = step();
        n.step(&step, "john asks");
        let mut r = crate::expect::Refusal::at(
            kubecorp_trust::Stage::Authn,
            "error: You must be logged in to the server (Unauthorized)",
        );
        r.uncached = Some(kubecorp_client::Uncached {
            logged: "E1203 09:00:00.000000       1 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: the server has asked for the client to provide credentials\"".into(),
            last: "error: You must be logged in to the server (the server has asked for the client to provide credentials)".into(),
        });
        n.outcome(&step, &Outcome::Refused(r));
        let told = lines.lock().unwrap().join("\n");
        assert!(
            told.contains("    → on its first call to this server (no discovery cache yet) kubectl prints this 5 times first:\n        E1203 09:00:00.000000       1 memcache.go:265]"),
            "{told}"
        );
        assert!(
            told.contains("      and ends with: error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
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
            kept: None,
            narration: String::new(),
        };
        for c in &result.checks {
            n.check(c);
        }
        n.summary(&result);
        let told = lines.lock().unwrap().join("\n");
        assert!(!told.contains('\x1b'), "{told}");
        assert!(
            told.contains("    ✗ CHECK FAILED: runs: expected the step runs, got no kubeconfig"),
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
            told.contains("  ✗ CHECK FAILED: t.yaml:3: step 1: runs: expected the step runs"),
            "{told}"
        );
        assert!(
            told.contains("  – t.yaml:5: step 2: run: skipped (kubectl is not installed)"),
            "{told}"
        );
    }

    #[test]
    fn a_scenario_with_a_skipped_step_is_not_marked_passed_in_the_suite() {
        let result = ScenarioResult {
            file: "t.yaml".into(),
            title: "t".into(),
            checks: vec![Check::not_run(
                1,
                5,
                "run",
                "kubectl is not installed".into(),
            )],
            hops: Vec::new(),
            elapsed: std::time::Duration::from_millis(7),
            kept: None,
            narration: String::new(),
        };
        assert_eq!(result.verdict(), Verdict::Skipped);
        assert!(!result.passed());
        assert_eq!(
            suite_lines(&Entry::Ran(result), false),
            vec![
                "– t.yaml  t (0 checks passed, 1 skipped, 7 ms)".to_owned(),
                "    t.yaml:5: step 2: run: skipped (kubectl is not installed)".to_owned(),
            ]
        );
    }
}
