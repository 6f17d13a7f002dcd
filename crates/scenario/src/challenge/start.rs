//! Opening a challenge: a fresh lab, the office opened on it, the setup and the break played
//! quietly, no backup left behind, and the baseline the repair will be held against.

use std::path::{Path, PathBuf};

use kubecorp_office::{Office, OfficeOptions};
use kubecorp_pki::{Authority, Lab};
use kubecorp_trust::LabClock;
use time::OffsetDateTime;

use super::state::{
    Baseline, Binding, CaBaseline, Source, Standing, State, Subject, TrustedCa, FOLDER,
};
use super::{Challenge, ChallengeError};
use crate::expect::Check;
use crate::model::{LabSpec, Scenario, Step};
use crate::run::{play, Doors, Quiet, RunOptions, Venue};

/// A challenge's office, open and broken.
pub struct Opened {
    pub office: Office,
    pub state: State,
}

/// Makes `opts.dir` a fresh lab for `scenario`'s challenge, opens the office there (on the
/// addresses in `opts`, with `opts.events`), plays the setup and the break, and writes the
/// state. The clock in `opts` is replaced: a challenge runs at the machine's time.
pub async fn open(
    scenario: &Scenario,
    source: Source,
    opts: OfficeOptions,
    run: &RunOptions,
) -> Result<Opened, ChallengeError> {
    let challenge = scenario
        .challenge
        .as_ref()
        .ok_or_else(|| ChallengeError::NotAChallenge {
            file: scenario.file.clone(),
        })?;
    let dir = opts.dir.clone();
    fresh_lab(&dir)?;
    let clock = LabClock::real();
    if let Some(since) = challenge.since {
        clock.set(OffsetDateTime::now_utc() - since);
    }
    make_pki(&dir, &scenario.lab, &clock)?;
    if !challenge.before.is_empty() {
        // Nobody is open yet: these steps only touch the lab's files.
        let venue = Venue {
            dir: dir.clone(),
            doors: Doors::unopened(),
            clock: clock.clone(),
            events: kubecorp_trust::Events::new(),
            key_algorithm: scenario.lab.key_algorithm,
        };
        played(&scenario.file, "before", &challenge.before, &venue, run).await?;
        let _ = std::fs::remove_dir_all(dir.join(".kubecorp-backup"));
    }
    let events = opts.events.clone();
    let office = Office::start(OfficeOptions {
        nodes: scenario.lab.nodes.clone(),
        rotate_server_certificates: scenario.lab.rotate_server_certificates,
        staff: scenario.lab.staff,
        clock: clock.clone(),
        ..opts
    })
    .await?;
    point_kubeconfigs_at(&dir, &office.apiserver_url())?;
    let venue = Venue {
        dir: dir.clone(),
        doors: Doors::of(&office),
        clock: clock.clone(),
        events,
        key_algorithm: scenario.lab.key_algorithm,
    };
    let state = match prepare(scenario, challenge, source, &venue, run).await {
        Ok(state) => state,
        Err(e) => {
            office.shutdown().await;
            return Err(e);
        }
    };
    state.save(&dir)?;
    Ok(Opened { office, state })
}

/// Setup (in the past, with `since`), baseline, break, and what the break left.
async fn prepare(
    scenario: &Scenario,
    challenge: &Challenge,
    source: Source,
    venue: &Venue,
    run: &RunOptions,
) -> Result<State, ChallengeError> {
    let file = &scenario.file;
    played(file, "setup", &challenge.setup, venue, run).await?;
    // Read while the office is whole, at the time it was set up.
    let bindings_before = bindings(&venue.dir, &venue.doors.apiserver_url(), &venue.clock)
        .await
        .map_err(|problem| ChallengeError::Lab {
            dir: venue.dir.clone(),
            problem: format!("reading the bindings before the break: {problem}"),
        })?;
    // The story's past is over: from here on the lab keeps the machine's time.
    venue.clock.set(OffsetDateTime::now_utc());
    let lab = Lab::new(&venue.dir);
    let mut baseline = Baseline {
        identities: subjects(&venue.dir, challenge),
        bindings_before,
        ..Baseline::default()
    };
    played(file, "break", &challenge.breaks, venue, run).await?;
    // No backup for the learner to copy back.
    let _ = std::fs::remove_dir_all(venue.dir.join(".kubecorp-backup"));
    baseline.cas = cas(&lab)?;
    baseline.masters = masters(&venue.dir);
    // A broken office may not let anyone read them: then the break changed none.
    baseline.bindings_after = bindings(&venue.dir, &venue.doors.apiserver_url(), &venue.clock)
        .await
        .unwrap_or_else(|_| baseline.bindings_before.clone());
    // A guarded badge the break itself made (a user's) is held to what it says now.
    for subject in subjects(&venue.dir, challenge) {
        if !baseline.identities.iter().any(|s| s.name == subject.name) {
            baseline.identities.push(subject);
        }
    }
    Ok(State {
        name: challenge.name.clone(),
        source,
        started: OffsetDateTime::now_utc(),
        doors: venue.doors.clone(),
        key_algorithm: venue.key_algorithm.name().to_owned(),
        hints_used: 0,
        standing: Standing::Open,
        baseline,
    })
}

