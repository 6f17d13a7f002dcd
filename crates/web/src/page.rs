//! The page, embedded in the binary: one HTML shell, one script, one style sheet, no build step
//! and nothing from the network. The live page links the script and style; the report inlines
//! them with the recorded run, so one file replays anywhere, even from a USB stick.

use kubecorp_trust::record::Record;

/// The shell: the floor plan, the timeline and the details panel.
const SHELL: &str = include_str!("../assets/index.html");
/// Everything the page does: reading the stream, drawing, filtering, replaying.
pub const SCRIPT: &str = include_str!("../assets/app.js");
/// How it looks, readable from the back of a room at 1280×720.
pub const STYLE: &str = include_str!("../assets/app.css");

/// The live page, reading `/events`.
pub fn live() -> String {
    SHELL
        .replace("<!--HEAD-->", r#"<link rel="stylesheet" href="app.css">"#)
        .replace("<!--TITLE-->", "KubeCorp, live")
        .replace("<!--BODY-->", r#"<script src="app.js"></script>"#)
}

/// A self-contained HTML file replaying `records` step by step. Its policy forbids every
/// network request, so what it shows is all in the file.
pub fn report(title: &str, records: &[Record]) -> String {
    let tape: Vec<String> = records.iter().map(Record::to_json).collect();
    let tape = format!("[{}]", tape.join(",\n"));
    SHELL
        .replace(
            "<!--HEAD-->",
            &format!(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n<style>\n{STYLE}\n</style>"
            ),
        )
        .replace("<!--TITLE-->", &html_escape(title))
        .replace(
            "<!--BODY-->",
            &format!(
                "<script id=\"tape\" type=\"application/json\">\n{}\n</script>\n<script>\n{}\n</script>",
                script_safe(&tape),
                SCRIPT
            ),
        )
}

/// Text inside `<script>` must never close it or open a comment: `<` becomes `\u003c`, which
/// JSON strings (the only place it can be in the tape) read back as `<`.
fn script_safe(text: &str) -> String {
    text.replace('<', "\\u003c")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecorp_trust::record::Body;

    #[test]
    fn a_badge_name_cannot_close_the_reports_script() {
        let record = Record::new(
            1,
            Body::Output {
                text: "</script><script>alert(1)</script>".into(),
            },
        );
        let html = report("t", &[record]);
        assert!(!html.contains("</script><script>alert"), "{html}");
        assert!(html.contains(r"\u003c/script>\u003cscript>alert(1)"));
    }

    #[test]
    fn the_script_can_be_inlined_as_it_is() {
        // Only these two would end or disturb a `<script>` element.
        let lower = SCRIPT.to_lowercase();
        assert!(!lower.contains("</script"));
        assert!(!lower.contains("<!--"));
    }
}
