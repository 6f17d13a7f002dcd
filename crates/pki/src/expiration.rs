//! `kubecorp certs check-expiration`: kubeadm's two tables, read on the lab clock.

use time::OffsetDateTime;

use crate::error::PkiError;
use crate::layout::Lab;
use crate::profile::{Authority, PROFILES};

/// One row of either table.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationRow {
    pub name: String,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date: Option<OffsetDateTime>,
    /// Nanoseconds left, as Go's time.Duration serializes (negative once expired).
    pub residual_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_name: Option<String>,
    pub externally_managed: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
    /// Why the row could not be read, for a file that exists but is damaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// kubeadm's `CertificateExpirationInfo` (output.kubeadm.k8s.io/v1alpha3).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationInfo {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub certificates: Vec<ExpirationRow>,
    pub certificate_authorities: Vec<ExpirationRow>,
}

/// Reads every kubeadm-managed badge and CA, looking from `now`.
pub fn check_expiration(lab: &Lab, now: OffsetDateTime) -> ExpirationInfo {
    let mut certificates = Vec::new();
    for p in PROFILES.iter().filter(|p| p.kubeadm_managed) {
        let externally_managed = !lab.ca_key_path(p.authority).exists();
        certificates.push(row(
            p.name,
            lab.read_badge_cert(p),
            now,
            Some(p.authority),
            externally_managed,
        ));
    }
    let mut authorities: Vec<_> = Authority::ALL
        .iter()
        .map(|a| {
            let info = crate::cert::read_cert(&lab.ca_cert_path(*a));
            row(a.name(), info, now, None, !lab.ca_key_path(*a).exists())
        })
        .collect();
    authorities.sort_by(|a, b| a.name.cmp(&b.name));
    ExpirationInfo {
        kind: "CertificateExpirationInfo",
        api_version: "output.kubeadm.k8s.io/v1alpha3",
        certificates,
        certificate_authorities: authorities,
    }
}

fn row(
    name: &str,
    info: Result<crate::cert::CertInfo, PkiError>,
    now: OffsetDateTime,
    ca: Option<Authority>,
    externally_managed: bool,
) -> ExpirationRow {
    let mut row = ExpirationRow {
        name: name.into(),
        expiration_date: None,
        residual_time: 0,
        ca_name: ca.map(|a| a.name().to_string()),
        externally_managed,
        missing: false,
        error: None,
    };
    match info {
        Ok(info) => {
            row.expiration_date = Some(info.not_after);
            row.residual_time = (info.not_after - now)
                .whole_nanoseconds()
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        }
        Err(PkiError::Missing { .. }) => row.missing = true,
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

/// apimachinery's `ShortHumanDuration`: `364d`, `9y`, `23h`, and `<invalid>` once past.
pub fn short_human_duration(nanos: i64) -> String {
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 24 {
        return format!("{hours}h");
    }
    if hours < 24 * 365 {
        return format!("{}d", hours / 24);
    }
    format!("{}y", hours / 24 / 365)
}

/// Go's `Jan 02, 2006 15:04 MST`, in UTC.
pub fn kubeadm_date(t: OffsetDateTime) -> String {
    let f =
        time::macros::format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

impl ExpirationInfo {
    /// The two tables exactly as `kubeadm certs check-expiration` prints them (its printer
    /// writes tab-separated lines, `%-8v` for the last column, into a tabwriter).
    pub fn to_text(&self) -> String {
        let mut lines = vec![
            "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED"
                .to_string(),
        ];
        for r in &self.certificates {
            lines.push(line(r, true));
        }
        lines.push(String::new());
        lines.push("CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED".into());
        for r in &self.certificate_authorities {
            lines.push(line(r, false));
        }
        tabwrite(&lines)
    }
}

fn line(r: &ExpirationRow, with_ca: bool) -> String {
    if r.missing {
        return format!("!MISSING! {}\t", r.name);
    }
    if let Some(e) = &r.error {
        return format!("!UNREADABLE! {}\t{e}", r.name);
    }
    let date = r.expiration_date.map(kubeadm_date).unwrap_or_default();
    let residual = short_human_duration(r.residual_time);
    let managed = if r.externally_managed { "yes" } else { "no" };
    match (with_ca, &r.ca_name) {
        (true, ca) => format!(
            "{}\t{date}\t{residual}\t{}\t{managed:<8}",
            r.name,
            ca.as_deref().unwrap_or_default()
        ),
        (false, _) => format!("{}\t{date}\t{residual}\t{managed:<8}", r.name),
    }
}

/// Go's `text/tabwriter` as kubeadm configures it (minwidth 10, padding 3, padchar ' ').
/// A column's width is set per block of consecutive lines that have a cell in that column,
/// which is why a `!MISSING!` line (one cell) splits the alignment of the rows around it.
pub fn tabwrite(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(&cells, &mut widths, 0, cells.len(), &mut out);
    out
}

fn format_block(
    cells: &[Vec<&str>],
    widths: &mut Vec<usize>,
    mut line0: usize,
    line1: usize,
    out: &mut String,
) {
    const MINWIDTH: usize = 10;
    const PADDING: usize = 3;
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column >= cells[this].len() - 1 {
            this += 1;
            continue;
        }
        write_lines(cells, widths, line0, this, out);
        line0 = this;
        let mut width = MINWIDTH;
        while this < line1 && column < cells[this].len() - 1 {
            width = width.max(cells[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        format_block(cells, widths, line0, this, out);
        widths.pop();
        line0 = this;
    }
    write_lines(cells, widths, line0, line1, out);
}

fn write_lines(cells: &[Vec<&str>], widths: &[usize], from: usize, to: usize, out: &mut String) {
    for line in &cells[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                out.push_str(&" ".repeat(widths[j].saturating_sub(cell.chars().count())));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_kubeadm_prints_them() {
        let day = 86_400 * 1_000_000_000i64;
        assert_eq!(short_human_duration(364 * day + day / 2), "364d");
        assert_eq!(short_human_duration(3650 * day - day), "9y");
        assert_eq!(short_human_duration(23 * 3600 * 1_000_000_000), "23h");
        assert_eq!(short_human_duration(-5 * 1_000_000_000), "<invalid>");
        assert_eq!(short_human_duration(-1_000_000_000), "0s");
    }
}
