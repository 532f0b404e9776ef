//! `/api/v1/auth/2fa`: set up, enable and disable TOTP two-factor authentication, and the
//! second step of a sign-in. Handlers translate; `AuthService` decides (`auth/two_factor.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::cookies::SetCookies;
use crate::extract::{Authenticated, Body, Client};
use crate::problem::Problem;
use crate::routes::auth::AuthResponse;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup))
        .routes(routes!(enable))
        .routes(routes!(verify))
        .routes(routes!(disable))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorSetupView {
    /// The shared secret, base32, for typing into an authenticator app.
    secret: String,
    /// `otpauth://totp/Veza:<email>?secret=…&issuer=Veza`, for a QR code.
    otpauth_uri: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableBody {
    /// The current 6-digit code of the secret from setup.
    code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Ten single-use codes (`ABCDE-FGHJK`), shown this once; each replaces a TOTP code.
    recovery_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// From `POST /auth/login`; valid five minutes.
    challenge_token: String,
    /// A 6-digit TOTP code or an unused recovery code.
    code: String,
    /// Also set the browser-session cookies, as login does.
    cookie: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableBody {
    password: String,
    /// A 6-digit TOTP code or an unused recovery code.
    code: String,
}

/// Draw a new TOTP secret, pending until enabled (a second call replaces it).
#[utoipa::path(post, path = "/2fa/setup", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, body = TwoFactorSetupView),
        (status = 401, body = Problem), (status = 403, body = Problem, description = "csrf_failed"),
        (status = 409, body = Problem, description = "two_factor_already_enabled"),
    ))]
async fn setup(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<TwoFactorSetupView>, Problem> {
    let setup = state.services.auth.setup_two_factor(&principal).await?;
    Ok(Json(TwoFactorSetupView { secret: setup.secret, otpauth_uri: setup.otpauth_uri }))
}

/// Turn two-factor authentication on with a code of the pending secret.
#[utoipa::path(post, path = "/2fa/enable", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    request_body = EnableBody,
    responses(
        (status = 200, body = RecoveryCodesView),
        (status = 401, body = Problem, description = "invalid_code, or not signed in"),
        (status = 403, body = Problem, description = "csrf_failed"),
        (status = 409, body = Problem, description = "two_factor_already_enabled or two_factor_setup_required"),
        (status = 429, body = Problem, description = "rate_limited, with Retry-After"),
    ))]
async fn enable(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Body(body): Body<EnableBody>,
) -> Result<Json<RecoveryCodesView>, Problem> {
    let recovery_codes =
        state.services.auth.enable_two_factor(&principal, &body.code, &client).await?;
    Ok(Json(RecoveryCodesView { recovery_codes }))
}

/// Finish a sign-in with the login's challenge token and a TOTP or recovery code.
#[utoipa::path(post, path = "/2fa/verify", tag = "auth", request_body = VerifyBody,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, body = Problem, description = "invalid_code, or invalid_challenge (forged, expired: sign in again)"),
        (status = 403, body = Problem, description = "account_suspended"),
        (status = 429, body = Problem, description = "rate_limited, with Retry-After"),
    ))]
async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<VerifyBody>,
) -> Result<(SetCookies, Json<AuthResponse>), Problem> {
    let (user, tokens) =
        state.services.auth.verify_two_factor(&body.challenge_token, &body.code, &client).await?;
    let cookies = if body.cookie == Some(true) {
        SetCookies::session(&state, &tokens, None)
    } else {
        SetCookies::none()
    };
    Ok((cookies, Json(AuthResponse::new(&user, tokens))))
}

/// Turn two-factor authentication off.
#[utoipa::path(post, path = "/2fa/disable", tag = "auth", security(("bearer" = []), ("session_cookie" = [])),
    request_body = DisableBody,
    responses(
        (status = 204),
        (status = 401, body = Problem, description = "invalid_credentials (password), invalid_code, or not signed in"),
        (status = 403, body = Problem, description = "csrf_failed"),
        (status = 409, body = Problem, description = "two_factor_not_enabled"),
        (status = 429, body = Problem, description = "rate_limited, with Retry-After"),
    ))]
async fn disable(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Body(body): Body<DisableBody>,
) -> Result<StatusCode, Problem> {
    state.services.auth.disable_two_factor(&principal, &body.password, &body.code, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
