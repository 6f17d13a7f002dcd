//! `kubecorp challenge check`: is the symptom gone, and is the repair a real one?
//!
//! The symptom is judged from outside the office, with real handshakes and requests: the
//! challenge's `check:` steps, played against the office's doors. The repair is judged against
//! the baseline taken at the start: a repair that makes the symptom go away by handing out more
//! trust (a new CA, a foreign CA in a bundle, `system:masters`, `cluster-admin`, someone else's
//! badge) is not a repair, and each of those is named with the file or binding that did it.

use std::path::Path;

use kubecorp_pki::{Authority, Lab};
use kubecorp_trust::{Events, LabClock};

use super::start::{badge_of, bindings, bundle, masters, public_key};
use super::state::{Binding, State};
use super::{Challenge, Criterion};
use crate::expect::{Check, Outcome};
use crate::model::Step;
use crate::run::{play, Observer, RunOptions, Venue};

/// One line of the verdict: a criterion, what was looked at, and why it failed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    pub criterion: Criterion,
    pub passed: bool,
    /// What was checked, in words.
    pub what: String,
    /// For a failure: what was seen instead.
    pub reason: Option<String>,
}

/// Every line; the repair passes when all of them do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verdict {
    pub lines: Vec<Line>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(|l| l.passed)
    }

    /// The lines of one criterion that failed.
    pub fn failed(&self, criterion: Criterion) -> bool {
        self.lines
            .iter()
            .any(|l| l.criterion == criterion && !l.passed)
    }
}

/// Checks the office `state` describes, in the lab directory `dir`.
pub async fn check(challenge: &Challenge, state: &State, dir: &Path, run: &RunOptions) -> Verdict {
    let mut lines = symptom(&challenge.check, state, dir, run).await;
    let lab = Lab::new(dir);
    lines.push(same_ca(&lab, state));
    lines.push(trust_bundles(&lab, state));
    lines.push(no_system_masters(dir, state));
    let now = bindings(dir, &state.doors.apiserver_url(), &LabClock::real()).await;
    let now = now.as_deref().map_err(String::as_str);
    lines.push(no_cluster_admin(now, state));
    lines.push(same_identity(dir, challenge, state));
    lines.push(no_more_rights(now, state));
    Verdict { lines }
}

/// Collects one line per step: its headline, and whether all its checks held.
struct Collect {
    lines: Vec<Line>,
    headline: String,
    seen: String,
}

impl Observer for Collect {
    fn step(&mut self, step: &Step, headline: &str) {
        // The file's own words for the step, when it has some.
        self.headline = step.say.clone().unwrap_or_else(|| headline.to_owned());
    }

    fn outcome(&mut self, _step: &Step, outcome: &Outcome) {
        self.seen = outcome.text().lines().next().unwrap_or_default().to_owned();
    }

    fn check(&mut self, check: &Check) {
        let passed = check.passed();
        let reason = (!passed).then(|| match self.seen.is_empty() {
            true => check.describe(),
            false => format!("{} ({})", self.seen, check.describe()),
        });
        // One line per step: its first failure, or that it held.
        match self.lines.last_mut() {
            Some(last) if last.what == self.headline && last.passed => {
                last.passed = passed;
                last.reason = reason;
            }
            Some(last) if last.what == self.headline => {}
            _ => self.lines.push(Line {
                criterion: Criterion::Symptom,
                passed,
                what: self.headline.clone(),
                reason,
            }),
        }
    }
}

async fn symptom(steps: &[Step], state: &State, dir: &Path, run: &RunOptions) -> Vec<Line> {
    let key_algorithm = state.key_algorithm.parse().unwrap_or_default();
    let venue = Venue {
        dir: dir.into(),
        doors: state.doors.clone(),
        clock: LabClock::real(),
        events: Events::new(),
        key_algorithm,
    };
    let mut collect = Collect {
        lines: Vec::new(),
        headline: String::new(),
        seen: String::new(),
    };
    play(steps, &venue, run, &mut collect).await;
    collect.lines
}

fn ca_name(authority: Authority) -> String {
    format!("pki/{}.crt", authority.stem())
}

