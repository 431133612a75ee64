//! An injectable clock, so tests can move time forward (payment and OTP expiry).

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Date, OffsetDateTime};

use crate::{domain::Locale, i18n::Tr};

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

/// The Istanbul calendar day `date` as `[from, to)` in unix milliseconds.
pub fn istanbul_day_bounds(date: Date) -> (i64, i64) {
    let offset = time::UtcOffset::from_hms(3, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let start = date.midnight().assume_offset(offset);
    let ms = |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    (ms(start), ms(start + time::Duration::days(1)))
}

/// `YYYY-MM-DD`, strictly, from 2000 to 9998 (a day whose end is a day too).
pub fn parse_day(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    (s.len() == 10)
        .then(|| Date::parse(s, &format).ok())
        .flatten()
        .filter(|d| (2000..=9998).contains(&d.year()))
}

/// Istanbul has been UTC+3 all year since 2016; contracts show its local date.
/// RFC 3339 UTC time of a unix-milliseconds timestamp (`2026-11-30T10:48:26.512Z`).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub fn istanbul_day(ms: i64) -> Date {
    let t = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        + time::Duration::hours(3);
    t.date()
}

/// The Istanbul date of `ms` as the locale writes it: `29.11.2026`, `29 November 2026`.
pub fn istanbul_date(ms: i64, locale: Locale) -> String {
    Tr::new(locale).date(istanbul_day(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-28 21:30 UTC, already the 29th in Istanbul.
    const LATE_EVENING_UTC: i64 = 1_795_901_400_000;

    #[test]
    fn dates_are_istanbul_days_written_per_locale() {
        assert_eq!(
            istanbul_day(LATE_EVENING_UTC),
            time::macros::date!(2026 - 11 - 29)
        );
        assert_eq!(istanbul_date(LATE_EVENING_UTC, Locale::Tr), "29.11.2026");
        assert_eq!(
            istanbul_date(LATE_EVENING_UTC, Locale::En),
            "29 November 2026"
        );
        // Single-digit days and months: padded in Turkish, not in English.
        let new_year = 1_767_225_600_000; // 2026-01-01 00:00 UTC
        assert_eq!(istanbul_date(new_year, Locale::Tr), "01.01.2026");
        assert_eq!(istanbul_date(new_year, Locale::En), "1 January 2026");
    }
}
