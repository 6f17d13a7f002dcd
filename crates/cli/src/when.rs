//! `--now` and `--at`: the lab's one time grammar ([`kubecorp_pki::when`]) with the flag named in
//! every error, including a PKI refusing a time no certificate can hold.

use anyhow::{anyhow, Result};
use kubecorp_pki::PkiError;
use time::OffsetDateTime;

/// `2027-01-01T09:00:00Z`, `2027-01-01` (midnight UTC), or `+400d` / `-1h` / `+2w` from `now`.
pub fn parse(flag: &str, value: Option<&str>, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let Some(value) = value else { return Ok(now) };
    kubecorp_pki::when::parse_instant(value, now).map_err(|e| anyhow!("invalid {flag} {e}"))
}

/// Turns a PKI error about a time into one about the flag that gave it:
/// `--now 9999-12-31T00:00:00Z: kubernetes's NotAfter would be …`.
pub fn named<'a>(flag: &'a str, value: Option<&'a str>) -> impl Fn(PkiError) -> anyhow::Error + 'a {
    move |e| match (&e, value) {
        (PkiError::Time(_), Some(v)) => anyhow!("{flag} {v}: {e}"),
        (PkiError::Time(_), None) => anyhow!("the machine's clock: {e}"),
        _ => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;
    use time::Duration;

    #[test]
    fn offsets_dates_and_rfc3339_are_accepted_and_garbage_is_named() {
        let now = OffsetDateTime::parse("2026-11-29T06:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            parse("--now", Some("+1d"), now).unwrap(),
            now + Duration::days(1)
        );
        assert_eq!(
            parse("--now", Some("-2h"), now).unwrap(),
            now - Duration::hours(2)
        );
        assert_eq!(
            parse("--now", Some("2027-01-01"), now).unwrap().year(),
            2027
        );
        let err = parse("--now", Some("tomorrow"), now)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid --now `tomorrow`: expected an RFC 3339 time"),
            "{err}"
        );
    }

    #[test]
    fn now_takes_the_scenario_grammar_weeks_and_sums_included() {
        let now = OffsetDateTime::parse("2026-11-29T06:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            parse("--now", Some("+2w"), now).unwrap(),
            now + Duration::days(14)
        );
        assert_eq!(
            parse("--now", Some("+1d12h"), now).unwrap(),
            now + Duration::hours(36)
        );
    }

    #[test]
    fn an_offset_that_overflows_is_an_error_naming_the_flag() {
        let now = OffsetDateTime::parse("2026-11-29T06:00:00Z", &Rfc3339).unwrap();
        let err = parse("--now", Some("+99999999999y"), now)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid --now `+99999999999y`: expected"),
            "{err}"
        );
    }
}
