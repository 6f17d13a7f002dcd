//! Reading a scenario file in two stages: YAML into a raw tree that remembers where every key
//! and value stood, then that tree into the validated [`Scenario`].
//!
//! Every problem names the file, line and column, the field's path (`steps[3].expect`), what
//! was expected, and, for a typo, the closest valid name:
//!
//! ```text
//! scenarios/x.yaml:12:5: steps[3].expect: unknown field 'staus', expected one of allowed, status, … — did you mean 'status'?
//! ```
//!
//! The first stage is serde: [`Node`] is a YAML value wrapped in serde-saphyr's `Spanned`, so
//! the second stage can point at any key it dislikes. All problems in a file are reported at
//! once, in file order.
//!
//! # Layout
//!
//! - this file: the entry points, the problems and how they print, and the walker's state.
//! - `raw`: the raw stage, a YAML value with its place, and a body as JSON.
//! - `read`: one field's value (strings, numbers, lists, one of a set, durations, times).
//! - `top`: the file's top level and its chapters; `lab`: the office it plays in.
//! - `step`: one step and its `expect:`; `request`: who asks which door what;
//!   `actions`: every other thing a step does; `challenge`: a file's `challenge:` section.

use std::fmt;
use std::path::{Path, PathBuf};

use kubecorp_office::CONTROL_PLANE_NODE;
use serde_saphyr::Spanned;

use crate::model::*;

mod actions;
mod challenge;
mod lab;
mod raw;
mod read;
mod request;
mod step;
mod top;

use lab::default_lab;
use raw::to_json;
pub use raw::{Node, Raw};

/// One thing wrong with a scenario file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    /// The field's path, e.g. `steps[3].expect` (empty for the file itself).
    pub path: String,
    pub problem: Problem,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("not valid YAML: {0}")]
    Syntax(String),
    #[error("unknown field '{given}', expected one of {}{}", expected.join(", "), did_you_mean(suggestion))]
    UnknownField {
        given: String,
        expected: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("missing field '{field}'{}", if hint.is_empty() { String::new() } else { format!(" ({hint})") })]
    Missing { field: String, hint: String },
    #[error("expected {expected}, found {found}")]
    Type { expected: String, found: String },
    #[error("'{given}' is not {expected}{}", did_you_mean(suggestion))]
    Value {
        given: String,
        expected: String,
        suggestion: Option<String>,
    },
    #[error("{0}")]
    Other(String),
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" — did you mean '{s}'?"))
        .unwrap_or_default()
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.problem)
    }
}

/// Every problem found in one file, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseErrors(pub Vec<ParseError>);

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The closest of `known` to `given`, if it is close enough to be a typo.
pub fn closest<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let (distance, best) = known
        .into_iter()
        .map(|k| (kubecorp_pki::renew::strsim_distance(given, k), k))
        .min()?;
    let limit = (given.chars().count().max(best.chars().count()) / 3).max(1);
    (distance <= limit && distance > 0).then(|| best.to_owned())
}

/// Reads and validates a scenario file.
pub fn parse_file(path: &Path) -> Result<Scenario, ParseErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ParseErrors(vec![ParseError {
            file: path.to_owned(),
            line: 1,
            column: 1,
            path: String::new(),
            problem: Problem::Io(e.to_string()),
        }])
    })?;
    parse_str(path, &text)
}

/// Validates scenario text; `file` only names it in messages.
pub fn parse_str(file: &Path, text: &str) -> Result<Scenario, ParseErrors> {
    let root: Node = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((1, 1));
        let message =
            serde_saphyr::MessageFormatter::format_message(&serde_saphyr::UserMessageFormatter, &e)
                .into_owned();
        ParseErrors(vec![ParseError {
            file: file.to_owned(),
            line,
            column,
            path: String::new(),
            problem: Problem::Syntax(message),
        }])
    })?;
    let mut cx = Cx {
        file: file.to_owned(),
        errors: Vec::new(),
        chapter_errors: Vec::new(),
        identities: Vec::new(),
        csrs: Vec::new(),
        nodes: vec![CONTROL_PLANE_NODE.into()],
    };
    let scenario = cx.scenario(&root);
    match scenario {
        Some(s) if cx.errors.is_empty() && cx.chapter_errors.is_empty() => Ok(s),
        _ => {
            // This file's problems in file order, then each chapter's, chapter by chapter.
            cx.errors.sort_by_key(|e| (e.line, e.column));
            cx.errors.append(&mut cx.chapter_errors);
            Err(ParseErrors(cx.errors))
        }
    }
}