/// Plays one of the challenge's own lists; any failure is the file's fault, and says so.
async fn played(
    file: &Path,
    list: &'static str,
    steps: &[Step],
    venue: &Venue,
    run: &RunOptions,
) -> Result<(), ChallengeError> {
    let checks = play(steps, venue, run, &mut Quiet).await;
    match checks.iter().find(|c| !c.passed()) {
        Some(c) => Err(step_failed(file, list, c)),
        None => Ok(()),
    }
}

fn step_failed(file: &Path, list: &'static str, c: &Check) -> ChallengeError {
    ChallengeError::Step {
        file: file.into(),
        list,
        step: c.step + 1,
        what: c.describe(),
    }
}

/// Empties a lab a challenge made before (keeping what it remembers), or makes a new one.
/// A directory that holds something else is left alone.
fn fresh_lab(dir: &Path) -> Result<(), ChallengeError> {
    let problem = |problem: String| ChallengeError::Lab {
        dir: dir.into(),
        problem,
    };
    if dir.exists() {
        let entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| problem(e.to_string()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        if !entries.is_empty() && !super::state::is_challenge_lab(dir) {
            return Err(problem(
                "not empty, and not a lab a challenge made: choose another --dir (a challenge makes its lab afresh)".into(),
            ));
        }
        for path in entries {
            if path.file_name().is_some_and(|n| n == FOLDER) {
                let _ = std::fs::remove_file(path.join("state.json"));
                continue;
            }
            let removed = match path.is_dir() {
                true => std::fs::remove_dir_all(&path),
                false => std::fs::remove_file(&path),
            };
            removed.map_err(|e| problem(format!("cannot clear {}: {e}", path.display())))?;
        }
    }
    kubecorp_pki::fs::ensure_dir(&dir.join(FOLDER))?;
    Ok(())
}

fn make_pki(dir: &Path, lab: &LabSpec, clock: &LabClock) -> Result<(), ChallengeError> {
    let node = lab
        .nodes
        .first()
        .cloned()
        .unwrap_or_else(|| kubecorp_office::CONTROL_PLANE_NODE.into());
    let init = kubecorp_pki::init::InitOptions {
        facts: kubecorp_pki::ClusterFacts::new(node, std::net::IpAddr::from([127, 0, 0, 1])),
        key_algorithm: lab.key_algorithm,
        force: false,
        now: clock.now(),
    };
    // A challenge's lab is thrown away with the next one: its RSA keys come from the pool
    // (an ECDSA lab's too: the staff's self-signed serving badges are RSA-2048).
    let pool = kubecorp_pki::pool::KeyPool::user();
    kubecorp_pki::init::init_drawing(&Lab::new(dir), &init, pool.as_ref())?;
    Ok(())
}

/// Every kubeconfig in the lab names the office's real address, so `kubectl --kubeconfig
/// DIR/admin.conf` works as it is, whichever port the apiserver got.
fn point_kubeconfigs_at(dir: &Path, url: &str) -> Result<(), ChallengeError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "conf") {
            continue;
        }
        let mut config = kubecorp_pki::kubeconfig::Kubeconfig::read(&path)?;
        for c in &mut config.clusters {
            c.cluster.server = url.to_owned();
        }
        kubecorp_pki::fs::write_atomic(
            &path,
            config.to_yaml().as_bytes(),
            kubecorp_pki::fs::Mode::Secret,
        )?;
    }
    Ok(())
}

