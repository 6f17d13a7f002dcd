//! The presenter's pace: when the room sees what. A step's narration and action come first and
//! its outcome only after a pause (predict, then reveal); a run may start at a chapter, the
//! chapters before it played without narration so the office is in the state the story left it.
//!
//! How a pause is waited out (Enter, or a few seconds hands-free) is the caller's: the
//! presenter says only when, through [`Pause`].

use std::path::{Path, PathBuf};

use kubecorp_trust::Event;

use crate::expect::{Check, Outcome};
use crate::model::{Action, Scenario, Step};
use crate::narrate::Narrator;
use crate::run::{Observer, OfficeInfo};

/// A moment the presenter holds the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Before a step: its narration and action are next.
    Step,
    /// After a step's action was shown: what came of it is next.
    Reveal,
}

/// Why `--chapter` names no chapter of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChapterError {
    #[error("{file}: --chapter {wanted}: this story has no chapters (only a file with `chapters:`, such as scenarios/kubecorp-day.yaml, has)")]
    NoChapters { file: PathBuf, wanted: String },
    #[error("{file}: --chapter {wanted}: no such chapter; give its number or a word of its file or title:\n{list}")]
    Unknown {
        file: PathBuf,
        wanted: String,
        list: String,
    },
    #[error("{file}: --chapter {wanted}: more than one chapter matches; give its number:\n{list}")]
    Ambiguous {
        file: PathBuf,
        wanted: String,
        list: String,
    },
}

/// A chapter of a story: its file and the title that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chapter {
    /// 1-based, as `--chapter N` counts.
    pub number: usize,
    pub file: PathBuf,
    pub title: String,
}

