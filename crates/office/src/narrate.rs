//! The narrator: one readable line per event, with the real text and the plain explanation on failure.

use kubecorp_trust::{Event, Stage};

/// Renders an event for a room: time, hop, stage, verdict, then (on a refusal) what each side
/// prints, what it means and how to fix it. `color` adds ANSI green/red.
pub fn narrate(event: &Event, color: bool) -> String {
    // A badge's CN or a peer's text could carry terminal control codes: show them, don't obey.
    let clean = |s: &String| -> String {
        s.chars()
            .flat_map(|c| match c.is_control() {
                true => c.escape_default().collect::<Vec<_>>(),
                false => vec![c],
            })
            .collect()
    };
    let mut safe = event.clone();
    for text in [&mut safe.from, &mut safe.to] {
        *text = clean(text);
    }
    for text in [
        &mut safe.client_text,
        &mut safe.server_log,
        &mut safe.explanation,
        &mut safe.hint,
        &mut safe.detail,
        &mut safe.logged_by,
    ]
    .into_iter()
    .flatten()
    {
        *text = clean(text);
    }
    if let Some(id) = &mut safe.identity {
        id.cn = clean(&id.cn);
        id.issuer = clean(&id.issuer);
        id.orgs = id.orgs.iter().map(clean).collect();
    }
    narrate_raw(&safe, color)
}

fn narrate_raw(event: &Event, color: bool) -> String {
    let (mark, on, off) = match (event.allowed, color) {
        (true, true) => ("✓", "\x1b[32m", "\x1b[0m"),
        (false, true) => ("✗", "\x1b[31m", "\x1b[0m"),
        (true, false) => ("✓", "", ""),
        (false, false) => ("✗", "", ""),
    };
    let at = event.at;
    let mut out = format!(
        "{:02}:{:02}:{:02}  {on}{mark}{off} {:<8} {} → {}",
        at.hour(),
        at.minute(),
        at.second(),
        event.stage.to_string(),
        event.from,
        event.to
    );
    if let Some(id) = &event.identity {
        out += &format!("  [badge {id}]");
    }
    if let Some(detail) = &event.detail {
        out += &format!("  {detail}");
    }
    if !event.allowed {
        if let Some(t) = &event.client_text {
            out += &format!("\n          caller sees: {t}");
        }
        if let Some(t) = &event.server_log {
            out += &format!("\n          {} logs: {t}", event.log_owner());
        }
        if let Some(t) = &event.explanation {
            out += &format!("\n          what it means: {t}");
        }
        if let Some(t) = &event.hint {
            out += &format!("\n          hint: {t}");
        }
    }
    out
}

/// Whether `--quiet` narration tells this event: every refusal, and what the staff did (a pod
/// bound, a route written, a badge rotated), but not each successful badge check and request.
pub fn worth_telling_quietly(event: &Event) -> bool {
    const STAFF: &[&str] = &["scheduler", "kube-proxy", "controller-manager", "kubelet"];
    !event.allowed
        || (event.stage == Stage::Request && STAFF.contains(&event.from.as_str()))
        || event.logged_by.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn control_codes_in_a_badge_are_shown_not_obeyed() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let event = Event::new(at, "evil\x1b[2J", "apiserver", Stage::Authn).detail("GET /\x07");
        let line = narrate(&event, true);
        assert!(line.contains("evil\\u{1b}[2J"), "{line}");
        assert!(line.contains("GET /\\u{7}"), "{line}");
    }

    #[test]
    fn quiet_narration_keeps_refusals_and_staff_actions_and_drops_routine_checks() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let routine = Event::new(at, "127.0.0.1:5000", "etcd", Stage::Tls).allowed(true);
        let refused = Event::new(at, "system:kube-scheduler", "apiserver", Stage::Authn);
        let bound = Event::new(at, "scheduler", "apiserver", Stage::Request)
            .allowed(true)
            .detail("bound default/web to kubecorp-control-plane");
        assert!(!worth_telling_quietly(&routine));
        assert!(worth_telling_quietly(&refused));
        assert!(worth_telling_quietly(&bound));
    }
}
