//! An event in brief: what the live page's floor plan and timeline row need, and nothing else.
//!
//! A busy office puts thousands of events a second on the stream, each a full record of about a
//! kilobyte (the badge, Go's texts, the explanation, the hint, the commands to confirm it). The
//! page draws only who knocked at whose door, how far they got and one line of text; it fetches
//! the rest (`GET /api/records/SEQ`) when someone opens the event. So the stream carries each
//! event in brief, and the browser parses a quarter of what it did.

use kubecorp_trust::events::{Event, Stage};
use kubecorp_trust::record::{EventRecord, Record, SCHEMA};
use serde::Serialize;
use time::OffsetDateTime;

/// The longest short text, in characters: a timeline row shows one line.
pub const TEXT_LIMIT: usize = 200;

/// An `event` record in brief (`"brief": true`): the envelope, the who, where, how far and
/// outcome, the badge's names, and one line of text.
#[derive(Debug, Serialize)]
pub struct Brief<'a> {
    schema: &'static str,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chapter: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    /// Always `true`: the whole record is at `GET /api/records/SEQ`.
    brief: bool,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    from: &'a str,
    to: &'a str,
    stage: Stage,
    allowed: bool,
    mine: bool,
    /// Who the badge names and who signed it: enough to place the caller on the floor plan
    /// and to filter by identity. Serial, validity, SANs and usages wait for the details.
    identity: Option<Names<'a>>,
    /// The row's line: for a refusal, what the caller saw (else the guard's log line, the
    /// explanation, the detail); for a pass, the detail. First line only, at most
    /// [`TEXT_LIMIT`] characters.
    text: String,
}

/// A badge's names.
#[derive(Debug, Serialize)]
struct Names<'a> {
    cn: &'a str,
    orgs: &'a [String],
    issuer: &'a str,
}

impl<'a> Brief<'a> {
    /// `record`'s event in brief, or `None` when it is not an event (other records are small
    /// and go on the stream whole).
    pub fn of(record: &'a Record) -> Option<Brief<'a>> {
        let kubecorp_trust::record::Body::Event(EventRecord { event, mine, .. }) = &record.body
        else {
            return None;
        };
        Some(Brief {
            schema: SCHEMA,
            seq: record.seq,
            step: record.step,
            chapter: record.chapter.as_deref(),
            kind: "event",
            brief: true,
            at: event.at,
            from: &event.from,
            to: &event.to,
            stage: event.stage,
            allowed: event.allowed,
            mine: *mine,
            identity: event.identity.as_ref().map(|id| Names {
                cn: &id.cn,
                orgs: &id.orgs,
                issuer: &id.issuer,
            }),
            text: short_text(event),
        })
    }

    /// One JSON object (no newline).
    pub fn to_json(&self) -> String {
        // Strings, numbers, booleans and a list of strings: this cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The line a timeline row shows for `event`.
pub fn short_text(event: &Event) -> String {
    let texts = match event.allowed {
        false => [
            event.client_text.as_deref(),
            event.server_log.as_deref(),
            event.explanation.as_deref(),
            event.detail.as_deref(),
        ],
        true => [event.detail.as_deref(), None, None, None],
    };
    let first = texts
        .into_iter()
        .flatten()
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let line = first.split('\n').next().unwrap_or_default().trim_end();
    match line.char_indices().nth(TEXT_LIMIT) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecorp_trust::events::Identity;
    use kubecorp_trust::record::Body;
    use time::macros::datetime;

    fn rogue() -> Event {
        let at = datetime!(2026-04-24 10:14:23 UTC);
        Event::new(at, "127.0.0.1:50994", "apiserver", Stage::Authn)
            .identity(Some(Identity {
                cn: "kubernetes-admin".into(),
                orgs: vec!["kubeadm:cluster-admins".into()],
                issuer: "rogue-ca".into(),
                serial: "6912498324104210941".into(),
                not_before: at,
                not_after: at + time::Duration::days(365),
                sans: vec!["admin.example".into()],
                usages: vec!["client auth".into()],
            }))
            .client_text("error: You must be logged in to the server (Unauthorized)\nsecond line")
            .server_log("\"Unable to authenticate the request\" err=\"[x509: certificate signed by unknown authority]\"")
            .explanation("The badge says it was signed by \"rogue-ca\", and the guard trusts no CA of that name.")
            .hint("re-issue the badge from the cluster CA")
            .detail("GET /api 401")
    }

    fn brief_json(record: &Record) -> serde_json::Value {
        serde_json::from_str(&Brief::of(record).unwrap().to_json()).unwrap()
    }

    #[test]
    fn a_refusal_in_brief_keeps_what_the_floor_plan_and_the_row_need_and_leaves_the_texts_out() {
        let record = Record::new(
            42,
            Body::Event(EventRecord::new(rogue(), true, Some("/lab"))),
        )
        .in_step(Some(3), Some("Charlie's vault".into()));
        let brief = brief_json(&record);
        assert_eq!(
            brief,
            serde_json::json!({
                "schema": "kubecorp/v1", "seq": 42, "step": 3, "chapter": "Charlie's vault",
                "type": "event", "brief": true, "at": "2026-04-24T10:14:23Z",
                "from": "127.0.0.1:50994", "to": "apiserver", "stage": "authn",
                "allowed": false, "mine": true,
                "identity": {"cn": "kubernetes-admin", "orgs": ["kubeadm:cluster-admins"], "issuer": "rogue-ca"},
                "text": "error: You must be logged in to the server (Unauthorized)",
            })
        );
        let whole = record.to_json();
        let short = Brief::of(&record).unwrap().to_json();
        assert!(
            short.len() * 2 < whole.len(),
            "{} bytes in brief, {} whole",
            short.len(),
            whole.len()
        );
    }

    #[test]
    fn a_pass_in_brief_says_its_detail_and_a_long_line_is_cut() {
        let at = datetime!(2026-04-24 10:14:23 UTC);
        let pass = Event::new(at, "scheduler", "apiserver", Stage::Request)
            .allowed(true)
            .client_text("not shown for a pass")
            .detail("GET /api/v1/pods 200");
        assert_eq!(short_text(&pass), "GET /api/v1/pods 200");
        let long = Event::new(at, "etcd", "apiserver", Stage::Tls).server_log("é".repeat(500));
        let text = short_text(&long);
        assert_eq!(text.chars().count(), TEXT_LIMIT + 1);
        assert!(text.ends_with('…'), "{text}");
        let silent = Event::new(at, "etcd", "apiserver", Stage::Tcp).client_text("");
        assert_eq!(short_text(&silent), "");
    }

    #[test]
    fn only_events_are_put_in_brief() {
        let output = Record::new(
            1,
            Body::Output {
                text: "note".into(),
            },
        );
        assert!(Brief::of(&output).is_none());
    }
}
