//! Reading a file's `challenge:` section: the symptom, the steps that break the office, three
//! hints, the check, the solution, and the scripted repairs (right and wrong) the tests play.

use std::path::PathBuf;

use super::{line, Cx, Fields, Node, Problem, Raw};
use crate::challenge::{Challenge, Criterion, Guarded, Level, WrongFix};
use crate::model::{Action, LabSpec, Step, WaitFor};

const FIELDS: &[&str] = &[
    "level", "teaches", "minutes", "since", "symptom", "hints", "solution", "guard", "before",
    "setup", "break", "check", "solve", "wrong",
];

impl Cx {
    /// `challenge:`; `root` is the file's top level (a challenge has no `steps` of its own).
    pub(super) fn challenge(
        &mut self,
        node: &Node,
        root: &Fields,
        lab: Option<&LabSpec>,
    ) -> Option<Challenge> {
        for field in ["steps", "setup", "chapters"] {
            if let Some(n) = root.get(field) {
                self.error(
                    n,
                    field,
                    Problem::Other(format!(
                        "a challenge keeps its steps inside challenge: (setup, break, check, solve): move {field} there"
                    )),
                );
            }
        }
        let f = self.fields(node, "challenge", FIELDS)?;
        if let Some(lab) = lab {
            if lab.clock.is_some() || lab.pki.is_some() {
                self.error(
                    node,
                    "lab",
                    Problem::Other(
                        "a challenge runs on a fresh lab at the machine's own time, the time the learner's tools use: remove lab.clock and lab.pki (challenge.since sets the lab up in the past)".into(),
                    ),
                );
            }
        }
        let level = self
            .require(&f, "level", "1, 2 or 3")
            .and_then(|n| self.level(n, &f.child("level")));
        let teaches = self.req_string(&f, "teaches", "what the learner finds out, in one line");
        let minutes = self
            .require(&f, "minutes", "how long it takes, e.g. 15")
            .and_then(|n| {
                let m = self.integer(n, &f.child("minutes"))?;
                match u32::try_from(m).ok().filter(|m| (1..=600).contains(m)) {
                    Some(m) => Some(m),
                    None => {
                        self.error(
                            n,
                            &f.child("minutes"),
                            Problem::Value {
                                given: m.to_string(),
                                expected: "minutes between 1 and 600".into(),
                                suggestion: None,
                            },
                        );
                        None
                    }
                }
            });
        let since = match f.get("since") {
            Some(n) => Some(self.duration(n, &f.child("since"))?),
            None => None,
        };
        let symptom = self.req_string(&f, "symptom", "what a colleague reports, never the cause");
        let hints = self
            .require(&f, "hints", "three hints, each more specific")
            .and_then(|n| {
                let hints = self.strings(n, &f.child("hints"))?;
                if hints.len() != 3 {
                    self.error(
                        n,
                        &f.child("hints"),
                        Problem::Other(format!(
                            "a challenge has three hints (where to look, which check, which command); this one has {}",
                            hints.len()
                        )),
                    );
                    return None;
                }
                Some(hints)
            });
        let solution = self.req_string(
            &f,
            "solution",
            "the cause and the commands that fix it on a kubeadm cluster",
        );
        let guard = match f.get("guard") {
            Some(n) => self.guard(n, &f.child("guard")),
            None => Some(Vec::new()),
        };
        let before = self.step_list(&f, "before", false);
        if let (Some(steps), Some(node)) = (&before, f.get("before")) {
            let files_only = steps.iter().all(|s| {
                matches!(
                    s.action,
                    Action::Say
                        | Action::Run(_)
                        | Action::Break { .. }
                        | Action::Renew { .. }
                        | Action::RotateCa(_)
                )
            });
            if !files_only {
                self.error(
                    node,
                    &f.child("before"),
                    Problem::Other(
                        "before the office opens there is nobody to call: only run, break, renew and rotate_ca steps".into(),
                    ),
                );
            }
        }
        let setup = self.step_list(&f, "setup", false);
        let breaks = self.step_list(&f, "break", false);
        let solve = self.step_list(&f, "solve", false);
        let check = match self.require(&f, "check", "the steps that show the symptom is gone") {
            Some(_) => self.step_list(&f, "check", true),
            None => None,
        };
        let wrong = match f.get("wrong") {
            Some(n) => self.wrong_fixes(n, &f.child("wrong")),
            None => Some(Vec::new()),
        };
        let name = self
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Some(Challenge {
            name,
            level: level?,
            teaches: teaches?,
            minutes: minutes?,
            since,
            symptom: symptom?,
            hints: hints?,
            solution: solution?,
            guard: guard?,
            before: before?,
            setup: setup?,
            breaks: breaks?,
            check: check?,
            solve: solve?,
            wrong: wrong?,
        })
    }