fn same_ca(lab: &Lab, state: &State) -> Line {
    let lines: Vec<Line> = Authority::ALL
        .into_iter()
        .filter_map(|authority| {
            let before = state
                .baseline
                .cas
                .iter()
                .find(|c| c.authority == authority.stem())?;
            let key_path = lab.ca_key_path(authority);
            let what = format!("the {} CA still signs with its own key", authority.name());
            let reason = match kubecorp_pki::keys::read_private_key(&key_path) {
                Err(e) => Some(format!("{e}")),
                Ok(key) if public_key(rcgen::PublicKeyData::der_bytes(&key)) != before.key => Some(format!(
                    "{} is not the key this CA had when the challenge began: a new CA means every badge the old one signed (kubelets, users, the staff) is refused; re-issue only the broken badge with the existing CA",
                    key_path.strip_prefix(lab.root()).unwrap_or(&key_path).display()
                )),
                Ok(_) => None,
            };
            Some(Line {
                criterion: Criterion::SameCa,
                passed: reason.is_none(),
                what,
                reason,
            })
        })
        .collect();
    merged(
        Criterion::SameCa,
        "every CA (ca, etcd-ca, front-proxy-ca) still signs with the key it had",
        lines,
    )
}

/// One line for a criterion checked on several things.
fn merged(criterion: Criterion, what: &str, lines: Vec<Line>) -> Line {
    let reasons: Vec<String> = lines.into_iter().filter_map(|l| l.reason).collect();
    Line {
        criterion,
        passed: reasons.is_empty(),
        what: what.to_owned(),
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    }
}

fn trust_bundles(lab: &Lab, state: &State) -> Line {
    let lines: Vec<Line> = Authority::ALL
        .into_iter()
        .filter_map(|authority| {
            let before = state
                .baseline
                .cas
                .iter()
                .find(|c| c.authority == authority.stem())?;
            let what = format!("{} trusts the CAs it trusted before", ca_name(authority));
            let reason = match bundle(lab, authority) {
                Err(e) => Some(e.to_string()),
                Ok(now) => {
                    let added: Vec<&str> = now
                        .iter()
                        .filter(|c| !before.bundle.iter().any(|b| b.key == c.key))
                        .map(|c| c.subject.as_str())
                        .collect();
                    let dropped: Vec<&str> = before
                        .bundle
                        .iter()
                        .filter(|b| !now.iter().any(|c| c.key == b.key))
                        .map(|b| b.subject.as_str())
                        .collect();
                    match (added.as_slice(), dropped.as_slice()) {
                        ([], []) => None,
                        (added, []) => Some(format!(
                            "{} now also trusts {}: every badge that CA signs would be let in here too",
                            ca_name(authority),
                            added.join("; ")
                        )),
                        ([], dropped) => Some(format!(
                            "{} no longer trusts {}: every badge still signed by it is refused",
                            ca_name(authority),
                            dropped.join("; ")
                        )),
                        (added, dropped) => Some(format!(
                            "{} trusts {} instead of {}",
                            ca_name(authority),
                            added.join("; "),
                            dropped.join("; ")
                        )),
                    }
                }
            };
            Some(Line {
                criterion: Criterion::TrustBundles,
                passed: reason.is_none(),
                what,
                reason,
            })
        })
        .collect();
    merged(
        Criterion::TrustBundles,
        "every trust bundle trusts the CAs it trusted before, no more, no fewer",
        lines,
    )
}

fn no_system_masters(dir: &Path, state: &State) -> Line {
    let new: Vec<String> = masters(dir)
        .into_iter()
        .filter(|p| !state.baseline.masters.contains(p))
        .map(|p| p.display().to_string())
        .collect();
    Line {
        criterion: Criterion::NoSystemMasters,
        passed: new.is_empty(),
        what: "no new badge is in system:masters".into(),
        reason: (!new.is_empty()).then(|| {
            format!(
                "{} put {} holder in system:masters, the group the apiserver lets do anything without asking RBAC: a badge must not get more rights to get round a refusal",
                new.join(", "),
                if new.len() == 1 { "its" } else { "their" }
            )
        }),
    }
}

/// Bindings that are neither as the challenge began nor as the break left them.
fn new_bindings<'a>(now: &'a [Binding], state: &State) -> Vec<&'a Binding> {
    now.iter()
        .filter(|b| {
            !state
                .baseline
                .bindings_before
                .iter()
                .chain(&state.baseline.bindings_after)
                .any(|old| old == *b)
        })
        .collect()
}

