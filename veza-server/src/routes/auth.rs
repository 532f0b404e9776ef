//! `/api/v1/auth`: sign-up, sign-in, tokens and sessions, by bearer token or browser cookies
//! (`cookies.rs`). Handlers translate; the core decides.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use veza_core::auth::{AuthError, LoginOutcome, Register, TokenPair};
use veza_core::pagination::Page;
use veza_core::users::User;

use crate::AppState;
use crate::cookies::{self, SetCookies};
use crate::extract::{Authenticated, Body, Client, PageQuery, Path, Query};
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(me))
        .routes(routes!(chat_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    email: String,
    username: String,
    /// At least 12 characters, not a common password, not containing the username or e-mail.
    password: String,
    display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// E-mail or username.
    login: String,
    password: String,
    /// Also set the browser-session cookies (`veza_session`, `veza_refresh`, `veza_csrf`).
    cookie: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// Omit it to refresh from the `veza_refresh` cookie (then `X-CSRF-Token` is required
    /// and fresh cookies are set).
    refresh_token: Option<String>,
}

/// The caller's own account: unlike a public profile, it includes e-mail and role.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    id: Uuid,
    email: String,
    username: String,
    display_name: String,
    role: String,
    email_verified: bool,
    two_factor_enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<&User> for MeView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.as_str().to_owned(),
            username: user.username.as_str().to_owned(),
            display_name: user.display_name.as_str().to_owned(),
            role: user.role.as_str().to_owned(),
            email_verified: user.email_verified,
            two_factor_enabled: user.two_factor_enabled,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    user: MeView,
    access_token: String,
    /// Opaque; single use: each refresh returns a new one and kills this one.
    refresh_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
}

impl AuthResponse {
    pub(crate) fn new(user: &User, tokens: TokenPair) -> Self {
        Self {
            user: user.into(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
        }
    }
}

/// The password was right; the account wants its second factor. No tokens yet: send the
/// challenge token with a code to `POST /auth/2fa/verify` within five minutes.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorChallengeView {
    /// Always `true`.
    two_factor_required: bool,
    challenge_token: String,
}

/// A sign-in, or the request for its second factor.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    SignedIn(AuthResponse),
    TwoFactorRequired(TwoFactorChallengeView),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_used_at: OffsetDateTime,
    user_agent: Option<String>,
    ip: Option<String>,
    /// `true` for the session of the token that made this request.
    current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    items: Vec<SessionView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatTokenView {
    /// HS256 JWT with `aud: veza-chat`.
    token: String,
    expires_in: i64,
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/register", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, body = AuthResponse),
        (status = 400, body = Problem), (status = 409, body = Problem, description = "email_taken or username_taken"),
        (status = 422, body = Problem, description = "validation_failed or weak_password"),
    ))]
async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<RegisterBody>,
) -> Result<(StatusCode, Json<AuthResponse>), Problem> {
    let cmd = Register {
        email: body.email,
        username: body.username,
        password: body.password,
        display_name: body.display_name,
    };
    let (user, tokens) = state.services.auth.register(cmd, &client).await?;
    Ok((StatusCode::CREATED, Json(AuthResponse::new(&user, tokens))))
}

/// Sign in with e-mail or username.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, body = LoginResponse, description = "tokens, or `two_factor_required` with a challenge token"),
        (status = 401, body = Problem, description = "invalid_credentials"),
        (status = 403, body = Problem, description = "account_suspended"),
        (status = 429, body = Problem, description = "rate_limited, with Retry-After"),
    ))]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<LoginBody>,
) -> Result<(SetCookies, Json<LoginResponse>), Problem> {
    let cmd = veza_core::auth::Login { login: body.login, password: body.password };
    match state.services.auth.login(cmd, &client).await? {
        LoginOutcome::SignedIn { user, tokens } => {
            let cookies = if body.cookie == Some(true) {
                SetCookies::session(&state, &tokens, None)
            } else {
                SetCookies::none()
            };
            Ok((cookies, Json(LoginResponse::SignedIn(AuthResponse::new(&user, tokens)))))
        }
        LoginOutcome::TwoFactorRequired { challenge_token } => {
            let challenge = TwoFactorChallengeView { two_factor_required: true, challenge_token };
            Ok((SetCookies::none(), Json(LoginResponse::TwoFactorRequired(challenge))))
        }
    }
}

/// Trade a refresh token for a new token pair.
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshBody,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, body = Problem, description = "invalid_refresh_token, or refresh_token_reused (the session is revoked)"),
        (status = 403, body = Problem, description = "csrf_failed: refreshing from the cookie without X-CSRF-Token"),
    ))]
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Body(body): Body<RefreshBody>,
) -> Result<(SetCookies, Json<AuthResponse>), Problem> {
    if let Some(refresh_token) = body.refresh_token {
        let (user, tokens) = state.services.auth.refresh(&refresh_token, &client).await?;
        return Ok((SetCookies::none(), Json(AuthResponse::new(&user, tokens))));
    }
    let refresh_token =
        cookies::cookie(&headers, cookies::REFRESH_COOKIE).ok_or(AuthError::InvalidRefreshToken)?;
    if !cookies::csrf_matches(&headers) {
        return Err(Problem::csrf_failed());
    }
    let (user, tokens) = state.services.auth.refresh(refresh_token, &client).await?;
    let csrf = cookies::cookie(&headers, cookies::CSRF_COOKIE);
    let cookies = SetCookies::session(&state, &tokens, csrf);
    Ok((cookies, Json(AuthResponse::new(&user, tokens))))
}

/// End the current session; expires the session cookies if any.
#[utoipa::path(post, path = "/logout", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem, description = "csrf_failed")))]
async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<(SetCookies, StatusCode), Problem> {
    state.services.auth.logout(&principal, &client).await?;
    Ok((SetCookies::cleared(&state), StatusCode::NO_CONTENT))
}

/// End every session and reject every access token already issued; expires the session
/// cookies if any.
#[utoipa::path(post, path = "/logout-all", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem, description = "csrf_failed")))]
async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<(SetCookies, StatusCode), Problem> {
    state.services.auth.logout_all(&principal, &client).await?;
    Ok((SetCookies::cleared(&state), StatusCode::NO_CONTENT))
}

/// The caller's active sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "auth", security(("bearer" = []), ("session_cookie" = [])), params(PageQuery),
    responses((status = 200, body = SessionList), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_sessions(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<PageQuery>,
) -> Result<Json<SessionList>, Problem> {
    let Page { items, next_cursor } =
        state.services.auth.sessions(&principal, query.page()?).await?;
    let items = items
        .into_iter()
        .map(|s| SessionView {
            current: s.id == principal.session_id,
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(Json(SessionList { items, next_cursor }))
}

/// Revoke one of the caller's sessions.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem, description = "csrf_failed"), (status = 404, body = Problem)))]
async fn revoke_session(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    state.services.auth.revoke_session(&principal, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/me", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    responses((status = 200, body = MeView), (status = 401, body = Problem)))]
async fn me(Authenticated(principal): Authenticated) -> Json<MeView> {
    Json((&principal.user).into())
}

/// A 5-minute token for the chat server.
#[utoipa::path(post, path = "/chat/token", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    responses((status = 200, body = ChatTokenView), (status = 401, body = Problem), (status = 403, body = Problem, description = "csrf_failed")))]
async fn chat_token(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<ChatTokenView>, Problem> {
    let chat = state.services.auth.chat_token(&principal)?;
    Ok(Json(ChatTokenView { token: chat.token, expires_in: chat.expires_in }))
}