/// The chapters of `scenario`, in order, with the titles their opening steps say.
pub fn chapters(scenario: &Scenario) -> Vec<Chapter> {
    scenario
        .chapters
        .iter()
        .enumerate()
        .map(|(i, file)| Chapter {
            number: i + 1,
            file: file.clone(),
            title: scenario
                .steps
                .iter()
                .find(|s| s.file.as_ref() == Some(file))
                .and_then(|s| s.say.as_deref())
                .and_then(|s| s.lines().next())
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

/// The chapter `wanted` names: its number (`3`), its file's name (`1100-etcd-vault`), or a word
/// of its file name or title that only it has (`vault`, `11:00`), in any case.
pub fn find_chapter(scenario: &Scenario, wanted: &str) -> Result<Chapter, ChapterError> {
    let all = chapters(scenario);
    let file = scenario.file.clone();
    if all.is_empty() {
        return Err(ChapterError::NoChapters {
            file,
            wanted: wanted.to_owned(),
        });
    }
    let list = |chapters: &[Chapter]| {
        chapters
            .iter()
            .map(|c| format!("  {}  {}  {}", c.number, stem(&c.file), c.title))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Ok(n) = wanted.trim().parse::<usize>() {
        return match all.iter().find(|c| c.number == n) {
            Some(c) => Ok(c.clone()),
            None => Err(ChapterError::Unknown {
                file,
                wanted: wanted.to_owned(),
                list: list(&all),
            }),
        };
    }
    let word = wanted.trim().to_lowercase();
    if let Some(c) = all.iter().find(|c| stem(&c.file).to_lowercase() == word) {
        return Ok(c.clone());
    }
    let matching: Vec<Chapter> = all
        .iter()
        .filter(|c| {
            !word.is_empty()
                && (stem(&c.file).to_lowercase().contains(&word)
                    || c.title.to_lowercase().contains(&word))
        })
        .cloned()
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ChapterError::Unknown {
            file,
            wanted: wanted.to_owned(),
            list: list(&all),
        }),
        many => Err(ChapterError::Ambiguous {
            file,
            wanted: wanted.to_owned(),
            list: list(many),
        }),
    }
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether a step's outcome is something a room can guess before it is shown: a call, a
/// command, a wait. Narration, faults, repairs and clock moves are the trainer's own doing and
/// are shown with their result at once.
fn worth_predicting(step: &Step) -> bool {
    matches!(
        step.action,
        Action::Request(_)
            | Action::Csr(_)
            | Action::Certificate { .. }
            | Action::Run(_)
            | Action::Wait(_)
    )
}

/// Where the story stands for the room.
#[derive(Debug)]
enum Telling {
    /// Before the chosen chapter: played, not narrated (a failed check is still shown).
    Silent { steps: usize, checks: usize },
    /// The step's action is shown; its outcome waits for [`Pause::Reveal`].
    Holding,
    /// Everything is told as it happens.
    Told,
}

/// The narrator at the presenter's pace: an [`Observer`] that holds back what the room should
/// predict, and keeps quiet until the chosen chapter.
pub struct Presenter<'a> {
    narrator: Narrator,
    /// Waits out a pause; `None` plays straight through.
    wait: Option<Box<dyn FnMut(Pause) + Send + 'a>>,
    /// The chapter to start at.
    from: Option<Chapter>,
    telling: Telling,
}

impl<'a> Presenter<'a> {
    pub fn new(narrator: Narrator) -> Presenter<'a> {
        Presenter {
            narrator,
            wait: None,
            from: None,
            telling: Telling::Told,
        }
    }

    /// Pauses before each step and before each outcome worth predicting; `wait` waits them out.
    pub fn pausing(mut self, wait: impl FnMut(Pause) + Send + 'a) -> Presenter<'a> {
        self.wait = Some(Box::new(wait));
        self
    }

    /// Tells the story from `chapter` on; the steps before it run without narration.
    pub fn from_chapter(mut self, chapter: Chapter) -> Presenter<'a> {
        self.from = Some(chapter);
        self.telling = Telling::Silent {
            steps: 0,
            checks: 0,
        };
        self
    }

    /// The narrator, for the closing summary.
    pub fn narrator(&mut self) -> &mut Narrator {
        &mut self.narrator
    }

    fn pause(&mut self, pause: Pause) {
        if let Some(wait) = &mut self.wait {
            wait(pause);
        }
    }

    /// Before anything of the step's outcome is told: the pause to predict it.
    fn reveal(&mut self) {
        if let Telling::Holding = self.telling {
            self.telling = Telling::Told;
            self.pause(Pause::Reveal);
        }
    }

    fn silent(&self) -> bool {
        matches!(self.telling, Telling::Silent { .. })
    }
}

impl Observer for Presenter<'_> {
    fn opened(&mut self, scenario: &Scenario, office: &OfficeInfo) {
        self.narrator.opened(scenario, office);
    }

    fn before_step(&mut self, step: &Step) {
        if let Telling::Silent { steps, checks } = self.telling {
            let starts = self
                .from
                .as_ref()
                .is_some_and(|c| step.file.as_ref() == Some(&c.file));
            if !starts {
                self.telling = Telling::Silent {
                    steps: steps + 1,
                    checks,
                };
                return;
            }
            self.telling = Telling::Told;
            let number = self.from.as_ref().map_or(1, |c| c.number);
            let before = match number {
                2 => "chapter 1".to_owned(),
                n => format!("chapters 1–{}", n - 1),
            };
            self.narrator.note(&format!(
                "({before} played without narration, so the office is as the story left it: \
                 {steps} steps, {checks} checks passed)"
            ));
        }
        self.pause(Pause::Step);
    }

    fn step(&mut self, step: &Step, headline: &str) {
        if self.silent() {
            return;
        }
        self.narrator.step(step, headline);
        if self.wait.is_some() && worth_predicting(step) {
            self.telling = Telling::Holding;
        }
    }

    fn event(&mut self, event: &Event, mine: bool) {
        if self.silent() {
            return;
        }
        self.reveal();
        self.narrator.event(event, mine);
    }

    fn output(&mut self, text: &str) {
        if self.silent() {
            return;
        }
        self.reveal();
        self.narrator.output(text);
    }

    fn outcome(&mut self, step: &Step, outcome: &Outcome) {
        if self.silent() {
            return;
        }
        self.reveal();
        self.narrator.outcome(step, outcome);
    }

    fn check(&mut self, check: &Check) {
        if let Telling::Silent { steps, checks } = self.telling {
            // A check that failed before the chapter is still the room's business.
            if check.failed() {
                self.narrator.check(check);
            }
            self.telling = Telling::Silent {
                steps,
                checks: checks + usize::from(check.passed()),
            };
            return;
        }
        self.reveal();
        self.narrator.check(check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const STORY: &str = "\
title: t
lab: {staff: none}
steps:
  - say: Alice opens the door.
  - say: Admin asks for pods.
    request: {as: admin.conf, get: pods}
";

    /// A presenter whose lines and pauses land in one list, in order.
    fn presenter(told: &Arc<Mutex<Vec<String>>>) -> Presenter<'static> {
        let lines = told.clone();
        let pauses = told.clone();
        Presenter::new(Narrator::new(false, move |l: &str| {
            lines.lock().unwrap().push(l.to_owned())
        }))
        .pausing(move |p| pauses.lock().unwrap().push(format!("<{p:?}>")))
    }

    fn answered() -> Outcome {
        Outcome::Answered(crate::expect::Answer {
            status: Some(200),
            text: "No resources found".into(),
            ..Default::default()
        })
    }

    #[test]
    fn a_call_shows_its_action_then_pauses_before_its_outcome_and_narration_does_not() {
        let scenario = crate::parse_str(Path::new("t.yaml"), STORY).unwrap();
        let told = Arc::new(Mutex::new(Vec::new()));
        let mut p = presenter(&told);
        let (say, call) = (&scenario.steps[0], &scenario.steps[1]);
        p.before_step(say);
        p.step(say, "Alice opens the door.");
        p.before_step(call);
        p.step(call, "admin asks: get pods");
        p.outcome(call, &answered());
        p.check(&Check::failed_to_run(1, 5, "x".into()));
        let told = told.lock().unwrap().join("\n");
        let order: Vec<&str> = told
            .lines()
            .filter(|l| l.starts_with('<') || l.contains('▸') || l.contains('→'))
            .collect();
        assert_eq!(
            order,
            [
                "<Step>",
                "<Step>",
                "  ▸ admin asks: get pods",
                "<Reveal>",
                "    → No resources found"
            ],
            "{told}"
        );
        assert_eq!(
            told.matches("<Reveal>").count(),
            1,
            "one reveal per step: {told}"
        );
    }

    #[test]
    fn without_pauses_nothing_is_held() {
        let scenario = crate::parse_str(Path::new("t.yaml"), STORY).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let mut p = Presenter::new(Narrator::new(false, move |l: &str| {
            sink.lock().unwrap().push(l.to_owned())
        }));
        let call = &scenario.steps[1];
        p.before_step(call);
        p.step(call, "admin asks: get pods");
        p.outcome(call, &answered());
        assert!(lines
            .lock()
            .unwrap()
            .contains(&"    → No resources found".to_owned()));
    }

    fn day() -> Scenario {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/kubecorp-day.yaml");
        crate::parse_file(&file).unwrap()
    }

    #[test]
    fn a_chapter_is_found_by_number_file_name_or_a_word_only_it_has() {
        let day = day();
        let by = |w: &str| find_chapter(&day, w).map(|c| c.number);
        assert_eq!(by("3"), Ok(3));
        assert_eq!(by("1100-etcd-vault"), Ok(3));
        assert_eq!(by("VAULT"), Ok(3));
        assert_eq!(by("11:00"), Ok(3));
        assert_eq!(
            find_chapter(&day, "3").unwrap().title,
            chapters(&day)[2].title
        );
        assert!(
            chapters(&day)[2].title.contains("vault"),
            "{:?}",
            chapters(&day)
        );
        let unknown = find_chapter(&day, "12").unwrap_err().to_string();
        assert!(
            unknown.contains("--chapter 12: no such chapter"),
            "{unknown}"
        );
        assert!(unknown.contains("  3  1100-etcd-vault  "), "{unknown}");
        let many = find_chapter(&day, "the").unwrap_err().to_string();
        assert!(many.contains("more than one chapter matches"), "{many}");
        let alone = crate::parse_str(Path::new("t.yaml"), STORY).unwrap();
        let none = find_chapter(&alone, "1").unwrap_err().to_string();
        assert!(
            none.contains("t.yaml: --chapter 1: this story has no chapters"),
            "{none}"
        );
    }

    #[test]
    fn the_steps_before_the_chapter_run_untold_and_the_room_learns_how_many() {
        let day = day();
        let from = find_chapter(&day, "2").unwrap();
        let told = Arc::new(Mutex::new(Vec::new()));
        let mut p = presenter(&told).from_chapter(from.clone());
        let mut before = 0;
        for step in &day.steps {
            p.before_step(step);
            p.step(step, "a headline");
            p.check(&Check::failed_to_run(
                step.index,
                step.line,
                "broken".into(),
            ));
            if step.file.as_ref() == Some(&from.file) {
                break;
            }
            before += 1;
        }
        let told = told.lock().unwrap().join("\n");
        assert!(
            told.contains(&format!(
                "(chapter 1 played without narration, so the office is as the story left it: \
                 {before} steps, 0 checks passed)"
            )),
            "{told}"
        );
        assert_eq!(told.matches("a headline").count(), 1, "{told}");
        assert_eq!(
            told.matches("CHECK FAILED").count(),
            before + 1,
            "failures are shown even untold: {told}"
        );
        assert_eq!(told.matches("<Step>").count(), 1, "{told}");
    }
}
