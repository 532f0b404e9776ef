//! Browser sessions in cookies, for web clients that should not keep tokens where scripts can
//! read them. A sign-in with `"cookie": true` sets three cookies besides the usual body:
//!
//! - `veza_session`: the access token. HttpOnly, `SameSite=Lax`, `Path=/`, and it lives as
//!   long as the token (15 min), so an expired session is simply absent.
//! - `veza_refresh`: the refresh token. HttpOnly, `SameSite=Strict`, and `Path` is the refresh
//!   endpoint alone, so it travels with no other request. `POST /auth/refresh` with no
//!   `refresh_token` in the body uses it and sets fresh cookies.
//! - `veza_csrf`: 256 random bits scripts read (not HttpOnly) and echo in `X-CSRF-Token`.
//!
//! All carry `Secure` when the server is reached over HTTPS. A request authenticated by the
//! session cookie (or refreshing by the refresh cookie) with an unsafe method must echo the
//! CSRF cookie in the header (double submit, compared in constant time): a cross-site page can
//! make the browser send the cookies but cannot read them to write the header. Bearer
//! requests need no CSRF token: a cross-site page cannot set `Authorization`.

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponseParts, ResponseParts};
use std::convert::Infallible;
use subtle::ConstantTimeEq;
use veza_core::auth::{AuthService, TokenPair};

use crate::AppState;

pub const SESSION_COOKIE: &str = "veza_session";
pub const REFRESH_COOKIE: &str = "veza_refresh";
pub const CSRF_COOKIE: &str = "veza_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where the refresh cookie is sent; nowhere else.
const REFRESH_PATH: &str = "/api/v1/auth/refresh";
/// No token or CSRF value we issue is longer; a longer cookie is not reused.
const MAX_CSRF_LEN: usize = 128;

/// The value of the first cookie called `name`, unless empty (a cleared cookie).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Methods that change nothing (RFC 9110 §9.2.1) need no CSRF token.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// Whether the `X-CSRF-Token` header equals the `veza_csrf` cookie, both present; callers
/// answer `Problem::csrf_failed` (403) when not.
pub fn csrf_matches(headers: &HeaderMap) -> bool {
    let expected = cookie(headers, CSRF_COOKIE);
    let presented = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
    matches!((expected, presented), (Some(expected), Some(presented))
        if bool::from(expected.as_bytes().ct_eq(presented)))
}

/// `Set-Cookie` headers to add to a response; none by default.
#[derive(Debug, Default)]
pub struct SetCookies(Vec<HeaderValue>);

impl SetCookies {
    pub fn none() -> Self {
        Self::default()
    }

    /// The three cookies of a browser session. `csrf` is the caller's current value when it
    /// refreshes (other tabs keep using it); a sign-in gets a new one.
    pub fn session(state: &AppState, tokens: &TokenPair, csrf: Option<&str>) -> Self {
        let config = state.services.auth.config();
        let (access_ttl, refresh_ttl) =
            (config.access_ttl.whole_seconds(), config.refresh_ttl.whole_seconds());
        let csrf = csrf
            .filter(|value| is_token_like(value))
            .map_or_else(AuthService::generate_secret, str::to_owned);
        let secure = state.secure_cookies;
        Self(vec![
            set_cookie(SESSION_COOKIE, &tokens.access_token, "/", access_ttl, true, "Lax", secure),
            set_cookie(
                REFRESH_COOKIE,
                &tokens.refresh_token,
                REFRESH_PATH,
                refresh_ttl,
                true,
                "Strict",
                secure,
            ),
            set_cookie(CSRF_COOKIE, &csrf, "/", refresh_ttl, false, "Lax", secure),
        ])
    }

    /// Expires all three cookies (logout).
    pub fn cleared(state: &AppState) -> Self {
        let secure = state.secure_cookies;
        Self(vec![
            set_cookie(SESSION_COOKIE, "", "/", 0, true, "Lax", secure),
            set_cookie(REFRESH_COOKIE, "", REFRESH_PATH, 0, true, "Strict", secure),
            set_cookie(CSRF_COOKIE, "", "/", 0, false, "Lax", secure),
        ])
    }
}

impl IntoResponseParts for SetCookies {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Infallible> {
        for value in self.0 {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
        Ok(res)
    }
}

/// What our tokens are made of (base64url and JWT dots): safe as a cookie value unquoted.
fn is_token_like(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CSRF_LEN
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let mut cookie =
        format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite={same_site}");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::try_from(cookie).expect("cookie values we issue are visible ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn cookies_are_found_across_headers_and_empty_ones_are_absent() {
        let map = headers(&[
            ("cookie", "a=1; veza_csrf=; other=x"),
            ("cookie", "veza_session=tok.en.sig"),
        ]);
        assert_eq!(cookie(&map, "veza_session"), Some("tok.en.sig"));
        assert_eq!(cookie(&map, "a"), Some("1"));
        assert_eq!(cookie(&map, "veza_csrf"), None);
        assert_eq!(cookie(&map, "missing"), None);
    }

    #[test]
    fn the_csrf_header_must_equal_the_csrf_cookie() {
        let ok = headers(&[("cookie", "veza_csrf=abc"), ("x-csrf-token", "abc")]);
        assert!(csrf_matches(&ok));
        for bad in [
            headers(&[("cookie", "veza_csrf=abc")]),
            headers(&[("x-csrf-token", "abc")]),
            headers(&[("cookie", "veza_csrf=abc"), ("x-csrf-token", "abd")]),
            headers(&[("cookie", "veza_csrf=abc"), ("x-csrf-token", "abcd")]),
            headers(&[("cookie", "veza_csrf="), ("x-csrf-token", "")]),
        ] {
            assert!(!csrf_matches(&bad));
        }
    }
}
