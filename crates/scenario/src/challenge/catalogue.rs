//! The challenges shipped with the lab (`scenarios/challenges/`, built into the binary so
//! `kubecorp challenge list` works anywhere), and finding one by name or by file.

use std::path::{Path, PathBuf};

use super::state::Source;
use super::ChallengeError;
use crate::model::Scenario;

/// Where the shipped files live in the repository, for messages.
pub const SHIPPED_DIR: &str = "scenarios/challenges";

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        /// Each shipped challenge: its name and its file's text.
        pub const SHIPPED: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../../scenarios/challenges/", $name, ".yaml"))),)*
        ];
    };
}

shipped! {
    "a-year-later",
    "admin-conf-expired",
    "admin-conf-from-another-cluster",
    "apiserver-badge-expired",
    "apiserver-kubelet-client-key-mismatch",
    "apiserver-missing-san",
    "ca-rotation-half-done",
    "controller-manager-badge-expired",
    "etcd-client-wrong-ca",
    "john-badge-expired",
    "john-group-no-rolebinding",
    "kube-proxy-wrong-ca",
    "kubelet-names-another-node",
    "kubelet-serving-csr-pending",
    "scheduler-badge-expired",
}

/// Every shipped challenge, parsed, in catalogue order (level, then name).
pub fn shipped() -> Result<Vec<Scenario>, ChallengeError> {
    let mut out = Vec::new();
    for (name, text) in SHIPPED {
        let file = PathBuf::from(SHIPPED_DIR).join(format!("{name}.yaml"));
        let scenario = crate::parse_str(&file, text)?;
        if scenario.challenge.is_none() {
            return Err(ChallengeError::NotAChallenge { file });
        }
        out.push(scenario);
    }
    out.sort_by_key(|s| {
        let c = s.challenge.as_ref().expect("checked above");
        (c.level, c.name.clone())
    });
    Ok(out)
}

/// A challenge by shipped name, or a trainer's file (anything with a `/` or ending `.yaml`).
pub fn find(name: &str) -> Result<(Scenario, Source), ChallengeError> {
    if name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml") {
        let path = PathBuf::from(name);
        let scenario = crate::parse_file(&path)?;
        if scenario.challenge.is_none() {
            return Err(ChallengeError::NotAChallenge { file: path });
        }
        return Ok((scenario, Source::File(path)));
    }
    let all = shipped()?;
    match all
        .into_iter()
        .find(|s| s.challenge.as_ref().is_some_and(|c| c.name == name))
    {
        Some(s) => Ok((s, Source::Shipped(name.to_owned()))),
        None => {
            let known: Vec<String> = SHIPPED.iter().map(|(n, _)| (*n).to_owned()).collect();
            Err(ChallengeError::Unknown {
                name: name.to_owned(),
                suggestion: crate::parse::closest(name, known.iter().map(String::as_str)),
                known,
            })
        }
    }
}

/// The challenge a state came from.
pub fn load(source: &Source) -> Result<Scenario, ChallengeError> {
    match source {
        Source::Shipped(name) => find(name).map(|(s, _)| s),
        Source::File(path) => find(&path.to_string_lossy()).map(|(s, _)| s),
    }
}

/// One shipped challenge, at `level` if given, picked by `seed`.
pub fn random(level: Option<u8>, seed: u64) -> Result<(Scenario, Source), ChallengeError> {
    let fitting: Vec<Scenario> = shipped()?
        .into_iter()
        .filter(|s| level.is_none_or(|l| s.challenge.as_ref().is_some_and(|c| c.level.get() == l)))
        .collect();
    if fitting.is_empty() {
        return Err(ChallengeError::NoneAtLevel {
            level: level.unwrap_or(0),
        });
    }
    let pick = usize::try_from(seed % fitting.len() as u64).unwrap_or(0);
    let scenario = fitting[pick].clone();
    let name = scenario
        .challenge
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Ok((scenario, Source::Shipped(name)))
}

/// `{{dir}}` in a challenge's texts (hints, solution) becomes the learner's lab directory.
pub fn text(template: &str, dir: &Path) -> String {
    template.replace("{{dir}}", &dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_scenarios_challenges_is_in_the_catalogue_and_the_other_way_round() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/challenges");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == "yaml")
                    .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        files.sort();
        let mut shipped: Vec<String> = SHIPPED.iter().map(|(n, _)| (*n).to_owned()).collect();
        shipped.sort();
        assert_eq!(files, shipped);
    }

    #[test]
    fn every_shipped_challenge_has_three_hints_a_scripted_solution_and_a_wrong_repair() {
        let all = shipped().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), SHIPPED.len());
        for s in &all {
            let c = s.challenge.as_ref().unwrap();
            assert_eq!(c.hints.len(), 3, "{}", c.name);
            assert!(!c.solve.is_empty(), "{}: no challenge.solve", c.name);
            assert!(!c.wrong.is_empty(), "{}: no challenge.wrong", c.name);
            assert!(!c.check.is_empty(), "{}: no challenge.check", c.name);
            assert!(
                c.solution.contains("kubeadm") || c.solution.contains("kubectl"),
                "{}: the solution names no real command",
                c.name
            );
        }
    }

    #[test]
    fn an_unknown_name_suggests_the_closest_and_a_level_picks_only_that_level() {
        let e = find("scheduler-badge-expird")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("did you mean \"scheduler-badge-expired\""),
            "{e}"
        );
        for seed in 0..20 {
            let (s, _) = random(Some(1), seed).unwrap();
            assert_eq!(s.challenge.unwrap().level.get(), 1);
        }
    }
}
