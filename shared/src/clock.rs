//! Wall-clock time as a seam: [`SystemClock`] in Lambda, [`ManualClock`] (testing feature) where tests and the
//! chaos run move time themselves. Rules run on event time; leases and TTLs need the wall clock.

use chrono::{DateTime, Utc};

/// Wall-clock time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told; clones share one time.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone)]
pub struct ManualClock(std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(start)))
    }

    /// At an RFC 3339 time; panics on a bad literal (tests only).
    pub fn at(rfc3339: &str) -> Self {
        Self::new(crate::model::time::parse(rfc3339).unwrap_or_else(|| panic!("bad time {rfc3339}")))
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
