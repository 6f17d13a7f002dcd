//! A file's top level: title, description, lab, setup and steps, or the chapters a story plays in
//! order, or a challenge.

use std::path::{Path, PathBuf};

use super::{default_lab, parse_file, Cx, Node, ParseErrors, Problem, Raw};
use crate::model::*;

impl Cx {
    pub(super) fn scenario(&mut self, root: &Node) -> Option<Scenario> {
        if !matches!(root.value, Raw::Map(_)) {
            self.wrong_type(
                root,
                "",
                "a scenario (a mapping with title, steps, and optionally description and lab)",
            );
            return None;
        }
        let f = self.fields(
            root,
            "",
            &[
                "title",
                "description",
                "lab",
                "setup",
                "steps",
                "chapters",
                "challenge",
            ],
        )?;
        let title = self.req_string(&f, "title", "one line naming the story");
        let description = self.opt_string(&f, "description");
        let lab = match f.get("lab") {
            Some(node) => self.lab(node, "lab"),
            None => Some(default_lab()),
        };
        if let Some(lab) = &lab {
            self.nodes.clone_from(&lab.nodes);
        }
        if let Some(node) = f.get("challenge") {
            let challenge = self.challenge(node, &f, lab.as_ref());
            return Some(Scenario {
                file: self.file.clone(),
                title: title?,
                description,
                lab: lab?,
                steps: Vec::new(),
                chapters: Vec::new(),
                challenge: Some(challenge?),
            });
        }
        if let Some(chapters) = f.get("chapters") {
            for field in ["steps", "setup"] {
                if let Some(n) = f.get(field) {
                    self.error(
                        n,
                        field,
                        Problem::Other(format!(
                            "a file with chapters plays only its chapters: move the {field} into a chapter"
                        )),
                    );
                }
            }
            let (steps, files) = self.chapters(chapters)?;
            return Some(Scenario {
                file: self.file.clone(),
                title: title?,
                description,
                lab: lab?,
                steps,
                chapters: files,
                challenge: None,
            });
        }
        let mut steps = Vec::new();
        if let Some(setup) = f.get("setup") {
            let Raw::Seq(items) = &setup.value else {
                self.wrong_type(setup, "setup", "a list of steps");
                return None;
            };
            for (i, node) in items.iter().enumerate() {
                if let Some(mut step) = self.step(node, "setup", i, i) {
                    step.setup = true;
                    steps.push(step);
                }
            }
        }
        let steps_node = self.require(&f, "steps", "a list of steps, or chapters")?;
        let Raw::Seq(items) = &steps_node.value else {
            self.wrong_type(steps_node, "steps", "a list of steps");
            return None;
        };
        for (i, node) in items.iter().enumerate() {
            if let Some(step) = self.step(node, "steps", i, i) {
                steps.push(step);
            }
        }
        if items.is_empty() {
            self.error(
                steps_node,
                "steps",
                Problem::Other("a scenario needs at least one step".into()),
            );
        }
        Some(Scenario {
            file: self.file.clone(),
            title: title?,
            description,
            lab: lab?,
            steps,
            chapters: Vec::new(),
            challenge: None,
        })
    }

