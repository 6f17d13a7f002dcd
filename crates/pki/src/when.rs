//! The lab's one grammar for times and durations, and the range of times a certificate can name.
//!
//! The same words work everywhere a learner gives a time: `--now`/`--at` on the command line,
//! a scenario's `lab.clock`, and `clock: {advance: 2w}` in a step.
//!
//! - a duration: `500ms`, `30s`, `10m`, `24h`, `1d`, `2w`, `1y` (365 days), sums such as `1d12h`,
//!   signed with `+` or `-`, at most a thousand years;
//! - a time: RFC 3339 (`2027-01-01T09:00:00Z`) or a date (`2027-01-01`, midnight UTC);
//! - an instant (flags only): a time, or a signed duration from now (`+2w`, `-1h`).
//!
//! X.509 writes NotBefore/NotAfter as UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5): four-digit
//! years, so a certificate can name nothing before year 0 or after 9999. A clock set near either
//! end is fine to look at, but signing there is refused with [`TimeError::NotCertifiable`]
//! instead of failing deep inside the encoder.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// The longest duration the grammar accepts.
pub const MAX_DURATION: Duration = Duration::days(365 * 1000);

/// What a time or duration could not be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "`{given}`: expected a duration such as 500ms, 30s, 10m, 24h, 1d, 2w or 1y (at most 1000y)"
    )]
    Duration { given: String },
    #[error("`{given}`: expected an RFC 3339 time (2027-01-01T09:00:00Z) or a date (2027-01-01)")]
    Time { given: String },
    #[error("`{given}`: expected an RFC 3339 time (2027-01-01T09:00:00Z), a date (2027-01-01) or an offset from now (+400d, -1h, +2w)")]
    Instant { given: String },
    #[error("{from} {} is past the calendar's end (years 0000 to 9999)", offset_text(*by))]
    Overflow { from: String, by: Duration },
    #[error("{what} would be {time}, outside the years 0000 to 9999 a certificate can name")]
    NotCertifiable { what: String, time: String },
}

/// `30s`, `10m`, `24h`, `1d`, `2w`, `1y`, and sums such as `1d12h`; `-1d` goes back.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let unit = &rest[digits..digits + unit_len];
        let one = match unit {
            "ms" => Duration::MILLISECOND,
            "s" => Duration::SECOND,
            "m" => Duration::MINUTE,
            "h" => Duration::HOUR,
            "d" => Duration::DAY,
            "w" => Duration::WEEK,
            "y" => Duration::days(365),
            _ => return None,
        };
        total = total.checked_add(one.checked_mul(i32::try_from(n).ok()?)?)?;
        rest = &rest[digits + unit_len..];
    }
    // A lab clock moved by more than a thousand years would leave the calendar time can print.
    if total > MAX_DURATION {
        return None;
    }
    Some(if negative { -total } else { total })
}

/// RFC 3339, or a bare date meaning midnight UTC.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.to_offset(UtcOffset::UTC));
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &date)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

