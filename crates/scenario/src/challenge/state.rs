//! What a lab directory remembers about challenges, in `.kubecorp-challenge/` (0700, files
//! 0600, each written whole or not at all): the open challenge (`state.json`) and, across
//! challenges, which ones were solved or given up here (`record.json`).
//!
//! Nothing in it gives the cause away: the challenge's name, when it started, where its office
//! listens, the hints taken, and the baseline the repair is held against (public keys, subjects,
//! bindings).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ChallengeError;
use crate::run::Doors;

/// The folder, inside the lab directory.
pub const FOLDER: &str = ".kubecorp-challenge";

/// Where the challenge came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Shipped with the lab, by name.
    Shipped(String),
    /// A trainer's own file.
    File(PathBuf),
}

/// How the open challenge stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    Open,
    Solved,
    /// `kubecorp challenge solution` was asked for.
    GivenUp,
}

/// The open challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// Where the challenge's office listens.
    pub doors: Doors,
    pub key_algorithm: String,
    /// How many hints were shown (0–3).
    pub hints_used: u8,
    pub standing: Standing,
    pub baseline: Baseline,
}

/// What the repair is held against, taken when the challenge started.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    /// Each CA: its signing key and the CAs its bundle trusts (after the break).
    pub cas: Vec<CaBaseline>,
    /// Files whose badge was in `system:masters` already (kubeadm's `super-admin.conf`).
    pub masters: Vec<PathBuf>,
    /// The guarded badges' subjects, before the break.
    pub identities: Vec<Subject>,
    /// Every RoleBinding and ClusterRoleBinding before the break…
    pub bindings_before: Vec<Binding>,
    /// …and after it.
    pub bindings_after: Vec<Binding>,
}

/// A public key, as base64 of its SubjectPublicKeyInfo (DER).
pub type PublicKey = String;

/// One CA's key, and the CAs (by key and name) its trust bundle holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaBaseline {
    /// `ca`, `etcd-ca`, `front-proxy-ca`.
    pub authority: String,
    pub key: PublicKey,
    pub bundle: Vec<TrustedCa>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedCa {
    pub key: PublicKey,
    /// The CA's subject, for messages.
    pub subject: String,
}

/// A badge's subject: who it says its holder is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The guarded name (`scheduler.conf`, `users/john.conf`).
    pub name: String,
    pub cn: String,
    pub groups: Vec<String>,
}

/// A RoleBinding or ClusterRoleBinding, by what it grants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Binding {
    /// `ClusterRoleBinding`, or `RoleBinding` in a namespace.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// `ClusterRole/view`, `Role/pod-reader`.
    pub role: String,
    /// `User/john`, `Group/developers`, `ServiceAccount/ns/name`.
    pub subjects: Vec<String>,
}

impl Binding {
    /// `clusterrolebinding bob-admin`, `rolebinding default/john-view`.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("rolebinding {ns}/{}", self.name),
            None => format!("clusterrolebinding {}", self.name),
        }
    }

    /// The same grant, whatever its name.
    pub fn grants_like(&self, other: &Binding) -> bool {
        self.kind == other.kind
            && self.namespace == other.namespace
            && self.role == other.role
            && self.subjects == other.subjects
    }
}

/// What this lab directory did with each challenge.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    pub challenges: BTreeMap<String, Attempt>,
}

/// The best a lab directory did with one challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub standing: Standing,
    /// Whole minutes from start to the passing check (solved only).
    pub minutes: Option<i64>,
    pub hints: u8,
}

fn folder(dir: &Path) -> PathBuf {
    dir.join(FOLDER)
}

fn state_path(dir: &Path) -> PathBuf {
    folder(dir).join("state.json")
}

fn record_path(dir: &Path) -> PathBuf {
    folder(dir).join("record.json")
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ChallengeError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ChallengeError::State {
        path: path.into(),
        problem: e.to_string(),
    })?;
    kubecorp_pki::fs::write_atomic(path, text.as_bytes(), kubecorp_pki::fs::Mode::Secret)?;
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ChallengeError> {
    let text = std::fs::read_to_string(path).map_err(|e| ChallengeError::State {
        path: path.into(),
        problem: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ChallengeError::State {
        path: path.into(),
        problem: format!("not what `kubecorp challenge start` writes: {e}"),
    })
}

/// Whether `dir` is a lab a challenge made (so `challenge start` may make it afresh).
pub fn is_challenge_lab(dir: &Path) -> bool {
    folder(dir).is_dir()
}

impl State {
    /// The open challenge in `dir`.
    pub fn load(dir: &Path) -> Result<State, ChallengeError> {
        let path = state_path(dir);
        if !path.exists() {
            return Err(ChallengeError::NoneOpen { dir: dir.into() });
        }
        read_json(&path)
    }

    pub fn save(&self, dir: &Path) -> Result<(), ChallengeError> {
        write_json(&state_path(dir), self)
    }
}

impl Record {
    /// What `dir` did so far (nothing, for a new directory).
    pub fn load(dir: &Path) -> Result<Record, ChallengeError> {
        let path = record_path(dir);
        if !path.exists() {
            return Ok(Record::default());
        }
        read_json(&path)
    }

    /// Notes how a challenge went; a solve is never overwritten by a later give-up.
    pub fn note(dir: &Path, name: &str, result: Attempt) -> Result<(), ChallengeError> {
        let mut record = Record::load(dir)?;
        let keep = record.challenges.get(name).is_some_and(|old| {
            old.standing == Standing::Solved && result.standing != Standing::Solved
        });
        if !keep {
            record.challenges.insert(name.to_owned(), result);
        }
        write_json(&record_path(dir), &record)
    }
}
