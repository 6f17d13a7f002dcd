//! The runner: builds a private office for one scenario and plays its steps in it.
//!
//! Each run gets its own lab directory and ephemeral loopback ports, so any number of runs go
//! side by side. Requests are real mutual-TLS calls with the badge the step names; what the
//! guards decided is read from the office's event stream, so a check on `stage: tls` or
//! `verdict: expired` asserts what etcd or the apiserver actually concluded, not a guess.
//!
//! An [`Observer`] sees every step, event and check as it happens: the CLI narrates them for a
//! room or prints JSON lines; tests pass [`Quiet`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use http::Method;
use kubecorp_client::{ClientError, KubeClient, Phase};
use kubecorp_office::{Office, OfficeOptions};
use kubecorp_pki::{Authority, Lab};
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::{classify_text, Event, Events, Identity, LabClock, Stage};
use serde::Serialize;
use serde_json::{json, Value};
use time::Duration;
use tokio::sync::broadcast;

use crate::expect::{check, check_log, log_matches, Check, Outcome};
use crate::model::*;
use crate::parse::lookup_resource;

/// How many past events a `wait` for an event looks back on.
const RECENT: usize = 5_000;

/// A test on an object read from the API.
type Predicate = Box<dyn Fn(&Value) -> bool + Send + Sync>;

/// How a scenario is run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Use this PKI (kubeadm layout) instead of the scenario's own or a fresh one.
    pub pki: Option<PathBuf>,
    /// Under CI a missing outside tool (kubectl, openssl, curl) fails its step instead of
    /// skipping it.
    pub ci: bool,
}

/// Sees a run as it happens.
pub trait Observer: Send {
    /// The office is open.
    fn opened(&mut self, _scenario: &Scenario, _office: &OfficeInfo) {}
    /// About to play `step` (the CLI's `--step` waits for Enter here).
    fn before_step(&mut self, _step: &Step) {}
    /// What the step does, in one line for the room.
    fn step(&mut self, _step: &Step, _headline: &str) {}
    /// An event from the stream; `mine` when the step's own visitor caused it.
    fn event(&mut self, _event: &Event, _mine: bool) {}
    /// A command's output, or an answer's body worth showing.
    fn output(&mut self, _text: &str) {}
    /// What the step came to (shown with its explanation when it was a refusal).
    fn outcome(&mut self, _step: &Step, _outcome: &Outcome) {}
    fn check(&mut self, _check: &Check) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Where the office of a run listens.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeInfo {
    pub dir: PathBuf,
    pub apiserver: String,
    pub etcd: String,
}

/// One hop of the story, for the report's sequence diagram.
#[derive(Debug, Clone, Serialize)]
pub enum Hop {
    Call {
        from: String,
        to: String,
        what: String,
        reply: String,
        ok: bool,
    },
    Note {
        text: String,
    },
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub file: PathBuf,
    pub title: String,
    pub checks: Vec<Check>,
    pub hops: Vec<Hop>,
    /// Wall-clock time of the whole run, office included.
    pub elapsed: std::time::Duration,
}

impl ScenarioResult {
    /// Whether every check passed (skipped ones do not fail a run).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

/// A scenario-made identity's files.
#[derive(Debug, Clone)]
struct Made {
    key: PathBuf,
    cert: Option<PathBuf>,
}

struct Runner<'o> {
    office: Office,
    lab: Lab,
    dir: PathBuf,
    clock: LabClock,
    events: Events,
    rx: broadcast::Receiver<Event>,
    made: HashMap<String, Made>,
    /// Events read from the stream but not yet handed to the step (see [`Runner::drain`]).
    pending: Vec<Event>,
    /// Events since the last `wait` for an event (at most [`RECENT`]): waiting for one that
    /// already happened is over at once.
    recent: Vec<Event>,
    /// Set once a step is skipped (a missing outside tool): the rest is skipped too.
    skipping: Option<String>,
    key_algorithm: kubecorp_pki::KeyAlgorithm,
    opts: RunOptions,
    checks: Vec<Check>,
    hops: Vec<Hop>,
    /// The chapter file of the step being played, if it came from one.
    chapter: Option<PathBuf>,
    observer: &'o mut dyn Observer,
}

/// Plays `scenario` in a fresh office and returns its checks.
pub async fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> ScenarioResult {
    let started = Instant::now();
    let mut result = ScenarioResult {
        file: scenario.file.clone(),
        title: scenario.title.clone(),
        checks: Vec::new(),
        hops: Vec::new(),
        elapsed: std::time::Duration::ZERO,
    };
    let tmp = match tempfile::Builder::new()
        .prefix("kubecorp-scenario-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
    {
        Ok(t) => t,
        Err(e) => {
            result.checks.push(Check::failed_to_run(
                0,
                1,
                format!("cannot make a lab directory: {e}"),
            ));
            return result;
        }
    };
    let dir = tmp.path().join("lab");
    let clock = match scenario.lab.clock {
        Some(t) => LabClock::fixed(t),
        None => LabClock::real(),
    };
    let pki = opts.pki.clone().or_else(|| {
        scenario.lab.pki.as_ref().map(|p| {
            // A relative path in a scenario is relative to the scenario file.
            match scenario.file.parent() {
                Some(base) if p.is_relative() => base.join(p),
                _ => p.clone(),
            }
        })
    });
    let note = match prepare_pki(&dir, pki.as_deref(), scenario, &clock) {
        Ok(note) => note,
        Err(e) => {
            result
                .checks
                .push(Check::failed_to_run(0, 1, format!("building the lab: {e}")));
            return result;
        }
    };
    let events = Events::new();
    let rx = events.subscribe();
    let office = match Office::start(OfficeOptions {
        nodes: scenario.lab.nodes.clone(),
        rotate_server_certificates: scenario.lab.rotate_server_certificates,
        staff: scenario.lab.staff,
        clock: clock.clone(),
        events: events.clone(),
        ..OfficeOptions::ephemeral(&dir)
    })
    .await
    {
        Ok(o) => o,
        Err(e) => {
            result.checks.push(Check::failed_to_run(
                0,
                1,
                format!("opening the office: {e}"),
            ));
            return result;
        }
    };
    observer.opened(
        scenario,
        &OfficeInfo {
            dir: dir.clone(),
            apiserver: office.apiserver_url(),
            etcd: office.etcd_url.clone(),
        },
    );
    if let Some(note) = note {
        observer.output(&note);
    }
    let mut runner = Runner {
        office,
        lab: Lab::new(&dir),
        dir,
        clock,
        events,
        rx,
        made: HashMap::new(),
        pending: Vec::new(),
        recent: Vec::new(),
        skipping: None,
        key_algorithm: scenario.lab.key_algorithm,
        opts: opts.clone(),
        checks: Vec::new(),
        hops: Vec::new(),
        chapter: None,
        observer,
    };
    for step in &scenario.steps {
        runner.chapter.clone_from(&step.file);
        if let Some(why) = &runner.skipping {
            // Later steps may need what the skipped one would have done.
            let c = Check::skipped(step.index, step.line, "step", why.clone());
            runner.record(c);
            continue;
        }
        runner.observer.before_step(step);
        if let Err(e) = runner.step(step).await {
            let c = Check::failed_to_run(step.index, step.line, e);
            runner.record(c);
            break;
        }
    }
    let Runner {
        office,
        checks,
        hops,
        ..
    } = runner;
    office.shutdown().await;
    result.checks = checks;
    result.hops = hops;
    result.elapsed = started.elapsed();
    result
}

/// A fresh kubeadm PKI made with the scenario's key algorithm and clock, or a copy of one
/// made elsewhere (`DIR/ca.crt`…, kubeconfigs from `DIR/..`).
///
/// A PKI made elsewhere was made at its own time: when the scenario's clock falls outside the
/// time every certificate in it is valid, the lab clock starts where they all are, and the
/// returned note says so (checks on exact times may then differ).
fn prepare_pki(
    dir: &Path,
    pki: Option<&Path>,
    scenario: &Scenario,
    clock: &LabClock,
) -> Result<Option<String>, String> {
    let lab = Lab::new(dir);
    match pki {
        Some(src) => {
            if !src.join("ca.crt").exists() {
                return Err(format!(
                    "{}: no ca.crt (expected a kubeadm pki directory such as /etc/kubernetes/pki)",
                    src.display()
                ));
            }
            copy_dir(src, &lab.pki_dir()).map_err(|e| format!("copying {}: {e}", src.display()))?;
            if let Some(parent) = src.parent() {
                if let Ok(entries) = std::fs::read_dir(parent) {
                    for entry in entries.flatten() {
                        let path = entry.path();
                        if path.extension().is_some_and(|e| e == "conf") && path.is_file() {
                            copy_file(&path, &dir.join(entry.file_name()))?;
                        }
                    }
                }
            }
            Ok(fit_clock(&lab.pki_dir(), clock))
        }
        None => {
            let node = scenario
                .lab
                .nodes
                .first()
                .cloned()
                .unwrap_or_else(|| kubecorp_office::CONTROL_PLANE_NODE.into());
            let init = kubecorp_pki::init::InitOptions {
                facts: kubecorp_pki::ClusterFacts::new(
                    node,
                    std::net::IpAddr::from([127, 0, 0, 1]),
                ),
                key_algorithm: scenario.lab.key_algorithm,
                force: false,
                now: clock.now(),
            };
            kubecorp_pki::init::init(&lab, &init)
                .map(|_| None)
                .map_err(|e| e.to_string())
        }
    }
}

/// Moves the lab clock into the window where every certificate under `pki` is valid, if it
/// is outside it; says so.
fn fit_clock(pki: &Path, clock: &LabClock) -> Option<String> {
    fn certs(dir: &Path, out: &mut Vec<kubecorp_pki::cert::CertInfo>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                certs(&path, out);
            } else if path.extension().is_some_and(|e| e == "crt") {
                if let Ok(info) = kubecorp_pki::cert::read_cert(&path) {
                    out.push(info);
                }
            }
        }
    }
    let mut all = Vec::new();
    certs(pki, &mut all);
    let from = all.iter().map(|c| c.not_before).max()?;
    let until = all.iter().map(|c| c.not_after).min()?;
    let now = clock.now();
    if (from..=until).contains(&now) || from > until {
        return None;
    }
    let start = from.checked_add(Duration::minutes(5)).unwrap_or(from);
    clock.set(start.min(until));
    Some(format!(
        "the scenario's clock ({}) is outside the time this PKI's certificates are all valid ({} to {}); the lab clock starts at {} instead, so checks on exact times may differ",
        kubecorp_trust::go_time(now),
        kubecorp_trust::go_time(from),
        kubecorp_trust::go_time(until),
        kubecorp_trust::go_time(clock.now())
    ))
}

