//! The lab's recorded stream, schema `kubecorp/v1`: what `kubecorp run --format json` prints,
//! what the live page receives over Server-Sent Events (lighter, see below), and what an HTML
//! report replays.
//!
//! Every record is one JSON object with the same envelope:
//!
//! | field     | always | meaning |
//! |-----------|--------|---------|
//! | `schema`  | yes    | `"kubecorp/v1"` ([`SCHEMA`]); a reader refuses another major version |
//! | `seq`     | yes    | 1, 2, 3… in the order things happened; the SSE `id:` of the record |
//! | `type`    | yes    | which body follows: `opened`, `chapter`, `step`, `event`, `output`, `outcome`, `check`, `result`, `clock`, `action` |
//! | `step`    | no     | the step of a scenario run it belongs to, 1-based over the whole run |
//! | `chapter` | no     | the title of the chapter that step is in |
//!
//! and the fields of its body ([`Body`]). An `event` body is an [`Event`] as it is: `at` (lab
//! clock, RFC 3339), `from` (the caller), `to` (the guard), `stage` (`tcp`, `tls`, `authn`,
//! `authz`, `request`), `allowed` (the outcome), `identity` (the badge shown: subject, issuer,
//! serial, validity, SANs, usages), `verdict`, and the texts `client_text`, `server_log`
//! (written by `logged_by`, or else the guard), `explanation`, `hint`, `detail`; plus `mine`
//! (the step's own visitor caused it) and `confirm` (commands that show the same thing).
//!
//! Adding a field is not a new version; changing or removing one is. No record carries key
//! material: badges are public certificates, and keys are never read into the stream.
//!
//! The live page's stream (`GET /events`, crates/web) carries the same records in two lighter
//! forms, so a browser keeps up with a busy office: each Server-Sent Events message holds a
//! JSON array of records in order, its `id:` the `seq` of the last one; and an `event` there is
//! in brief, marked `"brief": true`: the envelope, `at`, `from`, `to`, `stage`, `allowed`,
//! `mine`, `identity` with only `cn`, `orgs` and `issuer`, and `text` (the line a timeline row
//! shows). The whole record is `GET /api/records/SEQ` while the page's door remembers it.
//! `--format json` and the HTML report carry every record whole, one per line or item.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::events::{Event, Stage};
use crate::verdict::VerdictKind;

/// The schema every record names.
pub const SCHEMA: &str = "kubecorp/v1";

/// One record of the stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The record's place in its stream, from 1.
    pub seq: u64,
    /// The step it belongs to (scenario runs only), 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// The chapter title of that step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chapter: Option<String>,
    #[serde(flatten)]
    pub body: Body,
}

impl Record {
    pub fn new(seq: u64, body: Body) -> Record {
        Record {
            schema: SCHEMA.to_owned(),
            seq,
            step: None,
            chapter: None,
            body,
        }
    }

    /// The same record placed in a step of a chapter.
    pub fn in_step(mut self, step: Option<u32>, chapter: Option<String>) -> Record {
        self.step = step;
        self.chapter = chapter;
        self
    }

