//! The one duration type of every kubecert flag (`--warn-within`, `--valid-for`, `--ttl`,
//! `--timeout`, ...) and of kubecert's config: one grammar, bounded, checked where it meets a date.
//!
//! Grammar (Go's `time.ParseDuration` as kubeadm's `--ttl` takes it, plus `d` for days): one or more
//! `<digits><unit>` with units `ms`, `s`, `m`, `h`, `d` — `90s`, `15m`, `2h30m`, `30d`. A bare
//! number is refused (is `2` seconds or days?), except `0`. At most [`Duration::MAX`] (100 years),
//! so converting to `time::Duration` or `std::time::Duration` never fails and adding it to any date
//! kubecert meets is checked, never a panic.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A non-negative duration of whole milliseconds, at most [`Duration::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not in the grammar.
    #[error("{0:?} is not a duration: use a number and a unit, e.g. 90s, 15m, 2h, 30d or 1h30m (units ms, s, m, h, d)")]
    Syntax(String),
    /// Beyond the bound.
    #[error("{0:?} is too long a duration: at most 36500d (100 years)")]
    TooLarge(String),
    /// Zero where a positive duration is needed.
    #[error("the duration must be above zero")]
    Zero,
    /// A date plus the duration falls outside the representable calendar.
    #[error("{0} from {1} is beyond the calendar kubecert can represent")]
    OutOfRange(Duration, String),
}

const MS_PER: [(&str, u64); 5] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];

impl Duration {
    /// The longest duration accepted: 100 years of 365 days.
    pub const MAX: Duration = Duration { millis: 36_500 * 86_400_000 };
    /// Zero.
    pub const ZERO: Duration = Duration { millis: 0 };

    /// `n` seconds, if within the bound.
    pub fn from_secs(n: u64) -> Option<Duration> {
        n.checked_mul(1_000).map(|millis| Duration { millis }).filter(|d| *d <= Duration::MAX)
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.millis == 0
    }

    /// Whole seconds.
    pub fn whole_seconds(self) -> u64 {
        self.millis / 1_000
    }

    /// As a `std::time::Duration` (for timeouts).
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }

    /// As a `time::Duration` (for dates). Exact: the bound fits an `i64` of seconds many times over.
    pub fn as_time(self) -> time::Duration {
        time::Duration::milliseconds(i64::try_from(self.millis).unwrap_or(i64::MAX))
    }

    /// `t + self`, checked.
    pub fn after(self, t: time::OffsetDateTime) -> Result<time::OffsetDateTime, DurationError> {
        t.checked_add(self.as_time()).ok_or_else(|| DurationError::OutOfRange(self, t.to_string()))
    }

    /// `t - self`, checked.
    pub fn before(self, t: time::OffsetDateTime) -> Result<time::OffsetDateTime, DurationError> {
        t.checked_sub(self.as_time()).ok_or_else(|| DurationError::OutOfRange(self, t.to_string()))
    }

    /// Parses a duration that must be above zero (timeouts, lifetimes).
    pub fn parse_positive(s: &str) -> Result<Duration, DurationError> {
        let d: Duration = s.parse()?;
        if d.is_zero() { Err(DurationError::Zero) } else { Ok(d) }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Duration, DurationError> {
        let t = s.trim();
        if t == "0" {
            return Ok(Duration::ZERO);
        }
        let syntax = || DurationError::Syntax(t.chars().take(64).collect());
        let too_large = || DurationError::TooLarge(t.chars().take(64).collect());
        let mut rest = t;
        let mut total: u64 = 0;
        if rest.is_empty() {
            return Err(syntax());
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits == 0 {
                return Err(syntax());
            }
            // More digits than any bounded duration has: too large, not a parse error.
            let n: u64 = if digits > 15 { return Err(too_large()) } else { rest[..digits].parse().map_err(|_| syntax())? };
            rest = &rest[digits..];
            let (unit, per) = MS_PER.iter().rev().find(|(u, _)| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms"))).ok_or_else(syntax)?;
            rest = &rest[unit.len()..];
            total = n.checked_mul(*per).and_then(|v| total.checked_add(v)).ok_or_else(too_large)?;
            if total > Duration::MAX.millis {
                return Err(too_large());
            }
        }
        Ok(Duration { millis: total })
    }
}

impl fmt::Display for Duration {
    /// The canonical spelling, e.g. `1d2h30m` (`0s` for zero); parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut left = self.millis;
        for (unit, per) in MS_PER.iter().rev() {
            let n = left / per;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                left -= n * per;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_bounds_and_round_trip() {
        for (s, secs) in [("90s", 90), ("15m", 900), ("2h", 7200), ("30d", 2_592_000), ("1h30m", 5400), ("0", 0), ("36500d", 3_153_600_000)] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d.whole_seconds(), secs, "{s}");
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
        assert_eq!("500ms".parse::<Duration>().unwrap().as_std(), std::time::Duration::from_millis(500));
        for bad in ["", "2", "d", "1x", "-5d", "1.5h", "5 d", "h1", "1y"] {
            assert!(matches!(bad.parse::<Duration>(), Err(DurationError::Syntax(_))), "{bad}");
        }
        for big in ["36501d", "999999999999999d", "9223372036854775807s", "99999999999999999999d", "18446744073709551615ms"] {
            assert!(matches!(big.parse::<Duration>(), Err(DurationError::TooLarge(_))), "{big}");
        }
        assert_eq!(Duration::parse_positive("0s"), Err(DurationError::Zero));
        let far = time::OffsetDateTime::new_utc(time::Date::from_calendar_date(9990, time::Month::January, 1).unwrap(), time::Time::MIDNIGHT);
        assert!(Duration::MAX.after(far).is_err());
        assert!(Duration::MAX.after(time::OffsetDateTime::now_utc()).is_ok());
        assert_eq!(serde_json::to_string(&Duration::from_secs(90).unwrap()).unwrap(), "\"1m30s\"");
    }
}
