//! RFC 9457 problem responses, and the one table that maps core errors to them. A stable
//! `code` tells clients what happened; a 500 never carries its cause (it is logged instead).

use axum::Json;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use veza_core::auth::{AuthError, FieldError};
use veza_core::pagination::PageError;
use veza_core::privacy::PrivacyError;
use veza_core::profiles::ProfileError;
use veza_core::tracks::TracksError;
use veza_core::uploads::UploadError;

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
    header: Option<ProblemHeader>,
}

/// A header some problems carry beside their body.
#[derive(Debug, Clone, Copy)]
enum ProblemHeader {
    /// `Retry-After: SECS`.
    RetryAfter(u64),
    /// `Content-Range: bytes */SIZE` (RFC 9110 §15.5.17: a 416 says how large the
    /// representation is).
    UnsatisfiedRange(u64),
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
            header: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", Some(detail.into()))
    }

    pub fn unauthorized(code: &str, detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, Some(detail.to_owned()))
    }

    /// A cookie-authenticated unsafe request without the matching `X-CSRF-Token`.
    pub fn csrf_failed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            Some("Send the veza_csrf cookie's value in the X-CSRF-Token header.".to_owned()),
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", Some("No such resource.".to_owned()))
    }

    fn rate_limited(detail: String, retry_after_secs: u64) -> Self {
        let mut problem = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(detail));
        problem.header = Some(ProblemHeader::RetryAfter(retry_after_secs));
        problem
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
        let extra = self.header;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        match extra {
            Some(ProblemHeader::RetryAfter(secs)) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Some(ProblemHeader::UnsatisfiedRange(size)) => {
                let value = HeaderValue::from_str(&format!("bytes */{size}"));
                headers.insert(header::CONTENT_RANGE, value.expect("digits are a valid header"));
            }
            None => {}
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
            AuthError::RateLimited { retry_after_secs } => Problem::rate_limited(
                format!("Too many failed attempts; retry in {retry_after_secs} s."),
                retry_after_secs,
            ),
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
            AuthError::InvalidCode => {
                Problem::unauthorized("invalid_code", "The code is wrong, expired or already used.")
            }
            AuthError::InvalidChallenge => Problem::unauthorized(
                "invalid_challenge",
                "The challenge token is invalid or expired; sign in again.",
            ),
            AuthError::TwoFactorAlreadyEnabled => Problem::new(
                S::CONFLICT,
                "two_factor_already_enabled",
                Some("Two-factor authentication is already enabled.".into()),
            ),
            AuthError::TwoFactorNotEnabled => Problem::new(
                S::CONFLICT,
                "two_factor_not_enabled",
                Some("Two-factor authentication is not enabled.".into()),
            ),
            AuthError::TwoFactorSetupRequired => Problem::new(
                S::CONFLICT,
                "two_factor_setup_required",
                Some(
                    "Call /auth/2fa/setup first, then enable with a code from that secret.".into(),
                ),
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
            AuthError::Forbidden => Problem::new(
                S::FORBIDDEN,
                "forbidden",
                Some("Your role does not allow this.".into()),
            ),
            AuthError::CannotModifySelf => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "cannot_modify_self",
                Some("Admins cannot change their own role or suspend themselves.".into()),
            ),
            AuthError::BadPage(err) => err.into(),
            AuthError::Store(err) => Problem::internal(&err),
        }
    }
}

impl From<ProfileError> for Problem {
    fn from(err: ProfileError) -> Self {
        use StatusCode as S;
        match err {
            ProfileError::Invalid(errors) => Problem::invalid(errors),
            ProfileError::UserNotFound | ProfileError::NoAvatar => Problem::not_found(),
            ProfileError::CannotFollowSelf => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "cannot_follow_self",
                Some("An account cannot follow itself.".into()),
            ),
            ProfileError::UnsupportedImage => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some("The file is not a PNG, JPEG or WebP image.".into()),
            ),
            ProfileError::ImageTooLarge { max_bytes } => Problem::new(
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Some(format!("The image is larger than {max_bytes} bytes.")),
            ),
            ProfileError::BadPage(err) => err.into(),
            ProfileError::Store(err) => Problem::internal(&err),
            ProfileError::Blob(err) => Problem::internal(&err),
        }
    }
}

