//! The runner: builds a private office for one scenario and plays its steps in it.
//!
//! Each run gets its own lab directory and ephemeral loopback ports, so any number of runs go
//! side by side. Requests are real mutual-TLS calls with the badge the step names; what the
//! guards decided is read from the office's event stream, so a check on `stage: tls` or
//! `verdict: expired` asserts what etcd or the apiserver actually concluded, not a guess.
//!
//! An [`Observer`] sees every step, event and check as it happens: the CLI narrates them for a
//! room or prints JSON lines; tests pass [`Quiet`].
//!
//! # Layout
//!
//! This file holds the runner, the dispatch of each step and the judging of what it showed.
//! One file per job:
//!
//! - [`caller`]: who is calling, with which badge, and the clients that dial Alice.
//! - [`request`]: requests to etcd, the scheduler and the kubelets, and refusals read back.
//! - [`kubectl`]: kubectl-like verbs and raw calls to Alice.
//! - [`csr`]: a key and a CSR submitted, and the signed badge collected.
//! - [`wait`]: waiting for the staff (an object's state, or an event).
//! - [`command`]: `run:` steps, real tools in the lab directory.
//! - [`substitute`]: `{{…}}` in commands.
//! - [`headline`]: each step in one line for the room.
//! - [`events`]: the event stream: which events are the step's own, waiting for one.
//! - [`lab`]: the PKI a run starts with.
//! - [`keep`]: `--keep`: the office open after the last step, with kubeconfigs that dial it.
//! - [`private`]: the run's private directory, removed however the run ends.
//! - [`group`]: a `run:` step's process group, killed whole when the step or the run ends.
//! - [`anchor`]: a standing clock next to real tools, moved to the machine's date.
//! - [`doors`]: where an office listens, so steps can be played in one opened elsewhere.
//! - [`error`]: why a step could not run.

mod anchor;
mod caller;
mod command;
mod csr;
mod doors;
mod error;
mod events;
pub mod group;
mod headline;
mod keep;
mod kubectl;
mod lab;
pub mod private;
mod request;
mod substitute;
mod wait;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use kubecorp_office::{Office, OfficeOptions};
use kubecorp_pki::Lab;
use kubecorp_trust::{Event, Events, LabClock};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::expect::{check, check_log, explain_failures, log_matches, Check, Outcome};
use crate::model::*;
use anchor::Anchor;
use caller::{Caller, Made};
pub use doors::{Doors, Venue};
pub use error::{LabError, StepError};
use events::Visitor;
pub use keep::OpenOffice;
pub use lab::{fits_pki, NeedsOwnPki};
pub use private::LabDir;

/// How many past events a `wait` for an event looks back on.
const RECENT: usize = 5_000;

/// How long a server may take to log a refusal after the caller saw it.
const LOG_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How a scenario is run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Use this PKI (kubeadm layout) instead of the scenario's own or a fresh one.
    pub pki: Option<PathBuf>,
    /// Under CI a missing outside tool (kubectl, openssl, curl) fails its step instead of
    /// skipping it.
    pub ci: bool,
    /// Leave the run's lab directory on disk (see [`ScenarioResult::kept`]); otherwise it is
    /// removed however the run ends. A challenge's rehearsal never keeps its labs.
    pub keep: bool,
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
    /// `--keep`: the last step is played and the office is still open; it closes when this
    /// returns (the CLI waits for Enter here).
    fn stays_open(&mut self, _office: &OpenOffice) {}
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
    /// The lab directory, when it was kept on disk ([`RunOptions::keep`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<PathBuf>,
    /// The narration as a room would have heard it, without colour: kept by `kubecorp test`
    /// for JUnit's `system-out`, empty otherwise.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub narration: String,
}

/// What a run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check ran and held.
    Passed,
    /// No check failed, but some step could not run (a missing outside tool): not a pass.
    Skipped,
    /// A check failed.
    Failed,
}

