//! Reading the office's event stream during a step: which events the step's own visitor caused,
//! and waiting (with a deadline) for the one a check needs.
//!
//! The runner holds one broadcast receiver. Waiting awaits it with a timeout, so a step goes on
//! the moment the guard's line arrives and never later than its deadline.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kubecorp_trust::{Event, Stage};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{Caller, Hop, Runner};
use crate::model::WaitFor;

/// The visitor of one call: whom the step sent, to which door. One test tells the step's own
/// events from the staff's, for the narration, the diagram and the refusal's reason.
pub(super) struct Visitor {
    label: String,
    serial: Option<String>,
    door: String,
}

impl Visitor {
    pub fn new(caller: &Caller, door: &str) -> Visitor {
        Visitor {
            label: caller.label.clone(),
            serial: caller.identity.as_ref().map(|i| i.serial.clone()),
            door: door.to_owned(),
        }
    }

    /// Whether the visitor caused `e`: the caller logged it, or the door logged it about the
    /// caller's badge (by serial), or about a caller it could not put a name to. A visitor with a
    /// badge is nameless to the door only before the door has read the badge (TCP, the
    /// handshake); a nameless refusal after that (a bearer token refused at the same moment,
    /// say a controller's when the clock jumped) is someone else's.
    pub fn caused(&self, e: &Event) -> bool {
        e.from == self.label
            || (e.to == self.door
                && match (&e.identity, &self.serial) {
                    (Some(id), Some(s)) => &id.serial == s,
                    (None, Some(_)) => {
                        matches!(e.stage, Stage::Tcp | Stage::Tls)
                            && e.from.parse::<SocketAddr>().is_ok()
                    }
                    (None, None) => e.from.parse::<SocketAddr>().is_ok(),
                    (Some(_), None) => false,
                })
    }

    /// Whether the door named this visitor in `e` (by label or badge serial), not only an
    /// address.
    fn named_in(&self, e: &Event) -> bool {
        e.from == self.label
            || matches!((&e.identity, &self.serial), (Some(id), Some(s)) if &id.serial == s)
    }

    /// Whether `e` is the door turning this visitor away.
    pub fn refused_at_door(&self, e: &Event) -> bool {
        !e.allowed && e.to == self.door && self.caused(e)
    }
}

/// Whether `e` is the event a `wait: {event: …}` step asks for.
pub(super) fn awaited(condition: &WaitFor, e: &Event) -> bool {
    let WaitFor::Event {
        from,
        to,
        allowed,
        contains,
    } = condition
    else {
        return false;
    };
    from.as_deref().is_none_or(|f| e.from == f)
        && to.as_deref().is_none_or(|t| e.to == t)
        && allowed.is_none_or(|a| e.allowed == a)
        && contains.as_deref().is_none_or(|c| {
            [&e.detail, &e.server_log, &e.client_text]
                .iter()
                .any(|t| t.as_deref().is_some_and(|t| t.contains(c)))
        })
}

/// The door turning `visitor` away at `stage`, among `events`.
/// One that names the visitor comes before one that only gives an address.
///
/// A 403 is where the caller sees authorization end, but a door may refuse after it: Alice's
/// admission plugins (NodeRestriction, CertificateSubjectRestriction) read the object once RBAC
/// has said yes, and tell their refusal at the request stage. A refusal at the authz stage
/// comes first; failing that, one at the request stage is the reason.
fn refusal_of<'e>(events: &'e [Event], visitor: &Visitor, stage: Stage) -> Option<&'e Event> {
    let at = |stage: Stage| {
        let mut refusals = events
            .iter()
            .filter(move |e| e.stage == stage && visitor.refused_at_door(e));
        let first = refusals.next()?;
        if visitor.named_in(first) {
            return Some(first);
        }
        refusals.find(|e| visitor.named_in(e)).or(Some(first))
    };
    match stage {
        Stage::Authz => at(Stage::Authz).or_else(|| at(Stage::Request)),
        _ => at(stage),
    }
}

