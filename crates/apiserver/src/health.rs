//! Alice's health endpoints, `/healthz`, `/livez` and `/readyz`, as the apiserver library serves them.
//!
//! Each endpoint runs named checks in order (`k8s.io/apiserver/pkg/server/healthz`):
//!
//! - all pass: `ok`, or with `?verbose` one line per check and `readyz check passed`;
//! - one fails: HTTP 500, a line per check with `[-]etcd failed: reason withheld` (the body is
//!   public, so the reason goes only to the log: `etcd check failed: readyz`, then the reason);
//! - `?exclude=NAME` skips a check (`[+]NAME excluded: ok`), and warns about names it has not;
//! - `/readyz/etcd` runs one check: `ok`, or 500 `internal server error: <reason>`.
//!
//! The lab lists the checks it really performs: `ping`, `log`, `etcd` (a read from etcd over
//! mutual TLS with `apiserver-etcd-client`, within the 2 s of `--etcd-healthcheck-timeout`, sent
//! at most once a second, the checks in between getting the last outcome, as kube-apiserver's), on
//! `/readyz` also `etcd-readiness`, the RBAC bootstrap that ran before Alice opened, and on
//! `/readyz` `shutdown`. A real kube-apiserver lists some thirty more post-start hooks.

/// One check's outcome: `None` passed, `Some(reason)` failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub name: &'static str,
    pub failure: Option<String>,
}

/// The checks behind each endpoint, in the order the apiserver runs them.
pub fn checks(endpoint: &str) -> Option<&'static [&'static str]> {
    match endpoint {
        "healthz" | "livez" => Some(&["ping", "log", "etcd", "poststarthook/rbac/bootstrap-roles"]),
        "readyz" => Some(&[
            "ping",
            "log",
            "etcd",
            "etcd-readiness",
            "poststarthook/rbac/bootstrap-roles",
            "shutdown",
        ]),
        _ => None,
    }
}

/// What the endpoint answers: status, plain-text body, and the line the apiserver logs (only
/// when a check failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub log: Option<String>,
}

/// The answer of `/<endpoint>` (all checks) given their outcomes and the query.
pub fn overall(endpoint: &str, results: &[Checked], query: &str) -> Answer {
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let verbose = params.iter().any(|(k, _)| *k == "verbose");
    let mut excluded: Vec<&str> = params
        .iter()
        .filter(|(k, _)| *k == "exclude")
        .map(|(_, v)| *v)
        .collect();
    let mut lines = String::new();
    let mut failed = Vec::new();
    let mut reasons = String::new();
    for check in results {
        if let Some(i) = excluded.iter().position(|e| *e == check.name) {
            excluded.remove(i);
            lines.push_str(&format!("[+]{} excluded: ok\n", check.name));
            continue;
        }
        match &check.failure {
            Some(reason) => {
                lines.push_str(&format!("[-]{} failed: reason withheld\n", check.name));
                reasons.push_str(&format!("[-]{} failed: {reason}\n", check.name));
                failed.push(check.name);
            }
            None => lines.push_str(&format!("[+]{} ok\n", check.name)),
        }
    }
    if !excluded.is_empty() {
        let quoted: Vec<String> = excluded.iter().map(|e| format!("{e:?}")).collect();
        lines.push_str(&format!(
            "warn: some health checks cannot be excluded: no matches for {}\n",
            quoted.join(",")
        ));
    }
    if !failed.is_empty() {
        return Answer {
            status: 500,
            body: format!("{lines}{endpoint} check failed\n"),
            // healthz.go v1.32: `klog.V(2).Infof("%s check failed: %s\n%v",
            // strings.Join(failedChecks, ","), name, failedVerboseLogOutput.String())`.
            log: Some(format!(
                "{} check failed: {endpoint}\n{reasons}",
                failed.join(",")
            )),
        };
    }
    Answer {
        status: 200,
        body: if verbose {
            format!("{lines}{endpoint} check passed\n")
        } else {
            "ok".into()
        },
        log: None,
    }
}

/// The answer of `/<endpoint>/<check>`: one check alone.
pub fn single(check: &Checked) -> Answer {
    match &check.failure {
        None => Answer {
            status: 200,
            body: "ok".into(),
            log: None,
        },
        Some(reason) => Answer {
            status: 500,
            body: format!("internal server error: {reason}\n"),
            log: Some(format!("[-]{} failed: {reason}", check.name)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_pass(endpoint: &str) -> Vec<Checked> {
        checks(endpoint)
            .unwrap()
            .iter()
            .map(|name| Checked {
                name,
                failure: None,
            })
            .collect()
    }

    #[test]
    fn a_healthy_readyz_says_ok_and_lists_its_checks_when_verbose() {
        assert_eq!(overall("readyz", &all_pass("readyz"), "").body, "ok");
        assert_eq!(
            overall("readyz", &all_pass("readyz"), "verbose").body,
            "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]etcd-readiness ok\n[+]poststarthook/rbac/bootstrap-roles ok\n[+]shutdown ok\nreadyz check passed\n"
        );
    }

    #[test]
    fn a_failed_check_is_500_with_the_reason_withheld_from_the_body_and_logged() {
        let mut results = all_pass("livez");
        results[2].failure =
            Some("apiserver → etcd: TLS handshake: remote error: tls: expired certificate".into());
        let answer = overall("livez", &results, "");
        assert_eq!(answer.status, 500);
        assert_eq!(
            answer.body,
            "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]poststarthook/rbac/bootstrap-roles ok\nlivez check failed\n"
        );
        assert_eq!(
            answer.log.unwrap(),
            "etcd check failed: livez\n[-]etcd failed: apiserver → etcd: TLS handshake: remote error: tls: expired certificate\n"
        );
        assert_eq!(
            single(&results[2]).body,
            "internal server error: apiserver → etcd: TLS handshake: remote error: tls: expired certificate\n"
        );
    }

    #[test]
    fn an_excluded_check_reads_excluded_and_an_unknown_one_is_warned_about() {
        let mut results = all_pass("healthz");
        results[2].failure = Some("down".into());
        let answer = overall("healthz", &results, "verbose&exclude=etcd&exclude=nope");
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body,
            "[+]ping ok\n[+]log ok\n[+]etcd excluded: ok\n[+]poststarthook/rbac/bootstrap-roles ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nhealthz check passed\n"
        );
    }
}
