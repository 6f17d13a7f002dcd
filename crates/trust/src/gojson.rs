//! How Go's `encoding/json` names what it could not decode, for the texts the lab's Go servers
//! answer with (`json: cannot unmarshal string into Go value of type …`): Alice's decoder and
//! Charlie's gRPC gateway both say it.

use serde_json::Value;

/// The kind of a JSON value as `encoding/json` names it in `cannot unmarshal X into …`.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
