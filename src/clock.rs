//! An injectable clock, so tests can move time forward (payment and OTP expiry).

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    fn now_ms(&self) -> i64 {
        (self.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    fn now_secs(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The system clock plus an adjustable offset: tests advance it to reach deadlines.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_secs: AtomicI64,
}

impl OffsetClock {
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }
}

/// Istanbul has been UTC+3 all year since 2016; contracts show its local date.
pub fn istanbul_date(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        + time::Duration::hours(3);
    format!("{:02}.{:02}.{}", t.day(), u8::from(t.month()), t.year())
}
