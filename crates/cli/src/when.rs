//! Parsing the times users give `--now` and `--at`: RFC 3339, a plain date, or an offset from now.

use anyhow::{bail, Result};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};

/// `2027-01-01T09:00:00Z`, `2027-01-01` (midnight UTC), or `+400d` / `-1h` / `+1y` from `now`.
pub fn parse(flag: &str, value: Option<&str>, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let Some(value) = value else { return Ok(now) };
    let v = value.trim();
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(t.to_offset(time::UtcOffset::UTC));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = Date::parse(v, &date_format) {
        return Ok(d.midnight().assume_utc());
    }
    if let Some(rest) = v.strip_prefix('+').or_else(|| v.strip_prefix('-')) {
        let sign = if v.starts_with('-') { -1 } else { 1 };
        let (digits, unit) = rest.split_at(
            rest.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len()),
        );
        if let Ok(n) = digits.parse::<i64>() {
            let d = match unit {
                "s" => Some(Duration::seconds(n)),
                "m" => Some(Duration::minutes(n)),
                "h" => Some(Duration::hours(n)),
                "d" => Some(Duration::days(n)),
                "y" => Some(Duration::days(365 * n)),
                _ => None,
            };
            if let Some(d) = d {
                return Ok(now + d * sign);
            }
        }
    }
    bail!(
        "invalid {flag} `{value}`: expected an RFC 3339 time (2027-01-01T09:00:00Z), a date (2027-01-01) or an offset from now (+400d, -1h, +2y)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
