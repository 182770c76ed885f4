//! `MicroTime` (the API's microsecond timestamps, for Events and Leases) from `time`'s clock.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use time::OffsetDateTime;

/// `t` as a MicroTime (truncated to microseconds; the epoch if out of range).
pub(crate) fn micro_time(t: OffsetDateTime) -> MicroTime {
    let micros = i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(0);
    MicroTime(k8s_openapi::jiff::Timestamp::from_microsecond(micros).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH))
}
