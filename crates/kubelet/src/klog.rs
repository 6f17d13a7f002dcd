//! The kubelet's log lines as klog writes them: `"Message" key="value" …`, values quoted the
//! way Go's `%q` quotes, and errors worded as client-go words them.

use kubecorp_client::{ClientError, KubeClient};

/// `"msg" k1="v1" k2="v2"`.
pub fn line(msg: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = quote(msg);
    for (k, v) in pairs {
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&quote(v));
    }
    out
}

/// Go's `strconv.Quote` for the characters log lines carry.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What client-go's error says for a failed call: `Post "https://…/api/v1/nodes": dial tcp …`
/// for a connection that failed, the Status message (`Unauthorized`) for an answer.
pub fn request_error(client: &KubeClient, method: &str, path: &str, error: &ClientError) -> String {
    match error {
        ClientError::Transport { text, .. } => {
            format!(
                "{} \"{}{}\": {text}",
                go_method(method),
                client.server(),
                path
            )
        }
        other => other.text(),
    }
}

/// Go's `url.Error` capitalises the method: `Get`, `Post`, `Patch`.
fn go_method(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_klog_line_quotes_its_values_as_go_does() {
        assert_eq!(
            line(
                "Unable to register node with API server",
                &[
                    ("err", "Post \"https://x/api/v1/nodes\": EOF"),
                    ("node", "n1")
                ]
            ),
            r#""Unable to register node with API server" err="Post \"https://x/api/v1/nodes\": EOF" node="n1""#
        );
        assert_eq!(go_method("PATCH"), "Patch");
    }
}
