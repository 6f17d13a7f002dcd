//! Reading one field's value: a mapping's allowed keys, strings, numbers, booleans, lists, one of a
//! set, durations, times and lab file names, each problem recorded with its place.

use time::{Duration, OffsetDateTime};

use super::{
    closest, column, line, parse_duration, parse_time, Cx, Fields, Node, ParseError, Problem, Raw,
};

impl Cx {
    pub(super) fn error(&mut self, node: &Node, path: &str, problem: Problem) {
        self.errors.push(ParseError {
            file: self.file.clone(),
            line: line(node),
            column: column(node),
            path: path.to_owned(),
            problem,
        });
    }

    pub(super) fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
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
    pub(super) fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
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

    pub(super) fn require<'n>(
        &mut self,
        f: &Fields<'n>,
        name: &str,
        hint: &str,
    ) -> Option<&'n Node> {
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

    pub(super) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
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

    pub(super) fn opt_string(&mut self, f: &Fields, name: &str) -> Option<String> {
        let node = f.get(name)?;
        self.string(node, &f.child(name))
    }

    pub(super) fn req_string(&mut self, f: &Fields, name: &str, hint: &str) -> Option<String> {
        let node = self.require(f, name, hint)?;
        self.string(node, &f.child(name))
    }

    pub(super) fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Raw::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    pub(super) fn integer(&mut self, node: &Node, path: &str) -> Option<i64> {
        match &node.value {
            Raw::Int(i) => Some(*i),
            Raw::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            _ => {
                self.wrong_type(node, path, "a whole number");
                None
            }
        }
    }

    pub(super) fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
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
    pub(super) fn choice(
        &mut self,
        node: &Node,
        path: &str,
        known: &[&str],
        what: &str,
    ) -> Option<String> {
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

    pub(super) fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
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

    pub(super) fn time(&mut self, node: &Node, path: &str) -> Option<OffsetDateTime> {
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
    pub(super) fn file_name(&mut self, f: &Fields, field: &str, value: &str) {
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
}
