//! The Markdown report of a run: the story (chapters, narration, what each step came to), a
//! table of checks and a Mermaid sequence diagram of the hops.
//!
//! Written for a trainer's notes or a CI artifact: GitHub and most Markdown viewers draw the
//! `mermaid` block as a diagram of who called whom and what they got back, with one participant
//! per party however the run named it (a kubeconfig, a badge's CN, a component, an address).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use kubecorp_trust::record::{Body, Record};

use crate::run::{Hop, ScenarioResult};

/// The report as Markdown text; `tape` is the run's recording (see [`crate::tape`]), which
/// gives the story its narration and chapters.
pub fn markdown(result: &ScenarioResult, tape: &[Record]) -> String {
    let mut out = String::new();
    let passed = result.checks.iter().filter(|c| c.passed()).count();
    let failed = result.checks.iter().filter(|c| c.failed()).count();
    let skipped = result.checks.iter().filter(|c| c.skipped()).count();
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
    out.push_str(&story(tape));
    let _ = writeln!(out, "## Checks\n");
    let _ = writeln!(out, "| step | line | check | expected | actual | result |");
    let _ = writeln!(out, "| ---: | ---: | --- | --- | --- | :---: |");
    for c in &result.checks {
        let mark = if c.skipped() {
            "skipped"
        } else if c.passed() {
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
    let failed: Vec<_> = result.checks.iter().filter(|c| c.failed()).collect();
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

/// The story as the room heard it: chapter titles, the narration, each step's action and what
/// it came to.
fn story(tape: &[Record]) -> String {
    let mut out = String::new();
    for record in tape {
        match &record.body {
            Body::Chapter(c) => {
                let _ = writeln!(out, "### {}\n", c.title.replace('\n', " "));
            }
            Body::Step(step) => {
                let number = record.step.unwrap_or_default();
                // A chapter's opening says its title again: the heading above has it.
                let said = step.say.as_deref().map(|s| match &record.chapter {
                    Some(title) => s.strip_prefix(title.as_str()).unwrap_or(s),
                    None => s,
                });
                let _ = write!(out, "**{number}.**");
                if let Some(at) = &step.at {
                    let _ = write!(out, " *{at}*");
                }
                if let Some(said) = said.map(str::trim).filter(|s| !s.is_empty()) {
                    let _ = write!(out, " {}", said.replace('\n', " "));
                }
                // A step of narration alone has no action to show.
                if step.say.as_deref() != Some(step.headline.as_str()) {
                    let _ = write!(out, "  \n▸ {}", step.headline.replace('\n', " "));
                }
                out.push_str("\n\n");
            }
            Body::Outcome(o) if o.exit.is_none() => {
                let first = o.text.lines().next().unwrap_or_default();
                match o.allowed {
                    true if first.is_empty() => {}
                    true => {
                        let _ = writeln!(out, "→ `{}`\n", first.replace('`', "'"));
                    }
                    false => {
                        let _ = writeln!(out, "✗ the caller sees: `{}`", first.replace('`', "'"));
                        if let Some(e) = &o.explanation {
                            let _ = writeln!(out, "  \n  what it means: {e}");
                        }
                        out.push('\n');
                    }
                }
            }
            _ => {}
        }
    }
    match out.is_empty() {
        true => out,
        false => format!("## The story\n\n{out}"),
    }
}

/// The party behind a name, so the diagram has one participant per identity: a kubeconfig
/// (`scheduler`), its badge's CN (`system:kube-scheduler`) and the component (`scheduler`) are
/// the same person; a bare address is a visitor whose badge the guard never read.
pub fn party(name: &str) -> String {
    let name = name.trim();
    if name.parse::<std::net::SocketAddr>().is_ok() {
        return "a visitor without a badge".into();
    }
    let component = match name {
        "apiserver"
        | "kube-apiserver"
        | "apiserver-etcd-client"
        | "kube-apiserver-etcd-client"
        | "apiserver-kubelet-client"
        | "kube-apiserver-kubelet-client"
        | "front-proxy-client" => "Alice (apiserver)",
        "etcd" | "etcd-server" | "etcd-peer" | "kube-etcd" | "kube-etcd-peer" => "Charlie (etcd)",
        "scheduler" | "kube-scheduler" | "system:kube-scheduler" => "Bob (scheduler)",
        "kube-proxy" | "system:kube-proxy" => "Dave (kube-proxy)",
        "controller-manager" | "kube-controller-manager" | "system:kube-controller-manager" => {
            "controller manager"
        }
        "admin" | "kubernetes-admin" => "admin",
        "super-admin" | "kubernetes-super-admin" => "super-admin",
        "etcd-healthcheck-client" | "kube-etcd-healthcheck-client" => "etcd-healthcheck-client",
        "someone without a badge" | "system:anonymous" => "anonymous",
        _ => "",
    };
    if !component.is_empty() {
        return component.into();
    }
    if name == "kubelet" || name.starts_with("system:node:") {
        return "the CEO (kubelet)".into();
    }
    name.to_owned()
}

/// A Mermaid `sequenceDiagram` of the hops, one participant per [`party`], with aliases so any
/// name is a valid participant. A hop from a party to itself is not drawn.
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
                let (from, to) = (party(from), party(to));
                if from == to {
                    continue;
                }
                let a = id(&from, &mut order);
                let b = id(&to, &mut order);
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

    fn call(from: &str, to: &str, what: &str) -> Hop {
        Hop::Call {
            from: from.into(),
            to: to.into(),
            what: what.into(),
            reply: "✗ 401 authn".into(),
            ok: false,
        }
    }

    #[test]
    fn the_diagram_names_each_party_once_without_addresses_or_self_arrows() {
        let text = mermaid(&[
            call("scheduler", "apiserver", "GET pods"),
            call("system:kube-scheduler", "apiserver", "GET pods"),
            call("127.0.0.1:50994", "etcd", "tls"),
            call("scheduler", "scheduler", "GET /healthz"),
            call(
                "system:node:kubecorp-control-plane",
                "apiserver",
                "PATCH node",
            ),
            call("kubelet", "kubelet", "tls"),
        ]);
        let participants: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("participant"))
            .map(|l| l.split(" as ").nth(1).unwrap())
            .collect();
        assert_eq!(
            participants,
            [
                "Founder (CA)",
                "Bob (scheduler)",
                "Alice (apiserver)",
                "a visitor without a badge",
                "Charlie (etcd)",
                "the CEO (kubelet)"
            ],
            "{text}"
        );
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert!(!text.contains("P1->>P1"), "{text}");
    }

    #[test]
    fn the_story_has_its_chapters_narration_and_what_the_caller_saw() {
        use kubecorp_trust::record::{Chapter, StepOutcome, StepStart};
        let tape = [
            Record::new(
                1,
                Body::Chapter(Chapter {
                    title: "9:00 The grand entrance".into(),
                    file: "day/0900.yaml".into(),
                }),
            ),
            Record::new(
                2,
                Body::Step(StepStart {
                    line: 4,
                    file: None,
                    at: Some("9:05".into()),
                    say: Some("John tries his new badge.".into()),
                    headline: "john shows the badge CN=john to apiserver and asks: get pods".into(),
                }),
            )
            .in_step(Some(2), None),
            Record::new(
                3,
                Body::Outcome(StepOutcome {
                    allowed: false,
                    status: Some(403),
                    stage: None,
                    verdict: None,
                    text: "Error from server (Forbidden): pods is forbidden".into(),
                    exit: None,
                    explanation: Some("no rule lets john do this".into()),
                    hint: None,
                }),
            ),
        ];
        let text = story(&tape);
        for needle in [
            "### 9:00 The grand entrance",
            "**2.** *9:05* John tries his new badge.",
            "▸ john shows the badge CN=john to apiserver and asks: get pods",
            "✗ the caller sees: `Error from server (Forbidden): pods is forbidden`",
            "what it means: no rule lets john do this",
        ] {
            assert!(text.contains(needle), "{needle:?} in:\n{text}");
        }
    }

    #[test]
    fn the_diagram_aliases_names_mermaid_would_misread() {
        let text = mermaid(&[call("john; x", "apiserver", "GET /api/v1/pods; now")]);
        assert!(text.contains("participant P1 as john#59; x"), "{text}");
        assert!(text.contains("P1->>P2: GET /api/v1/pods#59; now"), "{text}");
        assert!(text.contains("P2--xP1: ✗ 401 authn"), "{text}");
    }
}
