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

use std::fmt;
use std::path::{Path, PathBuf};

use kubecorp_office::{Staff, CONTROL_PLANE_NODE};
use kubecorp_pki::KeyAlgorithm;
use kubecorp_trust::{Stage, VerdictKind};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;
use time::{Duration, OffsetDateTime};

use crate::model::*;
use kubecorp_client::resources;

mod challenge;

/// A YAML value with its place in the file: the raw stage.
pub type Node = Spanned<Raw>;

/// A YAML value as written, before any meaning is given to it.
#[derive(Debug, Clone)]
pub enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Spanned<String>, Node)>),
}

impl Raw {
    fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "nothing",
            Raw::Bool(_) => "a boolean",
            Raw::Int(_) => "a number",
            Raw::Float(_) => "a number",
            Raw::Str(_) => "a string",
            Raw::Seq(_) => "a list",
            Raw::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Raw, E> {
                i64::try_from(v)
                    .map(Raw::Int)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut out = Vec::new();
                while let Some(node) = seq.next_element::<Node>()? {
                    out.push(node);
                }
                Ok(Raw::Seq(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Node>()?;
                    out.push((key, value));
                }
                Ok(Raw::Map(out))
            }
        }
        d.deserialize_any(RawVisitor)
    }
}

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

impl Cx {
    fn error(&mut self, node: &Node, path: &str, problem: Problem) {
        self.errors.push(ParseError {
            file: self.file.clone(),
            line: line(node),
            column: column(node),
            path: path.to_owned(),
            problem,
        });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let found = node.value.kind().to_owned();
        self.error(
            node,
            path,
            Problem::Type {
                expected: expected.into(),
                found,
            },
        );
    }

