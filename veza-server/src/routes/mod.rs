pub mod admin;
pub mod auth;
pub mod credentials;
pub mod internal;
pub mod ops;
pub mod search;
pub mod track_media;
pub mod tracks;
pub mod two_factor;
pub mod uploads;
pub mod users;

use axum::http::HeaderValue;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
const HTTP_DATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// `at` as an HTTP date header value (`Last-Modified`, `Upload-Expires`, …); `None` for a
/// date the format cannot write.
pub(crate) fn http_date(at: OffsetDateTime) -> Option<HeaderValue> {
    let text = at.to_offset(time::UtcOffset::UTC).format(HTTP_DATE).ok()?;
    HeaderValue::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates_are_imf_fixdates() {
        let at = time::OffsetDateTime::from_unix_timestamp(784_111_777).unwrap();
        assert_eq!(super::http_date(at).unwrap(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
