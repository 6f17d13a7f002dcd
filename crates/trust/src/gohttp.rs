//! How Kubernetes' Go HTTP servers write what a visitor reads: indented JSON for curl and browsers, and Go's escaping of `<`, `>` and `&`.
//!
//! Alice and every delegating server (Bob's `:10259`) answer through the same apiserver library
//! (`k8s.io/apiserver/pkg/endpoints/handlers/responsewriters`), so the lab's doors share these.

/// `isPrettyPrint`: the first `pretty` query value decides when it is not empty (Go's
/// `strconv.ParseBool`); otherwise curl, Wget and browsers get indented JSON.
pub fn pretty_print(pretty: Option<&str>, user_agent: &str) -> bool {
    if let Some(value) = pretty.filter(|v| !v.is_empty()) {
        return matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True");
    }
    ["curl", "Wget", "Mozilla/5.0"]
        .iter()
        .any(|p| user_agent.starts_with(p))
}

/// Go's `encoding/json` escapes `<`, `>` and `&` inside strings (they cannot occur outside
/// them in JSON, so the whole text can be rewritten).
pub fn json_html_escape(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The HTML sanitizer the library runs over forbidden messages and `http.Error` texts.
pub fn html_entities(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_empty_pretty_value_decides_else_the_user_agent() {
        assert!(pretty_print(None, "curl/8.5.0"));
        assert!(!pretty_print(None, "kubectl/v1.32.4 (linux/amd64)"));
        assert!(!pretty_print(Some("false"), "curl/8.5.0"));
        assert!(pretty_print(Some("1"), "kubectl/v1.32.4"));
        assert!(pretty_print(Some(""), "Wget/1.21"));
    }

    #[test]
    fn gos_escapes_are_json_unicode_and_html_entities() {
        assert_eq!(
            json_html_escape(r#"{"m":"a<b>&c"}"#),
            r#"{"m":"a\u003cb\u003e\u0026c"}"#
        );
        assert_eq!(html_entities("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