    /// One JSON line (no newline).
    pub fn to_json(&self) -> String {
        // Every field is a string, number, bool, list or map with string keys: this cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a record says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// An office opened: a scenario's, or `kubecorp up`'s.
    Opened(Opened),
    /// A chapter of the story begins.
    Chapter(Chapter),
    /// A step begins: what the room is told, before anything happens.
    Step(StepStart),
    /// Something happened at a door.
    Event(EventRecord),
    /// A command's output, or an answer worth showing.
    Output { text: String },
    /// What a step came to, as the caller saw it.
    Outcome(StepOutcome),
    /// One expectation of the scenario, checked.
    Check(CheckRecord),
    /// The run is over.
    Result(RunResult),
    /// The lab clock reads `now`: sent when it is moved, and now and then. `running` when it
    /// goes on with real time, `false` when it stands still (a scenario's fixed clock).
    Clock {
        #[serde(with = "time::serde::rfc3339")]
        now: OffsetDateTime,
        #[serde(default)]
        running: bool,
    },
    /// A trainer changed the lab from the page (`break`, `renew`, `undo`, the clock).
    Action(ActionRecord),
}

/// Where an office listens, and what story it plays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opened {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The scenario file, for a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub apiserver: String,
    pub etcd: String,
    /// The lab directory.
    pub dir: String,
    /// The nodes, one desk each.
    #[serde(default)]
    pub nodes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    pub title: String,
    /// The chapter's file.
    pub file: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepStart {
    /// The line in its file where the step starts.
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The story's time of day (`9:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The narration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// What the step does, in one line.
    pub headline: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    #[serde(flatten)]
    pub event: Event,
    /// Caused by the step's own visitor (not by background staff).
    #[serde(default)]
    pub mine: bool,
    /// Commands that confirm what the event says (`openssl …`, `kubecorp certs verify …`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirm: Vec<String>,
}

impl EventRecord {
    /// An event with the commands that confirm a refusal: `kubecorp explain` knows them for
    /// each text, and the guard's CA is named where the lab knows it (`lab` is its directory).
    pub fn new(event: Event, mine: bool, lab: Option<&str>) -> EventRecord {
        let confirm = match event.allowed {
            true => Vec::new(),
            false => confirm(&event, lab),
        };
        EventRecord {
            event,
            mine,
            confirm,
        }
    }
}

fn confirm(event: &Event, lab: Option<&str>) -> Vec<String> {
    let texts = [
        event.client_text.as_deref(),
        event.server_log.as_deref(),
        event.verdict.map(|v| v.name()),
    ];
    let Some(found) = texts
        .into_iter()
        .flatten()
        .find_map(crate::explain::explain)
    else {
        return Vec::new();
    };
    let ca = match (lab, event.to.as_str()) {
        (Some(dir), "etcd") => Some(format!("{dir}/pki/etcd/ca.crt")),
        (Some(dir), _) => Some(format!("{dir}/pki/ca.crt")),
        _ => None,
    };
    let mut commands: Vec<String> = found
        .confirm
        .into_iter()
        .map(|c| match (&ca, lab) {
            (Some(ca), Some(dir)) => c
                .replace("--ca CA.crt", &format!("--ca {ca}"))
                .replace(" pki/", &format!(" {dir}/pki/")),
            _ => c,
        })
        .collect();
    if let Some(v) = event.verdict {
        commands.push(format!("kubecorp explain {}", v.name()));
    }
    commands
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<VerdictKind>,
    /// What the caller prints.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// `status`, `verdict`, `log by etcd`, …
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
    /// Not checked (an outside tool is missing outside CI).
    pub skipped: bool,
    /// Where the expectation is: `FILE:LINE`.
    pub place: String,
    /// As the terminal prints it: `status 403`, `status: expected 403, got 200`.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub title: String,
    pub file: String,
    pub passed: bool,
    pub checks: usize,
    pub failed: usize,
    pub skipped: usize,
    pub elapsed_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// What was asked, as a command line: `kubecorp break expire scheduler.conf`.
    pub command: String,
    pub ok: bool,
    /// What it printed, or why it could not.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_event_record_is_the_event_flattened_under_the_envelope() {
        let event = Event::new(
            datetime!(2026-04-24 10:14:23 UTC),
            "127.0.0.1:5000",
            "etcd",
            Stage::Tls,
        )
        .client_text("remote error: tls: unknown certificate authority");
        let record = Record::new(7, Body::Event(EventRecord::new(event, true, Some("/lab"))))
            .in_step(Some(3), Some("Charlie's vault".into()));
        let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(json["schema"], "kubecorp/v1");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["type"], "event");
        assert_eq!(json["step"], 3);
        assert_eq!(json["chapter"], "Charlie's vault");
        assert_eq!(json["stage"], "tls");
        assert_eq!(json["to"], "etcd");
        assert_eq!(
            json["client_text"],
            "remote error: tls: unknown certificate authority"
        );
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_refusal_at_etcd_names_etcds_ca_in_the_command_to_confirm_it() {
        let event = Event::new(
            datetime!(2026-04-24 10:14:23 UTC),
            "127.0.0.1:5000",
            "etcd",
            Stage::Tls,
        )
        .client_text("remote error: tls: unknown certificate authority");
        let record = EventRecord::new(event, false, Some("/lab"));
        assert!(
            record
                .confirm
                .iter()
                .any(|c| c.contains("--ca /lab/pki/etcd/ca.crt")),
            "{:?}",
            record.confirm
        );
    }

    #[test]
    fn a_clock_record_reads_back() {
        let record = Record::new(
            1,
            Body::Clock {
                now: datetime!(2026-04-24 10:14:23 UTC),
                running: false,
            },
        );
        let text = record.to_json();
        assert_eq!(
            text,
            r#"{"schema":"kubecorp/v1","seq":1,"type":"clock","now":"2026-04-24T10:14:23Z","running":false}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
    }
}