/// A time, or a signed duration from `now` (`+2w`): what `--now` and `--at` accept.
pub fn parse_instant(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, TimeError> {
    if let Some(t) = parse_time(text) {
        return Ok(t);
    }
    let trimmed = text.trim();
    let signed = trimmed.starts_with('+') || trimmed.starts_with('-');
    match parse_duration(trimmed).filter(|_| signed) {
        Some(by) => shift(now, by),
        None => Err(TimeError::Instant {
            given: text.to_owned(),
        }),
    }
}

/// `from + by`, or an error when the calendar cannot hold the result.
pub fn shift(from: OffsetDateTime, by: Duration) -> Result<OffsetDateTime, TimeError> {
    from.checked_add(by).ok_or_else(|| TimeError::Overflow {
        from: kubecorp_rfc3339(from),
        by,
    })
}

/// Whether a certificate can carry `t` (years 0000 to 9999, as GeneralizedTime writes them).
pub fn certifiable(t: OffsetDateTime) -> bool {
    (0..=9999).contains(&t.to_offset(UtcOffset::UTC).year())
}

/// The NotBefore and NotAfter of a certificate `what` signed at `now`: `now + before` to
/// `now + after`, or the error naming which end a certificate cannot hold.
pub fn validity(
    what: &str,
    now: OffsetDateTime,
    before: Duration,
    after: Duration,
) -> Result<(OffsetDateTime, OffsetDateTime), TimeError> {
    let end = |label: &str, by: Duration| {
        let not = |time: String| TimeError::NotCertifiable {
            what: format!("{what}'s {label}"),
            time,
        };
        match now.checked_add(by) {
            Some(t) if certifiable(t) => Ok(t),
            Some(t) => Err(not(kubecorp_rfc3339(t))),
            None => Err(not(format!(
                "{} {}",
                kubecorp_rfc3339(now),
                offset_text(by)
            ))),
        }
    };
    Ok((end("NotBefore", before)?, end("NotAfter", after)?))
}

/// `+ 3650 days`, `- 2 days`: an offset as the lab's messages write it.
fn offset_text(by: Duration) -> String {
    let sign = if by.is_negative() { '-' } else { '+' };
    format!("{sign} {} days", by.unsigned_abs().as_secs() / 86_400)
}

/// RFC 3339 in UTC with whole seconds, as the lab prints times in its own messages.
fn kubecorp_rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let year = match t.year() {
        y if y < 0 => format!("-{:04}", -y),
        y => format!("{y:04}"),
    };
    format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn durations_read_as_scenario_files_write_them() {
        assert_eq!(parse_duration("2w"), Some(Duration::days(14)));
        assert_eq!(parse_duration("1d12h"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("-1d"), Some(-Duration::DAY));
        assert_eq!(parse_duration("500ms"), Some(Duration::milliseconds(500)));
        assert_eq!(parse_duration("99999999999y"), None);
        assert_eq!(parse_duration("1001y"), None);
        assert_eq!(parse_duration("tomorrow"), None);
    }

    #[test]
    fn an_instant_is_a_time_a_date_or_a_signed_offset_in_the_same_grammar() {
        let now = datetime!(2026-11-29 06:00:00 UTC);
        assert_eq!(parse_instant("+2w", now), Ok(now + Duration::days(14)));
        assert_eq!(parse_instant("-1d12h", now), Ok(now - Duration::hours(36)));
        assert_eq!(
            parse_instant("2027-01-01", now),
            Ok(datetime!(2027-01-01 00:00:00 UTC))
        );
        assert_eq!(
            parse_instant("2w", now).unwrap_err().to_string(),
            "`2w`: expected an RFC 3339 time (2027-01-01T09:00:00Z), a date (2027-01-01) or an offset from now (+400d, -1h, +2w)"
        );
        assert!(parse_instant("+99999999999y", now).is_err());
    }

    #[test]
    fn an_offset_past_the_calendar_is_an_error_not_a_panic() {
        let late = datetime!(9999-06-01 00:00:00 UTC);
        assert_eq!(
            parse_instant("+1000y", late).unwrap_err().to_string(),
            "9999-06-01T00:00:00Z + 365000 days is past the calendar's end (years 0000 to 9999)"
        );
    }

    #[test]
    fn a_validity_past_9999_or_before_year_0_names_its_end() {
        let late = datetime!(9999-12-31 00:00:00 UTC);
        assert_eq!(
            validity("the cluster CA", late, -Duration::minutes(5), Duration::days(3650))
                .unwrap_err()
                .to_string(),
            "the cluster CA's NotAfter would be 9999-12-31T00:00:00Z + 3650 days, outside the years 0000 to 9999 a certificate can name"
        );
        let early = datetime!(0000-01-01 00:00:00 UTC);
        assert_eq!(
            validity("apiserver", early, -Duration::minutes(5), Duration::days(365))
                .unwrap_err()
                .to_string(),
            "apiserver's NotBefore would be -0001-12-31T23:55:00Z, outside the years 0000 to 9999 a certificate can name"
        );
        let fine = datetime!(2026-01-01 00:00:00 UTC);
        assert!(validity("x", fine, -Duration::minutes(5), Duration::days(365)).is_ok());
    }
}