fn no_cluster_admin(now: Result<&[Binding], &str>, state: &State) -> Line {
    let what = "no new binding hands out cluster-admin or binds system:masters".to_owned();
    let now = match now {
        Ok(now) => now,
        Err(e) => {
            return Line {
                criterion: Criterion::NoClusterAdmin,
                passed: false,
                what,
                reason: Some(format!("cannot read the bindings: {e}")),
            }
        }
    };
    let bad: Vec<String> = new_bindings(now, state)
        .into_iter()
        .filter(|b| {
            b.role == "ClusterRole/cluster-admin"
                || b.subjects.iter().any(|s| s == "Group/system:masters")
        })
        .map(|b| format!("{} ({} to {})", b.label(), b.role, b.subjects.join(", ")))
        .collect();
    Line {
        criterion: Criterion::NoClusterAdmin,
        passed: bad.is_empty(),
        what,
        reason: (!bad.is_empty()).then(|| {
            format!(
                "{}: that gets round the refusal by giving away everything; find why the badge is refused instead",
                bad.join("; ")
            )
        }),
    }
}

fn same_identity(dir: &Path, challenge: &Challenge, state: &State) -> Line {
    let mut problems = Vec::new();
    for before in &state.baseline.identities {
        let Some(g) = challenge.guard.iter().find(|g| g.name == before.name) else {
            continue;
        };
        match badge_of(&dir.join(&g.file)) {
            Err(e) => problems.push(format!("{}: {e}", g.name)),
            Ok(now) if now.subject_cn != before.cn || now.subject_orgs != before.groups => problems
                .push(format!(
                    "{} now says {}; it said {} when the challenge began",
                    g.name,
                    who(&now.subject_cn, &now.subject_orgs),
                    who(&before.cn, &before.groups)
                )),
            Ok(_) => {}
        }
    }
    let names: Vec<&str> = state
        .baseline
        .identities
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    Line {
        criterion: Criterion::SameIdentity,
        passed: problems.is_empty(),
        what: match names.is_empty() {
            true => "no badge to keep (this challenge guards none)".into(),
            false => format!(
                "{} keep{} the identity",
                names.join(", "),
                if names.len() == 1 { "s" } else { "" }
            ),
        },
        reason: (!problems.is_empty()).then(|| {
            format!(
                "{}: a repaired badge names the same holder and the same groups, no one else's",
                problems.join("; ")
            )
        }),
    }
}

fn who(cn: &str, groups: &[String]) -> String {
    let mut s = format!("CN={cn}");
    for g in groups {
        s += &format!(", O={g}");
    }
    s
}

/// Who a binding subject must not newly be: the guarded identities, and everyone.
fn no_more_rights(now: Result<&[Binding], &str>, state: &State) -> Line {
    let what = "nobody got a role they did not have before".to_owned();
    let now = match now {
        Ok(now) => now,
        Err(e) => {
            return Line {
                criterion: Criterion::NoMoreRights,
                passed: false,
                what,
                reason: Some(format!("cannot read the bindings: {e}")),
            }
        }
    };
    const EVERYONE: &[&str] = &[
        "User/system:anonymous",
        "Group/system:unauthenticated",
        "Group/system:authenticated",
    ];
    let mut bad = Vec::new();
    for b in new_bindings(now, state) {
        for subject in &b.subjects {
            let everyone = EVERYONE.contains(&subject.as_str());
            let guarded: Vec<&super::state::Subject> = state
                .baseline
                .identities
                .iter()
                .filter(|id| {
                    *subject == format!("User/{}", id.cn)
                        || id.groups.iter().any(|g| *subject == format!("Group/{g}"))
                })
                .collect();
            if !everyone && guarded.is_empty() {
                continue;
            }
            // Giving back what an identity had before the break is a repair.
            let had = !everyone
                && state.baseline.bindings_before.iter().any(|old| {
                    old.role == b.role
                        && old.namespace == b.namespace
                        && old.subjects.iter().any(|s| {
                            guarded.iter().any(|id| {
                                *s == format!("User/{}", id.cn)
                                    || id.groups.iter().any(|g| *s == format!("Group/{g}"))
                            })
                        })
                });
            if !had {
                bad.push(format!("{} gives {subject} {}", b.label(), b.role));
            }
        }
    }
    Line {
        criterion: Criterion::NoMoreRights,
        passed: bad.is_empty(),
        what,
        reason: (!bad.is_empty()).then(|| {
            format!(
                "{}: the badge's holder (or everyone) now has more rights than before; give back only what was there",
                bad.join("; ")
            )
        }),
    }
}
