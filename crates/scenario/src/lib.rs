//! Scenario files: the KubeCorp day and the break-it catalogue, as stories the lab can play and check.
//!
//! A scenario is a YAML file: a title, how to build the lab, and steps (narration, requests as
//! someone to a component, real commands, waits, faults and repairs, clock moves), each with
//! what it must show. `kubecorp run FILE` plays one for a room; `kubecorp test DIR` checks many
//! in parallel for CI.
//!
//! # Layout
//!
//! - [`model`]: the validated scenario.
//! - [`parse`]: YAML → raw tree with positions → model; errors name file, line, column and field.
//! - [`run`]: plays a scenario against a real office on loopback ports, step by step.
//! - [`expect`]: what happened, compared with what the file expects.
//! - [`jobs`]: how many scenarios `kubecorp test -j` runs at once within the open-file limit.
//! - [`report`]: Markdown with a table of checks and a Mermaid sequence diagram.
//! - [`narrate`]: the run told to a room, and the lines `kubecorp test` prints per scenario.
//! - [`fit`]: narrated lines wrapped at spaces to the screen's width.
//! - [`present`]: the presenter's pace: predict, then reveal; starting at a chapter.
//! - [`suite`]: many files found, chapters played once, run in parallel.
//! - [`tape`]: the run as `kubecorp/v1` records, for `--format json`, the page and the HTML report.
//! - [`junit`]: one JUnit test case per expectation.
//! - [`kubelet`]: a request to a kubelet's :10250, dialled as kube-apiserver dials it.
//! - [`challenge`]: the office broken on purpose, the symptom, hints, and the check of a repair.
#![forbid(unsafe_code)]

pub mod challenge;
pub mod expect;
pub mod fit;
pub mod jobs;
pub mod junit;
pub mod kubelet;
pub mod model;
pub mod narrate;
pub mod parse;
pub mod present;
pub mod report;
pub mod run;
pub mod suite;
pub mod tape;

pub use model::Scenario;
pub use parse::{parse_file, parse_str, ParseError, ParseErrors};
