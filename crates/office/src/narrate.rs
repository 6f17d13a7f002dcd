//! The narrator: one readable line per event, with the real text and the plain explanation on failure.

use kubecorp_trust::Event;

/// Renders an event for a room: time, hop, stage, verdict, then (on a refusal) what each side
/// prints, what it means and how to fix it. `color` adds ANSI green/red.
pub fn narrate(event: &Event, color: bool) -> String {
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