impl From<TracksError> for Problem {
    fn from(err: TracksError) -> Self {
        match err {
            TracksError::Invalid(errors) => Problem::invalid(errors),
            TracksError::NotFound => Problem::not_found(),
            TracksError::Forbidden => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                Some("Only the track's owner may do this.".into()),
            ),
            TracksError::NotStreamServer => Problem::unauthorized(
                "invalid_internal_token",
                "Send the internal token: Authorization: Bearer <VEZA_INTERNAL_TOKEN>.",
            ),
            TracksError::NotDownloadable => Problem::new(
                StatusCode::FORBIDDEN,
                "not_downloadable",
                Some("The owner has not made this track downloadable.".into()),
            ),
            TracksError::RangeNotSatisfiable { size } => {
                let mut problem = Problem::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    Some(err.to_string()),
                );
                problem.header = Some(ProblemHeader::UnsatisfiedRange(size));
                problem
            }
            TracksError::BadSort => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid_sort", Some(err.to_string()))
            }
            TracksError::BadPage(err) => err.into(),
            TracksError::TooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Some(err.to_string()),
            ),
            TracksError::NotAudio => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some(err.to_string()),
            ),
            TracksError::EmptyFile => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_file", Some(err.to_string()))
            }
            TracksError::Infected { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "infected", Some(err.to_string()))
            }
            TracksError::ScanFailed(cause) => {
                tracing::error!(error = %cause, "upload refused: the virus scanner gave no verdict");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "scanner_unavailable",
                    Some("Uploads cannot be checked for viruses right now; retry later.".into()),
                )
            }
            TracksError::Blob(err) => Problem::internal(&err),
            TracksError::Store(err) => Problem::internal(&err),
        }
    }
}

impl From<UploadError> for Problem {
    fn from(err: UploadError) -> Self {
        let detail = Some(err.to_string());
        match err {
            UploadError::NotFound => Problem::not_found(),
            UploadError::TooLarge { .. } | UploadError::PastLength { .. } => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
            }
            UploadError::OffsetMismatch { .. } => {
                Problem::new(StatusCode::CONFLICT, "offset_mismatch", detail)
            }
            UploadError::ChecksumMismatch => {
                // tus's own status; HTTP has no name for it.
                let status = StatusCode::from_u16(460).expect("460 is a valid status");
                let mut problem = Problem::new(status, "checksum_mismatch", detail);
                problem.title = "Checksum Mismatch".to_owned();
                problem
            }
            UploadError::UnsupportedChecksum => {
                Problem::new(StatusCode::BAD_REQUEST, "unsupported_checksum", detail)
            }
            UploadError::BadChecksum(_) | UploadError::BadMetadata(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
            }
            UploadError::Incomplete { .. } => {
                Problem::new(StatusCode::CONFLICT, "upload_incomplete", detail)
            }
            UploadError::Busy => Problem::new(StatusCode::CONFLICT, "upload_busy", detail),
            UploadError::Track(err) => err.into(),
            UploadError::Blob(err) => Problem::internal(&err),
            UploadError::Store(err) => Problem::internal(&err),
        }
    }
}

impl From<PrivacyError> for Problem {
    fn from(err: PrivacyError) -> Self {
        match err {
            PrivacyError::InvalidCredentials => {
                Problem::unauthorized("invalid_credentials", "Wrong password.")
            }
            PrivacyError::RateLimited { retry_after_secs } => Problem::rate_limited(
                format!("Too many wrong passwords; retry in {retry_after_secs} s."),
                retry_after_secs,
            ),
            PrivacyError::Store(err) => Problem::internal(&err),
        }
    }
}

impl From<MultipartRejection> for Problem {
    /// Not `multipart/form-data`, or no boundary.
    fn from(rejection: MultipartRejection) -> Self {
        Problem::bad_request(rejection.body_text())
    }
}

impl From<MultipartError> for Problem {
    /// Too large as soon as the body limit is crossed; otherwise a malformed body.
    fn from(err: MultipartError) -> Self {
        match err.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE),
            _ => Problem::bad_request(err.body_text()),
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
