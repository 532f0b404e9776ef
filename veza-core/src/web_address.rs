//! The rule every web address a user or a service gives shares (a profile's website, a
//! track's HLS playlist): absolute http(s) with a host, no whitespace, no credentials.

use crate::auth::FieldError;

/// Checks `value` (already trimmed and length-checked by the caller) as a web address for
/// `field`; `refusal` is the message for anything that is not one.
///
/// # Errors
/// A `FieldError` on `field`: `refusal`, or a refusal of credentials in the address.
pub(crate) fn check(field: &'static str, value: &str, refusal: &str) -> Result<(), FieldError> {
    let refuse = || FieldError::new(field, refusal);
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse());
    }
    let url = url::Url::parse(value).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(refuse());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(field, "must not contain a user name or password"));
    }
    Ok(())
}