    /// A mapping with only `allowed` keys; unknown ones are reported with a suggestion.
    fn fields<'n>(&mut self, node: &'n Node, path: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Raw::Map(entries) = &node.value else {
            self.wrong_type(node, path, "a mapping");
            return None;
        };
        let mut kept = Vec::new();
        for (key, value) in entries {
            if allowed.contains(&key.value.as_str()) {
                kept.push((key, value));
            } else {
                self.errors.push(ParseError {
                    file: self.file.clone(),
                    line: key.referenced.line() as u32,
                    column: key.referenced.column() as u32,
                    path: path.to_owned(),
                    problem: Problem::UnknownField {
                        given: key.value.clone(),
                        expected: allowed.iter().map(|s| s.to_string()).collect(),
                        suggestion: closest(&key.value, allowed.iter().copied()),
                    },
                });
            }
        }
        Some(Fields {
            path: path.to_owned(),
            node,
            entries: kept,
        })
    }

    fn require<'n>(&mut self, f: &Fields<'n>, name: &str, hint: &str) -> Option<&'n Node> {
        let node = f.get(name);
        if node.is_none() {
            self.error(
                f.node,
                &f.path,
                Problem::Missing {
                    field: name.into(),
                    hint: hint.into(),
                },
            );
        }
        node
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Raw::Str(s) => Some(s.clone()),
            Raw::Int(i) => Some(i.to_string()),
            Raw::Float(x) => Some(x.to_string()),
            Raw::Bool(b) => Some(b.to_string()),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    fn opt_string(&mut self, f: &Fields, name: &str) -> Option<String> {
        let node = f.get(name)?;
        self.string(node, &f.child(name))
    }

    fn req_string(&mut self, f: &Fields, name: &str, hint: &str) -> Option<String> {
        let node = self.require(f, name, hint)?;
        self.string(node, &f.child(name))
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Raw::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    fn integer(&mut self, node: &Node, path: &str) -> Option<i64> {
        match &node.value {
            Raw::Int(i) => Some(*i),
            Raw::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.wrong_type(node, path, "a whole number");
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match &node.value {
            Raw::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| self.string(n, &format!("{path}[{i}]")))
                .collect(),
            Raw::Str(_) | Raw::Int(_) => self.string(node, path).map(|s| vec![s]),
            _ => {
                self.wrong_type(node, path, "a list of strings");
                None
            }
        }
    }

    /// One of `known`, with a suggestion when it is not.
    fn choice(&mut self, node: &Node, path: &str, known: &[&str], what: &str) -> Option<String> {
        let given = self.string(node, path)?;
        if known.contains(&given.as_str()) {
            return Some(given);
        }
        self.error(
            node,
            path,
            Problem::Value {
                suggestion: closest(&given, known.iter().copied()),
                given,
                expected: format!("{what} (one of {})", known.join(", ")),
            },
        );
        None
    }

    fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = match &node.value {
            Raw::Int(i) => format!("{i}s"),
            _ => self.string(node, path)?,
        };
        match parse_duration(&text) {
            Some(d) => Some(d),
            None => {
                self.error(
                    node,
                    path,
                    Problem::Value {
                        given: text,
                        expected:
                            "a duration such as 500ms, 30s, 10m, 24h, 1d or 1y (at most 1000y)"
                                .into(),
                        suggestion: None,
                    },
                );
                None
            }
        }
    }

    fn time(&mut self, node: &Node, path: &str) -> Option<OffsetDateTime> {
        let text = self.string(node, path)?;
        match parse_time(&text) {
            Some(t) => Some(t),
            None => {
                self.error(
                    node,
                    path,
                    Problem::Value {
                        given: text,
                        expected: "a time such as 2026-04-24T09:00:00Z or a date 2026-04-24".into(),
                        suggestion: None,
                    },
                );
                None
            }
        }
    }

    /// Names that become file names in the lab directory: no separators, no `..`.
    fn file_name(&mut self, f: &Fields, field: &str, value: &str) {
        let ok = !value.is_empty()
            && !value.starts_with('.')
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !ok {
            self.error(
                f.get(field).unwrap_or(f.node),
                &f.child(field),
                Problem::Value {
                    given: value.to_owned(),
                    expected: "a name of letters, digits, '.', '-', '_' or ':' (it names files in the lab)".into(),
                    suggestion: None,
                },
            );
        }
    }

    fn scenario(&mut self, root: &Node) -> Option<Scenario> {
        if !matches!(root.value, Raw::Map(_)) {
            self.wrong_type(
                root,
                "",
                "a scenario (a mapping with title, steps, and optionally description and lab)",
            );
            return None;
        }
        let f = self.fields(
            root,
            "",
            &[
                "title",
                "description",
                "lab",
                "setup",
                "steps",
                "chapters",
                "challenge",
            ],
        )?;
        let title = self.req_string(&f, "title", "one line naming the story");
        let description = self.opt_string(&f, "description");
        let lab = match f.get("lab") {
            Some(node) => self.lab(node, "lab"),
            None => Some(default_lab()),
        };
        if let Some(lab) = &lab {
            self.nodes.clone_from(&lab.nodes);
        }
        if let Some(node) = f.get("challenge") {
            let challenge = self.challenge(node, &f, lab.as_ref());
            return Some(Scenario {
                file: self.file.clone(),
                title: title?,
                description,
                lab: lab?,
                steps: Vec::new(),
                chapters: Vec::new(),
                challenge: Some(challenge?),
            });
        }
        if let Some(chapters) = f.get("chapters") {
            for field in ["steps", "setup"] {
                if let Some(n) = f.get(field) {
                    self.error(
                        n,
                        field,
                        Problem::Other(format!(
                            "a file with chapters plays only its chapters: move the {field} into a chapter"
                        )),
                    );
                }
            }
            let (steps, files) = self.chapters(chapters)?;
            return Some(Scenario {
                file: self.file.clone(),
                title: title?,
                description,
                lab: lab?,
                steps,
                chapters: files,
                challenge: None,
            });
        }
        let mut steps = Vec::new();
        if let Some(setup) = f.get("setup") {
            let Raw::Seq(items) = &setup.value else {
                self.wrong_type(setup, "setup", "a list of steps");
                return None;
            };
            for (i, node) in items.iter().enumerate() {
                if let Some(mut step) = self.step(node, "setup", i, i) {
                    step.setup = true;
                    steps.push(step);
                }
            }
        }
        let steps_node = self.require(&f, "steps", "a list of steps, or chapters")?;
        let Raw::Seq(items) = &steps_node.value else {
            self.wrong_type(steps_node, "steps", "a list of steps");
            return None;
        };
        for (i, node) in items.iter().enumerate() {
            if let Some(step) = self.step(node, "steps", i, i) {
                steps.push(step);
            }
        }
        if items.is_empty() {
            self.error(
                steps_node,
                "steps",
                Problem::Other("a scenario needs at least one step".into()),
            );
        }
        Some(Scenario {
            file: self.file.clone(),
            title: title?,
            description,
            lab: lab?,
            steps,
            chapters: Vec::new(),
            challenge: None,
        })
    }

    /// `chapters: [day/0900-grand-entrance.yaml, …]`: each file, relative to this one, is read
    /// as a scenario of its own (its problems name its own file) and its steps, without its
    /// `setup:`, are played in order. Its title and description open it as narration.
    fn chapters(&mut self, node: &Node) -> Option<(Vec<Step>, Vec<PathBuf>)> {
        let Raw::Seq(items) = &node.value else {
            self.wrong_type(node, "chapters", "a list of scenario files");
            return None;
        };
        if items.is_empty() {
            self.error(
                node,
                "chapters",
                Problem::Other("a story with chapters needs at least one".into()),
            );
            return None;
        }
        let base = self
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut steps = Vec::new();
        let mut files = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("chapters[{i}]");
            let Some(name) = self.string(item, &path) else {
                continue;
            };
            let file = base.join(&name);
            if !file.is_file() {
                self.error(
                    item,
                    &path,
                    Problem::Other(format!(
                        "{}: no such chapter file (chapters are relative to this file)",
                        file.display()
                    )),
                );
                continue;
            }
            if files.contains(&file) || file == self.file {
                self.error(
                    item,
                    &path,
                    Problem::Other(format!("{name} is already a chapter of this story")),
                );
                continue;
            }
            let nested = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| serde_saphyr::from_str::<Node>(&text).ok())
                .is_some_and(|root| match &root.value {
                    Raw::Map(entries) => entries.iter().any(|(k, _)| k.value == "chapters"),
                    _ => false,
                });
            if nested {
                self.error(
                    item,
                    &path,
                    Problem::Other(format!(
                        "{name} has chapters of its own; a chapter holds steps"
                    )),
                );
                continue;
            }
            match parse_file(&file) {
                Ok(chapter) => {
                    let opening = [Some(chapter.title.clone()), chapter.description.clone()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("\n");
                    steps.push(Step {
                        index: 0,
                        line: 1,
                        file: Some(file.clone()),
                        setup: false,
                        at: None,
                        say: Some(opening),
                        action: match chapter.lab.clock {
                            Some(t) => Action::Clock(ClockMove::Chapter(t.time())),
                            None => Action::Say,
                        },
                        expect: None,
                    });
                    for mut step in chapter.steps.into_iter().filter(|s| !s.setup) {
                        step.file = Some(file.clone());
                        steps.push(step);
                    }
                }
                Err(ParseErrors(errors)) => self.chapter_errors.extend(errors),
            }
            files.push(file);
        }
        Some((steps, files))
    }

    fn lab(&mut self, node: &Node, path: &str) -> Option<LabSpec> {
        let f = self.fields(
            node,
            path,
            &[
                "nodes",
                "key_algorithm",
                "clock",
                "rotate_server_certificates",
                "pki",
                "staff",
            ],
        )?;
        let mut lab = default_lab();
        if let Some(n) = f.get("nodes") {
            lab.nodes = self.strings(n, &f.child("nodes"))?;
            lab.nodes_at = Some(At {
                line: line(n),
                column: column(n),
            });
            if lab.nodes.is_empty() {
                self.error(
                    n,
                    &f.child("nodes"),
                    Problem::Other("at least one node is needed".into()),
                );
            }
            if lab.nodes.len() > kubecorp_office::MAX_NODES {
                self.error(
                    n,
                    &f.child("nodes"),
                    Problem::Other(format!(
                        "{} nodes: an office runs at most {} (as `kubecorp up --nodes`)",
                        lab.nodes.len(),
                        kubecorp_office::MAX_NODES
                    )),
                );
            }
            for name in &lab.nodes {
                if let Err(e) = kubecorp_pki::node_name::NodeName::new(name) {
                    self.error(n, &f.child("nodes"), Problem::Other(e.to_string()));
                }
            }
        }
        if let Some(n) = f.get("key_algorithm") {
            // kubeadm's names (`RSA-2048`, `ECDSA-P256`, …), in any case.
            let path = f.child("key_algorithm");
            let given = self.string(n, &path)?;
            match given.parse::<KeyAlgorithm>() {
                Ok(k) => lab.key_algorithm = k,
                Err(_) => {
                    let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|k| k.name()).collect();
                    self.choice(
                        n,
                        &path,
                        &names,
                        "a key algorithm (kubeadm's encryptionAlgorithm)",
                    )?;
                }
            }
        }
        if let Some(n) = f.get("clock") {
            let clock = self.time(n, &f.child("clock"))?;
            // The lab makes its CAs at this time: both ends must fit in a certificate.
            let fits = kubecorp_pki::when::validity(
                "the cluster CA",
                clock,
                -kubecorp_pki::issue::BACKDATE,
                kubecorp_pki::issue::CA_VALIDITY,
            );
            if let Err(e) = fits {
                self.error(
                    n,
                    &f.child("clock"),
                    Problem::Value {
                        given: kubecorp_trust::go_time(clock),
                        expected: format!("a time at which the lab can make its CAs ({e})"),
                        suggestion: None,
                    },
                );
                return None;
            }
            lab.clock = Some(clock);
        }
        if let Some(n) = f.get("rotate_server_certificates") {
            lab.rotate_server_certificates =
                self.boolean(n, &f.child("rotate_server_certificates"))?;
        }
        if let Some(n) = f.get("pki") {
            lab.pki = Some(PathBuf::from(self.string(n, &f.child("pki"))?));
        }
        if let Some(n) = f.get("staff") {
            lab.staff = self.staff(n, &f.child("staff"))?;
        }
        Some(lab)
    }

    fn staff(&mut self, node: &Node, path: &str) -> Option<Staff> {
        const NAMES: &[&str] = &[
            "all",
            "none",
            "scheduler",
            "kubelets",
            "kube-proxy",
            "controllers",
        ];
        let names = self.strings(node, path)?;
        let mut staff = Staff::NONE;
        for name in names {
            if !NAMES.contains(&name.as_str()) {
                self.error(
                    node,
                    path,
                    Problem::Value {
                        suggestion: closest(&name, NAMES.iter().copied()),
                        given: name,
                        expected: format!("a member of staff (one of {})", NAMES.join(", ")),
                    },
                );
                return None;
            }
            match name.as_str() {
                "all" => staff = Staff::ALL,
                "none" => {}
                "scheduler" => staff.scheduler = true,
                "kubelets" => staff.kubelets = true,
                "kube-proxy" => staff.kube_proxy = true,
                _ => staff.controllers = true,
            }
        }
        Some(staff)
    }

    /// Step `i` of the list `list` (`steps` or `setup`); `index` is what checks number it by.
    fn step(&mut self, node: &Node, list: &str, i: usize, index: usize) -> Option<Step> {
        let path = format!("{list}[{i}]");
        const ACTIONS: &[&str] = &[
            "request",
            "run",
            "wait",
            "break",
            "undo",
            "renew",
            "clock",
            "csr",
            "certificate",
            "rotate_ca",
        ];
        let mut allowed = vec!["at", "say", "expect"];
        allowed.extend_from_slice(ACTIONS);
        let f = self.fields(node, &path, &allowed)?;
        let at = self.opt_string(&f, "at");
        let say = self.opt_string(&f, "say");
        let present: Vec<&str> = ACTIONS.iter().copied().filter(|a| f.has(a)).collect();
        let action = match present.as_slice() {
            [] if say.is_some() => Some(Action::Say),
            [] => {
                self.error(
                    node,
                    &path,
                    Problem::Other(format!(
                        "a step needs something to do: one of say, {}",
                        ACTIONS.join(", ")
                    )),
                );
                None
            }
            [one] => {
                let child = f.child(one);
                let value = f.get(one)?;
                self.action(one, value, &child)
            }
            many => {
                self.error(
                    node,
                    &path,
                    Problem::Other(format!(
                        "a step does one thing, but this one has {}: split it into steps",
                        many.join(" and ")
                    )),
                );
                None
            }
        };
        let expect = match f.get("expect") {
            Some(n) => {
                let e = self.expect(n, &f.child("expect"));
                if let (Some(Action::Say), Some(_)) = (&action, &e) {
                    self.error(
                        n,
                        &f.child("expect"),
                        Problem::Other("narration has nothing to check".into()),
                    );
                }
                e
            }
            None => None,
        };
        Some(Step {
            index,
            line: line(node),
            file: None,
            setup: false,
            at,
            say,
            action: action?,
            expect,
        })
    }

    fn action(&mut self, kind: &str, node: &Node, path: &str) -> Option<Action> {
        match kind {
            "request" => self.request(node, path).map(Action::Request),
            "run" => self.run(node, path).map(Action::Run),
            "wait" => self.wait(node, path).map(Action::Wait),
            "break" => {
                let f = self.fields(node, path, &["fault", "target"])?;
                let faults = kubecorp_pki::fault::Fault::names();
                let fault = self
                    .require(&f, "fault", "what to break, e.g. expire")
                    .and_then(|n| self.choice(n, &f.child("fault"), &faults, "a fault"));
                let target = self
                    .require(&f, "target", "a badge, e.g. scheduler.conf")
                    .and_then(|n| self.badge_name(n, &f.child("target")));
                Some(Action::Break {
                    // `choice` let only a listed name through.
                    fault: fault?.parse().ok()?,
                    target: target?,
                })
            }
            "undo" => Some(Action::Undo {
                target: self.badge_name(node, path)?,
            }),
            "renew" => {
                let name = self.string(node, path)?;
                match kubecorp_pki::renew::resolve(&name) {
                    Ok(_) => Some(Action::Renew { target: name }),
                    Err(e) => {
                        self.error(node, path, Problem::Other(e.to_string()));
                        None
                    }
                }
            }
            "clock" => {
                let f = self.fields(node, path, &["advance", "set"])?;
                match (f.get("advance"), f.get("set")) {
                    (Some(n), None) => Some(Action::Clock(ClockMove::Advance(
                        self.duration(n, &f.child("advance"))?,
                    ))),
                    (None, Some(n)) => Some(Action::Clock(ClockMove::Set(
                        self.time(n, &f.child("set"))?,
                    ))),
                    _ => {
                        self.error(
                            node,
                            path,
                            Problem::Other(
                                "give exactly one of 'advance' (e.g. 1y) or 'set' (a time)".into(),
                            ),
                        );
                        None
                    }
                }
            }
            "csr" => self.csr(node, path).map(Action::Csr),
            "certificate" => {
                let f = self.fields(node, path, &["csr", "identity"])?;
                let csr_node = self.require(&f, "csr", "the CSR's name")?;
                let csr = self.string(csr_node, &f.child("csr"))?;
                if !self.csrs.contains(&csr) {
                    let suggestion = closest(&csr, self.csrs.iter().map(String::as_str));
                    self.error(
                        csr_node,
                        &f.child("csr"),
                        Problem::Value {
                            given: csr.clone(),
                            expected: "a CSR submitted by an earlier `csr` step".into(),
                            suggestion,
                        },
                    );
                }
                let identity = self
                    .opt_string(&f, "identity")
                    .unwrap_or_else(|| csr.clone());
                self.file_name(&f, "identity", &identity);
                if !self.identities.contains(&identity) {
                    self.identities.push(identity.clone());
                }
                Some(Action::Certificate { csr, identity })
            }
            "rotate_ca" => {
                let f = self.fields(node, path, &["ca", "phase"])?;
                let ca = self
                    .require(&f, "ca", "ca or etcd-ca")
                    .and_then(|n| self.choice(n, &f.child("ca"), &["ca", "etcd-ca"], "a CA"));
                let phase = self.require(&f, "phase", "start or finish").and_then(|n| {
                    self.choice(n, &f.child("phase"), &["start", "finish"], "a phase")
                });
                Some(Action::RotateCa(RotateCa {
                    authority: if ca? == "ca" {
                        kubecorp_pki::Authority::Cluster
                    } else {
                        kubecorp_pki::Authority::Etcd
                    },
                    phase: match phase?.as_str() {
                        "finish" => kubecorp_pki::rotate::Phase::Finish,
                        _ => kubecorp_pki::rotate::Phase::Start,
                    },
                }))
            }
            _ => None,
        }
    }

    fn badge_name(&mut self, node: &Node, path: &str) -> Option<String> {
        let names: Vec<&str> = kubecorp_pki::profile::PROFILES
            .iter()
            .map(|p| p.name)
            .collect();
        self.choice(node, path, &names, "a badge")
    }

    fn who(&mut self, node: &Node, path: &str) -> Option<Who> {
        if let Raw::Map(entries) = &node.value {
            if entries.iter().any(|(k, _)| k.value == "kubeconfig") {
                // A kubeconfig anywhere in the lab directory (`users/john.conf`).
                let f = self.fields(node, path, &["kubeconfig"])?;
                let file =
                    self.req_string(&f, "kubeconfig", "a kubeconfig in the lab directory")?;
                if file.starts_with('/') || file.split('/').any(|part| part == "..") {
                    self.error(
                        node,
                        &f.child("kubeconfig"),
                        Problem::Value {
                            given: file,
                            expected: "a path inside the lab directory, such as users/john.conf"
                                .into(),
                            suggestion: None,
                        },
                    );
                    return None;
                }
                return Some(Who::Kubeconfig(file));
            }
            let f = self.fields(node, path, &["cert", "key"])?;
            let cert = self.req_string(&f, "cert", "a certificate file in the lab directory");
            let key = self.req_string(&f, "key", "its private key file");
            return Some(Who::Files {
                cert: cert?,
                key: key?,
            });
        }
        let name = self.string(node, path)?;
        if name == "anonymous" {
            return Some(Who::Anonymous);
        }
        let profile = kubecorp_pki::profile::profile(&name);
        match profile.map(|p| p.storage) {
            Some(kubecorp_pki::profile::Storage::Kubeconfig(file)) => {
                return Some(Who::Kubeconfig(file.to_owned()))
            }
            Some(kubecorp_pki::profile::Storage::Pki(_)) => return Some(Who::Badge(name)),
            None => {}
        }
        if self.identities.contains(&name) {
            return Some(Who::Made(name));
        }
        let mut known: Vec<String> = vec!["anonymous".into()];
        known.extend(
            kubecorp_pki::profile::PROFILES
                .iter()
                .map(|p| p.name.to_owned()),
        );
        known.extend(self.identities.iter().cloned());
        self.error(
            node,
            path,
            Problem::Value {
                suggestion: closest(&name, known.iter().map(String::as_str)),
                given: name,
                expected: format!(
                    "an identity (anonymous, a lab badge such as scheduler.conf or apiserver-etcd-client, {{cert, key}}, or one made by an earlier csr/certificate step{})",
                    if self.identities.is_empty() { String::new() } else { format!(": {}", self.identities.join(", ")) }
                ),
            },
        );
        None
    }

    fn request(&mut self, node: &Node, path: &str) -> Option<Request> {
        let mut allowed = vec![
            "as",
            "to",
            "method",
            "path",
            "body",
            "resource",
            "name",
            "namespace",
            "key",
            "node",
            "host",
            "signer",
        ];
        allowed.extend_from_slice(Verb::NAMES);
        let f = self.fields(node, path, &allowed)?;
        let who = match f.get("as") {
            Some(n) => self.who(n, &f.child("as")),
            None => Some(Who::Kubeconfig("admin.conf".into())),
        };
        let to = match f.get("to") {
            Some(n) => {
                let name = self.choice(n, &f.child("to"), Component::NAMES, "a component")?;
                Some(match name.as_str() {
                    "etcd" => Component::Etcd,
                    "etcd-peer" => Component::EtcdPeer,
                    "kubelet" => Component::Kubelet,
                    "scheduler" => Component::Scheduler,
                    _ => Component::Apiserver,
                })
            }
            None => Some(Component::Apiserver),
        };
        let body = f.get("body").map(to_json);
        let verbs: Vec<Verb> = [
            Verb::Get,
            Verb::Create,
            Verb::Apply,
            Verb::Approve,
            Verb::Deny,
            Verb::Delete,
        ]
        .into_iter()
        .filter(|v| f.has(v.name()))
        .collect();
        let call = match (verbs.as_slice(), f.get("path"), f.get("key")) {
            ([], Some(p), None) => {
                let method = match f.get("method") {
                    Some(m) => self
                        .choice(
                            m,
                            &f.child("method"),
                            &["GET", "POST", "PUT", "PATCH", "DELETE"],
                            "an HTTP method",
                        )
                        .unwrap_or_default(),
                    None if body.is_some() => "POST".into(),
                    None => "GET".into(),
                };
                let path = self.string(p, &f.child("path"))?;
                Some(Call::Raw { method, path, body })
            }
            ([], None, Some(k)) => {
                // etcd's range on one key, as `etcdctl get KEY` asks it.
                use base64::Engine as _;
                let key = self.string(k, &f.child("key"))?;
                let b64 = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
                Some(Call::Raw {
                    method: "POST".into(),
                    path: "/v3/kv/range".into(),
                    body: Some(serde_json::json!({ "key": b64 })),
                })
            }
            ([verb], None, None) => {
                let verb = *verb;
                let resource_node = f.get(verb.name())?;
                let resource = self.string(resource_node, &f.child(verb.name()))?;
                if resources::lookup(&resource).is_none() {
                    let names = resources::stored_names();
                    let suggestion = closest(&resource, names.clone());
                    self.error(
                        resource_node,
                        &f.child(verb.name()),
                        Problem::Value {
                            given: resource.clone(),
                            expected: format!(
                                "a resource the apiserver serves ({})",
                                names.collect::<Vec<_>>().join(", ")
                            ),
                            suggestion,
                        },
                    );
                }
                let name = self.opt_string(&f, "name");
                let namespace = self.opt_string(&f, "namespace");
                let signer = self.opt_string(&f, "signer");
                let by_signer = matches!(verb, Verb::Approve | Verb::Deny)
                    && resources::lookup(&resource)
                        .is_some_and(|r| r.name == "certificatesigningrequests");
                if signer.is_some() && (!by_signer || name.is_some()) {
                    self.error(
                        f.get("signer").unwrap_or(node),
                        &f.child("signer"),
                        Problem::Other(
                            "'signer' picks the Pending CSRs to approve or deny: it goes with 'approve: csr' or 'deny: csr' and no name".into(),
                        ),
                    );
                }
                let needs_name = matches!(verb, Verb::Approve | Verb::Deny | Verb::Delete);
                if needs_name && name.is_none() && signer.is_none() {
                    self.error(
                        node,
                        path,
                        Problem::Missing {
                            field: "name".into(),
                            hint: format!("{} needs the object's name", verb.name()),
                        },
                    );
                }
                let needs_body = matches!(verb, Verb::Create | Verb::Apply);
                if needs_body && body.is_none() {
                    self.error(
                        node,
                        path,
                        Problem::Missing {
                            field: "body".into(),
                            hint: format!("{} needs the object to send", verb.name()),
                        },
                    );
                }
                if to != Some(Component::Apiserver) {
                    self.error(
                        node,
                        path,
                        Problem::Other(format!(
                            "'{}' is a verb for the apiserver; to call {} give method and path",
                            verb.name(),
                            to.map_or("it", Component::name)
                        )),
                    );
                }
                Some(Call::Verb {
                    verb,
                    resource,
                    name,
                    namespace,
                    body,
                    signer,
                })
            }
            _ => {
                self.error(
                    node,
                    path,
                    Problem::Other(format!(
                        "say what to ask: either 'path' (with optional method and body), 'key' (etcd), or one verb ({}) naming a resource",
                        Verb::NAMES.join(", ")
                    )),
                );
                None
            }
        };
        let node = self.opt_string(&f, "node");
        if let (Some(n), Some(at)) = (&node, f.get("node")) {
            if !self.nodes.contains(n) {
                let suggestion = closest(n, self.nodes.iter().map(String::as_str));
                self.error(
                    at,
                    &f.child("node"),
                    Problem::Value {
                        given: n.clone(),
                        expected: format!("a node of this lab ({})", self.nodes.join(", ")),
                        suggestion,
                    },
                );
            }
        }
        if node.is_some() && to != Some(Component::Kubelet) {
            self.error(
                f.get("node").unwrap_or(f.node),
                &f.child("node"),
                Problem::Other("'node' picks a kubelet: it goes with 'to: kubelet'".into()),
            );
        }
        let host = self.opt_string(&f, "host");
        if let (Some(h), Some(at)) = (&host, f.get("host")) {
            let ok = !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if !ok {
                self.error(
                    at,
                    &f.child("host"),
                    Problem::Value {
                        given: h.clone(),
                        expected: "a host name or IP address (e.g. localhost)".into(),
                        suggestion: None,
                    },
                );
            }
            if !matches!(to, Some(Component::Apiserver | Component::Etcd)) {
                self.error(
                    at,
                    &f.child("host"),
                    Problem::Other(
                        "'host' names the apiserver or etcd by another name: it goes with 'to: apiserver' or 'to: etcd'".into(),
                    ),
                );
            }
        }
        Some(Request {
            who: who?,
            to: to?,
            node,
            host,
            call: call?,
        })
    }

    fn run(&mut self, node: &Node, path: &str) -> Option<RunCommand> {
        if let Raw::Map(_) = node.value {
            let f = self.fields(node, path, &["command", "timeout"])?;
            let command = self.req_string(&f, "command", "the command line to run");
            let timeout = match f.get("timeout") {
                Some(n) => self.duration(n, &f.child("timeout")),
                None => Some(Duration::seconds(30)),
            };
            return Some(RunCommand {
                command: command?,
                timeout: timeout?,
            });
        }
        Some(RunCommand {
            command: self.string(node, path)?,
            timeout: Duration::seconds(30),
        })
    }

    fn wait(&mut self, node: &Node, path: &str) -> Option<Wait> {
        const KINDS: &[&str] = &[
            "pod-bound",
            "pod-running",
            "node-ready",
            "endpoints",
            "field",
            "event",
        ];
        let f = self.fields(
            node,
            path,
            &[
                "for",
                "name",
                "namespace",
                "timeout",
                "path",
                "field",
                "equals",
                "from",
                "to",
                "allowed",
                "contains",
            ],
        )?;
        let kind_node = self.require(&f, "for", &format!("one of {}", KINDS.join(", ")))?;
        let kind = self.choice(kind_node, &f.child("for"), KINDS, "something to wait for")?;
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(n, &f.child("timeout"))?,
            None => Duration::seconds(10),
        };
        let namespace = self
            .opt_string(&f, "namespace")
            .unwrap_or_else(|| "default".into());
        let condition = match kind.as_str() {
            "node-ready" => WaitFor::NodeReady {
                name: self.opt_string(&f, "name").unwrap_or_else(|| {
                    self.nodes
                        .first()
                        .cloned()
                        .unwrap_or_else(|| CONTROL_PLANE_NODE.into())
                }),
            },
            "field" => {
                let p = self.req_string(&f, "path", "the object's API path");
                let field = self.req_string(&f, "field", "a dotted field such as spec.nodeName");
                WaitFor::Field {
                    path: p?,
                    field: field?,
                    equals: f.get("equals").map(to_json),
                }
            }
            "event" => WaitFor::Event {
                from: self.opt_string(&f, "from"),
                to: self.opt_string(&f, "to"),
                allowed: match f.get("allowed") {
                    Some(n) => Some(self.boolean(n, &f.child("allowed"))?),
                    None => None,
                },
                contains: self.opt_string(&f, "contains"),
            },
            other => {
                let name = self.req_string(&f, "name", "the object's name")?;
                match other {
                    "pod-bound" => WaitFor::PodBound { namespace, name },
                    "pod-running" => WaitFor::PodRunning { namespace, name },
                    _ => WaitFor::Endpoints { namespace, name },
                }
            }
        };
        Some(Wait { condition, timeout })
    }

    fn csr(&mut self, node: &Node, path: &str) -> Option<CsrSpec> {
        let f = self.fields(
            node,
            path,
            &[
                "name",
                "identity",
                "cn",
                "groups",
                "signer",
                "usages",
                "expiration_seconds",
                "as",
            ],
        )?;
        let name = self.req_string(&f, "name", "the CertificateSigningRequest's name");
        let cn = self.req_string(&f, "cn", "the user name the badge will carry");
        let groups = match f.get("groups") {
            Some(n) => self.strings(n, &f.child("groups"))?,
            None => Vec::new(),
        };
        let signer = self
            .opt_string(&f, "signer")
            .unwrap_or_else(|| "kubernetes.io/kube-apiserver-client".into());
        let usages = match f.get("usages") {
            Some(n) => self.strings(n, &f.child("usages"))?,
            None => vec!["client auth".into()],
        };
        let expiration_seconds = match f.get("expiration_seconds") {
            Some(n) => Some(self.integer(n, &f.child("expiration_seconds"))?),
            None => None,
        };
        let who = match f.get("as") {
            Some(n) => self.who(n, &f.child("as"))?,
            None => Who::Kubeconfig("admin.conf".into()),
        };
        let (name, cn) = (name?, cn?);
        let identity = self
            .opt_string(&f, "identity")
            .unwrap_or_else(|| cn.clone());
        self.file_name(&f, "name", &name);
        self.file_name(&f, "identity", &identity);
        self.csrs.push(name.clone());
        Some(CsrSpec {
            name,
            identity,
            cn,
            groups,
            signer,
            usages,
            expiration_seconds,
            who,
        })
    }

    fn expect(&mut self, node: &Node, path: &str) -> Option<Expect> {
        let f = self.fields(
            node,
            path,
            &[
                "allowed", "status", "verdict", "stage", "text", "contains", "log", "lifetime",
                "exit",
            ],
        )?;
        let mut e = Expect {
            line: line(node),
            ..Expect::default()
        };
        if let Some(n) = f.get("allowed") {
            e.allowed = self.boolean(n, &f.child("allowed"));
        }
        if let Some(n) = f.get("status") {
            let code = self.integer(n, &f.child("status"))?;
            if !(100..600).contains(&code) {
                self.error(
                    n,
                    &f.child("status"),
                    Problem::Value {
                        given: code.to_string(),
                        expected: "an HTTP status (100–599)".into(),
                        suggestion: None,
                    },
                );
            }
            e.status = u16::try_from(code).ok();
        }
        if let Some(n) = f.get("verdict") {
            let names: Vec<&str> = VerdictKind::all().iter().map(|k| k.name()).collect();
            let name = self.choice(n, &f.child("verdict"), &names, "a verdict kind")?;
            e.verdict = name.parse().ok();
        }
        if let Some(n) = f.get("stage") {
            const STAGES: &[&str] = &["tcp", "tls", "authn", "authz", "request"];
            let name = self.choice(n, &f.child("stage"), STAGES, "a stage")?;
            e.stage = Some(match name.as_str() {
                "tcp" => Stage::Tcp,
                "tls" => Stage::Tls,
                "authn" => Stage::Authn,
                "authz" => Stage::Authz,
                _ => Stage::Request,
            });
        }
        e.text = self.opt_string(&f, "text");
        if let Some(n) = f.get("contains") {
            e.contains = self.strings(n, &f.child("contains"))?;
        }
        if let Some(n) = f.get("log") {
            let items: Vec<&Node> = match &n.value {
                Raw::Seq(items) => items.iter().collect(),
                _ => vec![n],
            };
            for (i, item) in items.into_iter().enumerate() {
                let p = if matches!(n.value, Raw::Seq(_)) {
                    format!("{}[{i}]", f.child("log"))
                } else {
                    f.child("log")
                };
                let lf = self.fields(item, &p, &["by", "contains", "text"])?;
                let by = self
                    .require(&lf, "by", "the component whose log it is")
                    .and_then(|b| {
                        self.choice(
                            b,
                            &lf.child("by"),
                            &[
                                "apiserver",
                                "etcd",
                                "kubelet",
                                "scheduler",
                                "kube-proxy",
                                "controller-manager",
                            ],
                            "a component",
                        )
                    });
                let contains = self.opt_string(&lf, "contains");
                let text = self.opt_string(&lf, "text");
                if contains.is_none() && text.is_none() {
                    self.error(
                        item,
                        &p,
                        Problem::Missing {
                            field: "contains".into(),
                            hint: "or 'text': what the log line says".into(),
                        },
                    );
                }
                e.logs.push(LogExpect {
                    by: by?,
                    contains,
                    text,
                });
            }
        }
        if let Some(n) = f.get("lifetime") {
            e.lifetime = self.duration(n, &f.child("lifetime"));
        }
        if let Some(n) = f.get("exit") {
            e.exit = self
                .integer(n, &f.child("exit"))
                .and_then(|x| i32::try_from(x).ok());
        }
        Some(e)
    }
}