    fn level(&mut self, node: &Node, path: &str) -> Option<Level> {
        let n = self.integer(node, path)?;
        let level = u8::try_from(n).ok().and_then(Level::new);
        if level.is_none() {
            self.error(
                node,
                path,
                Problem::Value {
                    given: n.to_string(),
                    expected: "a level: 1, 2 or 3".into(),
                    suggestion: None,
                },
            );
        }
        level
    }

    /// Badges whose identity the repair must keep: kubeadm names, or files in the lab.
    fn guard(&mut self, node: &Node, path: &str) -> Option<Vec<Guarded>> {
        let names = self.strings(node, path)?;
        let Raw::Seq(items) = &node.value else {
            let name = names.into_iter().next()?;
            return Some(vec![self.guarded(node, path, name)?]);
        };
        let mut out = Vec::new();
        for (i, (name, item)) in names.into_iter().zip(items).enumerate() {
            out.push(self.guarded(item, &format!("{path}[{i}]"), name)?);
        }
        Some(out)
    }

    fn guarded(&mut self, node: &Node, path: &str, name: String) -> Option<Guarded> {
        if let Some(p) = kubecorp_pki::profile::profile(&name) {
            let file = match p.storage {
                kubecorp_pki::profile::Storage::Pki(stem) => {
                    PathBuf::from("pki").join(format!("{stem}.crt"))
                }
                kubecorp_pki::profile::Storage::Kubeconfig(file) => PathBuf::from(file),
            };
            return Some(Guarded { name, file });
        }
        let inside = !name.starts_with('/') && !name.split('/').any(|part| part == "..");
        let kind = name.ends_with(".conf") || name.ends_with(".crt");
        if inside && kind {
            return Some(Guarded {
                file: PathBuf::from(&name),
                name,
            });
        }
        let names: Vec<&str> = kubecorp_pki::profile::PROFILES
            .iter()
            .map(|p| p.name)
            .collect();
        self.error(
            node,
            path,
            Problem::Value {
                suggestion: super::closest(&name, names.iter().copied()),
                given: name,
                expected: format!(
                    "a badge: a kubeadm name ({}) or a .conf or .crt file inside the lab (users/john.conf)",
                    names.join(", ")
                ),
            },
        );
        None
    }

    /// `challenge.LIST`: steps, with what a challenge cannot do refused. `check` steps run from
    /// outside the office, so they cannot wait for an event on its stream.
    fn step_list(&mut self, f: &Fields, list: &str, check: bool) -> Option<Vec<Step>> {
        let Some(node) = f.get(list) else {
            return Some(Vec::new());
        };
        let path = f.child(list);
        self.steps_at(node, &path, check)
    }