/// The validation stage: walks the raw tree, collecting problems.
struct Cx {
    file: PathBuf,
    errors: Vec<ParseError>,
    /// Problems in chapter files, each already naming its own file (kept in chapter order).
    chapter_errors: Vec<ParseError>,
    /// Identities made so far by `csr` steps, so `as: jon` can say "did you mean john".
    identities: Vec<String>,
    /// CSR names submitted so far.
    csrs: Vec<String>,
    /// The lab's nodes, for `node:` and `node-ready`.
    nodes: Vec<String>,
}

/// A mapping's fields, checked against the names allowed there.
struct Fields<'n> {
    path: String,
    node: &'n Node,
    entries: Vec<(&'n Spanned<String>, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, v)| *v)
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }
}

fn line(node: &Node) -> u32 {
    node.referenced.line() as u32
}

fn column(node: &Node) -> u32 {
    node.referenced.column() as u32
}

/// The lab's one grammar for durations and times, shared with `--now` (see
/// [`kubecorp_pki::when`]).
pub use kubecorp_pki::when::{parse_duration, parse_time};

#[cfg(test)]
mod tests {
    use kubecorp_office::Staff;
    use kubecorp_trust::VerdictKind;
    use time::Duration;

    use super::*;

    pub(super) fn errors(text: &str) -> String {
        parse_str(Path::new("x.yaml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_typo_in_an_expectation_names_line_column_path_and_the_right_field() {
        let text = "title: t\nsteps:\n  - request: {get: pods}\n    expect:\n      staus: 403\n";
        assert_eq!(
            errors(text),
            "x.yaml:5:7: steps[0].expect: unknown field 'staus', expected one of allowed, status, verdict, stage, text, contains, log, lifetime, exit — did you mean 'status'?"
        );
    }

    #[test]
    fn durations_read_as_scenario_files_write_them() {
        assert_eq!(parse_duration("1y"), Some(Duration::days(365)));
        assert_eq!(parse_duration("1d12h"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("-2d"), Some(Duration::days(-2)));
        assert_eq!(parse_duration("300"), None);
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(
            parse_duration("100000y"),
            None,
            "beyond what a calendar prints"
        );
        assert_eq!(format_duration(Duration::hours(36)), "1d12h");
        assert_eq!(
            parse_duration("1s500ms"),
            Some(Duration::milliseconds(1500))
        );
        assert_eq!(format_duration(Duration::milliseconds(1500)), "1s500ms");
    }

    #[test]
    fn a_yaml_syntax_error_names_its_line() {
        let e = errors("title: t\nsteps: [\n");
        assert!(e.starts_with("x.yaml:"), "{e}");
        assert!(e.contains("not valid YAML"), "{e}");
    }

    #[test]
    fn a_valid_file_has_every_step() {
        let text = "title: t\nlab: {clock: 2026-04-24T09:00:00Z, staff: none}\nsteps:\n  - say: hello\n  - break: {fault: expire, target: scheduler.conf}\n  - request: {as: scheduler.conf, get: pods}\n    expect: {status: 401, stage: authn, verdict: expired}\n  - clock: {advance: 1y}\n";
        let s = parse_str(Path::new("x.yaml"), text).unwrap();
        assert_eq!(s.steps.len(), 4);
        assert_eq!(s.lab.staff, Staff::NONE);
        let e = s.steps[2].expect.as_ref().unwrap();
        assert_eq!(e.status, Some(401));
        assert_eq!(e.verdict, Some(VerdictKind::Expired));
    }

    #[test]
    fn odd_input_is_an_error_with_a_place_never_a_panic() {
        let cases = [
            "",
            "- a\n- b\n",
            "just a string",
            "title: t\nsteps: 3\n",
            "title: t\nsteps:\n  - 3\n",
            "title: t\nsteps:\n  - {}\n",
            "1: 2\n",
            "title: [a, b]\nsteps: []\n",
            "title: t\nsteps:\n  - clock: {advance: 99999999999999999999y}\n",
            "title: t\nsteps:\n  - clock: {advance: 1y, set: 2026-01-01}\n",
            "title: t\nsteps:\n  - request: {get: pods, path: /x}\n",
            "title: t\nsteps:\n  - request: {to: etcd, get: pods}\n",
            "title: t\nsteps:\n  - csr: {name: ../../etc/x, cn: x}\n",
            "title: t\nsteps:\n  - say: &a hi\n  - say: *a\n    expect: {status: 99999}\n",
            "title: t\nsteps:\n  - wait: {for: pod-bound}\n",
            "title: t\nlab: {nodes: [], staff: [bob]}\nsteps:\n  - say: x\n",
        ];
        for text in cases {
            let errors = parse_str(Path::new("x.yaml"), text).expect_err(text).0;
            assert!(!errors.is_empty(), "{text}");
            for e in errors {
                assert!(e.line >= 1 && e.column >= 1, "{text}: {e}");
            }
        }
    }
}
