//! Reading a request body as kube-apiserver's decoder does, and refusing it in its words.
//!
//! kube-apiserver's create and update handlers decode a JSON body in two steps
//! (k8s.io/apiserver v0.32 `endpoints/handlers/create.go`, apimachinery `serializer/json`):
//! first `json.Unmarshal` into `{apiVersion, kind}` to learn what it is (Go's scanner checks
//! the whole body here, and stops at nesting depth 10,000), then into the typed Go struct, where a
//! field of the wrong JSON type is an `UnmarshalTypeError`. Either failure is a 400 written by
//! `transformDecodeError`:
//!
//! - without a kind: `the object provided is unrecognized (must be of type Pod): couldn't get
//!   version/kind; json parse error: … ({"apiVersion":"v1","kind":"Po ...)`
//! - with one: `Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string
//!   into Go struct field Pod.spec of type v1.PodSpec`
//!
//! Nothing is stored when a body fails here, so an object the lab keeps always has the shapes
//! the rest of Alice (and every reader of the API) relies on.

use serde_json::Value;

use crate::schema::{GoType, Struct};

/// Go's `encoding/json` refuses JSON nested deeper than this (`maxNestingDepth`, scanner.go).
pub const GO_MAX_DEPTH: usize = kubecorp_etcd::gojson::MAX_NESTING_DEPTH;

/// How deep the lab itself will read a body (serde_json's own limit). kube-apiserver would read
/// deeper and drop what it does not know; the lab refuses, and says so.
pub const LAB_MAX_DEPTH: usize = 128;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The first step failed: the body is not JSON, too deep, or has no usable apiVersion/kind.
    #[error("the object provided is unrecognized (must be of type {into}): {reason} ({summary})")]
    Unrecognized {
        into: &'static str,
        reason: String,
        summary: String,
    },
    /// The second step failed: a field has the wrong type.
    #[error("{kind} in version {version:?} cannot be handled as a {into}: {reason}")]
    CannotHandle {
        kind: String,
        version: String,
        into: &'static str,
        reason: Box<TypeError>,
    },
    /// Valid JSON, within Go's limit, but deeper than the lab reads.
    #[error("the object provided is nested {depth} levels deep; this lab reads at most {LAB_MAX_DEPTH} (kube-apiserver would read up to {GO_MAX_DEPTH} and drop the fields it does not know)")]
    TooDeepForTheLab { depth: usize },
}

/// Go's `json.UnmarshalTypeError`: which JSON value met which Go type, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("json: cannot unmarshal {value} into Go struct field {within}.{field} of type {go_type}")]
pub struct TypeError {
    /// `string`, `number`, `number 1.5`, `bool`, `array`, `object`.
    pub value: String,
    /// The innermost struct's name (`PodSpec`).
    pub within: String,
    /// The JSON path from the top, without list indexes (`spec.containers.name`).
    pub field: String,
    pub go_type: String,
}

/// Decodes `body` as an object of `into` (a kind: `Pod`), as kube-apiserver would.
pub fn object(body: &[u8], into: &'static str) -> Result<Value, DecodeError> {
    decode(body, into, true)
}

/// Reads a merge patch: JSON within the limits, but not yet an object of any type (the
/// patched result is checked instead).
pub fn patch(body: &[u8], into: &'static str) -> Result<Value, DecodeError> {
    decode(body, into, false)
}