/// Copies a PKI into the lab as the lab keeps its own: directories 0700, every file written
/// atomically, keys and kubeconfigs 0600.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    kubecorp_pki::fs::ensure_dir(to).map_err(|e| e.to_string())?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let is_dir = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", source.display()))?
            .is_dir();
        if is_dir {
            copy_dir(&source, &target)?;
        } else {
            copy_file(&source, &target)?;
        }
    }
    Ok(())
}

/// One file of a foreign PKI, with the lab's modes.
fn copy_file(source: &Path, target: &Path) -> Result<(), String> {
    let bytes = std::fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
    let secret = source
        .extension()
        .is_some_and(|e| e == "key" || e == "conf");
    let mode = match secret {
        true => kubecorp_pki::fs::Mode::Secret,
        false => kubecorp_pki::fs::Mode::Public,
    };
    kubecorp_pki::fs::write_atomic(target, &bytes, mode).map_err(|e| e.to_string())
}

/// Who is calling, ready to dial.
struct Caller {
    label: String,
    cert: Option<CertSource>,
    identity: Option<Identity>,
    /// The kubeconfig, when the badge comes from one (its CA is then the one trusted).
    kubeconfig: Option<PathBuf>,
}

impl Runner<'_> {
    fn caller(&self, who: &Who) -> Result<Caller, String> {
        let (cert, kubeconfig) = match who {
            Who::Anonymous => (None, None),
            Who::Kubeconfig(file) => {
                let path = self.lab.kubeconfig_path(file);
                if !path.exists() {
                    return Err(format!("{}: no such kubeconfig in the lab", path.display()));
                }
                (Some(CertSource::kubeconfig(&path)), Some(path))
            }
            Who::Badge(name) => {
                let stem = match kubecorp_pki::profile::profile(name).map(|p| p.storage) {
                    Some(kubecorp_pki::profile::Storage::Pki(stem)) => stem,
                    _ => return Err(format!("{name}: not a badge kept in pki/")),
                };
                (
                    Some(CertSource::pem_files(
                        self.lab.cert_path(stem),
                        self.lab.key_path(stem),
                    )),
                    None,
                )
            }
            Who::Files { cert, key } => (
                Some(CertSource::pem_files(
                    self.dir.join(cert),
                    self.dir.join(key),
                )),
                None,
            ),
            Who::Made(name) => {
                let made = self
                    .made
                    .get(name)
                    .ok_or_else(|| format!("{name} has no key yet"))?;
                let cert = made.cert.clone().ok_or_else(|| {
                    format!("{name} has a key but no certificate yet (collect it with a `certificate` step)")
                })?;
                (Some(CertSource::pem_files(cert, made.key.clone())), None)
            }
        };
        let identity = cert.as_ref().and_then(|c| c.identity().ok());
        Ok(Caller {
            label: who.label(),
            cert,
            identity,
            kubeconfig,
        })
    }

    fn apiserver(&self, caller: &Caller) -> Result<KubeClient, String> {
        self.apiserver_as(caller, None)
    }

    /// A client for Alice, dialled as `host` (default 127.0.0.1) at her port.
    fn apiserver_as(&self, caller: &Caller, host: Option<&str>) -> Result<KubeClient, String> {
        let trust = match &caller.kubeconfig {
            Some(k) => TrustSource::kubeconfig(k),
            None => TrustSource::bundle(self.lab.ca_cert_path(Authority::Cluster)),
        };
        let url = match host {
            Some(h) => format!("https://{h}:{}", self.office.apiserver_addr.port()),
            None => self.office.apiserver_url(),
        };
        KubeClient::new(
            &caller.label,
            &url,
            caller.cert.clone(),
            trust,
            self.clock.clone(),
            self.events.clone(),
        )
        .map_err(|e| e.to_string())
    }

    fn admin(&self) -> Result<KubeClient, String> {
        let caller = self.caller(&Who::Kubeconfig("admin.conf".into()))?;
        self.apiserver(&caller)
    }

    /// Events that arrived since the last call.
    fn drain(&mut self) -> Vec<Event> {
        let mut out = std::mem::take(&mut self.pending);
        loop {
            match self.rx.try_recv() {
                Ok(e) => out.push(e),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        out
    }

    /// Drains events, waiting up to `grace` for one that satisfies `until`.
    async fn drain_until(
        &mut self,
        mut events: Vec<Event>,
        grace: std::time::Duration,
        until: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        let deadline = Instant::now() + grace;
        loop {
            events.extend(self.drain());
            if until(&events) || Instant::now() >= deadline {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    fn record(&mut self, mut c: Check) {
        if c.file.is_none() {
            c.file.clone_from(&self.chapter);
        }
        self.observer.check(&c);
        self.checks.push(c);
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        // Whatever happened between steps (background staff) is shown, not judged.
        for e in self.drain() {
            self.observer.event(&e, false);
            self.recent.push(e);
        }
        match &step.action {
            Action::Say => {
                let text = step.say.clone().unwrap_or_default();
                self.observer.step(step, &text);
                Ok(())
            }
            Action::Request(request) => {
                let caller = self.caller(&request.who)?;
                let headline = headline_request(request, &caller);
                self.observer.step(step, &headline);
                let (what, outcome) = self.request(request, &caller).await?;
                self.finish_call(step, &caller, request.to.name(), &what, outcome)
                    .await;
                Ok(())
            }
            Action::Csr(csr) => {
                let caller = self.caller(&csr.who)?;
                self.observer.step(
                    step,
                    &format!(
                        "{} makes a key and asks the Founder for a badge: CSR {} for CN={}{} ({}{}), sent by {}",
                        csr.identity,
                        csr.name,
                        csr.cn,
                        csr.groups.iter().map(|g| format!(", O={g}")).collect::<String>(),
                        csr.signer,
                        csr.expiration_seconds.map(|s| format!(", expirationSeconds {s}")).unwrap_or_default(),
                        caller.label
                    ),
                );
                let outcome = self.csr(csr, &caller).await?;
                self.finish_call(
                    step,
                    &caller,
                    "apiserver",
                    &format!("create CSR {}", csr.name),
                    outcome,
                )
                .await;
                Ok(())
            }
            Action::Certificate { csr, identity } => {
                self.observer.step(
                    step,
                    &format!("{identity} collects the signed badge from CSR {csr}"),
                );
                let outcome = self.certificate(csr, identity).await?;
                let caller = self.caller(&Who::Kubeconfig("admin.conf".into()))?;
                self.finish_call(
                    step,
                    &caller,
                    "apiserver",
                    &format!("get CSR {csr} status.certificate"),
                    outcome,
                )
                .await;
                Ok(())
            }
            Action::Run(cmd) => {
                let command = self.substitute(&cmd.command)?;
                self.observer.step(step, &format!("$ {command}"));
                self.hops.push(Hop::Note {
                    text: format!("$ {}", cmd.command),
                });
                let program = command.split_whitespace().next().unwrap_or_default();
                if !on_path(program) {
                    let why = format!("{program} is not installed");
                    if self.opts.ci {
                        return Err(format!(
                            "{why} (under CI every outside tool must be present)"
                        ));
                    }
                    self.record(Check::skipped(step.index, step.line, "run", why.clone()));
                    self.skipping = Some(format!("an earlier step was skipped: {why}"));
                    return Ok(());
                }
                let outcome = self.run_command(&command, cmd.timeout).await?;
                self.observer.output(&outcome.text);
                let events = self.drain();
                self.judge(step, &outcome, events, None).await;
                Ok(())
            }
            Action::Wait(wait) => {
                let headline = headline_wait(&wait.condition);
                self.observer.step(step, &headline);
                let (outcome, mut events) = self.wait(wait).await?;
                self.hops.push(Hop::Note {
                    text: format!(
                        "{headline}: {}",
                        if outcome.allowed { "done" } else { "timed out" }
                    ),
                });
                events.extend(self.drain());
                self.judge(step, &outcome, events, None).await;
                if let WaitFor::Event { .. } = wait.condition {
                    // What this wait saw is used up: the next one waits for something new.
                    self.recent.clear();
                }
                Ok(())
            }
            Action::Break { fault, target } => {
                self.observer
                    .step(step, &format!("break {target}: {}", fault_words(fault)));
                let line = kubecorp_pki::fault::inflict(&self.lab, fault, target, self.clock.now())
                    .map_err(|e| e.to_string())?;
                self.observer.output(&line);
                self.hops.push(Hop::Note {
                    text: format!("break {fault} {target}"),
                });
                Ok(())
            }
            Action::Undo { target } => {
                self.observer
                    .step(step, &format!("put {target} back from its backup"));
                let line =
                    kubecorp_pki::fault::undo(&self.lab, target).map_err(|e| e.to_string())?;
                self.observer.output(&line);
                self.hops.push(Hop::Note {
                    text: format!("undo {target}"),
                });
                Ok(())
            }
            Action::Renew { target } => {
                self.observer.step(
                    step,
                    &if KUBEADM_RENEWS.contains(&target.as_str()) {
                        format!("the Founder renews {target} (kubeadm certs renew {target})")
                    } else {
                        format!("the Founder renews {target} (kubecorp certs renew {target}; `kubeadm certs renew` has no such name)")
                    },
                );
                let renewed = kubecorp_pki::renew::renew(&self.lab, target, self.clock.now())
                    .map_err(|e| e.to_string())?;
                for r in renewed {
                    if let Some(w) = r.warning {
                        self.observer.output(&w);
                    }
                    self.observer.output(&r.line);
                }
                self.hops.push(Hop::Note {
                    text: format!("renew {target}"),
                });
                Ok(())
            }
            Action::Clock(ClockMove::Advance(by)) => {
                self.clock.advance(*by);
                let text = format!(
                    "time passes: {} later, the lab clock reads {}",
                    format_duration(*by),
                    kubecorp_trust::go_time(self.clock.now())
                );
                self.observer.step(step, &text);
                self.hops.push(Hop::Note {
                    text: format!("clock +{}", format_duration(*by)),
                });
                Ok(())
            }
            Action::Clock(ClockMove::Chapter(time_of_day)) => {
                let now = self.clock.now();
                let mut at = now.replace_time(*time_of_day);
                if at < now {
                    at += time::Duration::days(1);
                }
                if self.clock.is_fixed() && at > now {
                    self.clock.set(at);
                    self.observer.step(
                        step,
                        &format!(
                            "the story moves on to {:02}:{:02}: the lab clock reads {}",
                            at.hour(),
                            at.minute(),
                            kubecorp_trust::go_time(at)
                        ),
                    );
                    self.hops.push(Hop::Note {
                        text: format!("clock = {}", kubecorp_trust::go_time(at)),
                    });
                } else {
                    self.observer.step(
                        step,
                        &format!(
                            "a new chapter: the lab clock reads {}",
                            kubecorp_trust::go_time(now)
                        ),
                    );
                }
                Ok(())
            }
            Action::Clock(ClockMove::Set(at)) => {
                self.clock.set(*at);
                self.observer.step(
                    step,
                    &format!("the lab clock is set to {}", kubecorp_trust::go_time(*at)),
                );
                self.hops.push(Hop::Note {
                    text: format!("clock = {}", kubecorp_trust::go_time(*at)),
                });
                Ok(())
            }
            Action::RotateCa(rotate) => {
                self.observer.step(
                    step,
                    &format!(
                        "CA rotation of {}: {}",
                        rotate.authority.name(),
                        if rotate.finish {
                            "finish (trust only the new CA)"
                        } else {
                            "start (a new CA, trusted alongside the old one)"
                        }
                    ),
                );
                let line = self.rotate_ca(rotate)?;
                self.observer.output(&line);
                self.hops.push(Hop::Note {
                    text: format!(
                        "rotate {} CA: {}",
                        rotate.authority.name(),
                        if rotate.finish { "finish" } else { "start" }
                    ),
                });
                Ok(())
            }
        }
    }

    /// Manual CA rotation, as the Kubernetes docs lay it out: a new CA with the same name joins
    /// the old one in every trust bundle and signs from now on (`start`); once every badge has
    /// been re-issued, the old CA leaves the bundles (`finish`). Badges still signed by the old
    /// key then fail with Go's "possibly because of" wording: same name, other key.
    fn rotate_ca(&mut self, rotate: &RotateCa) -> Result<String, String> {
        use kubecorp_pki::cert::cert_pem;
        use kubecorp_pki::fs::{write_atomic, Mode};
        let authority = rotate.authority;
        let err = |e: kubecorp_pki::PkiError| e.to_string();
        let ca_path = self.lab.ca_cert_path(authority);
        let bundle = if rotate.finish {
            let chain = kubecorp_pki::cert::read_cert_chain(&ca_path).map_err(err)?;
            if chain.len() < 2 {
                return Err(format!(
                    "{} holds one CA: there is no rotation to finish (start one with phase: start)",
                    ca_path.display()
                ));
            }
            let bundle = cert_pem(&chain[0]);
            write_atomic(&ca_path, bundle.as_bytes(), Mode::Public).map_err(err)?;
            bundle
        } else {
            let old = self.lab.load_ca(authority).map_err(err)?;
            let key = kubecorp_pki::KeyAlgorithm::of(&old.key)
                .generate()
                .map_err(err)?;
            let new = kubecorp_pki::issue::Ca::generate(
                authority.common_name(),
                key,
                self.clock.now(),
                kubecorp_pki::issue::CA_VALIDITY,
            )
            .map_err(err)?;
            // The new CA signs from now on (its certificate first, so it is the one loaded with
            // the key); the old one stays trusted until the rotation finishes.
            let bundle = format!("{}{}", cert_pem(&new.cert), cert_pem(&old.cert));
            write_atomic(
                &self.lab.ca_key_path(authority),
                kubecorp_pki::keys::private_key_pem(&new.key)
                    .map_err(err)?
                    .as_bytes(),
                Mode::Secret,
            )
            .map_err(err)?;
            write_atomic(&ca_path, bundle.as_bytes(), Mode::Public).map_err(err)?;
            bundle
        };
        let mut touched = Vec::new();
        if authority == Authority::Cluster {
            // Every kubeconfig carries the cluster CA to check Alice's serving badge with.
            use base64::Engine as _;
            let data = base64::engine::general_purpose::STANDARD.encode(bundle.as_bytes());
            let mut files: Vec<PathBuf> = Vec::new();
            for dir in [self.dir.clone(), self.dir.join("users")] {
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    files.extend(
                        entries
                            .flatten()
                            .map(|e| e.path())
                            .filter(|p| p.extension().is_some_and(|x| x == "conf")),
                    );
                }
            }
            files.sort();
            for path in files {
                let mut config = kubecorp_pki::kubeconfig::Kubeconfig::read(&path).map_err(err)?;
                for c in &mut config.clusters {
                    c.cluster.certificate_authority_data = Some(data.clone());
                    c.cluster.certificate_authority = None;
                }
                write_atomic(&path, config.to_yaml().as_bytes(), Mode::Secret).map_err(err)?;
                if let Some(name) = path.file_name() {
                    touched.push(name.to_string_lossy().into_owned());
                }
            }
        }
        let mut line = if rotate.finish {
            format!(
                "{} now trusts only the new {} CA",
                ca_path.display(),
                authority.name()
            )
        } else {
            format!(
                "a new {} CA (same name, new key) signs from now on; {} trusts the old and the new",
                authority.name(),
                ca_path.display()
            )
        };
        if !touched.is_empty() {
            line += &format!("; CA data updated in {}", touched.join(", "));
        }
        Ok(line)
    }

    /// Events, outcome, hop and checks for a call.
    async fn finish_call(
        &mut self,
        step: &Step,
        caller: &Caller,
        to: &str,
        what: &str,
        outcome: Outcome,
    ) {
        let events = self.drain();
        let reply = if outcome.allowed {
            outcome
                .status
                .map_or_else(|| "✓".to_owned(), |s| format!("✓ {s}"))
        } else {
            format!(
                "✗ {}{}",
                outcome.status.map(|s| format!("{s} ")).unwrap_or_default(),
                outcome.stage.map(|s| s.to_string()).unwrap_or_default()
            )
        };
        self.hops.push(Hop::Call {
            from: caller.label.clone(),
            to: to.to_owned(),
            what: what.to_owned(),
            reply,
            ok: outcome.allowed,
        });
        let serial = caller.identity.as_ref().map(|i| i.serial.clone());
        let target = to.to_owned();
        let label = caller.label.clone();
        let mine = move |e: &Event| {
            e.from == label
                || (e.to == target
                    && match (&e.identity, &serial) {
                        (Some(id), Some(s)) => &id.serial == s,
                        (None, _) => e.from.parse::<SocketAddr>().is_ok(),
                        _ => false,
                    })
        };
        self.judge(step, &outcome, events, Some(&mine)).await;
    }

    /// Shows the step's events and outcome, and checks them against `expect` (or, with no
    /// `expect`, that the step simply worked).
    async fn judge(
        &mut self,
        step: &Step,
        outcome: &Outcome,
        events: Vec<Event>,
        mine: Option<&(dyn Fn(&Event) -> bool + Send + Sync)>,
    ) {
        let logs = step
            .expect
            .as_ref()
            .map(|e| e.logs.clone())
            .unwrap_or_default();
        let events = if logs.is_empty() {
            events
        } else {
            // A server logs a refusal a moment after the caller sees it.
            self.drain_until(events, std::time::Duration::from_secs(1), |evs| {
                logs.iter().all(|l| evs.iter().any(|e| log_matches(l, e)))
            })
            .await
        };
        for e in &events {
            self.observer.event(e, mine.is_some_and(|m| m(e)));
        }
        self.draw_refusals(&events, mine);
        self.recent.extend(events.iter().cloned());
        if self.recent.len() > RECENT {
            let extra = self.recent.len() - RECENT;
            self.recent.drain(..extra);
        }
        self.observer.outcome(step, outcome);
        match &step.expect {
            Some(expect) => {
                for c in check(step.index, expect, outcome) {
                    self.record(c);
                }
                for log in &expect.logs {
                    let c = check_log(step.index, expect.line, log, &events);
                    self.record(c);
                }
            }
            None => {
                let implied = Expect {
                    line: step.line,
                    allowed: Some(true),
                    ..Expect::default()
                };
                for c in check(step.index, &implied, outcome) {
                    self.record(c);
                }
            }
        }
    }

    /// Someone else refused during the step (a member of staff at Alice's door, Alice at
    /// etcd's): hops worth drawing, once each. The door's own event is drawn; the caller's
    /// side of the same refusal only when the door said nothing (the caller refused the door).
    fn draw_refusals(
        &mut self,
        events: &[Event],
        mine: Option<&(dyn Fn(&Event) -> bool + Send + Sync)>,
    ) {
        let refused: Vec<&Event> = events
            .iter()
            .filter(|e| !e.allowed && !mine.is_some_and(|m| m(e)))
            .collect();
        let mut drawn = std::collections::HashSet::new();
        let by_door = |e: &&Event| e.log_owner() == e.to;
        let doors: Vec<&Event> = refused.iter().copied().filter(by_door).collect();
        let callers = refused
            .iter()
            .copied()
            .filter(|e| !by_door(e) && !doors.iter().any(|d| d.to == e.to && d.stage == e.stage));
        for e in doors.iter().copied().chain(callers) {
            let from = match (&e.identity, e.from.parse::<SocketAddr>()) {
                (Some(id), Ok(_)) => id.cn.clone(),
                _ => e.from.clone(),
            };
            if !drawn.insert((from.clone(), e.to.clone(), e.stage)) {
                continue;
            }
            self.hops.push(Hop::Call {
                from,
                to: e.to.clone(),
                what: e.detail.clone().unwrap_or_else(|| e.stage.to_string()),
                reply: format!(
                    "✗ {}{}",
                    e.stage,
                    e.verdict.map(|v| format!(" ({v})")).unwrap_or_default()
                ),
                ok: false,
            });
        }
    }

    /// Carries out a request and reads what the guards decided.
    async fn request(
        &mut self,
        request: &Request,
        caller: &Caller,
    ) -> Result<(String, Outcome), String> {
        match request.to {
            Component::Apiserver => {
                let client = self.apiserver_as(caller, request.host.as_deref())?;
                self.api_call(&client, &request.call, caller).await
            }
            Component::Etcd | Component::EtcdPeer => {
                let Call::Raw { method, path, body } = &request.call else {
                    return Err("etcd takes method and path".into());
                };
                let url = if request.to == Component::EtcdPeer {
                    let addr = self
                        .office
                        .etcd_peer_addr
                        .ok_or("this office has no etcd peer port (an external etcd?)")?;
                    format!("https://{addr}")
                } else {
                    match (&request.host, self.office.etcd_addr) {
                        (Some(h), Some(addr)) => format!("https://{h}:{}", addr.port()),
                        _ => self.office.etcd_url.clone(),
                    }
                };
                // Both of Charlie's ports log as etcd.
                let door = "etcd";
                let client = kubecorp_etcd::EtcdClient::new(
                    &url,
                    caller.cert.clone(),
                    TrustSource::bundle(self.lab.ca_cert_path(Authority::Etcd)),
                    self.clock.clone(),
                    self.events.clone(),
                )
                .map_err(|e| e.to_string())?
                .calling_as(caller.label.clone());
                let method = method
                    .parse::<Method>()
                    .map_err(|_| format!("{method}: not an HTTP method"))?;
                let bytes = body
                    .as_ref()
                    .map(|b| b.to_string().into_bytes())
                    .unwrap_or_default();
                let what = format!("{method} {path}");
                let outcome = match client.request(method, path, bytes).await {
                    Ok((status, body)) => Outcome {
                        allowed: status.is_success(),
                        status: Some(status.as_u16()),
                        stage: Some(Stage::Request),
                        text: etcd_summary(path, &body),
                        also: vec![String::from_utf8_lossy(&body).into_owned()],
                        ..Outcome::default()
                    },
                    Err(e) => self.etcd_failure(e, caller, door).await,
                };
                Ok((what, outcome))
            }
            Component::Scheduler => {
                let Call::Raw { method, path, body } = &request.call else {
                    return Err("the scheduler takes method and path".into());
                };
                let addr = self
                    .office
                    .scheduler_addr
                    .ok_or("this office runs no scheduler: add scheduler to lab.staff")?;
                let what = format!("{method} {path}");
                let reply = crate::kubelet::call(
                    crate::kubelet::Dial {
                        caller: &caller.label,
                        addr,
                        identity: caller.cert.clone(),
                        clock: &self.clock,
                        events: &self.events,
                    },
                    method,
                    path,
                    body.as_ref().map(|b| b.to_string().into_bytes()),
                )
                .await;
                let outcome = self.unverified_outcome(reply, caller, "scheduler").await;
                Ok((what, outcome))
            }
            Component::Kubelet => {
                let Call::Raw { method, path, body } = &request.call else {
                    return Err("a kubelet takes method and path".into());
                };
                let (node, addr) = match &request.node {
                    Some(n) => self
                        .office
                        .kubelets
                        .iter()
                        .find(|(name, _)| name == n)
                        .cloned()
                        .ok_or_else(|| {
                            format!(
                                "no kubelet for node {n} (this office has: {})",
                                self.office
                                    .kubelets
                                    .iter()
                                    .map(|(name, _)| name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })?,
                    None => self
                        .office
                        .kubelets
                        .first()
                        .cloned()
                        .ok_or("this office runs no kubelet: add kubelets to lab.staff")?,
                };
                let what = format!("{method} {path} on {node}");
                let reply = crate::kubelet::call(
                    crate::kubelet::Dial {
                        caller: &caller.label,
                        addr,
                        identity: caller.cert.clone(),
                        clock: &self.clock,
                        events: &self.events,
                    },
                    method,
                    path,
                    body.as_ref().map(|b| b.to_string().into_bytes()),
                )
                .await;
                let outcome = self.unverified_outcome(reply, caller, "kubelet").await;
                Ok((what, outcome))
            }
        }
    }

    /// The outcome of a call to a door whose serving badge is not checked (a kubelet, the
    /// scheduler): 401 is authentication, 403 authorization.
    async fn unverified_outcome(
        &mut self,
        reply: Result<(u16, bytes::Bytes), (Stage, String)>,
        caller: &Caller,
        door: &str,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        match reply {
            Ok((code, body)) => {
                let text = String::from_utf8_lossy(&body).trim_end().to_owned();
                outcome.allowed = (200..300).contains(&code);
                outcome.status = Some(code);
                outcome.stage = Some(match code {
                    401 => Stage::Authn,
                    403 => Stage::Authz,
                    _ => Stage::Request,
                });
                outcome.text = text;
            }
            Err((stage, text)) => {
                outcome.stage = Some(stage);
                outcome.text = text;
            }
        }
        if !outcome.allowed {
            self.refusal_from_events(&mut outcome, caller, door).await;
        }
        outcome
    }

    async fn etcd_failure(
        &mut self,
        e: kubecorp_etcd::ClientError,
        caller: &Caller,
        door: &str,
    ) -> Outcome {
        use kubecorp_etcd::client::Phase as EPhase;
        use kubecorp_etcd::ClientError as E;
        let mut outcome = Outcome {
            also: vec![e.to_string()],
            ..Outcome::default()
        };
        if let Some(g) = e.grpc_text() {
            outcome.also.push(g);
        }
        match &e {
            E::Transport {
                phase,
                text,
                verdict,
                ..
            } => {
                outcome.stage = Some(match phase {
                    EPhase::Connect => Stage::Tcp,
                    EPhase::TlsHandshake => Stage::Tls,
                    EPhase::Request => Stage::Request,
                });
                outcome.text = text.clone();
                if let Some(v) = verdict {
                    outcome.verdict = Some(v.kind);
                    outcome.explanation = Some(v.explanation.clone());
                    outcome.hint = Some(v.hint.clone());
                }
            }
            E::Status {
                status, message, ..
            } => {
                outcome.status = Some(*status);
                outcome.stage = Some(Stage::Request);
                outcome.text = message.clone();
            }
            other => outcome.text = other.to_string(),
        }
        self.refusal_from_events(&mut outcome, caller, door).await;
        outcome
    }

    /// Fills the verdict, explanation and hint of a refusal from the guard's own event.
    async fn refusal_from_events(&mut self, outcome: &mut Outcome, caller: &Caller, to: &str) {
        if outcome.allowed || outcome.verdict.is_some() {
            return;
        }
        let serial = caller.identity.as_ref().map(|i| i.serial.clone());
        let label = caller.label.clone();
        let target = to.to_owned();
        let is_mine = move |e: &Event| -> bool {
            if e.allowed || e.to != target {
                return false;
            }
            match (&e.identity, &serial) {
                (Some(id), Some(s)) => &id.serial == s,
                (None, _) => e.from.parse::<SocketAddr>().is_ok() || e.from == label,
                _ => false,
            }
        };
        // The guard may log its refusal a moment after the caller saw it: peek without losing.
        // Peek at the step's events without taking them from the narration.
        let deadline = Instant::now() + std::time::Duration::from_millis(300);
        let found = loop {
            let new = self.drain();
            self.pending = new;
            if let Some(e) = self.pending.iter().find(|e| is_mine(e)) {
                break Some(e.clone());
            }
            if Instant::now() >= deadline {
                break None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        if let Some(e) = found {
            outcome.verdict = e
                .verdict
                .or_else(|| e.server_log.as_deref().and_then(classify_text));
            outcome.explanation = e.explanation.clone().or(outcome.explanation.take());
            outcome.hint = e.hint.clone().or(outcome.hint.take());
            if let Some(log) = &e.server_log {
                outcome.also.push(log.clone());
            }
        }
        if outcome.explanation.is_none() {
            if let Some(x) = kubecorp_trust::explain::explain(&outcome.text) {
                outcome.explanation = Some(x.meaning);
                outcome.hint = Some(x.fix);
            }
        }
    }

    /// A kubectl-like call (or a raw one) to the apiserver.
    async fn api_call(
        &mut self,
        client: &KubeClient,
        call: &Call,
        caller: &Caller,
    ) -> Result<(String, Outcome), String> {
        if let Call::Verb {
            verb,
            resource,
            name: None,
            signer: Some(signer),
            ..
        } = call
        {
            return Box::pin(self.decide_pending(client, *verb, resource, signer, caller)).await;
        }
        let (method, path, body, success_text) = match call {
            Call::Raw { method, path, body } => (
                method
                    .parse::<Method>()
                    .map_err(|_| format!("{method}: not an HTTP method"))?,
                path.clone(),
                body.clone(),
                None,
            ),
            Call::Verb {
                verb,
                resource,
                name,
                namespace,
                body,
                ..
            } => {
                let r = lookup_resource(resource)
                    .ok_or_else(|| format!("{resource}: not a resource the apiserver serves"))?;
                let body_ns = body
                    .as_ref()
                    .and_then(|b| b["metadata"]["namespace"].as_str())
                    .map(str::to_owned);
                let ns = namespace
                    .clone()
                    .or(body_ns)
                    .unwrap_or_else(|| "default".into());
                let name = name.clone().or_else(|| {
                    body.as_ref()
                        .and_then(|b| b["metadata"]["name"].as_str())
                        .map(str::to_owned)
                });
                let base = if r.group.is_empty() {
                    format!("/api/{}", r.version)
                } else {
                    format!("/apis/{}/{}", r.group, r.version)
                };
                let collection = if r.namespaced {
                    format!("{base}/namespaces/{ns}/{}", r.name)
                } else {
                    format!("{base}/{}", r.name)
                };
                let qualified = if r.group.is_empty() {
                    r.singular.to_owned()
                } else {
                    format!("{}.{}", r.singular, r.group)
                };
                let item = |n: &Option<String>| match n {
                    Some(n) => format!("{collection}/{n}"),
                    None => collection.clone(),
                };
                let named = |word: &str| {
                    Some(format!(
                        "{qualified}/{} {word}",
                        name.clone().unwrap_or_default()
                    ))
                };
                match verb {
                    Verb::Get => (Method::GET, item(&name), None, None),
                    Verb::Create => (
                        Method::POST,
                        collection.clone(),
                        body.clone(),
                        named("created"),
                    ),
                    Verb::Apply => {
                        // kubectl apply: create, or replace what is there.
                        let first = client
                            .send(
                                Method::POST,
                                &collection,
                                body.as_ref().map(|b| b.to_string().into_bytes()),
                                "application/json",
                            )
                            .await;
                        match first {
                            Ok(reply) if reply.code == 409 => {
                                let current = client.get(&item(&name)).await.ok();
                                let mut body = body.clone().unwrap_or(Value::Null);
                                if let Some(rv) = current
                                    .as_ref()
                                    .map(|c| c["metadata"]["resourceVersion"].clone())
                                {
                                    body["metadata"]["resourceVersion"] = rv;
                                }
                                (Method::PUT, item(&name), Some(body), named("configured"))
                            }
                            other => {
                                let what = format!("POST {collection}");
                                let outcome = self
                                    .api_outcome(client, &what, other, named("created"), caller)
                                    .await;
                                return Ok((what, outcome));
                            }
                        }
                    }
                    Verb::Approve | Verb::Deny => {
                        let path = item(&name);
                        let current = match client.send(Method::GET, &path, None, "").await {
                            Ok(reply) if (200..300).contains(&reply.code) => reply.json(),
                            other => {
                                let what = format!("GET {path}");
                                let outcome =
                                    self.api_outcome(client, &what, other, None, caller).await;
                                return Ok((what, outcome));
                            }
                        };
                        let (kind, reason, word) = if *verb == Verb::Approve {
                            ("Approved", "KubectlApprove", "approved")
                        } else {
                            ("Denied", "KubectlDeny", "denied")
                        };
                        let mut updated = current;
                        let condition = json!({
                            "type": kind,
                            "status": "True",
                            "reason": reason,
                            "message": format!("This CSR was {word} by kubectl certificate {}.", verb.name()),
                            "lastUpdateTime": kubecorp_trust::go_time(self.clock.now()),
                        });
                        match updated["status"]["conditions"].as_array_mut() {
                            Some(list) => list.push(condition),
                            None => updated["status"]["conditions"] = json!([condition]),
                        }
                        (
                            Method::PUT,
                            format!("{path}/approval"),
                            Some(updated),
                            named(word),
                        )
                    }
                    Verb::Delete => (Method::DELETE, item(&name), None, named("deleted")),
                }
            }
        };
        let what = format!("{method} {path}");
        let reply = client
            .send(
                method,
                &path,
                body.map(|b| b.to_string().into_bytes()),
                "application/json",
            )
            .await;
        let outcome = self
            .api_outcome(client, &what, reply, success_text, caller)
            .await;
        Ok((what, outcome))
    }

    /// `kubectl certificate approve` (or deny) for every Pending CSR of `signer`, as an admin
    /// does after `kubectl get csr`.
    async fn decide_pending(
        &mut self,
        client: &KubeClient,
        verb: Verb,
        resource: &str,
        signer: &str,
        caller: &Caller,
    ) -> Result<(String, Outcome), String> {
        let list = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
        let reply = client.send(Method::GET, list, None, "").await;
        let items = match reply {
            Ok(r) if (200..300).contains(&r.code) => {
                r.json()["items"].as_array().cloned().unwrap_or_default()
            }
            other => {
                let what = format!("GET {list}");
                let outcome = self.api_outcome(client, &what, other, None, caller).await;
                return Ok((what, outcome));
            }
        };
        let pending: Vec<String> = items
            .iter()
            .filter(|c| c["spec"]["signerName"] == signer)
            .filter(|c| {
                c["status"]["conditions"]
                    .as_array()
                    .is_none_or(|l| l.is_empty())
            })
            .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        if pending.is_empty() {
            return Ok((
                format!("{} pending {signer} CSRs", verb.name()),
                Outcome {
                    text: "No resources found".into(),
                    stage: Some(Stage::Request),
                    ..Outcome::default()
                },
            ));
        }
        let mut texts = Vec::new();
        let mut last = None;
        for name in pending {
            let call = Call::Verb {
                verb,
                resource: resource.to_owned(),
                name: Some(name),
                namespace: None,
                body: None,
                signer: None,
            };
            let (what, outcome) = self.api_call(client, &call, caller).await?;
            texts.push(outcome.text.clone());
            let failed = !outcome.allowed;
            last = Some((what, outcome));
            if failed {
                break;
            }
        }
        let (what, mut outcome) = last.expect("at least one CSR");
        outcome.text = texts.join("\n");
        Ok((what, outcome))
    }

    async fn api_outcome(
        &mut self,
        client: &KubeClient,
        what: &str,
        reply: Result<kubecorp_client::Reply, ClientError>,
        success_text: Option<String>,
        caller: &Caller,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        match reply {
            Ok(reply) if (200..300).contains(&reply.code) => {
                outcome.allowed = true;
                outcome.status = Some(reply.code);
                outcome.stage = Some(Stage::Request);
                outcome.text =
                    success_text.unwrap_or_else(|| summarize(&reply.json(), &reply.text()));
                outcome.also.push(reply.text());
            }
            Ok(reply) => {
                let err = client.status_error(what.to_owned(), &reply);
                outcome.status = Some(reply.code);
                outcome.stage = Some(match reply.code {
                    401 => Stage::Authn,
                    403 => Stage::Authz,
                    _ => Stage::Request,
                });
                outcome.text = err.kubectl_text();
                outcome.also = vec![err.text(), reply.text()];
                if reply.code == 403 {
                    outcome.explanation = Some(
                        "the badge is genuine, but no RBAC rule lets this user do this".into(),
                    );
                    outcome.hint = Some("grant it with a RoleBinding or ClusterRoleBinding (kubectl create rolebinding NAME --clusterrole=view --user=USER)".into());
                }
                if reply.code == 401 || reply.code == 403 {
                    self.refusal_from_events(&mut outcome, caller, "apiserver")
                        .await;
                }
            }
            Err(e) => {
                outcome.stage = Some(match e.phase() {
                    Some(Phase::Connect) => Stage::Tcp,
                    Some(Phase::TlsHandshake) => Stage::Tls,
                    _ => Stage::Request,
                });
                outcome.text = e.kubectl_text();
                outcome.also = vec![e.text(), e.to_string()];
                if let ClientError::Transport {
                    verdict: Some(v), ..
                } = &e
                {
                    outcome.verdict = Some(v.kind);
                    outcome.explanation = Some(v.explanation.clone());
                    outcome.hint = Some(v.hint.clone());
                }
                self.refusal_from_events(&mut outcome, caller, "apiserver")
                    .await;
            }
        }
        outcome
    }

    async fn csr(&mut self, csr: &CsrSpec, caller: &Caller) -> Result<Outcome, String> {
        let users = self.dir.join("users");
        let key = match self.made.get(&csr.identity) {
            Some(made) => {
                kubecorp_pki::keys::read_private_key(&made.key).map_err(|e| e.to_string())?
            }
            None => {
                let key = self.key_algorithm.generate().map_err(|e| e.to_string())?;
                let pem = kubecorp_pki::keys::private_key_pem(&key).map_err(|e| e.to_string())?;
                let path = users.join(format!("{}.key", csr.identity));
                kubecorp_pki::fs::write_atomic(
                    &path,
                    pem.as_bytes(),
                    kubecorp_pki::fs::Mode::Secret,
                )
                .map_err(|e| e.to_string())?;
                self.made.insert(
                    csr.identity.clone(),
                    Made {
                        key: path,
                        cert: None,
                    },
                );
                key
            }
        };
        let mut params = rcgen::CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        for g in &csr.groups {
            dn.push(rcgen::DnType::OrganizationName, g.as_str());
        }
        dn.push(rcgen::DnType::CommonName, csr.cn.as_str());
        params.distinguished_name = dn;
        let request = params
            .serialize_request(&key)
            .and_then(|r| r.pem())
            .map_err(|e| format!("writing the CSR: {e}"))?;
        kubecorp_pki::fs::write_atomic(
            &users.join(format!("{}.csr", csr.identity)),
            request.as_bytes(),
            kubecorp_pki::fs::Mode::Public,
        )
        .map_err(|e| e.to_string())?;
        use base64::Engine as _;
        let mut spec = json!({
            "request": base64::engine::general_purpose::STANDARD.encode(request.as_bytes()),
            "signerName": csr.signer,
            "usages": csr.usages,
        });
        if let Some(s) = csr.expiration_seconds {
            spec["expirationSeconds"] = json!(s);
        }
        let object = json!({
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": csr.name},
            "spec": spec,
        });
        let client = self.apiserver(caller)?;
        let (_, outcome) = self
            .api_call(
                &client,
                &Call::Verb {
                    verb: Verb::Create,
                    resource: "certificatesigningrequests".into(),
                    name: Some(csr.name.clone()),
                    namespace: None,
                    body: Some(object),
                    signer: None,
                },
                caller,
            )
            .await?;
        Ok(outcome)
    }

    async fn certificate(&mut self, csr: &str, identity: &str) -> Result<Outcome, String> {
        let admin = self.admin()?;
        let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{csr}");
        let object = match admin.get(&path).await {
            Ok(v) => v,
            Err(e) => {
                return Ok(Outcome {
                    text: e.kubectl_text(),
                    status: e.code(),
                    ..Outcome::default()
                })
            }
        };
        let Some(b64) = object["status"]["certificate"].as_str() else {
            let conditions: Vec<String> = object["status"]["conditions"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| {
                            format!(
                                "{} ({})",
                                c["type"].as_str().unwrap_or(""),
                                c["message"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            return Ok(Outcome {
                text: if conditions.is_empty() {
                    format!("CSR {csr} has no certificate yet (Pending: approve it first)")
                } else {
                    format!("CSR {csr} has no certificate: {}", conditions.join("; "))
                },
                stage: Some(Stage::Request),
                status: Some(200),
                ..Outcome::default()
            });
        };
        use base64::Engine as _;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("status.certificate is not base64: {e}"))?;
        let users = self.dir.join("users");
        let cert_path = users.join(format!("{identity}.crt"));
        kubecorp_pki::fs::write_atomic(&cert_path, &pem, kubecorp_pki::fs::Mode::Public)
            .map_err(|e| e.to_string())?;
        let chain =
            kubecorp_pki::cert::parse_cert_chain(&cert_path, &pem).map_err(|e| e.to_string())?;
        let info = kubecorp_pki::cert::CertInfo::from_der(
            &cert_path,
            chain
                .first()
                .ok_or("status.certificate holds no certificate")?,
        )
        .map_err(|e| e.to_string())?;
        let made = self
            .made
            .entry(identity.to_owned())
            .or_insert_with(|| Made {
                key: users.join(format!("{identity}.key")),
                cert: None,
            });
        made.cert = Some(cert_path.clone());
        // A kubeconfig for `run` steps, made the way the seed article makes one.
        if let (Ok(key_pem), Ok(ca_pem)) = (
            std::fs::read_to_string(&made.key),
            std::fs::read_to_string(self.lab.ca_cert_path(Authority::Cluster)),
        ) {
            let config = kubecorp_pki::kubeconfig::Kubeconfig::with_client_cert(
                "kubernetes",
                &self.office.apiserver_url(),
                &ca_pem,
                identity,
                &String::from_utf8_lossy(&pem),
                &key_pem,
            );
            let _ = kubecorp_pki::fs::write_atomic(
                &users.join(format!("{identity}.conf")),
                config.to_yaml().as_bytes(),
                kubecorp_pki::fs::Mode::Secret,
            );
        }
        Ok(Outcome {
            allowed: true,
            status: Some(200),
            stage: Some(Stage::Request),
            text: format!(
                "{} ({}), valid {} to {}",
                info.subject,
                info.issuer,
                kubecorp_trust::go_time(info.not_before),
                kubecorp_trust::go_time(info.not_after)
            ),
            lifetime: Some(info.not_after - info.not_before),
            ..Outcome::default()
        })
    }

    /// `{{apiserver}}`, `{{etcd}}`, `{{dir}}`, `{{pki}}`, `{{now}}`, `{{kubeconfig:NAME}}` (a lab kubeconfig
    /// or a made identity's, pointing at this office), `{{cert:NAME}}`, `{{key:NAME}}`.
    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed {{{{ in {text:?}"))?;
            let name = after[..end].trim();
            out.push_str(&self.lookup(name)?);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(&self, name: &str) -> Result<String, String> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        Ok(match name.split_once(':') {
            None => match name {
                "apiserver" => self.office.apiserver_url(),
                "etcd" => self.office.etcd_url.clone(),
                "dir" => path(&self.dir),
                "pki" => path(&self.lab.pki_dir()),
                // The lab clock in Unix seconds, for tools with their own clock (`openssl verify -attime`).
                "now" => self.clock.now().unix_timestamp().to_string(),
                other => {
                    return Err(format!(
                        "unknown substitution {{{{{other}}}}}: expected apiserver, etcd, dir, pki, now, kubeconfig:NAME, cert:NAME or key:NAME"
                    ))
                }
            },
            Some(("kubeconfig", who)) => {
                if self.made.contains_key(who) {
                    return Ok(path(&self.dir.join("users").join(format!("{who}.conf"))));
                }
                // A copy of the lab kubeconfig that dials this office's port.
                let source = self.lab.kubeconfig_path(who);
                let mut config = kubecorp_pki::kubeconfig::Kubeconfig::read(&source)
                    .map_err(|e| e.to_string())?;
                for c in &mut config.clusters {
                    c.cluster.server = self.office.apiserver_url();
                }
                let copy = self.dir.join("users").join(who);
                kubecorp_pki::fs::write_atomic(
                    &copy,
                    config.to_yaml().as_bytes(),
                    kubecorp_pki::fs::Mode::Secret,
                )
                .map_err(|e| e.to_string())?;
                path(&copy)
            }
            Some(("cert", who)) => match self.made.get(who).and_then(|m| m.cert.clone()) {
                Some(c) => path(&c),
                None => path(&self.lab.cert_path(pki_stem(who))),
            },
            Some(("key", who)) => match self.made.get(who) {
                Some(m) => path(&m.key),
                None => path(&self.lab.key_path(pki_stem(who))),
            },
            Some((other, _)) => return Err(format!("unknown substitution {{{{{other}:…}}}}")),
        })
    }

    async fn run_command(&mut self, command: &str, timeout: Duration) -> Result<Outcome, String> {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .current_dir(&self.dir)
            // kubectl keeps its discovery cache under $HOME: keep it in the lab.
            .env("HOME", &self.dir)
            .env("KUBECONFIG", self.dir.join("admin.conf"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let limit =
            std::time::Duration::try_from(timeout).unwrap_or(std::time::Duration::from_secs(30));
        let output = match tokio::time::timeout(limit, cmd.output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(format!("cannot run sh -c {command:?}: {e}")),
            Err(_) => {
                return Ok(Outcome {
                    text: format!("timed out after {}", format_duration(timeout)),
                    ..Outcome::default()
                })
            }
        };
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let exit = output.status.code();
        Ok(Outcome {
            allowed: exit == Some(0),
            exit,
            also: vec![],
            explanation: kubecorp_trust::explain::explain(&text)
                .filter(|_| exit != Some(0))
                .map(|x| x.meaning),
            text,
            ..Outcome::default()
        })
    }

    /// Polls until the condition holds or the time is up; returns what came to pass and the
    /// events seen meanwhile (new ones only, for the narration).
    async fn wait(&mut self, wait: &Wait) -> Result<(Outcome, Vec<Event>), String> {
        let admin = self.admin()?;
        let limit = std::time::Duration::try_from(wait.timeout)
            .unwrap_or(std::time::Duration::from_secs(10));
        let deadline = Instant::now()
            .checked_add(limit)
            .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(86_400));
        let mut last = String::new();
        // An event that already happened (since the previous wait for an event) counts.
        let earlier = match wait.condition {
            WaitFor::Event { .. } => std::mem::take(&mut self.recent),
            _ => Vec::new(),
        };
        let mut seen: Vec<Event> = Vec::new();
        loop {
            seen.extend(self.drain());
            let done = match &wait.condition {
                WaitFor::Event {
                    from,
                    to,
                    allowed,
                    contains,
                } => {
                    let hit = earlier.iter().chain(seen.iter()).find(|e| {
                        from.as_deref().is_none_or(|f| e.from == f)
                            && to.as_deref().is_none_or(|t| e.to == t)
                            && allowed.is_none_or(|a| e.allowed == a)
                            && contains.as_deref().is_none_or(|c| {
                                [&e.detail, &e.server_log, &e.client_text]
                                    .iter()
                                    .any(|t| t.as_deref().is_some_and(|t| t.contains(c)))
                            })
                    });
                    if let Some(e) = hit {
                        last = format!(
                            "{} → {} {}",
                            e.from,
                            e.to,
                            e.detail.clone().unwrap_or_default()
                        );
                    }
                    hit.is_some()
                }
                condition => {
                    let (path, ok): (String, Predicate) = match condition {
                        WaitFor::PodBound { namespace, name } => (
                            format!("/api/v1/namespaces/{namespace}/pods/{name}"),
                            Box::new(|v: &Value| {
                                v["spec"]["nodeName"]
                                    .as_str()
                                    .is_some_and(|n| !n.is_empty())
                            }),
                        ),
                        WaitFor::PodRunning { namespace, name } => (
                            format!("/api/v1/namespaces/{namespace}/pods/{name}"),
                            Box::new(|v: &Value| v["status"]["phase"] == "Running"),
                        ),
                        WaitFor::NodeReady { name } => (
                            format!("/api/v1/nodes/{name}"),
                            Box::new(|v: &Value| {
                                v["status"]["conditions"].as_array().is_some_and(|c| {
                                    c.iter()
                                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                                })
                            }),
                        ),
                        WaitFor::Endpoints { namespace, name } => (
                            format!("/api/v1/namespaces/{namespace}/endpoints/{name}"),
                            Box::new(|v: &Value| {
                                v["subsets"].as_array().is_some_and(|s| {
                                    s.iter().any(|s| {
                                        s["addresses"].as_array().is_some_and(|a| !a.is_empty())
                                    })
                                })
                            }),
                        ),
                        WaitFor::Field {
                            path,
                            field,
                            equals,
                        } => {
                            let field = field.clone();
                            let equals = equals.clone();
                            (
                                path.clone(),
                                Box::new(move |v: &Value| {
                                    let got = field.split('.').fold(v, |v, k| &v[k]);
                                    match &equals {
                                        Some(want) => {
                                            got == want
                                                || got
                                                    .as_str()
                                                    .is_some_and(|s| Some(s) == want.as_str())
                                        }
                                        None => !got.is_null(),
                                    }
                                }),
                            )
                        }
                        WaitFor::Event { .. } => unreachable!("handled above"),
                    };
                    match admin.get(&path).await {
                        Ok(v) => {
                            last = summarize_state(&v);
                            ok(&v)
                        }
                        Err(e) => {
                            last = e.kubectl_text();
                            false
                        }
                    }
                }
            };
            if done {
                return Ok((
                    Outcome {
                        allowed: true,
                        stage: Some(Stage::Request),
                        text: last,
                        ..Outcome::default()
                    },
                    seen,
                ));
            }
            if Instant::now() >= deadline {
                let outcome = Outcome {
                    allowed: false,
                    text: format!(
                        "still not done after {}: {}",
                        format_duration(wait.timeout),
                        if last.is_empty() {
                            "nothing seen"
                        } else {
                            &last
                        }
                    ),
                    ..Outcome::default()
                };
                return Ok((outcome, seen));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

/// The names `kubeadm certs renew` accepts (besides `all`): never a CA, `sa`, kubelet.conf or
/// kube-proxy's credential.
const KUBEADM_RENEWS: &[&str] = &[
    "admin.conf",
    "apiserver",
    "apiserver-etcd-client",
    "apiserver-kubelet-client",
    "controller-manager.conf",
    "etcd-healthcheck-client",
    "etcd-peer",
    "etcd-server",
    "front-proxy-client",
    "scheduler.conf",
    "super-admin.conf",
];

fn headline_request(request: &Request, caller: &Caller) -> String {
    let badge = match &caller.identity {
        Some(id) => format!("shows the badge {id}"),
        None if caller.cert.is_some() => "shows a badge that cannot be read".into(),
        None => "shows no badge".into(),
    };
    let what = match &request.call {
        Call::Raw { method, path, .. } => format!("{method} {path}"),
        Call::Verb {
            verb,
            resource,
            name,
            namespace,
            ..
        } => format!(
            "{} {resource}{}{}",
            verb.name(),
            name.as_ref().map(|n| format!(" {n}")).unwrap_or_default(),
            namespace
                .as_ref()
                .map(|n| format!(" -n {n}"))
                .unwrap_or_default()
        ),
    };
    let door = match (request.to, &request.node) {
        (Component::Kubelet, Some(node)) => format!("the kubelet on {node}"),
        (to, _) => to.name().to_owned(),
    };
    format!("{} {badge} to {door} and asks: {what}", caller.label)
}

fn headline_wait(condition: &WaitFor) -> String {
    match condition {
        WaitFor::PodBound { namespace, name } => {
            format!("wait for the scheduler (Bob) to bind pod {namespace}/{name} to a node")
        }
        WaitFor::PodRunning { namespace, name } => {
            format!("wait for a kubelet to report pod {namespace}/{name} Running")
        }
        WaitFor::NodeReady { name } => format!("wait for node {name} to be Ready"),
        WaitFor::Endpoints { namespace, name } => {
            format!("wait for endpoints {namespace}/{name} to list an address")
        }
        WaitFor::Field {
            path,
            field,
            equals,
        } => format!(
            "wait for {field} of {path}{}",
            equals
                .as_ref()
                .map(|e| format!(" to be {e}"))
                .unwrap_or_else(|| " to be set".into())
        ),
        WaitFor::Event { from, to, .. } => format!(
            "wait for an event{}{}",
            from.as_ref()
                .map(|f| format!(" from {f}"))
                .unwrap_or_default(),
            to.as_ref().map(|t| format!(" to {t}")).unwrap_or_default()
        ),
    }
}

fn fault_words(fault: &str) -> &'static str {
    kubecorp_pki::fault::FAULTS
        .iter()
        .find(|(n, _)| *n == fault)
        .map_or("", |(_, w)| w)
}

/// A short text for a successful answer: names for a list, `kind/name` for one object.
fn summarize(value: &Value, raw: &str) -> String {
    if let Some(items) = value["items"].as_array() {
        if items.is_empty() {
            return "No resources found".into();
        }
        return items
            .iter()
            .filter_map(|i| i["metadata"]["name"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let (Some(kind), Some(name)) = (value["kind"].as_str(), value["metadata"]["name"].as_str()) {
        return format!("{}/{name}", kind.to_ascii_lowercase());
    }
    raw.trim_end().to_owned()
}

/// `pki/<stem>` for a kubeadm badge name (`etcd-healthcheck-client` → `etcd/healthcheck-client`);
/// other names are taken as stems.
fn pki_stem(name: &str) -> &str {
    match kubecorp_pki::profile::profile(name).map(|p| p.storage) {
        Some(kubecorp_pki::profile::Storage::Pki(stem)) => stem,
        _ => name,
    }
}

/// etcd's JSON gateway answers in base64; a room wants the keys.
fn etcd_summary(path: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(kvs) = value["kvs"].as_array() else {
        return if path.ends_with("/kv/range") && value["header"].is_object() {
            "no such key".into()
        } else {
            String::from_utf8_lossy(body).trim_end().to_owned()
        };
    };
    let decode = |v: &Value| {
        v.as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    kvs.iter()
        .map(|kv| {
            format!(
                "{} (revision {}, {} bytes)",
                decode(&kv["key"]),
                kv["mod_revision"].as_str().unwrap_or("?"),
                decode(&kv["value"]).len()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn summarize_state(value: &Value) -> String {
    let name = value["metadata"]["name"].as_str().unwrap_or("?");
    let phase = value["status"]["phase"].as_str();
    let node = value["spec"]["nodeName"].as_str();
    let mut out = name.to_owned();
    if let Some(n) = node {
        out += &format!(" on {n}");
    }
    if let Some(p) = phase {
        out += &format!(" ({p})");
    }
    out
}

/// Whether `program` can be run (a path, or a name found on `$PATH`).
fn on_path(program: &str) -> bool {
    if program.is_empty() {
        return false;
    }
    if program.contains('/') {
        return Path::new(program).exists();
    }
    // Shell builtins and keywords always run.
    if matches!(
        program,
        "echo" | "test" | "[" | "true" | "false" | "cd" | "export" | "set"
    ) {
        return true;
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