    fn steps_at(&mut self, node: &Node, path: &str, check: bool) -> Option<Vec<Step>> {
        let Raw::Seq(items) = &node.value else {
            self.wrong_type(node, path, "a list of steps");
            return None;
        };
        let mut steps = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let Some(step) = self.step(item, path, i, i) else {
                ok = false;
                continue;
            };
            let refused = match &step.action {
                Action::Clock(_) => Some(
                    "a challenge runs on the machine's own time, which the learner's tools read: it cannot move the lab clock (challenge.since sets the lab up in the past)",
                ),
                Action::Undo { .. } => {
                    Some("a challenge keeps no backup to undo: repair it as the learner would")
                }
                Action::Wait(w) if check && matches!(w.condition, WaitFor::Event { .. }) => Some(
                    "the check calls the office from outside and cannot see its event stream: wait for what the API shows instead",
                ),
                _ => None,
            };
            if let Some(why) = refused {
                self.error(item, &format!("{path}[{i}]"), Problem::Other(why.into()));
                ok = false;
            }
            steps.push(step);
        }
        ok.then_some(steps)
    }

    fn wrong_fixes(&mut self, node: &Node, path: &str) -> Option<Vec<WrongFix>> {
        let Raw::Seq(items) = &node.value else {
            self.wrong_type(node, path, "a list of tempting wrong repairs");
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let here = format!("{path}[{i}]");
            let Some(f) = self.fields(item, &here, &["title", "fails", "steps"]) else {
                continue;
            };
            let title = self.req_string(&f, "title", "the repair, in a few words");
            let fails = self
                .require(&f, "fails", "the criterion of the check it must fail")
                .and_then(|n| {
                    let names: Vec<&str> = Criterion::ALL.iter().map(|c| c.name()).collect();
                    let name = self.choice(n, &f.child("fails"), &names, "a criterion")?;
                    Criterion::ALL.iter().copied().find(|c| c.name() == name)
                });
            let steps = self
                .require(&f, "steps", "the commands of the wrong repair")
                .and_then(|n| self.steps_at(n, &f.child("steps"), false));
            if let (Some(title), Some(fails), Some(steps)) = (title, fails, steps) {
                out.push(WrongFix {
                    line: line(item),
                    title,
                    fails,
                    steps,
                });
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn errors(text: &str) -> String {
        match crate::parse_str(Path::new("challenges/x.yaml"), text) {
            Ok(_) => panic!("expected problems in:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const GOOD: &str = "title: t
challenge:
  level: 2
  teaches: something
  minutes: 5
  symptom: it hurts
  hints: [a, b, c]
  solution: do this
  guard: [scheduler.conf, users/john.conf]
  break:
    - break: {fault: expire, target: scheduler.conf}
  check:
    - request: {get: pods}
";

    #[test]
    fn a_challenge_file_parses_into_its_parts_with_the_file_stem_as_name() {
        let s = crate::parse_str(Path::new("challenges/bob-expired.yaml"), GOOD).unwrap();
        let c = s.challenge.unwrap();
        assert_eq!(c.name, "bob-expired");
        assert_eq!(c.level.get(), 2);
        assert_eq!(c.hints, ["a", "b", "c"]);
        assert_eq!(c.guard[1].file, Path::new("users/john.conf"));
        assert_eq!(c.guard[0].file, Path::new("scheduler.conf"));
        assert_eq!((c.breaks.len(), c.check.len()), (1, 1));
        assert!(s.steps.is_empty());
    }

    #[test]
    fn a_typo_in_the_challenge_section_names_file_line_field_and_the_right_name() {
        let text = GOOD.replace("  symptom: it hurts", "  symtom: it hurts");
        let e = errors(&text);
        assert!(
            e.contains("challenges/x.yaml:6:3: challenge: unknown field 'symtom'")
                && e.contains("did you mean 'symptom'?"),
            "{e}"
        );
        assert!(e.contains("missing field 'symptom'"), "{e}");
    }

    #[test]
    fn two_hints_a_level_four_a_clock_step_and_an_unknown_criterion_are_each_explained() {
        let text = GOOD
            .replace("hints: [a, b, c]", "hints: [a, b]")
            .replace("level: 2", "level: 4")
            .replace(
                "  check:",
                "  wrong:\n    - {title: x, fails: masters, steps: [{say: s}]}\n  solve:\n    - clock: {advance: 1d}\n  check:",
            );
        let e = errors(&text);
        assert!(
            e.contains("x.yaml:3:10: challenge.level: '4' is not a level: 1, 2 or 3"),
            "{e}"
        );
        assert!(
            e.contains("challenge.hints: a challenge has three hints"),
            "{e}"
        );
        assert!(
            e.contains("challenge.wrong[0].fails: 'masters' is not a criterion"),
            "{e}"
        );
        assert!(
            e.contains("challenge.solve[0]: a challenge runs on the machine's own time"),
            "{e}"
        );
    }

    #[test]
    fn a_challenge_with_a_lab_clock_or_steps_of_its_own_is_refused() {
        let text = format!("lab: {{clock: 2026-04-24T09:00:00Z}}\nsteps: [{{say: hi}}]\n{GOOD}");
        let e = errors(&text);
        assert!(e.contains("remove lab.clock and lab.pki"), "{e}");
        assert!(
            e.contains("x.yaml:2:8: steps: a challenge keeps its steps inside challenge:"),
            "{e}"
        );
    }

    #[test]
    fn the_check_cannot_wait_for_an_event_it_cannot_see_and_guard_names_a_badge() {
        let text = GOOD
            .replace(
                "    - request: {get: pods}",
                "    - wait: {for: event, from: kube-proxy}",
            )
            .replace("users/john.conf", "../john.conf");
        let e = errors(&text);
        assert!(
            e.contains("challenge.check[0]: the check calls the office from outside"),
            "{e}"
        );
        assert!(
            e.contains("challenge.guard[1]: '../john.conf' is not a badge"),
            "{e}"
        );
    }
}
