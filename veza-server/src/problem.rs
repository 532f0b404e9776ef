//! RFC 9457 problem responses, and the one table that maps core errors to them. A stable
//! `code` tells clients what happened; a 500 never carries its cause (it is logged instead).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use veza_core::auth::{AuthError, FieldError};
use veza_core::pagination::PageError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// An error response body, as API.md's Conventions describe it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    #[serde(skip)]
    retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<Option<String>>) -> Self {
        Self {
            type_uri: format!("https://veza.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", Some(detail.into()))
    }

    pub fn unauthorized(code: &str, detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, Some(detail.to_owned()))
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", Some("No such resource.".to_owned()))
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("Some fields are invalid.".to_owned()),
        );
        problem.errors = errors
            .into_iter()
            .map(|e| FieldProblem { field: e.field.to_owned(), message: e.message })
            .collect();
        problem
    }

    /// Logs `cause` with the request's span and answers a body that says nothing about it.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, source = ?cause.source(), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            Some("Something went wrong on our side; it has been logged.".to_owned()),
        )
    }

    /// The generic problem for a bare status some layer produced (404 route, 405, 408, 413).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("not_found", "No such resource."),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "This resource does not support that method.")
            }
            StatusCode::REQUEST_TIMEOUT => ("timeout", "The request took too long."),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is too large.")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported_media_type", "Send the body as application/json.")
            }
            s if s.is_server_error() => ("internal_error", "Something went wrong on our side."),
            _ => ("error", ""),
        };
        let detail = (!detail.is_empty()).then(|| detail.to_owned());
        Self::new(status, code, detail)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.retry_after_secs;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AuthError> for Problem {
    fn from(err: AuthError) -> Self {
        use StatusCode as S;
        match err {
            AuthError::Invalid(errors) => Problem::invalid(errors),
            AuthError::WeakPassword(message) => {
                let mut problem = Problem::new(
                    S::UNPROCESSABLE_ENTITY,
                    "weak_password",
                    Some(format!("Password {message}.")),
                );
                problem.errors = vec![FieldProblem { field: "password".into(), message }];
                problem
            }
            AuthError::EmailTaken => Problem::new(
                S::CONFLICT,
                "email_taken",
                Some("An account with this e-mail already exists.".into()),
            ),
            AuthError::UsernameTaken => {
                Problem::new(S::CONFLICT, "username_taken", Some("This username is taken.".into()))
            }
            AuthError::InvalidCredentials => {
                Problem::unauthorized("invalid_credentials", "Wrong login or password.")
            }
            AuthError::Suspended => Problem::new(
                S::FORBIDDEN,
                "account_suspended",
                Some("This account is suspended.".into()),
            ),
            AuthError::RateLimited { retry_after_secs } => {
                let mut problem = Problem::new(
                    S::TOO_MANY_REQUESTS,
                    "rate_limited",
                    Some(format!("Too many failed attempts; retry in {retry_after_secs} s.")),
                );
                problem.retry_after_secs = Some(retry_after_secs);
                problem
            }
            AuthError::InvalidToken => Problem::unauthorized(
                "invalid_token",
                "The access token is invalid, expired or revoked.",
            ),
            AuthError::InvalidRefreshToken => Problem::unauthorized(
                "invalid_refresh_token",
                "The refresh token is invalid, expired or revoked.",
            ),
            AuthError::RefreshTokenReused => Problem::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; the session has been revoked.",
            ),
            // 400, not 401: the token is a field of the body, not the request's credentials,
            // and a client should ask for a new link rather than sign in again.
            AuthError::InvalidResetToken => Problem::new(
                S::BAD_REQUEST,
                "invalid_reset_token",
                Some(
                    "This reset link is invalid, already used or expired; ask for a new one."
                        .into(),
                ),
            ),
            AuthError::InvalidVerificationToken => Problem::new(
                S::BAD_REQUEST,
                "invalid_verification_token",
                Some("This verification link is invalid, already used or expired.".into()),
            ),
            AuthError::EmailAlreadyVerified => Problem::new(
                S::CONFLICT,
                "email_already_verified",
                Some("This e-mail address is already verified.".into()),
            ),
            AuthError::SessionNotFound | AuthError::UserNotFound => Problem::not_found(),
            AuthError::BadPage(err) => err.into(),
            AuthError::Store(err) => Problem::internal(&err),
        }
    }
}

impl From<PageError> for Problem {
    fn from(err: PageError) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_pagination", Some(err.to_string()))
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            // Syntax errors, wrong types and unknown fields alike: a malformed request.
            _ => Problem::bad_request(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Problem::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for Problem {
    /// A path segment that is not a valid id names nothing: 404, like an unknown id.
    fn from(_: PathRejection) -> Self {
        Problem::not_found()
    }
}