fn decode(body: &[u8], into: &'static str, typed: bool) -> Result<Value, DecodeError> {
    let unrecognized = |reason: String| DecodeError::Unrecognized {
        into,
        reason: format!("couldn't get version/kind; json parse error: {reason}"),
        summary: summarize(body),
    };
    // Go's own scanner, in Go's words: a syntax error, or the 10,001st open bracket.
    if let Err(e) = kubecorp_etcd::gojson::check_whole_value(body) {
        return Err(unrecognized(e));
    }
    let depth = nesting(body);
    if depth > LAB_MAX_DEPTH {
        return Err(DecodeError::TooDeepForTheLab { depth });
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| unrecognized(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(unrecognized(format!(
            "json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            kubecorp_trust::gojson::kind(&value)
        )));
    };
    for key in ["apiVersion", "kind"] {
        if let Some(v) = map.get(key).filter(|v| !v.is_string() && !v.is_null()) {
            return Err(unrecognized(format!(
                "json: cannot unmarshal {} into Go struct field .{key} of type string",
                kubecorp_trust::gojson::kind(v)
            )));
        }
    }
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    // schema.ParseGroupVersion: "", "v1" or "group/v1"; anything else is refused.
    let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [] | [""] => "v1".to_owned(),
        [version] => (*version).to_owned(),
        [_, version] => (*version).to_owned(),
        _ => {
            return Err(DecodeError::Unrecognized {
                into,
                reason: format!("unexpected GroupVersion string: {api_version}"),
                summary: summarize(body),
            })
        }
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .unwrap_or(into)
        .to_owned();
    let schema = crate::schema::of_kind(&kind).or_else(|| crate::schema::of_kind(into));
    if let Some(schema) = schema.filter(|_| typed) {
        if let Err(reason) = check(&value, schema) {
            return Err(DecodeError::CannotHandle {
                kind,
                version,
                into,
                reason: Box::new(reason),
            });
        }
    }
    Ok(value)
}

/// Checks an object (already JSON) against its Go struct: the first field of the wrong type.
pub fn check(value: &Value, schema: &'static Struct) -> Result<(), TypeError> {
    let mut path = Vec::new();
    walk(
        value,
        &GoType::Struct(schema),
        schema.short_name(),
        &mut path,
    )
}

fn walk<'v>(
    value: &'v Value,
    ty: &GoType,
    within: &'static str,
    path: &mut Vec<&'v str>,
) -> Result<(), TypeError> {
    let mismatch = |value_name: String| TypeError {
        value: value_name,
        within: within.to_owned(),
        field: path.join("."),
        go_type: ty.go_name(),
    };
    match (ty, value) {
        // null leaves any Go value as it was.
        (_, Value::Null) | (GoType::Any, _) => Ok(()),
        (GoType::Str(_) | GoType::Bytes, Value::String(_)) => Ok(()),
        (GoType::Bool, Value::Bool(_)) => Ok(()),
        (GoType::Int(_, min, max), Value::Number(n)) => match n.as_i64() {
            Some(i) if i >= *min && i <= *max => Ok(()),
            _ => Err(mismatch(format!("number {n}"))),
        },
        (GoType::Struct(s), Value::Object(map)) => {
            for (key, field_value) in map {
                if let Some(field_type) = s.field(key) {
                    path.push(key);
                    let result = walk(field_value, field_type, s.short_name(), path);
                    path.pop();
                    result?;
                }
            }
            Ok(())
        }
        (GoType::Slice(_, elem), Value::Array(items)) => items
            .iter()
            .try_for_each(|item| walk(item, elem, within, path)),
        (GoType::Map(_, elem), Value::Object(map)) => map
            .values()
            .try_for_each(|item| walk(item, elem, within, path)),
        (_, other) => Err(mismatch(kubecorp_trust::gojson::kind(other).to_owned())),
    }
}

/// The deepest nesting of `[` and `{` in `body` (already known to be JSON), counted without
/// recursion.
pub fn nesting(body: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &c in body {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// `summarizeData(body, 30)`: the first 30 bytes of an object, or of anything else in hex.
fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let (head, more) = match body.len() > MAX {
        true => (&body[..MAX], " ..."),
        false => (body, ""),
    };
    match body.first() {
        None => "<empty>".into(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(head)),
        Some(_) => {
            let hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
            format!("{hex}{more}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_whose_spec_is_a_string_cannot_be_handled_as_a_pod() {
        let e = object(
            br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":"x"}"#,
            "Pod",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec"#
        );
    }

    #[test]
    fn a_wrong_type_deep_inside_names_the_innermost_struct_and_the_whole_path() {
        let body = br#"{"kind":"Pod","metadata":{"name":"web","labels":{"v":1}},"spec":{"containers":[{"name":"a","image":7}]}}"#;
        // Fields are checked in key order: metadata comes before spec.
        assert_eq!(
            object(body, "Pod").unwrap_err().to_string(),
            r#"Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"#
        );
        let body = br#"{"kind":"Pod","spec":{"containers":[{"name":"a","ports":[{"containerPort":1.5}]}]}}"#;
        assert_eq!(
            object(body, "Pod").unwrap_err().to_string(),
            r#"Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number 1.5 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"#
        );
    }

    #[test]
    fn a_body_nested_past_gos_limit_is_refused_as_go_refuses_it() {
        let body = format!("{}{}", "[".repeat(10_001), "]".repeat(10_001));
        assert_eq!(
            object(body.as_bytes(), "Pod").unwrap_err().to_string(),
            "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: invalid character '[' exceeded max depth (5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b ...)"
        );
        let body = "{\"a\":".repeat(100_000);
        let e = object(body.as_bytes(), "Service").unwrap_err().to_string();
        assert!(e.starts_with("the object provided is unrecognized (must be of type Service): couldn't get version/kind; json parse error: invalid character '{' exceeded max depth ({\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\": ...)"), "{e}");
    }

    #[test]
    fn a_body_deeper_than_the_lab_reads_says_so() {
        let body = format!("{{\"x\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            object(body.as_bytes(), "Pod").unwrap_err(),
            DecodeError::TooDeepForTheLab { depth: 201 }
        );
    }

    #[test]
    fn syntax_errors_speak_go() {
        assert_eq!(
            object(b"{\"kind\": nope}", "Pod").unwrap_err().to_string(),
            "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: invalid character 'o' in literal null (expecting 'u') ({\"kind\": nope})"
        );
        assert_eq!(
            object(b"[1]", "Pod").unwrap_err().to_string(),
            "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" } (5b315d)"
        );
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(nesting(br#"{"a":"[[[{{\"{"}"#), 1);
        let body = br#"{"kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"a","image":"nginx"}]}}"#;
        assert!(object(body, "Pod").is_ok());
    }
}
