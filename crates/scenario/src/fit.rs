//! The narration fitted to a screen: a line longer than the width is wrapped at spaces, never
//! inside a word, and its continuation lines are indented under it, so a projector 100 columns
//! wide shows the whole story without the terminal breaking words apart.
//!
//! Wrapping is textwrap's, splitting at ASCII spaces only: `kube-apiserver`, a date or a path
//! stays whole. A run of more than [`LONG`] characters without a space (etcd's zap JSON log
//! line, a metrics line) may also break after a comma, where a reader of JSON expects it; only
//! what still does not fit on a line of its own is cut at the width. Widths are measured
//! without ANSI colour codes.

/// A run without spaces longer than this may break after a comma (`"ts":"…",` in a JSON log).
pub const LONG: usize = 30;

/// How wide narrated lines may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// Wrap at this many columns.
    Columns(usize),
    /// Print every line as it is, however long (`kubecorp run --wide`).
    Unlimited,
}

impl Width {
    /// The default when the output is not a terminal: a projector's 100 columns.
    pub const PROJECTOR: Width = Width::Columns(100);
}

/// One line of `text` fitted to `width`: the first line starts with `first`, continuation lines
/// with `rest`. A line that fits (or [`Width::Unlimited`]) comes back as `first` + `text`.
pub fn wrap(text: &str, first: &str, rest: &str, width: Width) -> Vec<String> {
    let whole = || vec![format!("{first}{text}")];
    let Width::Columns(columns) = width else {
        return whole();
    };
    if textwrap::core::display_width(first) + textwrap::core::display_width(text) <= columns {
        return whole();
    }
    let options = textwrap::Options::new(columns)
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(true)
        .word_separator(textwrap::WordSeparator::Custom(words))
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .wrap_algorithm(textwrap::WrapAlgorithm::FirstFit);
    textwrap::wrap(text, options)
        .into_iter()
        .map(|l| l.into_owned())
        .collect()
}

/// The words of `line`: each ends after its spaces; one longer than [`LONG`] also after each
/// comma.
fn words(line: &str) -> Box<dyn Iterator<Item = textwrap::core::Word<'_>> + '_> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let text_end = rest.find(' ').unwrap_or(rest.len());
        let end =
            text_end + rest[text_end..].len() - rest[text_end..].trim_start_matches(' ').len();
        let (word, after) = rest.split_at(end);
        if text_end > LONG {
            out.extend(word.split_inclusive(',').map(textwrap::core::Word::from));
        } else {
            out.push(textwrap::core::Word::from(word));
        }
        rest = after;
    }
    Box::new(out.into_iter())
}

/// Every line of `text` fitted to `width`, each continuation indented `hang` spaces deeper than
/// the line it continues.
pub fn fit(text: &str, width: Width, hang: usize) -> Vec<String> {
    text.lines()
        .flat_map(|line| {
            let body = line.trim_start_matches(' ');
            let lead = &line[..line.len() - body.len()];
            let rest = format!("{lead}{}", " ".repeat(hang));
            wrap(body, lead, &rest, width)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "      what it means: etcd only lets in clients whose badge was signed by \
        the etcd CA; kube-apiserver-etcd-client.crt was signed by another CA";

    fn chars(l: &str) -> usize {
        l.chars().count()
    }

    #[test]
    fn a_long_line_is_wrapped_at_spaces_with_its_continuations_indented_under_it() {
        let lines = fit(TEXT, Width::Columns(60), 2);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| chars(l) <= 60), "{lines:?}");
        assert!(
            lines[0].starts_with("      what it means: etcd"),
            "{lines:?}"
        );
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("        ") && !l.starts_with("         ")),
            "{lines:?}"
        );
        // No word is split: the words are the same, in the same order.
        let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(words(&lines.join(" ")), words(TEXT));
        assert!(lines
            .iter()
            .any(|l| l.contains("kube-apiserver-etcd-client.crt")));
    }

    #[test]
    fn inner_spacing_of_a_line_that_fits_is_kept_and_unlimited_keeps_everything() {
        let aligned = "    09:00:01  ✓ tls      admin → apiserver";
        assert_eq!(fit(aligned, Width::PROJECTOR, 10), vec![aligned.to_owned()]);
        assert_eq!(
            fit(TEXT, Width::Unlimited, 2),
            vec![TEXT.to_owned()],
            "--wide prints lines as they are"
        );
    }

    #[test]
    fn colour_codes_do_not_count_towards_the_width() {
        let painted = "\x1b[32m✓\x1b[0m status 200 as expected";
        assert_eq!(chars("✓ status 200 as expected"), 24);
        assert_eq!(wrap(painted, "", "", Width::Columns(24)).len(), 1);
    }

    #[test]
    fn hyphenated_words_dates_and_paths_are_never_split() {
        let text = "the node kubecorp-control-plane holds a one-day badge valid to \
            2026-04-25T08:55:00Z in /tmp/kubecorp-scenario-x/lab/pki/apiserver-etcd-client.crt";
        // From the longest word and its indentation (6 + 58 columns) up.
        for columns in 64..100 {
            let lines = wrap(text, "    ", "      ", Width::Columns(columns));
            let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
            assert_eq!(words(&lines.join(" ")), words(text), "{columns}: {lines:?}");
        }
    }

    #[test]
    fn a_json_log_line_breaks_after_its_commas_and_only_a_longer_run_is_cut() {
        let log = r#"{"level":"warn","ts":"2026-04-25T11:00:00Z","caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint"}"#;
        let lines = wrap(
            &format!("etcd logs: {log}"),
            "    ",
            "      ",
            Width::Columns(60),
        );
        assert_eq!(
            lines,
            vec![
                r#"    etcd logs: {"level":"warn","ts":"2026-04-25T11:00:00Z","#,
                r#"      "caller":"embed/config_logging.go:170","msg":"rejected"#,
                r#"      connection on client endpoint"}"#,
            ]
        );
        let metric = format!("build_info{{{}}} 1", "x".repeat(80));
        let lines = wrap(&format!("→ {metric}"), "    ", "      ", Width::Columns(60));
        assert!(lines.iter().all(|l| chars(l) <= 60), "{lines:?}");
        assert_eq!(
            lines.concat().replace(' ', ""),
            format!("→{metric}").replace(' ', "")
        );
        let number = "the soak made 132,000 handshakes";
        assert_eq!(
            wrap(number, "", "", Width::Columns(20))[1],
            "132,000 handshakes"
        );
    }
}
