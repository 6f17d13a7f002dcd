//! Challenges: the office is broken on purpose, a colleague reports only the symptom, and the
//! learner finds the cause with real tools, repairs it, and asks the lab to check the repair.
//!
//! A challenge is a scenario file with a `challenge:` section (see `scenarios/README.md`).
//!
//! - [`catalogue`]: the challenges shipped with the lab, and finding one by name or file.
//! - [`start`]: a fresh lab, the office opened, the setup and the break played, and what the
//!   repair will be held against (the baseline) written down.
//! - [`check`]: from outside the office, the symptom is gone and the repair is a real one.
//! - [`state`]: what the lab directory remembers between commands (the open challenge, hints
//!   taken, solved or given up).
//! - [`rehearse`]: how `kubecorp test` plays a challenge file: broken, checked (it must fail),
//!   solved by its script, checked (it must pass), and each tempting wrong repair refused.

pub mod catalogue;
pub mod check;
pub mod rehearse;
pub mod start;
pub mod state;

use std::path::PathBuf;

use time::Duration;

use crate::model::Step;

pub use rehearse::rehearse;

/// One challenge, validated.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The file's stem: `scheduler-badge-expired`.
    pub name: String,
    pub level: Level,
    /// What the learner finds out, in one line.
    pub teaches: String,
    /// How long it takes, roughly.
    pub minutes: u32,
    /// The office was set up this long ago: the PKI is made then and `setup` plays then; the
    /// break, and the learner, work at the machine's own time.
    pub since: Option<Duration>,
    /// What a colleague reports. Never the cause.
    pub symptom: String,
    /// Three hints, each more specific: where to look, which check, which command.
    pub hints: Vec<String>,
    /// The cause, and the commands that fix it on a kubeadm cluster.
    pub solution: String,
    /// Badges whose identity a repair must keep (a subject, same groups).
    pub guard: Vec<Guarded>,
    /// Changes to the lab's files before the office opens, so the staff start with them (a
    /// kubeconfig a component reads only when it connects).
    pub before: Vec<Step>,
    /// The office's ordinary life before anything breaks (users, bindings, pods).
    pub setup: Vec<Step>,
    /// What breaks it.
    pub breaks: Vec<Step>,
    /// What shows the symptom is gone, played from outside the office.
    pub check: Vec<Step>,
    /// A scripted repair with real tools, for the tests.
    pub solve: Vec<Step>,
    /// Tempting repairs that must not pass.
    pub wrong: Vec<WrongFix>,
}

/// 1 (a first look), 2 (needs a second tool), 3 (several things at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(u8);

impl Level {
    pub fn new(n: u8) -> Option<Level> {
        (1..=3).contains(&n).then_some(Level(n))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A badge a repair must leave with its identity: a kubeadm name or a file in the lab.
#[derive(Debug, Clone)]
pub struct Guarded {
    /// As the file names it: `scheduler.conf`, `apiserver`, `users/john.conf`.
    pub name: String,
    /// Where its certificate is, relative to the lab directory (a kubeconfig or a PEM file).
    pub file: PathBuf,
}

/// A tempting repair, and the criterion of the check that must catch it.
#[derive(Debug, Clone)]
pub struct WrongFix {
    pub line: u32,
    pub title: String,
    pub fails: Criterion,
    pub steps: Vec<Step>,
}

/// What `kubecorp challenge check` holds a repair to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criterion {
    /// The symptom is gone: the challenge's own check steps pass, from outside the office.
    Symptom,
    /// Each CA still signs with the key it had when the challenge began.
    SameCa,
    /// Each trust bundle (`pki/ca.crt`, `pki/etcd/ca.crt`, `pki/front-proxy-ca.crt`) trusts the
    /// CAs it trusted when the challenge began, no more and no fewer.
    TrustBundles,
    /// No new badge puts its holder in `system:masters`, the group RBAC never checks.
    NoSystemMasters,
    /// No new binding hands out `cluster-admin`, or anything to `system:masters`.
    NoClusterAdmin,
    /// The guarded badges keep their subject: same name, same groups.
    SameIdentity,
    /// No new binding gives a guarded identity (or everyone) a role it did not have before.
    NoMoreRights,
}

impl Criterion {
    pub const ALL: [Criterion; 7] = [
        Criterion::Symptom,
        Criterion::SameCa,
        Criterion::TrustBundles,
        Criterion::NoSystemMasters,
        Criterion::NoClusterAdmin,
        Criterion::SameIdentity,
        Criterion::NoMoreRights,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Criterion::Symptom => "symptom",
            Criterion::SameCa => "same-ca",
            Criterion::TrustBundles => "trust-bundles",
            Criterion::NoSystemMasters => "no-system-masters",
            Criterion::NoClusterAdmin => "no-cluster-admin",
            Criterion::SameIdentity => "same-identity",
            Criterion::NoMoreRights => "no-more-rights",
        }
    }
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a challenge could not be started, checked or remembered.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    #[error("{0}")]
    Parse(#[from] crate::ParseErrors),
    #[error("no challenge named {name:?}{}; the catalogue: {}", suggestion.as_ref().map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default(), known.join(", "))]
    Unknown {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    #[error("{file}: not a challenge (it has no challenge: section); play it with `kubecorp run {file}`")]
    NotAChallenge { file: PathBuf },
    #[error("no challenge at level {level} in the catalogue")]
    NoneAtLevel { level: u8 },
    #[error("{dir}: {problem}")]
    Lab { dir: PathBuf, problem: String },
    #[error("opening the office: {0}")]
    Office(#[from] kubecorp_office::OfficeError),
    #[error("making the lab's PKI: {0}")]
    Pki(#[from] kubecorp_pki::PkiError),
    #[error("{file}: challenge.{list} step {step} did not do its part: {what}")]
    Step {
        file: PathBuf,
        list: &'static str,
        step: usize,
        what: String,
    },
    #[error("{dir}: no challenge is open here (start one with `kubecorp challenge start NAME --dir {dir}`)")]
    NoneOpen { dir: PathBuf },
    #[error("{path}: {problem}")]
    State { path: PathBuf, problem: String },
}
