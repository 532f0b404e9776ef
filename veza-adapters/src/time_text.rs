//! Instants as fixed-width RFC 3339 text (`2026-11-30T01:02:03.000004Z`): what SQLite keeps.
//! Fixed width and UTC, so text order is time order and indexes on it work.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

pub(crate) fn format(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC).format(FORMAT).expect("every UTC instant formats")
}

pub(crate) fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    PrimitiveDateTime::parse(s, FORMAT).map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_at_microsecond_precision_and_sort_as_text() {
        let a = veza_core::clock::truncate_to_micros(OffsetDateTime::now_utc());
        let b = a + time::Duration::microseconds(1);
        assert_eq!(parse(&format(a)).unwrap(), a);
        assert!(format(a) < format(b));
        assert_eq!(format(OffsetDateTime::UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    }
}