fn default_lab() -> LabSpec {
    LabSpec {
        nodes: vec![CONTROL_PLANE_NODE.into()],
        nodes_at: None,
        key_algorithm: KeyAlgorithm::default(),
        clock: None,
        rotate_server_certificates: false,
        pki: None,
        staff: Staff::ALL,
    }
}

/// A YAML body as the JSON the apiserver takes.
fn to_json(node: &Node) -> Value {
    match &node.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(*b),
        Raw::Int(i) => Value::from(*i),
        Raw::Float(x) => Value::from(*x),
        Raw::Str(s) => Value::String(s.clone()),
        Raw::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Raw::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.value.clone(), to_json(v)))
                .collect(),
        ),
    }
}

/// The lab's one grammar for durations and times, shared with `--now` (see
/// [`kubecorp_pki::when`]).
pub use kubecorp_pki::when::{parse_duration, parse_time};

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> String {
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
    fn lab_nodes_are_capped_as_up_nodes_is_and_named_as_nodes_are() {
        let many: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
        let text = format!(
            "title: t\nlab: {{nodes: [{}]}}\nsteps:\n  - say: hi\n",
            many.join(", ")
        );
        assert!(
            errors(&text).contains(
                "lab.nodes: 1000 nodes: an office runs at most 50 (as `kubecorp up --nodes`)"
            ),
            "{}",
            errors(&text)
        );
        let text = "title: t\nlab: {nodes: [a..b]}\nsteps:\n  - say: hi\n";
        assert!(
            errors(text).contains("lab.nodes: invalid node name `a..b`"),
            "{}",
            errors(text)
        );
    }

    #[test]
    fn a_lab_clock_no_certificate_can_hold_is_refused_naming_the_field() {
        let text = "title: t\nlab: {clock: 9999-12-31T00:00:00Z}\nsteps:\n  - say: hi\n";
        assert_eq!(
            errors(text),
            "x.yaml:2:14: lab.clock: '9999-12-31T00:00:00Z' is not a time at which the lab can make its CAs (the cluster CA's NotAfter would be 9999-12-31T00:00:00Z + 3650 days, outside the years 0000 to 9999 a certificate can name)"
        );
        let text = "title: t\nlab: {clock: 0000-01-01}\nsteps:\n  - say: hi\n";
        assert!(errors(text).contains("NotBefore would be -0001-12-31T23:55:00Z"));
    }

    #[test]
    fn a_lab_key_algorithm_takes_kubeadm_names_in_any_case_and_lists_them_when_wrong() {
        let lab = |alg: &str| {
            let text = format!("title: t\nlab: {{key_algorithm: {alg}}}\nsteps:\n  - say: hi\n");
            parse_str(Path::new("x.yaml"), &text).map(|s| s.lab.key_algorithm)
        };
        assert_eq!(lab("RSA-2048").unwrap(), KeyAlgorithm::Rsa2048);
        assert_eq!(lab("ecdsa-p384").unwrap(), KeyAlgorithm::EcdsaP384);
        let e = lab("RSA-1024").unwrap_err().to_string();
        assert!(
            e.contains("lab.key_algorithm: 'RSA-1024' is not a key algorithm (kubeadm's encryptionAlgorithm) (one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384)"),
            "{e}"
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
    fn an_unknown_identity_suggests_one_made_earlier() {
        let text = "title: t\nsteps:\n  - csr: {name: john-developer, cn: john}\n  - certificate: {csr: john-developer, identity: john}\n  - request: {as: jon, get: pods}\n";
        let e = errors(text);
        assert!(
            e.starts_with("x.yaml:5:19: steps[2].request.as: 'jon' is not an identity"),
            "{e}"
        );
        assert!(e.ends_with("did you mean 'john'?"), "{e}");
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

    #[test]
    fn chapters_play_in_order_without_their_setup_and_keep_their_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "one.yaml",
            "title: One\nsetup:\n  - say: alone only\nsteps:\n  - say: first\n",
        );
        write("two.yaml", "title: Two\nsteps:\n  - say: second\n");
        write("day.yaml", "title: Day\nchapters: [one.yaml, two.yaml]\n");
        let day = parse_file(&dir.path().join("day.yaml")).unwrap();
        let said: Vec<_> = day.steps.iter().map(|s| s.say.clone().unwrap()).collect();
        assert_eq!(said, ["One", "first", "Two", "second"]);
        assert_eq!(day.steps[1].file, Some(dir.path().join("one.yaml")));
        assert_eq!(day.chapters.len(), 2);
        let alone = parse_file(&dir.path().join("one.yaml")).unwrap();
        assert_eq!(alone.steps.len(), 2);
        assert!(alone.steps[0].setup && !alone.steps[1].setup);
    }

    #[test]
    fn a_problem_in_a_chapter_names_the_chapter_and_a_missing_one_the_story() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "bad.yaml",
            "title: Bad\nsteps:\n  - request: {get: pods}\n    expect: {staus: 1}\n",
        );
        write("nested.yaml", "title: N\nchapters: [bad.yaml]\n");
        write(
            "day.yaml",
            "title: Day\nchapters: [bad.yaml, gone.yaml, nested.yaml]\nsteps: []\n",
        );
        let text = parse_file(&dir.path().join("day.yaml"))
            .unwrap_err()
            .to_string();
        let bad = dir.path().join("bad.yaml").display().to_string();
        let day = dir.path().join("day.yaml").display().to_string();
        assert!(
            text.contains(&format!(
                "{bad}:4:14: steps[0].expect: unknown field 'staus'"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("{day}:2:22: chapters[1]: ")),
            "{text}"
        );
        assert_eq!(text.matches("'staus'").count(), 1, "{text}");
        assert!(text.contains("no such chapter file"), "{text}");
        assert!(
            text.contains("nested.yaml has chapters of its own"),
            "{text}"
        );
        assert!(
            text.contains("a file with chapters plays only its chapters"),
            "{text}"
        );
    }

    #[test]
    fn new_doors_and_names_parse_and_misuse_is_explained() {
        let ok = "title: t\nsteps:\n  - request: {as: etcd-peer, to: etcd-peer, path: /members}\n  - request: {as: anonymous, to: scheduler, path: /healthz}\n  - request: {host: localhost, get: pods}\n  - request: {approve: csr, signer: kubernetes.io/kubelet-serving}\n";
        parse_str(Path::new("x.yaml"), ok).unwrap();
        let text = errors("title: t\nsteps:\n  - request: {to: kubelet, host: localhost, path: /healthz}\n  - request: {get: pods, signer: x}\n");
        assert!(
            text.contains("steps[0].request.host: 'host' names the apiserver or etcd"),
            "{text}"
        );
        assert!(
            text.contains("steps[1].request.signer: 'signer' picks the Pending CSRs"),
            "{text}"
        );
    }
}
