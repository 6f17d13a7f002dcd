//! The validated scenario: what a story file means once every name, time and field has been checked.
//!
//! [`crate::parse`] builds these from YAML; [`crate::run`] carries them out against a real office.
//! Nothing here is a string that still needs interpreting: faults are known faults, targets are
//! known badges, stages and verdicts are the lab's own types.

use std::path::PathBuf;

use kubecorp_office::Staff;
use kubecorp_pki::KeyAlgorithm;
use kubecorp_trust::{Stage, VerdictKind};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// One story: a lab to build and the steps to play in it.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it came from, as given (used in every message).
    pub file: PathBuf,
    pub title: String,
    pub description: Option<String>,
    pub lab: LabSpec,
    /// Every step to play, in order. For a file with `chapters:`, the chapters' steps (each
    /// carrying its chapter's file), without their `setup:` steps.
    pub steps: Vec<Step>,
    /// The chapter files this scenario plays, resolved relative to it (empty for most files).
    pub chapters: Vec<PathBuf>,
    /// A challenge file (`challenge:`): the office broken on purpose for a learner to repair;
    /// its steps are in there and `steps` is empty.
    pub challenge: Option<crate::challenge::Challenge>,
}

/// Where a value is written in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub line: u32,
    pub column: u32,
}

/// How the office is built before the first step.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// One kubelet per node; the first is the control-plane node.
    pub nodes: Vec<String>,
    /// Where the file names its own `nodes` (their first is the node `kubelet.conf` is for),
    /// when it does.
    pub nodes_at: Option<At>,
    pub key_algorithm: KeyAlgorithm,
    /// Where the lab clock starts. When set the clock stands still between steps, so the
    /// texts a scenario asserts (`current time … is after …`) are exact.
    pub clock: Option<OffsetDateTime>,
    pub rotate_server_certificates: bool,
    /// A PKI made elsewhere (kubeadm layout: `DIR/ca.crt`, `DIR/etcd/ca.crt`, kubeconfigs one
    /// level up), copied into the scenario's own lab directory.
    pub pki: Option<PathBuf>,
    /// Which components besides etcd and the apiserver to start.
    pub staff: Staff,
}

/// One step of the story.
#[derive(Debug, Clone)]
pub struct Step {
    /// Position in its own file's `steps:` (or `setup:`), 0-based, as error paths print it.
    pub index: usize,
    /// Where the step starts in the file.
    pub line: u32,
    /// The chapter file the step comes from, when it is played as part of a longer story
    /// (`chapters:`); `None` when it is in the scenario's own file.
    pub file: Option<PathBuf>,
    /// A `setup:` step: it makes what earlier chapters would have made, so it runs only when its
    /// file is played on its own.
    pub setup: bool,
    /// The story's time of day (`9:00`), a label for the room.
    pub at: Option<String>,
    /// Narration said before the action (a step with only `say` is narration alone).
    pub say: Option<String>,
    pub action: Action,
    pub expect: Option<Expect>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Narration only.
    Say,
    /// A call to a component, as someone.
    Request(Request),
    /// A real command in the lab directory.
    Run(RunCommand),
    /// Wait until a component has done its part.
    Wait(Wait),
    /// `kubecorp break FAULT TARGET`.
    Break {
        fault: kubecorp_pki::fault::Fault,
        target: String,
    },
    /// `kubecorp break --undo TARGET`.
    Undo { target: String },
    /// `kubecorp certs renew TARGET`.
    Renew { target: String },
    /// Move the lab clock.
    Clock(ClockMove),
    /// Make a key, write a CSR and submit it.
    Csr(CsrSpec),
    /// Collect the certificate of an approved CSR: the identity can then show it.
    Certificate { csr: String, identity: String },
    /// Rotate a CA: a new CA joins the old one in a trust bundle; `finish` drops the old one.
    RotateCa(RotateCa),
}

/// Who shows which badge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// No client certificate at all.
    Anonymous,
    /// A lab kubeconfig such as `scheduler.conf`.
    Kubeconfig(String),
    /// A badge kept in `pki/` as kubeadm names it (`apiserver-etcd-client`, `etcd-server`).
    Badge(String),
    /// A certificate and key anywhere in the lab directory.
    Files { cert: String, key: String },
    /// An identity the scenario made with `csr` + `certificate`.
    Made(String),
}

impl Who {
    /// How the narration names them.
    pub fn label(&self) -> String {
        match self {
            Who::Anonymous => "someone without a badge".into(),
            Who::Kubeconfig(k) => k.trim_end_matches(".conf").to_owned(),
            Who::Badge(b) => b.clone(),
            Who::Files { cert, .. } => cert.clone(),
            Who::Made(n) => n.clone(),
        }
    }
}

/// The components a scenario can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Apiserver,
    Etcd,
    /// etcd's peer port (:2380), where members talk among themselves.
    EtcdPeer,
    Kubelet,
    /// kube-scheduler's secure port (:10259).
    Scheduler,
}

impl Component {
    pub const NAMES: &'static [&'static str] =
        &["apiserver", "etcd", "etcd-peer", "kubelet", "scheduler"];

    pub fn name(self) -> &'static str {
        match self {
            Component::Apiserver => "apiserver",
            Component::Etcd => "etcd",
            Component::EtcdPeer => "etcd-peer",
            Component::Kubelet => "kubelet",
            Component::Scheduler => "scheduler",
        }
    }
}