    /// `chapters: [day/0900-grand-entrance.yaml, …]`: each file, relative to this one, is read
    /// as a scenario of its own (its problems name its own file) and its steps, without its
    /// `setup:`, are played in order. Its title and description open it as narration.
    fn chapters(&mut self, node: &Node) -> Option<(Vec<Step>, Vec<PathBuf>)> {
        let Raw::Seq(items) = &node.value else {
            self.wrong_type(node, "chapters", "a list of scenario files");
            return None;
        };
        if items.is_empty() {
            self.error(
                node,
                "chapters",
                Problem::Other("a story with chapters needs at least one".into()),
            );
            return None;
        }
        let base = self
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut steps = Vec::new();
        let mut files = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("chapters[{i}]");
            let Some(name) = self.string(item, &path) else {
                continue;
            };
            let file = base.join(&name);
            if !file.is_file() {
                self.error(
                    item,
                    &path,
                    Problem::Other(format!(
                        "{}: no such chapter file (chapters are relative to this file)",
                        file.display()
                    )),
                );
                continue;
            }
            if files.contains(&file) || file == self.file {
                self.error(
                    item,
                    &path,
                    Problem::Other(format!("{name} is already a chapter of this story")),
                );
                continue;
            }
            let nested = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| serde_saphyr::from_str::<Node>(&text).ok())
                .is_some_and(|root| match &root.value {
                    Raw::Map(entries) => entries.iter().any(|(k, _)| k.value == "chapters"),
                    _ => false,
                });
            if nested {
                self.error(
                    item,
                    &path,
                    Problem::Other(format!(
                        "{name} has chapters of its own; a chapter holds steps"
                    )),
                );
                continue;
            }
            match parse_file(&file) {
                Ok(chapter) => {
                    let opening = [Some(chapter.title.clone()), chapter.description.clone()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("\n");
                    steps.push(Step {
                        index: 0,
                        line: 1,
                        file: Some(file.clone()),
                        setup: false,
                        at: None,
                        say: Some(opening),
                        action: match chapter.lab.clock {
                            Some(t) => Action::Clock(ClockMove::Chapter(t.time())),
                            None => Action::Say,
                        },
                        expect: None,
                    });
                    for mut step in chapter.steps.into_iter().filter(|s| !s.setup) {
                        step.file = Some(file.clone());
                        steps.push(step);
                    }
                }
                Err(ParseErrors(errors)) => self.chapter_errors.extend(errors),
            }
            files.push(file);
        }
        Some((steps, files))
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::parse_file;

    #[test]
    fn chapters_play_in_order_without_their_setup_and_keep_their_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "one.yaml",
            "title: One\nsetup:\n  - say: alone only\nsteps:\n  - say: first\n",
        );
        write("two.yaml", "title: Two\nsteps:\n  - say: second\n");
        write("day.yaml", "title: Day\nchapters: [one.yaml, two.yaml]\n");
        let day = parse_file(&dir.path().join("day.yaml")).unwrap();
        let said: Vec<_> = day.steps.iter().map(|s| s.say.clone().unwrap()).collect();
        assert_eq!(said, ["One", "first", "Two", "second"]);
        assert_eq!(day.steps[1].file, Some(dir.path().join("one.yaml")));
        assert_eq!(day.chapters.len(), 2);
        let alone = parse_file(&dir.path().join("one.yaml")).unwrap();
        assert_eq!(alone.steps.len(), 2);
        assert!(alone.steps[0].setup && !alone.steps[1].setup);
    }

    #[test]
    fn a_problem_in_a_chapter_names_the_chapter_and_a_missing_one_the_story() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "bad.yaml",
            "title: Bad\nsteps:\n  - request: {get: pods}\n    expect: {staus: 1}\n",
        );
        write("nested.yaml", "title: N\nchapters: [bad.yaml]\n");
        write(
            "day.yaml",
            "title: Day\nchapters: [bad.yaml, gone.yaml, nested.yaml]\nsteps: []\n",
        );
        let text = parse_file(&dir.path().join("day.yaml"))
            .unwrap_err()
            .to_string();
        let bad = dir.path().join("bad.yaml").display().to_string();
        let day = dir.path().join("day.yaml").display().to_string();
        assert!(
            text.contains(&format!(
                "{bad}:4:14: steps[0].expect: unknown field 'staus'"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("{day}:2:22: chapters[1]: ")),
            "{text}"
        );
        assert_eq!(text.matches("'staus'").count(), 1, "{text}");
        assert!(text.contains("no such chapter file"), "{text}");
        assert!(
            text.contains("nested.yaml has chapters of its own"),
            "{text}"
        );
        assert!(
            text.contains("a file with chapters plays only its chapters"),
            "{text}"
        );
    }
}
