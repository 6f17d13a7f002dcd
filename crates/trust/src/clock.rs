//! The lab clock: the one time every guard, badge check and rustls handshake in the lab reads.
//!
//! Certificates fail on dates, so a lab that teaches certificate failures must be able to move
//! time: "a year passes" is `clock.advance(Duration::days(365))`, not a year of waiting. Every
//! component gets a clone of the same [`LabClock`]; moving one moves them all.
//!
//! The clock has two modes:
//!
//! - **real** (the default): real UTC time plus an offset. [`LabClock::advance`] grows the
//!   offset, and [`LabClock::set`] picks the offset that makes "now" read the given time; the
//!   clock keeps ticking from there.
//! - **fixed** ([`LabClock::fixed`]): time stands still until the lab moves it. Tests use this so
//!   that the texts they assert (`current time 2026-04-24T10:14:23Z is after …`) are exact.

use std::sync::{Arc, Mutex, MutexGuard};

use rustls::time_provider::TimeProvider;
use rustls_pki_types::UnixTime;
use time::{Duration, OffsetDateTime, UtcOffset};

/// The last second the calendar holds: a clock moved past it stops there.
const MAX_TIME: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59 UTC);

/// The lab's shared clock. Cheap to clone: clones share one time.
#[derive(Clone, Debug, Default)]
pub struct LabClock {
    mode: Arc<Mutex<Mode>>,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Real time, shifted by `offset`.
    Real { offset: Duration },
    /// Time stands still at this instant until set or advanced.
    Fixed(OffsetDateTime),
}

impl Default for Mode {
    fn default() -> Self {
        Mode::Real {
            offset: Duration::ZERO,
        }
    }
}

impl LabClock {
    /// A clock that follows real time.
    pub fn real() -> Self {
        Self::default()
    }

    /// A clock that stands still at `at` until [`set`](Self::set) or [`advance`](Self::advance)
    /// moves it.
    pub fn fixed(at: OffsetDateTime) -> Self {
        LabClock {
            mode: Arc::new(Mutex::new(Mode::Fixed(at.to_offset(UtcOffset::UTC)))),
        }
    }

    /// The lab's "now", in UTC.
    pub fn now(&self) -> OffsetDateTime {
        match *self.lock() {
            Mode::Real { offset } => {
                OffsetDateTime::now_utc()
                    .checked_add(offset)
                    .unwrap_or(if offset.is_negative() {
                        OffsetDateTime::UNIX_EPOCH
                    } else {
                        MAX_TIME
                    })
            }
            Mode::Fixed(at) => at,
        }
    }

    /// Makes "now" read `at`. A fixed clock stays fixed at `at`; a real clock keeps ticking from
    /// `at` onwards.
    pub fn set(&self, at: OffsetDateTime) {
        let at = at.to_offset(UtcOffset::UTC);
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Real { .. } => Mode::Real {
                offset: at - OffsetDateTime::now_utc(),
            },
            Mode::Fixed(_) => Mode::Fixed(at),
        };
    }

    /// Moves time by `by` (negative moves it back): a year passes in one call.
    pub fn advance(&self, by: Duration) {
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Real { offset } => Mode::Real {
                offset: offset.saturating_add(by),
            },
            // A jump past the end of the calendar stops at its last second.
            Mode::Fixed(at) => Mode::Fixed(at.checked_add(by).unwrap_or(if by.is_negative() {
                OffsetDateTime::UNIX_EPOCH
            } else {
                MAX_TIME
            })),
        };
    }

    /// Whether time stands still (see [`LabClock::fixed`]).
    pub fn is_fixed(&self) -> bool {
        matches!(*self.lock(), Mode::Fixed(_))
    }

    fn lock(&self) -> MutexGuard<'_, Mode> {
        // The mode is plain data that is always written whole, so a panic elsewhere while the lock
        // was held cannot leave it half-updated: a poisoned lock is still safe to read.
        self.mode
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// rustls asks this for the time when it checks a peer's certificate dates, so a handshake in
/// the lab expires badges on the lab's calendar, not the machine's.
impl TimeProvider for LabClock {
    fn current_time(&self) -> Option<UnixTime> {
        let seconds = u64::try_from(self.now().unix_timestamp()).ok()?;
        Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            seconds,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn advancing_a_fixed_clock_by_a_year_moves_now_by_a_year() {
        let clock = LabClock::fixed(datetime!(2026-04-23 16:42:11 UTC));
        clock.advance(Duration::days(365));
        assert_eq!(clock.now(), datetime!(2027-04-23 16:42:11 UTC));
    }

    #[test]
    fn advancing_a_real_clock_by_a_year_moves_now_by_a_year() {
        let clock = LabClock::real();
        let before = OffsetDateTime::now_utc();
        clock.advance(Duration::days(365));
        let moved = clock.now() - before;
        assert!(moved >= Duration::days(365), "moved only {moved}");
        assert!(
            moved < Duration::days(365) + Duration::minutes(1),
            "moved {moved}"
        );
    }

    #[test]
    fn set_then_advance_reads_the_set_time_plus_the_advance() {
        let clock = LabClock::fixed(datetime!(2020-01-01 00:00:00 UTC));
        clock.set(datetime!(2026-04-24 10:14:23 UTC));
        clock.advance(Duration::hours(2));
        assert_eq!(clock.now(), datetime!(2026-04-24 12:14:23 UTC));
    }

    #[test]
    fn a_real_clock_that_was_set_keeps_ticking_from_the_set_time() {
        let clock = LabClock::real();
        clock.set(datetime!(2030-06-01 00:00:00 UTC));
        clock.advance(Duration::days(1));
        let drift = clock.now() - datetime!(2030-06-02 00:00:00 UTC);
        assert!(!clock.is_fixed());
        assert!(
            drift >= Duration::ZERO && drift < Duration::minutes(1),
            "drift {drift}"
        );
    }

    #[test]
    fn clones_share_one_time() {
        let clock = LabClock::fixed(datetime!(2026-01-01 00:00:00 UTC));
        let guard = clock.clone();
        clock.advance(Duration::days(30));
        assert_eq!(guard.now(), datetime!(2026-01-31 00:00:00 UTC));
    }

    #[test]
    fn rustls_reads_the_lab_time() {
        let clock = LabClock::fixed(datetime!(2026-04-24 10:14:23 UTC));
        let unix = clock.current_time().expect("after 1970");
        assert_eq!(unix.as_secs(), 1_777_025_663);
    }

    #[test]
    fn non_utc_input_reads_back_in_utc() {
        let clock = LabClock::fixed(datetime!(2026-04-24 12:14:23 +02:00));
        assert_eq!(clock.now().offset(), UtcOffset::UTC);
        assert_eq!(clock.now(), datetime!(2026-04-24 10:14:23 UTC));
    }
}
