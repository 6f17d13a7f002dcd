//! Go's ways of writing a time, one name per format, so a name always means the same text.
//!
//! - [`rfc3339`]: `time.RFC3339` in UTC, `2026-04-23T16:42:11Z`: metav1.Time in objects, the
//!   times in x509 errors (`current time … is after …`). Also exported as [`crate::go_time`].
//! - [`string`]: `time.Time.String()` (what `%v` prints) in UTC,
//!   `2035-01-01 00:00:00 +0000 UTC`: the CSR signer's refusals, the kubelet's certificate
//!   manager log lines.
//! - [`string_monotonic`]: the same, read from a clock with a monotonic reading, as
//!   `time.Now().String()` prints it: `… +0000 UTC m=+12.000000001` (kube-proxy's /healthz).
//! - [`rfc3339_micro`]: metav1.MicroTime, `2006-01-02T15:04:05.000000Z07:00` in UTC, always six
//!   digits: an Event's `eventTime`.
//! - [`zap`]: etcd's zap log layout, `2006-01-02T15:04:05.999999Z0700` in UTC: microseconds with
//!   trailing zeros dropped (and the dot, when there are none).
//!
//! Source: Go 1.22 `src/time/format.go` (`RFC3339`, `Time.String`); apimachinery v0.32
//! `pkg/apis/meta/v1/micro_time.go` (`RFC3339Micro`); etcd 3.5 `client/pkg/logutil/zap.go`.

use std::time::Duration;

use time::{OffsetDateTime, UtcOffset};

/// `time.RFC3339` for a UTC time: whole seconds (Go truncates, never rounds), `Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    format!("{}Z", date_and_clock(t, 'T'))
}

/// metav1.MicroTime: RFC 3339 with six digits of microseconds (truncated), `Z`.
pub fn rfc3339_micro(t: OffsetDateTime) -> String {
    format!("{}.{:06}Z", date_and_clock(t, 'T'), t.microsecond())
}

/// etcd's zap layout: RFC 3339 with up to six digits of microseconds, trailing zeros dropped.
pub fn zap(t: OffsetDateTime) -> String {
    let fraction = format!(".{:06}", t.microsecond());
    let fraction = fraction.trim_end_matches('0').trim_end_matches('.');
    format!("{}{fraction}Z", date_and_clock(t, 'T'))
}

/// `2006-01-02`, `between`, `15:04:05`: the date and the clock in UTC, whole seconds.
fn date_and_clock(t: OffsetDateTime, between: char) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}{between}{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `time.Time.String()` for a UTC time without a monotonic reading:
/// `2006-01-02 15:04:05.999999999 -0700 MST`, the fraction only when there is one.
pub fn string(t: OffsetDateTime) -> String {
    let mut s = date_and_clock(t, ' ');
    if t.nanosecond() != 0 {
        let fraction = format!("{:09}", t.nanosecond());
        s.push('.');
        s.push_str(fraction.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// `time.Now().String()`: [`string`] and the monotonic reading `since` the process started.
pub fn string_monotonic(t: OffsetDateTime, since: Duration) -> String {
    format!(
        "{} m=+{}.{:09}",
        string(t),
        since.as_secs(),
        since.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn each_format_has_its_own_name() {
        let t = datetime!(2035-01-01 00:00:00 UTC);
        assert_eq!(rfc3339(t), "2035-01-01T00:00:00Z");
        assert_eq!(string(t), "2035-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            string_monotonic(datetime!(2026-11-29 09:00:00.5 UTC), Duration::new(12, 1)),
            "2026-11-29 09:00:00.5 +0000 UTC m=+12.000000001"
        );
        let t = datetime!(2024-11-27 13:48:13.288010 UTC);
        assert_eq!(rfc3339_micro(t), "2024-11-27T13:48:13.288010Z");
        assert_eq!(zap(t), "2024-11-27T13:48:13.28801Z");
        assert_eq!(
            zap(datetime!(2024-11-27 13:48:13 UTC)),
            "2024-11-27T13:48:13Z"
        );
    }

    #[test]
    fn rfc3339_truncates_fractions_like_go() {
        assert_eq!(
            rfc3339(datetime!(2026-04-23 16:42:11.999 +02:00)),
            "2026-04-23T14:42:11Z"
        );
    }
}