impl ScenarioResult {
    /// Failed if any check failed, else skipped if any was skipped, else passed.
    pub fn verdict(&self) -> Verdict {
        if self.checks.iter().any(Check::failed) {
            Verdict::Failed
        } else if self.checks.iter().any(Check::skipped) {
            Verdict::Skipped
        } else {
            Verdict::Passed
        }
    }

    /// Whether every check ran and held: a skipped step is never a pass.
    pub fn passed(&self) -> bool {
        self.verdict() == Verdict::Passed
    }

    pub fn skips(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.skipped())
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.failed())
    }
}

/// Plays `steps` in an office that is already open and returns their checks. Identities made
/// earlier (by another run, in `users/`) can be shown again.
pub async fn play(
    steps: &[Step],
    venue: &Venue,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Vec<Check> {
    let mut runner = Runner {
        office: venue.doors.clone(),
        lab: Lab::new(&venue.dir),
        dir: venue.dir.clone(),
        clock: venue.clock.clone(),
        events: venue.events.clone(),
        rx: venue.events.subscribe(),
        made: doors::made_before(&venue.dir),
        pending: Vec::new(),
        recent: Vec::new(),
        key_algorithm: venue.key_algorithm,
        opts: opts.clone(),
        checks: Vec::new(),
        hops: Vec::new(),
        chapter: None,
        anchor: Anchor::NONE,
        observer: Told::new(observer),
    };
    runner.play(steps).await;
    runner.checks
}

struct Runner<'o> {
    office: Doors,
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
    key_algorithm: kubecorp_pki::KeyAlgorithm,
    opts: RunOptions,
    checks: Vec<Check>,
    hops: Vec<Hop>,
    /// The chapter file of the step being played, if it came from one.
    chapter: Option<PathBuf>,
    /// How far the scenario's absolute times moved for real tools (see [`anchor`]).
    anchor: Anchor,
    observer: Told<'o>,
}

/// The run's observer, and whether it has been told of the step being played: every record of a
/// step (its events, outcome and checks, in JSON its `step` number) comes after that step's
/// headline, even when the step fails before it has one.
struct Told<'o> {
    inner: &'o mut dyn Observer,
    step: bool,
}

impl<'o> Told<'o> {
    fn new(inner: &'o mut dyn Observer) -> Told<'o> {
        Told { inner, step: false }
    }
}

impl Observer for Told<'_> {
    fn opened(&mut self, scenario: &Scenario, office: &OfficeInfo) {
        self.inner.opened(scenario, office);
    }
    fn before_step(&mut self, step: &Step) {
        self.inner.before_step(step);
    }
    fn step(&mut self, step: &Step, headline: &str) {
        self.step = true;
        self.inner.step(step, headline);
    }
    fn event(&mut self, event: &Event, mine: bool) {
        self.inner.event(event, mine);
    }
    fn output(&mut self, text: &str) {
        self.inner.output(text);
    }
    fn outcome(&mut self, step: &Step, outcome: &Outcome) {
        self.inner.outcome(step, outcome);
    }
    fn check(&mut self, check: &Check) {
        self.inner.check(check);
    }
    fn stays_open(&mut self, office: &OpenOffice) {
        self.inner.stays_open(office);
    }
}