/// A call to a component.
#[derive(Debug, Clone)]
pub struct Request {
    pub who: Who,
    pub to: Component,
    /// Which node's kubelet (default: the first node).
    pub node: Option<String>,
    /// The name dialled instead of 127.0.0.1 (`localhost`), so the server's badge is checked
    /// against that name.
    pub host: Option<String>,
    pub call: Call,
}

/// What is asked.
#[derive(Debug, Clone)]
pub enum Call {
    /// An HTTP request as written.
    Raw {
        method: String,
        path: String,
        body: Option<Value>,
    },
    /// A kubectl-like verb on a resource.
    Verb {
        verb: Verb,
        resource: String,
        name: Option<String>,
        namespace: Option<String>,
        body: Option<Value>,
        /// `approve`/`deny` without a name: every Pending CSR for this signer (a kubelet names
        /// its own CSRs `csr-xxxxx`).
        signer: Option<String>,
    },
}

/// The kubectl-like verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Create,
    Apply,
    Approve,
    Deny,
    Delete,
}

impl Verb {
    pub const NAMES: &'static [&'static str] =
        &["get", "create", "apply", "approve", "deny", "delete"];

    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Create => "create",
            Verb::Apply => "apply",
            Verb::Approve => "approve",
            Verb::Deny => "deny",
            Verb::Delete => "delete",
        }
    }
}

/// A real command, run with `sh -c` in the lab directory after `{{…}}` substitution.
#[derive(Debug, Clone)]
pub struct RunCommand {
    pub command: String,
    pub timeout: Duration,
}

/// What a `wait` step waits for.
#[derive(Debug, Clone)]
pub struct Wait {
    pub condition: WaitFor,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    /// The scheduler wrote `spec.nodeName`.
    PodBound { namespace: String, name: String },
    /// The kubelet reported `status.phase: Running`.
    PodRunning { namespace: String, name: String },
    /// The kubelet reported the Ready condition `True`.
    NodeReady { name: String },
    /// The endpoints controller filled at least one address.
    Endpoints { namespace: String, name: String },
    /// Any object field, read as admin: present, or equal to a value.
    Field {
        path: String,
        field: String,
        equals: Option<Value>,
    },
    /// An event on the stream (e.g. kube-proxy's sync).
    Event {
        from: Option<String>,
        to: Option<String>,
        allowed: Option<bool>,
        contains: Option<String>,
    },
}

/// How the lab clock moves.
#[derive(Debug, Clone, Copy)]
pub enum ClockMove {
    Advance(Duration),
    Set(OffsetDateTime),
    /// A chapter opens: a standing lab clock moves forward to the chapter's time of day (its
    /// `lab.clock`), the next one at or after now, so the story's clock carries on; never back.
    Chapter(time::Time),
}

/// A key, a CSR and its submission.
#[derive(Debug, Clone)]
pub struct CsrSpec {
    /// The CertificateSigningRequest object's name.
    pub name: String,
    /// The scenario identity the key belongs to (default: the CN).
    pub identity: String,
    pub cn: String,
    pub groups: Vec<String>,
    pub signer: String,
    pub usages: Vec<String>,
    pub expiration_seconds: Option<i64>,
    /// Who submits it (default `admin.conf`).
    pub who: Who,
}

/// A CA rotation phase.
#[derive(Debug, Clone)]
pub struct RotateCa {
    /// `ca` (the cluster CA) or `etcd-ca`.
    pub authority: kubecorp_pki::Authority,
    /// `start`: make a new CA, trust old + new, re-issue the badges with the new one.
    /// `finish`: trust only the new CA.
    pub phase: kubecorp_pki::rotate::Phase,
}

/// What a step must show.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Where `expect:` is in the file.
    pub line: u32,
    pub allowed: Option<bool>,
    pub status: Option<u16>,
    pub verdict: Option<VerdictKind>,
    pub stage: Option<Stage>,
    /// The caller's text, exactly.
    pub text: Option<String>,
    /// Substrings of the caller's text (or a command's output).
    pub contains: Vec<String>,
    /// Lines on the event stream during the step.
    pub logs: Vec<LogExpect>,
    /// A collected certificate's NotAfter − NotBefore (within ten minutes).
    pub lifetime: Option<Duration>,
    /// A command's exit status.
    pub exit: Option<i32>,
}

/// "Component X logged …".
#[derive(Debug, Clone)]
pub struct LogExpect {
    /// The component whose log it is (the event's door).
    pub by: String,
    pub contains: Option<String>,
    pub text: Option<String>,
}

/// Renders a duration the way scenario files write it (`1y`, `24h`, `300s`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.subsec_milliseconds().unsigned_abs();
    let s = d.whole_seconds();
    let (sign, s) = if s < 0 || d.is_negative() {
        ("-", s.abs())
    } else {
        ("", s)
    };
    let units = [
        (365 * 86_400, "y"),
        (86_400, "d"),
        (3_600, "h"),
        (60, "m"),
        (1, "s"),
    ];
    if s == 0 && ms == 0 {
        return "0s".into();
    }
    let mut out = String::from(sign);
    let mut rest = s;
    for (size, unit) in units {
        if rest >= size {
            out += &format!("{}{unit}", rest / size);
            rest %= size;
        }
    }
    if ms > 0 {
        out += &format!("{ms}ms");
    }
    out
}
