//! Label and field selectors of a list or watch, in apimachinery's grammar.

use serde_json::Value;

use crate::request::query_param;

/// Label and field selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

/// One requirement of a selector, in apimachinery's grammar: `k=v`, `k==v`, `k!=v`,
/// `k in (a,b)`, `k notin (a,b)`, `k`, `!k` (fields: the first three only).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn parse(term: &str, set_based: bool) -> Option<Requirement> {
        let term = term.trim();
        if term.is_empty() {
            return None;
        }
        if let Some((k, v)) = term.split_once("!=") {
            return Some(Requirement::NotEquals(k.trim().into(), v.trim().into()));
        }
        if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return Some(Requirement::Equals(k.trim().into(), v.trim().into()));
        }
        if !set_based {
            return None;
        }
        let values = |rest: &str| -> Option<Vec<String>> {
            let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            Some(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        if let Some((k, rest)) = term.split_once(" notin ") {
            return Some(Requirement::NotIn(k.trim().into(), values(rest)?));
        }
        if let Some((k, rest)) = term.split_once(" in ") {
            return Some(Requirement::In(k.trim().into(), values(rest)?));
        }
        match term.strip_prefix('!') {
            Some(k) => Some(Requirement::DoesNotExist(k.trim().into())),
            None => Some(Requirement::Exists(term.into())),
        }
    }

    /// Whether a value (`None`: the key is absent) meets the requirement.
    fn holds(&self, value: Option<&str>) -> bool {
        match self {
            Requirement::Equals(_, v) => value == Some(v.as_str()),
            Requirement::NotEquals(_, v) => value != Some(v.as_str()),
            Requirement::In(_, vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(_, vs) => !value.is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::Exists(_) => value.is_some(),
            Requirement::DoesNotExist(_) => value.is_none(),
        }
    }

    fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }
}

/// Splits a selector at the commas that are not inside `( )`.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

impl Selectors {
    pub(super) fn parse(query: &str) -> Selectors {
        let parse = |s: Option<String>, set_based: bool| -> Vec<Requirement> {
            s.map(|s| {
                split_terms(&s)
                    .into_iter()
                    .filter_map(|t| Requirement::parse(t, set_based))
                    .collect()
            })
            .unwrap_or_default()
        };
        Selectors {
            labels: parse(query_param(query, "labelSelector"), true),
            fields: parse(query_param(query, "fieldSelector"), false),
        }
    }

    /// A watch of one named object: `fieldSelector=metadata.name=<name>` added, as the
    /// apiserver does for `GET …/pods/NAME?watch=true`.
    pub fn with_name(mut self, name: &str) -> Selectors {
        self.fields
            .push(Requirement::Equals("metadata.name".into(), name.into()));
        self
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels_ok = self.labels.iter().all(|r| {
            r.holds(
                obj["metadata"]["labels"]
                    .get(r.key())
                    .and_then(Value::as_str),
            )
        });
        let fields_ok = self.fields.iter().all(|r| {
            let mut cur = obj;
            for part in r.key().split('.') {
                cur = &cur[part];
            }
            // A field the object lacks reads as "" (field selectors compare strings).
            r.holds(Some(cur.as_str().unwrap_or("")))
        });
        labels_ok && fields_ok
    }
}

#[cfg(test)]
mod selector_tests {
    use serde_json::json;

    use super::*;

    fn pick(selector: &str) -> Vec<&'static str> {
        let pods = [
            ("web", json!({"app": "web", "tier": "front"})),
            ("api", json!({"app": "api"})),
            ("db", json!({})),
        ];
        let s = Selectors::parse(&format!(
            "labelSelector={}",
            selector
                .replace(' ', "%20")
                .replace('(', "%28")
                .replace(')', "%29")
                .replace(',', "%2C")
                .replace('!', "%21")
                .replace('=', "%3D")
        ));
        pods.iter()
            .filter(|(_, labels)| s.matches(&json!({"metadata": {"labels": labels}})))
            .map(|(name, _)| *name)
            .collect()
    }

    #[test]
    fn label_selectors_speak_the_whole_grammar_kubectl_sends() {
        assert_eq!(pick("app=web"), ["web"]);
        assert_eq!(pick("app==web"), ["web"]);
        assert_eq!(pick("app!=web"), ["api", "db"]);
        assert_eq!(pick("app in (web,api)"), ["web", "api"]);
        assert_eq!(pick("app notin (web)"), ["api", "db"]);
        assert_eq!(pick("tier"), ["web"]);
        assert_eq!(pick("!tier"), ["api", "db"]);
        assert_eq!(pick("app in (web,api),!tier"), ["api"]);
    }

    #[test]
    fn field_selectors_compare_strings_and_can_negate() {
        let s = Selectors::parse("fieldSelector=spec.nodeName%21%3Dn1");
        assert!(s.matches(&json!({"spec": {"nodeName": "n2"}})));
        assert!(!s.matches(&json!({"spec": {"nodeName": "n1"}})));
        let s = Selectors::parse("fieldSelector=spec.nodeName%3D");
        assert!(
            s.matches(&json!({"spec": {}})),
            "an unbound pod has nodeName \"\""
        );
    }
}