/// Plays `scenario` in a fresh office and returns its checks.
pub async fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> ScenarioResult {
    if scenario.challenge.is_some() {
        return crate::challenge::rehearse(scenario, opts, observer).await;
    }
    let started = Instant::now();
    let mut result = ScenarioResult {
        file: scenario.file.clone(),
        title: scenario.title.clone(),
        checks: Vec::new(),
        hops: Vec::new(),
        elapsed: std::time::Duration::ZERO,
        kept: None,
        narration: String::new(),
    };
    let tmp = match LabDir::new("kubecorp-scenario-", opts.keep) {
        Ok(t) => t,
        Err(e) => {
            let e = LabError::TempDir(e);
            result
                .checks
                .push(Check::failed_to_run(0, 1, e.to_string()));
            return result;
        }
    };
    let dir = tmp.lab();
    result.kept = tmp.kept();
    let anchor = Anchor::for_scenario(scenario, time::OffsetDateTime::now_utc());
    let clock = match scenario.lab.clock {
        Some(t) => LabClock::fixed(anchor.apply(t)),
        None => LabClock::real(),
    };
    let events = Events::new();
    let rx = events.subscribe();
    let (office, note) = match open(scenario, opts, &dir, &clock, &events).await {
        Ok(opened) => opened,
        Err(e) => {
            result
                .checks
                .push(Check::failed_to_run(0, 1, e.to_string()));
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
    if let Some(note) = scenario.lab.clock.and_then(|t| anchor.note(t)) {
        observer.output(&note);
    }
    if let Some(note) = note {
        observer.output(&note);
    }
    let mut runner = Runner {
        office: Doors::of(&office),
        lab: Lab::new(&dir),
        dir,
        clock,
        events,
        rx,
        made: HashMap::new(),
        pending: Vec::new(),
        recent: Vec::new(),
        key_algorithm: scenario.lab.key_algorithm,
        opts: opts.clone(),
        checks: Vec::new(),
        hops: Vec::new(),
        chapter: None,
        anchor,
        observer: Told::new(observer),
    };
    runner.play(&scenario.steps).await;
    if opts.keep {
        match runner.open_office() {
            Ok(open) => runner.observer.stays_open(&open),
            Err(e) => runner
                .observer
                .output(&format!("the office cannot stay open: {e}")),
        }
    }
    let Runner { checks, hops, .. } = runner;
    office.shutdown().await;
    result.checks = checks;
    result.hops = hops;
    result.elapsed = started.elapsed();
    result
}

/// The scenario's PKI in `dir`, and its office open; with a note when the lab clock had to move.
async fn open(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &std::path::Path,
    clock: &LabClock,
    events: &Events,
) -> Result<(Office, Option<String>), LabError> {
    let pki = opts.pki.clone().or_else(|| {
        scenario.lab.pki.as_ref().map(|p| {
            // A relative path in a scenario is relative to the scenario file.
            match scenario.file.parent() {
                Some(base) if p.is_relative() => base.join(p),
                _ => p.clone(),
            }
        })
    });
    kubecorp_office::read_ahead();
    let note = lab::prepare_pki(dir, pki.as_deref(), scenario, clock)?;
    let office = Office::start(OfficeOptions {
        nodes: scenario.lab.nodes.clone(),
        rotate_server_certificates: scenario.lab.rotate_server_certificates,
        staff: scenario.lab.staff,
        clock: clock.clone(),
        events: events.clone(),
        ..OfficeOptions::ephemeral(dir)
    })
    .await?;
    Ok((office, note))
}

impl Runner<'_> {
    /// Plays steps in order; a step that cannot be carried out ends the play.
    async fn play(&mut self, steps: &[Step]) {
        for step in steps {
            self.chapter.clone_from(&step.file);
            self.observer.before_step(step);
            self.observer.step = false;
            if let Err(e) = self.step(step).await {
                if !self.observer.step {
                    // It failed before saying what it does: its check still belongs to it.
                    let headline = headline::unplayed(step);
                    self.observer.step(step, &headline);
                }
                let c = Check::failed_to_run(step.index, step.line, e.to_string());
                self.record(c);
                break;
            }
        }
    }

    fn record(&mut self, mut c: Check) {
        if c.file.is_none() {
            c.file.clone_from(&self.chapter);
        }
        self.observer.check(&c);
        self.checks.push(c);
    }

    fn note(&mut self, text: String) {
        self.hops.push(Hop::Note { text });
    }

    async fn step(&mut self, step: &Step) -> Result<(), StepError> {
        // Whatever happened between steps (background staff) is shown, not judged.
        for e in self.drain() {
            self.observer.event(&e, false);
            self.recent.push(e);
        }
        match &step.action {
            Action::Say => {
                let text = step.say.clone().unwrap_or_default();
                self.observer.step(step, &text);
            }
            Action::Request(request) => {
                let caller = self.caller(&request.who)?;
                self.observer
                    .step(step, &headline::request(request, &caller));
                let (what, outcome) = self.request(request, &caller).await?;
                self.finish_call(step, &caller, request.to.name(), &what, outcome)
                    .await;
            }
            Action::Csr(csr) => {
                let caller = self.caller(&csr.who)?;
                self.observer.step(step, &headline::csr(csr, &caller));
                let outcome = self.csr(csr, &caller).await?;
                let what = format!("create CSR {}", csr.name);
                self.finish_call(step, &caller, "apiserver", &what, outcome)
                    .await;
            }
            Action::Certificate { csr, identity } => {
                self.observer.step(
                    step,
                    &format!("{identity} collects the signed badge from CSR {csr}"),
                );
                let outcome = self.certificate(csr, identity).await?;
                let caller = self.caller(&Who::Kubeconfig("admin.conf".into()))?;
                let what = format!("get CSR {csr} status.certificate");
                self.finish_call(step, &caller, "apiserver", &what, outcome)
                    .await;
            }
            Action::Run(cmd) => {
                let command = self.substitute(&cmd.command)?;
                self.observer.step(step, &format!("$ {command}"));
                self.note(format!("$ {}", cmd.command));
                let (outcome, missing) = self.run_command(&command, cmd.timeout).await?;
                self.observer.output(outcome.text());
                // A step that expects the shell's 127 is about the missing program itself.
                let wants_127 = step.expect.as_ref().and_then(|e| e.exit) == Some(127);
                if let Some(missing) = missing.filter(|_| !wants_127) {
                    let why = missing.to_string();
                    if self.opts.ci {
                        return Err(StepError::MissingToolUnderCi { why });
                    }
                    // Only this step: the ones after it run and are judged as usual.
                    self.record(Check::not_run(step.index, step.line, "run", why));
                    return Ok(());
                }
                let events = self.drain();
                self.judge(step, &outcome, events, None).await;
            }
            Action::Wait(wait) => {
                let headline = headline::wait(&wait.condition);
                self.observer.step(step, &headline);
                let wait::Waited {
                    outcome,
                    seen: mut events,
                    mut after,
                } = self.wait(wait).await?;
                let end = if outcome.allowed() {
                    "done"
                } else {
                    "timed out"
                };
                self.note(format!("{headline}: {end}"));
                let later = self.drain();
                events.extend(later.iter().cloned());
                self.judge(step, &outcome, events, None).await;
                if let WaitFor::Event { .. } = wait.condition {
                    // What this wait saw up to the event it awaited is used up; what came after
                    // it (in the same moment, under load) is still there for the next wait.
                    after.extend(later);
                    self.recent = after;
                }
            }
            Action::Break { fault, target } => {
                let headline = format!("break {target}: {}", fault.teaches());
                self.observer.step(step, &headline);
                let line =
                    kubecorp_pki::fault::inflict(&self.lab, *fault, target, self.clock.now())?;
                self.observer.output(&line);
                self.note(format!("break {fault} {target}"));
            }
            Action::Undo { target } => {
                self.observer
                    .step(step, &format!("put {target} back from its backup"));
                let line = kubecorp_pki::fault::undo(&self.lab, target)?;
                self.observer.output(&line);
                self.note(format!("undo {target}"));
            }
            Action::Renew { target } => {
                self.observer.step(step, &headline::renew(target));
                let renewed = kubecorp_pki::renew::renew(&self.lab, target, self.clock.now())?;
                for r in renewed {
                    if let Some(w) = r.warning {
                        self.observer.output(&w);
                    }
                    self.observer.output(&r.line);
                }
                self.note(format!("renew {target}"));
            }
            Action::Clock(clock) => self.move_clock(step, *clock),
            Action::RotateCa(rotate) => {
                use kubecorp_pki::rotate::Phase;
                let name = rotate.authority.name();
                let what = match rotate.phase {
                    Phase::Finish => "finish (trust only the new CA)",
                    Phase::Start => "start (a new CA, trusted alongside the old one)",
                };
                self.observer
                    .step(step, &format!("CA rotation of {name}: {what}"));
                let line = kubecorp_pki::rotate::rotate_ca(
                    &self.lab,
                    rotate.authority,
                    rotate.phase,
                    self.clock.now(),
                    &[self.dir.clone(), self.dir.join("users")],
                )?;
                self.observer.output(&line);
                self.note(format!("rotate {name} CA: {}", rotate.phase.name()));
            }
        }
        Ok(())
    }

    fn move_clock(&mut self, step: &Step, how: ClockMove) {
        let go_time = kubecorp_trust::go_time;
        match how {
            ClockMove::Advance(by) => {
                self.clock.advance(by);
                let text = format!(
                    "time passes: {} later, the lab clock reads {}",
                    format_duration(by),
                    go_time(self.clock.now())
                );
                self.observer.step(step, &text);
                self.note(format!("clock +{}", format_duration(by)));
            }
            ClockMove::Chapter(time_of_day) => {
                let now = self.clock.now();
                let mut at = now.replace_time(time_of_day);
                if at < now {
                    at += time::Duration::days(1);
                }
                if self.clock.is_fixed() && at > now {
                    self.clock.set(at);
                    let text = format!(
                        "the story moves on to {:02}:{:02}: the lab clock reads {}",
                        at.hour(),
                        at.minute(),
                        go_time(at)
                    );
                    self.observer.step(step, &text);
                    self.note(format!("clock = {}", go_time(at)));
                } else {
                    let text = format!("a new chapter: the lab clock reads {}", go_time(now));
                    self.observer.step(step, &text);
                }
            }
            ClockMove::Set(at) => {
                let at = self.anchor.apply(at);
                self.clock.set(at);
                let text = format!("the lab clock is set to {}", go_time(at));
                self.observer.step(step, &text);
                self.note(format!("clock = {}", go_time(at)));
            }
        }
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
        let reply = if outcome.allowed() {
            outcome
                .status()
                .map_or_else(|| "✓".to_owned(), |s| format!("✓ {s}"))
        } else {
            format!(
                "✗ {}{}",
                outcome
                    .status()
                    .map(|s| format!("{s} "))
                    .unwrap_or_default(),
                outcome.stage().map(|s| s.to_string()).unwrap_or_default()
            )
        };
        self.hops.push(Hop::Call {
            from: caller.label.clone(),
            to: to.to_owned(),
            what: what.to_owned(),
            reply,
            ok: outcome.allowed(),
        });
        let visitor = Visitor::new(caller, to);
        self.judge(step, &outcome, events, Some(&visitor)).await;
    }

    /// Shows the step's events and outcome, and checks them against `expect` (or, with no
    /// `expect`, that the step simply worked).
    async fn judge(
        &mut self,
        step: &Step,
        outcome: &Outcome,
        events: Vec<Event>,
        visitor: Option<&Visitor>,
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
            self.drain_until(events, LOG_GRACE, |evs| {
                logs.iter().all(|l| evs.iter().any(|e| log_matches(l, e)))
            })
            .await
        };
        for e in &events {
            self.observer.event(e, visitor.is_some_and(|v| v.caused(e)));
        }
        self.draw_refusals(&events, visitor);
        self.recent.extend(events.iter().cloned());
        if self.recent.len() > RECENT {
            let extra = self.recent.len() - RECENT;
            self.recent.drain(..extra);
        }
        self.observer.outcome(step, outcome);
        match &step.expect {
            Some(expect) => {
                let mut checks = check(step.index, expect, outcome);
                let logs = expect
                    .logs
                    .iter()
                    .map(|log| check_log(step.index, expect.line, log, &events));
                checks.extend(logs);
                explain_failures(&mut checks, outcome);
                for c in checks {
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
}
