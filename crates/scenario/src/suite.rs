//! `kubecorp test`: many scenario files found (in a directory, a YAML file is a scenario when it
//! has a top-level `steps:`, `chapters:` or `challenge:`), parsed, de-duplicated (a chapter
//! played inside its story is not played again alone) and run in parallel, one private office
//! each.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::junit::Entry;
use crate::narrate::Narrator;
use crate::parse::ParseErrors;
use crate::run::RunOptions;
use crate::Scenario;

/// Why a suite could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{}: no such file or directory", path.display())]
    Missing { path: PathBuf },
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The files `kubecorp test` was given or found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Files named on the command line, and scenario files found in directories; sorted.
    pub files: Vec<PathBuf>,
    /// YAML files found in directories that are not scenarios (a Kubernetes manifest next to
    /// them): not played, not counted.
    pub not_scenarios: Vec<PathBuf>,
}

impl Found {
    /// One line per file that is not played because it is not a scenario.
    pub fn notes(&self) -> Vec<String> {
        self.not_scenarios
            .iter()
            .map(|f| {
                format!(
                    "· {} is not a scenario (no top-level steps:, chapters: or challenge:): not played",
                    f.display()
                )
            })
            .collect()
    }
}

/// The top-level keys one of which makes a YAML file a scenario (the parser requires one).
pub const SCENARIO_KEYS: [&str; 3] = ["steps", "chapters", "challenge"];

/// Whether `text` has a top-level `steps:`, `chapters:` or `challenge:` key. Read line by line,
/// so a scenario that is not valid YAML is still one (and gets its parse errors).
pub fn is_scenario(text: &str) -> bool {
    text.lines().any(|line| {
        let Some((key, _)) = line.split_once(':') else {
            return false;
        };
        let top = !line.starts_with(|c: char| c.is_whitespace() || c == '#' || c == '-');
        top && SCENARIO_KEYS.contains(&key.trim().trim_matches(['"', '\''].as_slice()))
    })
}

/// Every `*.yaml` (and `*.yml`) file named in `paths`, and every scenario file under the
/// directories among them (recursively); sorted, without repeats.
pub fn collect(paths: &[PathBuf]) -> Result<Found, SuiteError> {
    fn walk(dir: &Path, out: &mut Found) -> Result<(), SuiteError> {
        let read = |source| SuiteError::Read {
            path: dir.to_owned(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(read)? {
            let path = entry.map_err(read)?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                // A file that cannot be read is kept: its parse error says why.
                match std::fs::read_to_string(&path) {
                    Ok(text) if !is_scenario(&text) => out.not_scenarios.push(path),
                    _ => out.files.push(path),
                }
            }
        }
        Ok(())
    }
    let mut out = Found::default();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.files.push(p.clone());
        } else {
            return Err(SuiteError::Missing { path: p.clone() });
        }
    }
    for list in [&mut out.files, &mut out.not_scenarios] {
        list.sort();
        list.dedup();
    }
    Ok(out)
}

/// One file to play, parsed (or why it is not a valid scenario).
pub type Play = (PathBuf, Result<Scenario, ParseErrors>);

