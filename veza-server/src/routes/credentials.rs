//! `/api/v1/auth/password/*` and `/api/v1/auth/email/*`: changing and resetting passwords,
//! verifying e-mail addresses. Handlers translate; `CredentialService` decides.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Authenticated, Body, Client};
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    current_password: String,
    /// Same policy as at sign-up.
    new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordBody {
    email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordBody {
    /// The `token` query parameter of the link in the reset mail.
    token: String,
    /// Same policy as at sign-up.
    new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailBody {
    /// The `token` query parameter of the link in the verification mail.
    token: String,
}

/// Change the password; every other session is revoked, this one stays signed in.
#[utoipa::path(post, path = "/password/change", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 204), (status = 400, body = Problem),
        (status = 401, body = Problem, description = "invalid_credentials (wrong current password) or unauthenticated"),
        (status = 422, body = Problem, description = "weak_password"),
        (status = 429, body = Problem, description = "rate_limited, with Retry-After"),
    ))]
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Body(body): Body<ChangePasswordBody>,
) -> Result<StatusCode, Problem> {
    state
        .services
        .credentials
        .change_password(&principal, &body.current_password, &body.new_password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a password-reset link (single use, valid 1 hour) if an account has this address.
/// The answer is 202 either way.
#[utoipa::path(post, path = "/password/forgot", tag = "auth", request_body = ForgotPasswordBody,
    responses(
        (status = 202, description = "Accepted, whether or not an account has this address"),
        (status = 400, body = Problem),
        (status = 422, body = Problem, description = "validation_failed: not an e-mail address"),
    ))]
async fn forgot_password(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<ForgotPasswordBody>,
) -> Result<StatusCode, Problem> {
    state.services.credentials.request_password_reset(&body.email, &client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Set a new password with the token from a reset mail; every session is revoked.
#[utoipa::path(post, path = "/password/reset", tag = "auth", request_body = ResetPasswordBody,
    responses(
        (status = 204),
        (status = 400, body = Problem, description = "invalid_reset_token (unknown, used or expired), or malformed_request"),
        (status = 422, body = Problem, description = "weak_password; the token stays usable"),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<ResetPasswordBody>,
) -> Result<StatusCode, Problem> {
    state.services.credentials.reset_password(&body.token, &body.new_password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Confirm the account's e-mail address with the token from the verification mail (valid
/// 48 hours, single use).
#[utoipa::path(post, path = "/email/verify", tag = "auth", request_body = VerifyEmailBody,
    responses(
        (status = 204),
        (status = 400, body = Problem, description = "invalid_verification_token (unknown, used, expired, or for a former address), or malformed_request"),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<VerifyEmailBody>,
) -> Result<StatusCode, Problem> {
    state.services.credentials.verify_email(&body.token, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a new verification link to the caller's address.
#[utoipa::path(post, path = "/email/verify/resend", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is on its way"),
        (status = 401, body = Problem),
        (status = 409, body = Problem, description = "email_already_verified"),
        (status = 429, body = Problem, description = "rate_limited: too many mails this hour, with Retry-After"),
    ))]
async fn resend_verification(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, Problem> {
    state.services.credentials.resend_verification(&principal).await?;
    Ok(StatusCode::ACCEPTED)
}
