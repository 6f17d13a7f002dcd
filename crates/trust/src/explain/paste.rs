//! What people paste, made readable: log prefixes dropped, JSON log lines opened, wrapped
//! lines joined.
//!
//! A paste is rarely one clean error. It is a kubectl run with five `memcache.go` lines before
//! the last one, a `journalctl` excerpt (`Mar 29 19:03:36 host kubelet[27962]: E0329 …`), a
//! container log (`2023-12-16T07:35:01.4+01:00 stderr F …`), etcd 3.4's `2023-05-24 02:17:33
//! I | embed: …` or etcd 3.5's zap JSON (`{"level":"warn",…,"msg":"rejected connection",…,
//! "error":"…"}`), or a line the terminal broke in two. Each line is read on its own, and the
//! whole paste once more with its lines joined, so a wrapped line is read whole.

/// The texts to judge: each line, then the lines joined (with a space, and without one for a
/// word broken at the terminal's edge).
pub(super) fn readings(input: &str) -> Vec<String> {
    let lines: Vec<String> = input
        .lines()
        .map(clean_line)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = lines.clone();
    if lines.len() > 1 {
        out.push(lines.join(" "));
        out.push(lines.join(""));
    }
    out
}

/// One line without its log prefixes, with a JSON log line turned into its message and error.
fn clean_line(line: &str) -> String {
    let line = line.trim();
    if let Some(text) = json_line(line) {
        return text;
    }
    let mut line = line.replace("\\\"", "\"");
    // journald: `Mar 29 19:03:36 host unit[pid]: ` (the unit's text follows).
    if let Some(rest) = journald(&line) {
        line = rest.to_string();
    }
    // CRI container logs: `<RFC 3339 time> stdout|stderr F|P `.
    for stream in [" stderr F ", " stdout F ", " stderr P ", " stdout P "] {
        if let Some(at) = line.find(stream) {
            if at < 40 && line[..at].contains('T') {
                line = line[at + stream.len()..].to_string();
            }
        }
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Mon DD HH:MM:SS host unit[pid]: rest` → `rest`.
fn journald(line: &str) -> Option<&str> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !MONTHS.iter().any(|m| line.starts_with(m)) {
        return None;
    }
    let mut fields = line.splitn(5, ' ').filter(|f| !f.is_empty());
    let _month = fields.next()?;
    let _day = fields.next()?;
    let time = fields.next()?;
    if time.matches(':').count() != 2 {
        return None;
    }
    let rest = line.split_once(time)?.1.trim_start();
    let (_host, rest) = rest.split_once(' ')?;
    let (unit, rest) = rest.split_once(": ")?;
    (!unit.contains(' ')).then_some(rest)
}

/// A zap JSON line (etcd 3.5, kubeadm's etcd 3.5.16): `msg`, then every other string field
/// that is not bookkeeping, so `error` and `remote-addr` are read as etcd 3.4 printed them.
fn json_line(line: &str) -> Option<String> {
    if !line.starts_with('{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(msg) = object.get("msg").and_then(|m| m.as_str()) {
        parts.push(msg.to_string());
    }
    for (key, v) in object {
        if matches!(key.as_str(), "msg" | "level" | "ts" | "caller" | "logger") {
            continue;
        }
        if let Some(s) = v.as_str() {
            parts.push(format!("{key}: {s}"));
        }
    }
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_dropped_and_json_lines_opened() {
        assert_eq!(
            clean_line(
                "Mar 29 19:03:36 ip-10-0-0-1.ec2.internal etcdctl[27962]: Error:  x509: boom"
            ),
            "Error: x509: boom"
        );
        assert_eq!(
            clean_line("2023-12-16T07:35:01.426019865+01:00 stderr F }. Err: x509: boom"),
            "}. Err: x509: boom"
        );
        assert_eq!(
            clean_line(
                r#"{"level":"warn","ts":"2024-01-01T00:00:00Z","caller":"embed/config_logging.go:160","msg":"rejected connection","remote-addr":"10.0.0.2:5","error":"tls: \"x\" bad"}"#
            ),
            r#"rejected connection error: tls: "x" bad remote-addr: 10.0.0.2:5"#
        );
    }

    #[test]
    fn a_wrapped_line_is_also_read_whole() {
        let r = readings("x509: certificate has expired or is not yet valid:\ncurrent time 2026-04-24T10:14:23Z is after 2026-04-23T16:42:11Z");
        assert!(r.contains(&"x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is after 2026-04-23T16:42:11Z".to_string()));
    }
}