/// The files to play, parsed, and one note per story whose chapters are among them: a file that
/// is a chapter of another scenario in the same run is played inside that story, not again on
/// its own.
pub fn plays(files: Vec<PathBuf>) -> (Vec<Play>, Vec<String>) {
    let key = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let parsed: Vec<Play> = files
        .into_iter()
        .map(|f| {
            let s = crate::parse_file(&f);
            (f, s)
        })
        .collect();
    let mut inside = HashSet::new();
    let mut notes = Vec::new();
    for (file, s) in &parsed {
        if let Ok(s) = s {
            let here: Vec<_> = s
                .chapters
                .iter()
                .filter(|c| parsed.iter().any(|(f, _)| key(f) == key(c)))
                .collect();
            if !here.is_empty() {
                notes.push(format!(
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
    let plays = parsed
        .into_iter()
        .filter(|(f, _)| !inside.contains(&key(f)))
        .collect();
    (plays, notes)
}

/// Runs `plays`, at most `jobs` at once; `done` hears about each in file order, as soon as it
/// and those before it are done.
pub async fn run_all(
    plays: Vec<Play>,
    opts: &RunOptions,
    jobs: usize,
    mut done: impl FnMut(&Entry),
) -> Vec<Entry> {
    let limit = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut tasks = Vec::new();
    for (file, parsed) in plays {
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
                Entry::Ran(narrated(&scenario, &opts).await)
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
        done(&entry);
        entries.push(entry);
    }
    entries
}

/// Runs `scenario`, keeping its narration (without colour) for JUnit's `system-out`.
async fn narrated(scenario: &Scenario, opts: &RunOptions) -> crate::run::ScenarioResult {
    let told = Arc::new(Mutex::new(String::new()));
    let sink = told.clone();
    let mut narrator = Narrator::new(false, move |line: &str| {
        let mut text = sink.lock().unwrap_or_else(|p| p.into_inner());
        text.push_str(line);
        text.push('\n');
    });
    let mut result = crate::run::run(scenario, opts, &mut narrator).await;
    narrator.summary(&result);
    drop(narrator);
    result.narration = std::mem::take(&mut *told.lock().unwrap_or_else(|p| p.into_inner()));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn collect_finds_scenario_files_in_directories_sorted_once_and_names_a_missing_path() {
        let tmp = tempfile::tempdir().unwrap();
        let b = write(tmp.path(), "b/two.yml", "title: two\nchapters: [x.yaml]\n");
        let a = write(tmp.path(), "a.yaml", "title: a\nsteps:\n  - say: hi\n");
        write(tmp.path(), "notes.txt", "");
        let found = collect(&[tmp.path().to_owned(), a.clone()]).unwrap();
        assert_eq!(found.files, vec![a, b]);
        let missing = tmp.path().join("nowhere.yaml");
        let err = collect(&[missing]).unwrap_err().to_string();
        assert!(
            err.ends_with("nowhere.yaml: no such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn a_kubernetes_manifest_in_a_directory_is_not_a_scenario_but_one_named_is_played() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = write(
            tmp.path(),
            "rbac/binding.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: steps\n---\nkind: Pod\nspec:\n  steps: 1\n",
        );
        let challenge = write(tmp.path(), "c.yaml", "title: c\n\"challenge\": {}\n");
        let broken = write(tmp.path(), "broken.yaml", "title: [\nsteps:\n  - : :\n");
        let found = collect(&[tmp.path().to_owned()]).unwrap();
        assert_eq!(found.files, vec![broken, challenge]);
        assert_eq!(found.not_scenarios, vec![manifest.clone()]);
        assert_eq!(
            found.notes(),
            vec![format!(
                "· {} is not a scenario (no top-level steps:, chapters: or challenge:): not played",
                manifest.display()
            )]
        );
        let named = collect(std::slice::from_ref(&manifest)).unwrap();
        assert_eq!(named.files, vec![manifest]);
    }

    #[test]
    fn a_chapter_of_a_story_in_the_same_run_is_played_inside_it_not_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let chapter = write(
            tmp.path(),
            "day/one.yaml",
            "title: one\nlab: {staff: none}\nsteps:\n  - say: hello\n",
        );
        let story = write(
            tmp.path(),
            "story.yaml",
            "title: story\nchapters: [day/one.yaml]\n",
        );
        let (plays, notes) = plays(vec![chapter, story.clone()]);
        let files: Vec<_> = plays.iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(files, vec![story.clone()]);
        assert_eq!(
            notes,
            vec![format!(
                "· 1 chapters of {} are played inside it, not on their own: {}",
                story.display(),
                tmp.path().join("day/one.yaml").display()
            )]
        );
    }

    #[tokio::test]
    async fn an_invalid_file_is_an_entry_of_its_own_and_the_suite_goes_on() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = write(
            tmp.path(),
            "bad.yaml",
            "title: t\nsteps:\n  - frobnicate: {}\n",
        );
        let (plays, _) = plays(vec![bad.clone()]);
        let mut heard = Vec::new();
        let entries = run_all(plays, &RunOptions::default(), 2, |e| heard.push(e.passed())).await;
        assert_eq!(heard, vec![false]);
        match &entries[..] {
            [Entry::Invalid { file, error }] => {
                assert_eq!(file, &bad);
                assert!(error.contains("bad.yaml:3"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
