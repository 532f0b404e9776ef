//! Extractors that turn requests into core inputs and every rejection into a problem.

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use serde::Deserialize;
use std::net::SocketAddr;
use utoipa::IntoParams;
use veza_core::auth::{ClientInfo, Principal};
use veza_core::pagination::{PageError, PageRequest};

use crate::AppState;
use crate::cookies;
use crate::problem::Problem;

/// `axum::Json` whose rejections (bad JSON, wrong types, unknown fields, too large, wrong
/// content type) are problem responses.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct Body<T>(pub T);

/// `axum::extract::Query` with problem rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` whose rejection is 404 (a malformed id names nothing).
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct Path<T>(pub T);

/// `?limit=&cursor=` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–100, default 20.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, PageError> {
        PageRequest::parse(self.limit, self.cursor.as_deref())
    }
}

/// The caller, from `Authorization: Bearer <access token>`, or else from the `veza_session`
/// cookie, which on unsafe methods must come with a matching `X-CSRF-Token` (`cookies.rs`).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            let Some(token) = cookies::cookie(&parts.headers, cookies::SESSION_COOKIE) else {
                return Err(Problem::unauthorized(
                    "unauthenticated",
                    "Send an access token: Authorization: Bearer <token>.",
                ));
            };
            // Checked first: a forged cross-site request costs no session lookup.
            if !cookies::is_safe(&parts.method) && !cookies::csrf_matches(&parts.headers) {
                return Err(Problem::csrf_failed());
            }
            return Ok(Self(state.services.auth.authenticate(token).await?));
        };
        let token = bearer_token(value)
            .ok_or_else(|| Problem::from(veza_core::auth::AuthError::InvalidToken))?;
        Ok(Self(state.services.auth.authenticate(token).await?))
    }
}

impl OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Problem> {
        if parts.headers.contains_key(AUTHORIZATION)
            || cookies::cookie(&parts.headers, cookies::SESSION_COOKIE).is_some()
        {
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Peer address and user agent, kept on sessions. The peer is the TCP peer: behind a proxy
/// it is the proxy (forwarded headers are not trusted).
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip());
        let user_agent =
            parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self(ClientInfo { ip, user_agent }))
    }
}

/// The token of an `Authorization: Bearer <token>` value; `None` for another scheme or an
/// empty token.
pub fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    (!token.is_empty()).then_some(token)
}