/// A public key as the baseline keeps it: base64 of the key itself (the bit string a
/// certificate's SubjectPublicKeyInfo carries), so a CA's key and its certificate compare.
pub(super) fn public_key(der: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Each CA's signing key and the CAs its bundle trusts.
pub(super) fn cas(lab: &Lab) -> Result<Vec<CaBaseline>, ChallengeError> {
    let mut out = Vec::new();
    for authority in Authority::ALL {
        let key = kubecorp_pki::keys::read_private_key(&lab.ca_key_path(authority))?;
        out.push(CaBaseline {
            authority: authority.stem().to_owned(),
            key: public_key(rcgen::PublicKeyData::der_bytes(&key)),
            bundle: bundle(lab, authority)?,
        });
    }
    Ok(out)
}

pub(super) fn bundle(lab: &Lab, authority: Authority) -> Result<Vec<TrustedCa>, ChallengeError> {
    let path = lab.ca_cert_path(authority);
    let mut out = Vec::new();
    for der in kubecorp_pki::cert::read_cert_chain(&path)? {
        let info = kubecorp_pki::cert::CertInfo::from_der(&path, &der)?;
        out.push(TrustedCa {
            key: public_key(&info.public_key_der),
            subject: info.subject,
        });
    }
    Ok(out)
}

/// The first certificate a file holds: a kubeconfig's client certificate, or a PEM file's first.
pub(super) fn badge_of(path: &Path) -> Result<kubecorp_pki::cert::CertInfo, ChallengeError> {
    let pem = if path.extension().is_some_and(|e| e == "conf") {
        let config = kubecorp_pki::kubeconfig::Kubeconfig::read(path)?;
        config.credentials(path)?.cert_pem
    } else {
        kubecorp_pki::fs::read(path, "a certificate")?
    };
    let chain = kubecorp_pki::cert::parse_cert_chain(path, &pem)?;
    let first = chain.first().ok_or_else(|| ChallengeError::State {
        path: path.into(),
        problem: "holds no certificate".into(),
    })?;
    Ok(kubecorp_pki::cert::CertInfo::from_der(path, first)?)
}

/// The guarded badges that exist, with their subjects.
pub(super) fn subjects(dir: &Path, challenge: &Challenge) -> Vec<Subject> {
    challenge
        .guard
        .iter()
        .filter_map(|g| {
            let info = badge_of(&dir.join(&g.file)).ok()?;
            Some(Subject {
                name: g.name.clone(),
                cn: info.subject_cn,
                groups: info.subject_orgs,
            })
        })
        .collect()
}

/// Every certificate in the lab (PEM files and kubeconfigs), relative to it, outside the
/// challenge's own folder.
pub(super) fn every_badge(dir: &Path) -> Vec<(PathBuf, kubecorp_pki::cert::CertInfo)> {
    fn walk(root: &Path, here: &Path, out: &mut Vec<(PathBuf, kubecorp_pki::cert::CertInfo)>) {
        let Ok(entries) = std::fs::read_dir(here) else {
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.file_name().is_some_and(|n| n == FOLDER) {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "conf" || e == "crt" || e == "pem")
            {
                if let Ok(info) = badge_of(&path) {
                    let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                    out.push((rel, info));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Files whose badge is in `system:masters`.
pub(super) fn masters(dir: &Path) -> Vec<PathBuf> {
    every_badge(dir)
        .into_iter()
        .filter(|(_, info)| info.subject_orgs.iter().any(|o| o == "system:masters"))
        .map(|(path, _)| path)
        .collect()
}

/// Every binding, read through the break-glass `super-admin.conf` (or `admin.conf` when that
/// one no longer works), as an administrator would look.
pub(super) async fn bindings(
    dir: &Path,
    apiserver: &str,
    clock: &LabClock,
) -> Result<Vec<Binding>, String> {
    let mut last = String::new();
    for conf in ["super-admin.conf", "admin.conf"] {
        let path = dir.join(conf);
        let client = match kubecorp_client::KubeClient::new(
            "kubecorp challenge",
            apiserver,
            Some(kubecorp_trust::tls::CertSource::kubeconfig(&path)),
            kubecorp_trust::tls::TrustSource::bundle(
                Lab::new(dir).ca_cert_path(Authority::Cluster),
            ),
            clock.clone(),
            kubecorp_trust::Events::new(),
        ) {
            Ok(c) => c,
            Err(e) => {
                last = format!("{conf}: {e}");
                continue;
            }
        };
        let mut out = Vec::new();
        let mut failed = None;
        for path in [
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "/apis/rbac.authorization.k8s.io/v1/rolebindings",
        ] {
            match client.get(path).await {
                Ok(list) => out.extend(list["items"].as_array().into_iter().flatten().map(binding)),
                Err(e) => failed = Some(format!("{conf}: {}", e.kubectl_text())),
            }
        }
        match failed {
            None => {
                out.sort();
                return Ok(out);
            }
            Some(e) => last = e,
        }
    }
    Err(last)
}

fn binding(item: &serde_json::Value) -> Binding {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let namespace = item["metadata"]["namespace"].as_str().map(str::to_owned);
    let subjects = item["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|sub| match sub["namespace"].as_str() {
            Some(ns) if s(&sub["kind"]) == "ServiceAccount" => {
                format!("ServiceAccount/{ns}/{}", s(&sub["name"]))
            }
            _ => format!("{}/{}", s(&sub["kind"]), s(&sub["name"])),
        })
        .collect();
    Binding {
        kind: if namespace.is_some() {
            "RoleBinding".into()
        } else {
            "ClusterRoleBinding".into()
        },
        namespace,
        name: s(&item["metadata"]["name"]),
        role: format!(
            "{}/{}",
            s(&item["roleRef"]["kind"]),
            s(&item["roleRef"]["name"])
        ),
        subjects,
    }
}
