//! The API server's clock against ours: the `Date` header of a `GET /version`, compared with the
//! midpoint of the request. `Date` has one-second resolution, so skews under 2 s are noise.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// Skew at or above this is reported as a problem.
pub(crate) const TOLERANCE_SECONDS: i64 = 5;

/// The measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clock {
    /// The server's time (from `Date`).
    #[serde(with = "time::serde::rfc3339")]
    pub server: OffsetDateTime,
    /// Local time at the request's midpoint.
    #[serde(with = "time::serde::rfc3339")]
    pub local: OffsetDateTime,
    /// server − local, in seconds (positive: the server is ahead).
    pub skew_seconds: i64,
    /// `|skew| >= TOLERANCE_SECONDS`.
    pub skewed: bool,
}

/// Why the clock could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ClockError {
    /// The request failed.
    #[error("GET /version: {0}")]
    Request(String),
    /// No usable Date header.
    #[error("the API server sent no parsable Date header")]
    NoDate,
}

/// Measures the skew.
pub(crate) async fn measure(client: &kube::Client) -> Result<Clock, ClockError> {
    let req = http::Request::get("/version").body(kube::client::Body::from(Vec::new())).map_err(|e| ClockError::Request(e.to_string()))?;
    let before = OffsetDateTime::now_utc();
    let res = client.send(req).await.map_err(|e| ClockError::Request(crate::error::describe(&e)))?;
    let after = OffsetDateTime::now_utc();
    let date = res.headers().get(http::header::DATE).and_then(|v| v.to_str().ok()).ok_or(ClockError::NoDate)?;
    // RFC 7231's IMF-fixdate ("Tue, 25 Nov 2026 12:00:00 GMT") is valid RFC 2822.
    let server = OffsetDateTime::parse(date, &Rfc2822).map_err(|_| ClockError::NoDate)?;
    let local = before + (after - before) / 2;
    Ok(from_times(server, local))
}

/// The skew between two instants.
pub(crate) fn from_times(server: OffsetDateTime, local: OffsetDateTime) -> Clock {
    // Date is truncated to the second: compare with local truncated the same way.
    let skew_seconds = server.unix_timestamp() - local.unix_timestamp();
    Clock { server, local, skew_seconds, skewed: skew_seconds.abs() >= TOLERANCE_SECONDS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_parses_and_skew_sign() {
        let server = OffsetDateTime::parse("Wed, 25 Nov 2026 12:00:10 GMT", &Rfc2822).unwrap();
        let local = server - time::Duration::seconds(10);
        let c = from_times(server, local);
        assert_eq!((c.skew_seconds, c.skewed), (10, true));
        assert!(!from_times(server, server + time::Duration::milliseconds(900)).skewed);
    }
}