impl Runner<'_> {
    /// Events that arrived since the last call, without waiting.
    pub(super) fn drain(&mut self) -> Vec<Event> {
        let mut out = std::mem::take(&mut self.pending);
        out.extend(self.queued());
        out
    }

    /// What the receiver holds right now.
    fn queued(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(e) => out.push(e),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        out
    }

    /// Waits until `deadline` for the next event; returns it with any others already queued
    /// (nothing when the deadline passed first).
    pub(super) async fn next_events(&mut self, deadline: Instant) -> Vec<Event> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Ok(e)) => {
                    let mut out = vec![e];
                    out.extend(self.queued());
                    return out;
                }
                Ok(Err(RecvError::Lagged(_))) => continue,
                // The runner holds a sender, so the stream never closes while it runs.
                Ok(Err(RecvError::Closed)) | Err(_) => return Vec::new(),
            }
        }
    }

    /// Every event until `deadline`.
    pub(super) async fn events_until(&mut self, deadline: Instant) -> Vec<Event> {
        let mut out = Vec::new();
        while Instant::now() < deadline {
            out.extend(self.next_events(deadline).await);
        }
        out
    }

    /// Adds new events to `events`, waiting up to `grace` for them to satisfy `until`.
    pub(super) async fn drain_until(
        &mut self,
        mut events: Vec<Event>,
        grace: Duration,
        until: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        let deadline = Instant::now() + grace;
        events.extend(self.drain());
        while !until(&events) && Instant::now() < deadline {
            events.extend(self.next_events(deadline).await);
        }
        events
    }

    /// The door's refusal of `visitor` at `stage` (where the caller saw it stop), waiting up to
    /// `grace` for the guard to log it. The events read meanwhile stay for the step's narration.
    ///
    /// The stage keeps an earlier step's refusal, logged late by its guard, from standing in for
    /// this one's: the same caller refused in the handshake a step ago is not the reason for this
    /// step's 403.
    pub(super) async fn door_refusal(
        &mut self,
        visitor: &Visitor,
        stage: Stage,
        grace: Duration,
    ) -> Option<Event> {
        let deadline = Instant::now() + grace;
        let queued = self.queued();
        self.pending.extend(queued);
        loop {
            if let Some(e) = refusal_of(&self.pending, visitor, stage) {
                return Some(e.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            let more = self.next_events(deadline).await;
            self.pending.extend(more);
        }
    }

    /// Someone else refused during the step (a member of staff at Alice's door, Alice at
    /// etcd's): hops worth drawing, once each. The door's own event is drawn; the caller's
    /// side of the same refusal only when the door said nothing (the caller refused the door).
    pub(super) fn draw_refusals(&mut self, events: &[Event], visitor: Option<&Visitor>) {
        let refused: Vec<&Event> = events
            .iter()
            .filter(|e| !e.allowed && !visitor.is_some_and(|v| v.caused(e)))
            .collect();
        let mut drawn = HashSet::new();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_handshake_refusal_logged_late_is_not_the_reason_for_this_steps_403() {
        let john = Caller {
            label: "john".into(),
            cert: None,
            identity: None,
            kubeconfig: None,
        };
        let visitor = Visitor::new(&john, "apiserver");
        let at = time::OffsetDateTime::UNIX_EPOCH;
        // The step before: john's handshake, whose guard's line came after that step ended.
        let late = Event::new(at, "127.0.0.1:50000", "apiserver", Stage::Tls)
            .server_log("http: TLS handshake error from 127.0.0.1:50000: remote error: tls: bad certificate")
            .explanation("the visitor and Alice could not agree on a secure connection");
        let forbidden = Event::new(at, "john", "apiserver", Stage::Authz)
            .explanation("no RBAC rule lets john list pods");
        assert_eq!(
            refusal_of(std::slice::from_ref(&late), &visitor, Stage::Authz),
            None
        );
        let both = [late.clone(), forbidden.clone()];
        assert_eq!(refusal_of(&both, &visitor, Stage::Authz), Some(&forbidden));
        assert_eq!(refusal_of(&both, &visitor, Stage::Tls), Some(&late));
    }

    #[test]
    fn an_admission_plugins_refusal_after_rbac_said_yes_is_the_reason_for_the_403() {
        let kubelet = Caller {
            label: "system:node:desk-a".into(),
            cert: None,
            identity: None,
            kubeconfig: None,
        };
        let visitor = Visitor::new(&kubelet, "apiserver");
        let at = time::OffsetDateTime::UNIX_EPOCH;
        // Alice tells RBAC's (the Node authorizer's) yes, then NodeRestriction's no.
        let authorized = Event::new(at, "system:node:desk-a", "apiserver", Stage::Authz)
            .allowed(true)
            .detail("DELETE /api/v1/namespaces/default/pods/web 403");
        let admission = Event::new(at, "system:node:desk-a", "apiserver", Stage::Request)
            .allowed(false)
            .detail("DELETE /api/v1/namespaces/default/pods/web 403")
            .explanation("the NodeRestriction admission plugin read the object and refused");
        let told = [authorized, admission.clone()];
        assert_eq!(refusal_of(&told, &visitor, Stage::Authz), Some(&admission));
        // RBAC's own refusal, when there is one, is the reason before anything later.
        let forbidden = Event::new(at, "system:node:desk-a", "apiserver", Stage::Authz)
            .allowed(false)
            .explanation("the Node authorizer refused");
        let both = [admission.clone(), forbidden.clone()];
        assert_eq!(refusal_of(&both, &visitor, Stage::Authz), Some(&forbidden));
        // A request-stage refusal never stands in for a handshake's.
        assert_eq!(refusal_of(&told, &visitor, Stage::Tls), None);
    }

    #[test]
    fn a_controllers_token_refused_at_the_same_moment_is_not_the_reason_for_a_badges_401() {
        use kubecorp_trust::{Identity, VerdictKind};
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let badge = |serial: &str| Identity {
            cn: "john".into(),
            orgs: vec!["developers".into()],
            issuer: "kubernetes".into(),
            serial: serial.into(),
            not_before: at,
            not_after: at,
            sans: vec![],
            usages: vec!["client auth".into()],
        };
        let john = Caller {
            label: "john".into(),
            cert: None,
            identity: Some(badge("4936543523676029976")),
            kubeconfig: None,
        };
        let visitor = Visitor::new(&john, "apiserver");
        // The clock jumped a day: a controller's token and john's badge ran out together, and
        // the token's 401 (no badge, so only an address) was logged first.
        let token = Event::new(at, "127.0.0.1:40206", "apiserver", Stage::Authn)
            .server_log("\"Unable to authenticate the request\" err=\"[invalid bearer token, service account token has expired]\"");
        let mut johns = Event::new(at, "127.0.0.1:40300", "apiserver", Stage::Authn)
            .server_log("\"Unable to authenticate the request\" err=\"[x509: certificate has expired or is not yet valid: …]\"");
        johns.identity = Some(badge("4936543523676029976"));
        johns.verdict = Some(VerdictKind::Expired);
        assert!(!visitor.caused(&token), "the token's 401 is not john's");
        assert_eq!(
            refusal_of(std::slice::from_ref(&token), &visitor, Stage::Authn),
            None
        );
        let both = [token.clone(), johns.clone()];
        assert_eq!(refusal_of(&both, &visitor, Stage::Authn), Some(&johns));

        // Before the door reads a badge, an address is all it has: a handshake refusal is his.
        let handshake = Event::new(at, "127.0.0.1:40301", "apiserver", Stage::Tls);
        assert!(visitor.caused(&handshake));
        assert_eq!(
            refusal_of(std::slice::from_ref(&handshake), &visitor, Stage::Tls),
            Some(&handshake)
        );
    }
}
