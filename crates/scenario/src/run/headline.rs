//! What each step does, in one line for the room: who shows which badge to which door and asks
//! what, what a wait waits for, which fault breaks which badge.

use super::Caller;
use crate::model::{Action, Call, Component, CsrSpec, Request, Step, WaitFor};

/// A step that could not be carried out far enough to say what it does: its kind, as the file
/// names it.
pub(super) fn unplayed(step: &Step) -> String {
    let kind = match &step.action {
        Action::Say => "say",
        Action::Request(_) => "request",
        Action::Run(_) => "run",
        Action::Wait(_) => "wait",
        Action::Break { .. } => "break",
        Action::Undo { .. } => "undo",
        Action::Renew { .. } => "renew",
        Action::Clock(_) => "clock",
        Action::Csr(_) => "csr",
        Action::Certificate { .. } => "certificate",
        Action::RotateCa(_) => "rotate_ca",
    };
    format!("step {} ({kind}) could not be played", step.index + 1)
}

pub(super) fn request(request: &Request, caller: &Caller) -> String {
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

pub(super) fn csr(csr: &CsrSpec, caller: &Caller) -> String {
    format!(
        "{} makes a key and asks the Founder for a badge: CSR {} for CN={}{} ({}{}), sent by {}",
        csr.identity,
        csr.name,
        csr.cn,
        csr.groups
            .iter()
            .map(|g| format!(", O={g}"))
            .collect::<String>(),
        csr.signer,
        csr.expiration_seconds
            .map(|s| format!(", expirationSeconds {s}"))
            .unwrap_or_default(),
        caller.label
    )
}

pub(super) fn wait(condition: &WaitFor) -> String {
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

pub(super) fn renew(target: &str) -> String {
    // The names `kubeadm certs renew` accepts (besides `all`): never a CA, `sa`, kubelet.conf or
    // kube-proxy's credential.
    let kubeadm_renews =
        kubecorp_pki::renew::renewable().any(|p| p.kubeadm_managed && p.name == target);
    if kubeadm_renews {
        format!("the Founder renews {target} (kubeadm certs renew {target})")
    } else {
        format!("the Founder renews {target} (kubecorp certs renew {target}; `kubeadm certs renew` has no such name)")
    }
}
