//! `kubecorp explain` judged on what people really paste.
//!
//! `data/real-errors.tsv` holds error texts copied from public issue threads (kubectl,
//! apiserver, etcd 3.4 and 3.5, kubelet, kubeadm, helm, webhooks…), each with the party whose
//! check failed. `data/held-out.tsv` holds texts of the same kinds written from the v1.32
//! sources and Go's wordings after the families were built, as a check that explain
//! generalises rather than matching rows: it must get at least 90 % of them right.

use kubecorp_trust::explain::explain;

/// (id, expected checked_by, text) rows of a TSV of `columns` columns whose `text` column is
/// last (it may hold tabs) and whose line breaks are written `\n`.
fn rows(tsv: &str, columns: usize, checked_by: usize) -> Vec<(String, String, String)> {
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.splitn(columns, '\t').collect();
            (
                cols[0].to_string(),
                cols[checked_by].to_string(),
                cols[columns - 1].replace("\\n", "\n"),
            )
        })
        .collect()
}

fn judge(rows: &[(String, String, String)]) -> (usize, Vec<String>) {
    let mut misses = Vec::new();
    for (id, expected, text) in rows {
        let got = explain(text).map(|e| e.checked_by.name().to_string());
        if got.as_deref() != Some(expected.as_str()) {
            misses.push(format!("{id}: expected {expected}, got {got:?}: {text}"));
        }
    }
    (rows.len() - misses.len(), misses)
}

#[test]
fn every_pasted_text_in_real_errors_tsv_names_the_party_whose_check_failed() {
    let rows = rows(include_str!("data/real-errors.tsv"), 7, 3);
    assert_eq!(rows.len(), 49);
    let (right, misses) = judge(&rows);
    println!("real-errors.tsv: {right}/{} checked_by right", rows.len());
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn texts_written_after_the_families_were_built_are_judged_right_nine_times_in_ten() {
    let rows = rows(include_str!("data/held-out.tsv"), 4, 1);
    assert_eq!(rows.len(), 30);
    let (right, misses) = judge(&rows);
    println!("held-out: {right}/{} checked_by right", rows.len());
    for m in &misses {
        println!("  miss {m}");
    }
    assert!(right * 10 >= rows.len() * 9, "{}", misses.join("\n"));
}

#[test]
fn json_output_carries_checked_by_and_keeps_kind() {
    let e = explain("error: You must be logged in to the server (Unauthorized)").unwrap();
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["kind"], "authn-401");
    assert_eq!(json["checked_by"], "server");
}

#[test]
fn a_multi_line_paste_is_judged_whole_not_by_its_first_match() {
    // kubectl's 401 first, the apiserver's log naming the real failure after it (M4).
    let e = explain("error: You must be logged in to the server (Unauthorized)\nE1203 authentication.go:73] \"Unable to authenticate the request\" err=\"verifying certificate SN=1, SKID=, AKID= failed: x509: certificate specifies an incompatible key usage\"").unwrap();
    assert_eq!(
        (e.kind.as_str(), e.checked_by.name()),
        ("incompatible-usage", "server")
    );
}

#[test]
fn a_text_that_is_not_about_certificates_says_so() {
    let e = explain(
        "Unable to connect to the server: dial tcp 10.0.0.1:6443: connect: connection refused",
    )
    .unwrap();
    assert_eq!(e.checked_by.name(), "none");
    assert!(
        e.meaning.starts_with("this is not a certificate problem: "),
        "{}",
        e.meaning
    );
}

#[test]
fn where_the_text_cannot_tell_two_causes_apart_both_are_named() {
    let e =
        explain("Unable to connect to the server: x509: certificate signed by unknown authority")
            .unwrap();
    assert!(
        e.meaning.contains("re-created with a new key"),
        "{}",
        e.meaning
    );
    let e =
        explain("Get https://10.0.0.1:6443/api: x509: certificate has expired or is not yet valid")
            .unwrap();
    assert_eq!(e.kind, "expired-or-not-yet-valid");
    assert!(e.fix.contains("If it expired:") && e.fix.contains("If it is not valid yet:"));
}
