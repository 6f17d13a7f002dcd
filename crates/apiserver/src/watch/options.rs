//! What a `?watch=true` request asks, read from its query as kube-apiserver 1.32 reads it:
//! decoded, defaulted and validated, with the apiserver's own words for what it refuses.

use std::time::Duration;

use tokio::time::Instant;

use super::{FAR_FUTURE_SECONDS, MIN_REQUEST_TIMEOUT};
use crate::request::query_param;
use crate::status::{self, Cause};

/// The list options a watch reads, decoded, defaulted and validated as kube-apiserver 1.32's
/// `ListResource` handler does (with the `WatchList` feature gate on, its 1.32 default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// `resourceVersion` as sent ("" when absent).
    pub resource_version: String,
    /// `resourceVersionMatch` ("" when absent).
    pub resource_version_match: String,
    /// `sendInitialEvents`, after `SetListOptionsDefaults`.
    pub send_initial_events: Option<bool>,
    pub allow_watch_bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<i64>,
}

/// Go's query-parameter bool (`Convert_Slice_string_To_bool`): false only for `0`, `f`, `false`.
fn go_bool(value: &str) -> bool {
    !(value == "0" || value.eq_ignore_ascii_case("f") || value.eq_ignore_ascii_case("false"))
}

/// Why Go's `strconv` refuses a number: `invalid syntax` or `value out of range`.
fn strconv_reason(digits_only: bool) -> &'static str {
    if digits_only {
        "value out of range"
    } else {
        "invalid syntax"
    }
}

impl WatchOptions {
    /// Reads the query: a `timeoutSeconds` that is not an integer is 400 (the parameter codec's
    /// error); option combinations the validation forbids are 422 `ListOptions.meta.k8s.io ""
    /// is invalid`.
    pub fn parse(query: &str) -> Result<WatchOptions, (u16, String)> {
        let timeout_seconds = match query_param(query, "timeoutSeconds") {
            None => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    let body = raw.strip_prefix(['+', '-']).unwrap_or(&raw);
                    let digits = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit());
                    return Err(status::bad_request(&format!(
                        "strconv.ParseInt: parsing {}: {}",
                        status::go_quote(&raw),
                        strconv_reason(digits)
                    )));
                }
            },
        };
        let mut options = WatchOptions {
            resource_version: query_param(query, "resourceVersion").unwrap_or_default(),
            resource_version_match: query_param(query, "resourceVersionMatch").unwrap_or_default(),
            send_initial_events: query_param(query, "sendInitialEvents").map(|v| go_bool(&v)),
            allow_watch_bookmarks: query_param(query, "allowWatchBookmarks")
                .is_some_and(|v| go_bool(&v)),
            timeout_seconds,
        };
        // SetListOptionsDefaults: a watch from "" or "0" that says nothing else gets the
        // initial events the WatchList way.
        if options.send_initial_events.is_none()
            && options.resource_version_match.is_empty()
            && (options.resource_version.is_empty() || options.resource_version == "0")
        {
            options.send_initial_events = Some(true);
            options.resource_version_match = "NotOlderThan".into();
        }
        let causes = options.violations(&query_param(query, "continue").unwrap_or_default());
        if causes.is_empty() {
            Ok(options)
        } else {
            Err(status::invalid("ListOptions", "meta.k8s.io", "", &causes))
        }
    }

    /// `validateWatchOptions`, in its order.
    fn violations(&self, continue_token: &str) -> Vec<Cause> {
        const FIELD: &str = "resourceVersionMatch";
        let matched = self.resource_version_match.as_str();
        let mut causes = Vec::new();
        if self.send_initial_events.is_some() && matched != "NotOlderThan" {
            causes.push(Cause::forbidden(
                FIELD,
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !matched.is_empty() {
            if self.send_initial_events.is_none() {
                causes.push(Cause::forbidden(
                    FIELD,
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if matched != "NotOlderThan" {
                causes.push(Cause::not_supported(
                    FIELD,
                    &status::go_quote(matched),
                    &["NotOlderThan"],
                ));
            }
            if !continue_token.is_empty() {
                causes.push(Cause::forbidden(
                    FIELD,
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
        causes
    }

    /// The resourceVersion as the storage layer parses it (`ParseResourceVersion`): "" and "0"
    /// are 0; anything but an unsigned decimal is the 500 kube-apiserver 1.32 answers.
    pub fn requested_revision(&self) -> Result<u64, (u16, String)> {
        let raw = self.resource_version.as_str();
        if raw.is_empty() || raw == "0" {
            return Ok(0);
        }
        let digits = raw.bytes().all(|b| b.is_ascii_digit());
        match raw.parse::<u64>() {
            Ok(n) if digits => Ok(n),
            _ => {
                let quoted = status::go_quote(raw);
                Err(status::internal_unknown(&format!(
                    "resourceVersion: Invalid value: {quoted}: strconv.ParseUint: parsing {quoted}: {}",
                    strconv_reason(digits)
                )))
            }
        }
    }

    /// When the watch ends.
    pub(super) fn deadline(&self, now: Instant) -> Instant {
        match self.timeout_seconds {
            // A deadline past what the clock can hold is no deadline at all.
            Some(n) if n > 0 => now
                .checked_add(Duration::from_secs(n.unsigned_abs()))
                .unwrap_or_else(|| now + Duration::from_secs(FAR_FUTURE_SECONDS)),
            // Go's context deadline in the past: the watch ends at once.
            Some(n) if n < 0 => now,
            _ => {
                let mut b = [0u8; 2];
                crate::meta::fill_random(&mut b);
                let share = f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX);
                now + MIN_REQUEST_TIMEOUT.mul_f64(1.0 + share)
            }
        }
    }
}
