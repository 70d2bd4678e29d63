//! Time, in one place: the current time for decisions and records, and RFC 3339 for display.
//!
//! Unit tests replace the clock of their own thread with [`freeze`], so a test of expiry, refresh
//! or a step-up window says what time it is instead of racing the real one. Release builds have
//! no seam at all: `now` is `SystemTime::now`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(test)]
thread_local! {
    static FROZEN: std::cell::Cell<Option<SystemTime>> = const { std::cell::Cell::new(None) };
}

/// The current time.
#[must_use]
pub fn now() -> SystemTime {
    #[cfg(test)]
    if let Some(t) = FROZEN.with(std::cell::Cell::get) {
        return t;
    }
    SystemTime::now()
}

/// The current time in whole seconds since the Unix epoch (the unit of JWT `exp`/`iat`).
#[must_use]
pub fn now_unix() -> u64 {
    unix(now())
}

/// Seconds since the Unix epoch (0 for a time before it).
#[must_use]
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The last second RFC 3339 can show (9999-12-31T23:59:59Z). Times from outside (`exp`,
/// `expires_in`) are clamped to it, so no later arithmetic or display can overflow.
pub const MAX_UNIX: u64 = 253_402_300_799;

/// `secs` after `unix`, clamped to [`MAX_UNIX`] (a provider's `expires_in` may be anything).
#[must_use]
pub fn after(unix: u64, secs: u64) -> u64 {
    unix.saturating_add(secs).min(MAX_UNIX)
}

/// `unix` seconds as RFC 3339 in UTC, to the second: `2026-12-01T10:00:00Z`.
#[must_use]
pub fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix.min(MAX_UNIX)))
        .to_string()
}

/// The current time as RFC 3339 in UTC, to the millisecond (audit records).
#[must_use]
pub fn now_rfc3339_millis() -> String {
    humantime::format_rfc3339_millis(now()).to_string()
}

/// Test only: this thread's clock reads `unix` seconds until the guard is dropped.
#[cfg(test)]
#[must_use]
pub fn freeze(unix: u64) -> Frozen {
    FROZEN.with(|f| f.set(Some(UNIX_EPOCH + Duration::from_secs(unix))));
    Frozen
}

#[cfg(test)]
pub struct Frozen;

#[cfg(test)]
impl Frozen {
    /// Moves the frozen clock forward.
    #[allow(clippy::unused_self)] // taking the guard proves the clock is frozen
    pub fn advance(&self, secs: u64) {
        FROZEN.with(|f| f.set(f.get().map(|t| t + Duration::from_secs(secs))));
    }
}

#[cfg(test)]
impl Drop for Frozen {
    fn drop(&mut self) {
        FROZEN.with(|f| f.set(None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_reads_and_advances_then_thaws() {
        let frozen = freeze(1_780_000_000);
        assert_eq!(now_unix(), 1_780_000_000);
        assert_eq!(rfc3339(now_unix()), "2026-05-28T20:26:40Z");
        frozen.advance(60);
        assert_eq!(now_unix(), 1_780_000_060);
        drop(frozen);
        assert!(now_unix() > 1_780_000_060);
    }
}
