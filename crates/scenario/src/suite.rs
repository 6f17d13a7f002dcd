//! `kubecorp test`: many scenario files found, parsed, de-duplicated (a chapter played inside
//! its story is not played again alone) and run in parallel, one private office each.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::junit::Entry;
use crate::parse::ParseErrors;
use crate::run::{Quiet, RunOptions};
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

/// Every `*.yaml` (and `*.yml`) under `paths`, directories recursively, sorted, without repeats.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SuiteError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SuiteError> {
        let read = |source| SuiteError::Read {
            path: dir.to_owned(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(read)? {
            let path = entry.map_err(read)?.path();
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
            return Err(SuiteError::Missing { path: p.clone() });
        }
    }
    out.sort();
    out.dedup();
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
                Entry::Ran(crate::run::run(&scenario, &opts, &mut Quiet).await)
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
    fn collect_finds_yaml_files_in_directories_sorted_once_and_names_a_missing_path() {
        let tmp = tempfile::tempdir().unwrap();
        let b = write(tmp.path(), "b/two.yml", "");
        let a = write(tmp.path(), "a.yaml", "");
        write(tmp.path(), "notes.txt", "");
        let found = collect(&[tmp.path().to_owned(), a.clone()]).unwrap();
        assert_eq!(found, vec![a, b]);
        let missing = tmp.path().join("nowhere.yaml");
        let err = collect(&[missing]).unwrap_err().to_string();
        assert!(
            err.ends_with("nowhere.yaml: no such file or directory"),
            "{err}"
        );
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
