//! The Markdown report of a run: a table of checks and a Mermaid sequence diagram of the hops.
//!
//! Written for a trainer's notes or a CI artifact: GitHub and most Markdown viewers draw the
//! `mermaid` block as a diagram of who called whom and what they got back.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::run::{Hop, ScenarioResult};

/// The report as Markdown text.
pub fn markdown(result: &ScenarioResult) -> String {
    let mut out = String::new();
    let passed = result
        .checks
        .iter()
        .filter(|c| c.passed && !c.skipped)
        .count();
    let failed = result.checks.iter().filter(|c| !c.passed).count();
    let skipped = result.checks.iter().filter(|c| c.skipped).count();
    let _ = writeln!(out, "# {}\n", escape(&result.title));
    let _ = writeln!(
        out,
        "`{}` — {} passed, {} failed{} in {} ms\n",
        result.file.display(),
        passed,
        failed,
        if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        },
        result.elapsed.as_millis()
    );
    let _ = writeln!(out, "## Checks\n");
    let _ = writeln!(out, "| step | line | check | expected | actual | result |");
    let _ = writeln!(out, "| ---: | ---: | --- | --- | --- | :---: |");
    for c in &result.checks {
        let mark = if c.skipped {
            "skipped"
        } else if c.passed {
            "✓"
        } else {
            "✗"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            c.step + 1,
            match &c.file {
                Some(f) => format!("{}:{}", f.display(), c.line),
                None => c.line.to_string(),
            },
            escape(&c.what),
            escape(&c.expected),
            escape(&c.actual),
            mark
        );
    }
    let failed: Vec<_> = result.checks.iter().filter(|c| !c.passed).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n## What went wrong\n");
        for c in failed {
            let _ = write!(
                out,
                "- step {} ({}): {}",
                c.step + 1,
                match &c.file {
                    Some(f) => format!("{}:{}", f.display(), c.line),
                    None => format!("line {}", c.line),
                },
                c.describe()
            );
            if let Some(why) = &c.why {
                let _ = write!(out, "  \n  {}", why.replace('\n', " "));
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "\n## Hops\n");
    out.push_str(&mermaid(&result.hops));
    out
}

/// A Mermaid `sequenceDiagram` of the hops, with aliases so any name is a valid participant.
pub fn mermaid(hops: &[Hop]) -> String {
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut id = |name: &str, order: &mut Vec<String>| -> String {
        if let Some(id) = ids.get(name) {
            return id.clone();
        }
        let new = format!("P{}", ids.len());
        ids.insert(name.to_owned(), new.clone());
        order.push(name.to_owned());
        new
    };
    let mut body = String::new();
    let founder = id("Founder (CA)", &mut order);
    for hop in hops {
        match hop {
            Hop::Call {
                from,
                to,
                what,
                reply,
                ok,
            } => {
                let a = id(from, &mut order);
                let b = id(to, &mut order);
                let _ = writeln!(body, "    {a}->>{b}: {}", mermaid_text(what));
                let arrow = if *ok { "-->>" } else { "--x" };
                let _ = writeln!(body, "    {b}{arrow}{a}: {}", mermaid_text(reply));
            }
            Hop::Note { text } => {
                let _ = writeln!(body, "    Note over {founder}: {}", mermaid_text(text));
            }
        }
    }
    let mut out = String::from("```mermaid\nsequenceDiagram\n");
    for name in &order {
        let _ = writeln!(
            out,
            "    participant {} as {}",
            ids[name],
            mermaid_text(name)
        );
    }
    out.push_str(&body);
    out.push_str("```\n");
    out
}

/// Mermaid ends a message at a newline and reads `;` and `#` specially.
fn mermaid_text(text: &str) -> String {
    text.replace('\n', " ")
        .replace(';', "#59;")
        .replace('#', "#35;")
        .replace("#35;59;", "#59;")
}

/// Table cells: no pipes or newlines.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// Writes `text` to `path` atomically (a temporary file in the same directory, then a rename).
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubecorp-report-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagram_aliases_names_mermaid_would_misread() {
        let text = mermaid(&[Hop::Call {
            from: "system:kube-scheduler".into(),
            to: "apiserver".into(),
            what: "GET /api/v1/pods; now".into(),
            reply: "✗ 401 authn".into(),
            ok: false,
        }]);
        assert!(
            text.contains("participant P1 as system:kube-scheduler"),
            "{text}"
        );
        assert!(text.contains("P1->>P2: GET /api/v1/pods#59; now"), "{text}");
        assert!(text.contains("P2--xP1: ✗ 401 authn"), "{text}");
    }
}
