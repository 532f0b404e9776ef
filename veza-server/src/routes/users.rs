//! `/api/v1/users`: public profiles, the caller's own profile, avatar, settings and
//! completion, follows, the data export and account deletion. Handlers translate; the core
//! decides. `/me/…` routes are static segments, which axum matches before `/{id}`.

use axum::Json;
use axum::body::{Body as HttpBody, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use veza_core::blobs::BlobKey;
use veza_core::pagination::Page;
use veza_core::privacy::{ExportDocument, ExportValue};
use veza_core::profiles::{
    AVATAR_MAX_BYTES, FollowEntry, Profile, ProfilePatch, Settings, SettingsInput,
};

use crate::AppState;
use crate::extract::{Authenticated, Body, Client, PageQuery, Path, Query};
use crate::problem::Problem;

/// An avatar request may carry the image plus multipart framing; the image itself is
/// bounded by the core's `AVATAR_MAX_BYTES`.
const AVATAR_BODY_LIMIT: usize = AVATAR_MAX_BYTES + 64 * 1024;

/// Avatars change URL when they change (`?v=`), so caches may keep them a while.
const AVATAR_CACHE_CONTROL: &str = "public, max-age=300";

pub fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(upload_avatar);
    OpenApiRouter::new()
        .routes(routes!(own_profile, update_profile, delete_account))
        .routes((schemas, paths, upload.layer(DefaultBodyLimit::max(AVATAR_BODY_LIMIT))))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(profile_completion))
        .routes(routes!(export))
        .routes(routes!(profile))
        .routes(routes!(avatar))
        .routes(routes!(follow, unfollow))
        .routes(routes!(followers))
        .routes(routes!(following))
}

/// A public profile: never the e-mail or role of its account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    id: Uuid,
    username: String,
    display_name: String,
    bio: Option<String>,
    /// Serves the image; changes whenever the image does.
    avatar_url: Option<String>,
    location: Option<String>,
    website: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    followers_count: i64,
    following_count: i64,
    tracks_count: i64,
}

/// `VEZA_PUBLIC_URL` + the avatar route, or a path alone without one.
fn avatar_url(state: &AppState, user_id: Uuid, key: &BlobKey) -> String {
    let version: String = key.file_stem().chars().take(16).collect();
    format!("{}/api/v1/users/{user_id}/avatar?v={version}", state.public_url)
}

impl ProfileView {
    fn new(state: &AppState, profile: Profile) -> Self {
        Self {
            avatar_url: profile.avatar.as_ref().map(|key| avatar_url(state, profile.id, key)),
            id: profile.id,
            username: profile.username.as_str().to_owned(),
            display_name: profile.display_name.as_str().to_owned(),
            bio: profile.bio.map(|v| v.as_str().to_owned()),
            location: profile.location.map(|v| v.as_str().to_owned()),
            website: profile.website.map(|v| v.as_str().to_owned()),
            created_at: profile.created_at,
            followers_count: profile.followers_count,
            following_count: profile.following_count,
            tracks_count: profile.tracks_count,
        }
    }
}

/// Present-and-null (`Some(None)`) differs from absent (`None`) in a PATCH.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Absent fields stay; `null` or `""` clears (a cleared display name becomes the username).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// 1–100 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    display_name: Option<Option<String>>,
    /// Up to 1000 characters; line breaks allowed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    bio: Option<Option<String>>,
    /// One line, up to 100 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    location: Option<Option<String>>,
    /// An absolute http(s) URL, up to 255 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    website: Option<Option<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    email_notifications: bool,
    private_profile: bool,
    /// A BCP 47 language tag (`en`, `fr`, `pt-BR`), at most 35 characters.
    language: String,
    explicit_content: bool,
}

impl From<Settings> for SettingsBody {
    fn from(settings: Settings) -> Self {
        Self {
            email_notifications: settings.email_notifications,
            private_profile: settings.private_profile,
            language: settings.language.as_str().to_owned(),
            explicit_content: settings.explicit_content,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionView {
    /// 0–100, rounded down.
    percent: u8,
    /// Among `display_name`, `avatar`, `bio`, `location`, `website`, `email_verified`.
    missing: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowView {
    id: Uuid,
    username: String,
    display_name: String,
    avatar_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    followed_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowList {
    items: Vec<FollowView>,
    next_cursor: Option<String>,
}

impl FollowList {
    fn new(state: &AppState, page: Page<FollowEntry>) -> Self {
        let items = page
            .items
            .into_iter()
            .map(|entry| FollowView {
                avatar_url: entry.user.avatar.as_ref().map(|k| avatar_url(state, entry.user.id, k)),
                id: entry.user.id,
                username: entry.user.username.as_str().to_owned(),
                display_name: entry.user.display_name.as_str().to_owned(),
                followed_at: entry.followed_at,
            })
            .collect();
        Self { items, next_cursor: page.next_cursor }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountBody {
    /// The account's current password.
    password: String,
}

/// A public profile, by user id or username.
#[utoipa::path(get, path = "/{id}", tag = "users",
    params(("id" = String, Path, description = "User id or username")),
    responses((status = 200, body = ProfileView), (status = 404, body = Problem)))]
async fn profile(
    State(state): State<AppState>,
    Path(ident): Path<String>,
) -> Result<Json<ProfileView>, Problem> {
    let profile = state.services.profiles.profile(&ident).await?;
    Ok(Json(ProfileView::new(&state, profile)))
}

/// The caller's public profile.
#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = ProfileView), (status = 401, body = Problem)))]
async fn own_profile(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<ProfileView>, Problem> {
    let profile = state.services.profiles.own_profile(&principal).await?;
    Ok(Json(ProfileView::new(&state, profile)))
}

/// Edit the caller's profile.
#[utoipa::path(patch, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = ProfileBody,
    responses(
        (status = 200, body = ProfileView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 422, body = Problem, description = "validation_failed"),
    ))]
async fn update_profile(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Body(body): Body<ProfileBody>,
) -> Result<Json<ProfileView>, Problem> {
    let patch = ProfilePatch {
        display_name: body.display_name,
        bio: body.bio,
        location: body.location,
        website: body.website,
    };
    let profile = state.services.profiles.update(&principal, patch).await?;
    Ok(Json(ProfileView::new(&state, profile)))
}

/// Delete the caller's account and personal data, after password confirmation.
#[utoipa::path(delete, path = "/me", tag = "users", security(("bearer" = [])),
    request_body = DeleteAccountBody,
    responses(
        (status = 204), (status = 400, body = Problem),
        (status = 401, body = Problem, description = "invalid_credentials: wrong password"),
        (status = 429, body = Problem, description = "rate_limited, with Retry-After"),
    ))]
async fn delete_account(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Body(body): Body<DeleteAccountBody>,
) -> Result<StatusCode, Problem> {
    state.services.privacy.delete_account(&principal, &body.password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the caller's avatar: a PNG, JPEG or WebP image (recognised by its bytes) of at
/// most 5 MiB, in the multipart part `file`.
#[utoipa::path(put, path = "/me/avatar", tag = "users", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "Part `file`: the image"),
    responses(
        (status = 200, body = ProfileView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 413, body = Problem, description = "payload_too_large"),
        (status = 415, body = Problem, description = "unsupported_media_type"),
    ))]
async fn upload_avatar(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<ProfileView>, Problem> {
    let mut multipart = multipart?;
    let mut image = None;
    while let Some(mut field) = multipart.next_field().await? {
        if field.name() != Some("file") || image.is_some() {
            return Err(Problem::bad_request("Send exactly one part, named `file`."));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await? {
            // Refused as soon as the image is too large, not after reading the rest.
            if bytes.len() + chunk.len() > AVATAR_MAX_BYTES {
                return Err(Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE));
            }
            bytes.extend_from_slice(&chunk);
        }
        image = Some(Bytes::from(bytes));
    }
    let image = image.ok_or_else(|| Problem::bad_request("The part `file` is missing."))?;
    let profile = state.services.profiles.set_avatar(&principal, image).await?;
    Ok(Json(ProfileView::new(&state, profile)))
}

/// The avatar image of a user (id or username).
#[utoipa::path(get, path = "/{id}/avatar", tag = "users",
    params(("id" = String, Path, description = "User id or username")),
    responses(
        (status = 200, content_type = "image/*", description = "The image, with ETag and Cache-Control"),
        (status = 304, description = "If-None-Match matched"),
        (status = 404, body = Problem),
    ))]
async fn avatar(
    State(state): State<AppState>,
    Path(ident): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let avatar = state.services.profiles.avatar(&ident).await?;
    let etag = format!("\"{}\"", avatar.digest());
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == etag || t == "*"));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut ok = HttpBody::from_stream(avatar.content.body).into_response();
        let headers = ok.headers_mut();
        headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(avatar.format.content_type()));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(avatar.content.meta.size));
        ok
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(|e| Problem::internal(&e))?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(AVATAR_CACHE_CONTROL));
    // An image is never a page: no sniffing it into HTML, no scripts if opened directly.
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

/// The caller's settings (defaults until saved).
#[utoipa::path(get, path = "/me/settings", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = SettingsBody), (status = 401, body = Problem)))]
async fn get_settings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<SettingsBody>, Problem> {
    Ok(Json(state.services.profiles.settings(&principal).await?.into()))
}

/// Replace the caller's settings (every field required).
#[utoipa::path(put, path = "/me/settings", tag = "users", security(("bearer" = [])),
    request_body = SettingsBody,
    responses(
        (status = 200, body = SettingsBody), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 422, body = Problem, description = "validation_failed"),
    ))]
async fn put_settings(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Body(body): Body<SettingsBody>,
) -> Result<Json<SettingsBody>, Problem> {
    let input = SettingsInput {
        email_notifications: body.email_notifications,
        private_profile: body.private_profile,
        language: body.language,
        explicit_content: body.explicit_content,
    };
    Ok(Json(state.services.profiles.save_settings(&principal, input).await?.into()))
}

/// How complete the caller's profile is.
#[utoipa::path(get, path = "/me/profile-completion", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = CompletionView), (status = 401, body = Problem)))]
async fn profile_completion(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Json<CompletionView>, Problem> {
    let completion = state.services.profiles.completion(&principal).await?;
    Ok(Json(CompletionView { percent: completion.percent, missing: completion.missing }))
}

/// Follow a user (id or username). Idempotent.
#[utoipa::path(post, path = "/{id}/follow", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id or username")),
    responses(
        (status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "cannot_follow_self"),
    ))]
async fn follow(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(ident): Path<String>,
) -> Result<StatusCode, Problem> {
    state.services.profiles.follow(&principal, &ident).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop following a user. Idempotent.
#[utoipa::path(delete, path = "/{id}/follow", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id or username")),
    responses(
        (status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "cannot_follow_self"),
    ))]
async fn unfollow(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(ident): Path<String>,
) -> Result<StatusCode, Problem> {
    state.services.profiles.unfollow(&principal, &ident).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who follows a user, newest first. A private profile's lists are 404 to all but its owner.
#[utoipa::path(get, path = "/{id}/followers", tag = "users",
    params(("id" = String, Path, description = "User id or username"), PageQuery),
    responses((status = 200, body = FollowList), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn followers(
    State(state): State<AppState>,
    viewer: Option<Authenticated>,
    Path(ident): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<FollowList>, Problem> {
    let viewer = viewer.map(|Authenticated(principal)| principal);
    let page = state.services.profiles.followers(viewer.as_ref(), &ident, query.page()?).await?;
    Ok(Json(FollowList::new(&state, page)))
}

/// Whom a user follows, newest first. A private profile's lists are 404 to all but its owner.
#[utoipa::path(get, path = "/{id}/following", tag = "users",
    params(("id" = String, Path, description = "User id or username"), PageQuery),
    responses((status = 200, body = FollowList), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn following(
    State(state): State<AppState>,
    viewer: Option<Authenticated>,
    Path(ident): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<FollowList>, Problem> {
    let viewer = viewer.map(|Authenticated(principal)| principal);
    let page = state.services.profiles.following(viewer.as_ref(), &ident, query.page()?).await?;
    Ok(Json(FollowList::new(&state, page)))
}

/// Everything the caller's account holds, as one JSON document (GDPR export): `format`,
/// `exported_at`, `user_id`, then one key per section (`account`, `profile`, `settings`,
/// `sessions`, `follows`, `audit_log`, and each later domain's).
#[utoipa::path(get, path = "/me/export", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, body = Object, description = "The export document, as an attachment"),
        (status = 401, body = Problem),
    ))]
async fn export(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
) -> Result<Response, Problem> {
    let document = state.services.privacy.export(&principal, &client).await?;
    let filename =
        format!("attachment; filename=\"veza-export-{}.json\"", principal.user.username.as_str());
    let disposition = HeaderValue::from_str(&filename).map_err(|e| Problem::internal(&e))?;
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(ExportJson(&document))).into_response())
}

/// The export document as JSON: times RFC 3339, ids as strings, records as objects in order.
struct ExportJson<'a>(&'a ExportDocument);

/// Bumped when the shape of the document changes incompatibly.
const EXPORT_FORMAT: &str = "veza-export/1";

impl Serialize for ExportJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let doc = self.0;
        let mut map = serializer.serialize_map(Some(doc.sections.len() + 3))?;
        map.serialize_entry("format", EXPORT_FORMAT)?;
        map.serialize_entry("exported_at", &ValueJson(&ExportValue::Time(doc.exported_at)))?;
        map.serialize_entry("user_id", &doc.user_id)?;
        for (name, value) in &doc.sections {
            map.serialize_entry(name, &ValueJson(value))?;
        }
        map.end()
    }
}

struct ValueJson<'a>(&'a ExportValue);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ExportValue::Null => serializer.serialize_unit(),
            ExportValue::Bool(value) => serializer.serialize_bool(*value),
            ExportValue::Int(value) => serializer.serialize_i64(*value),
            ExportValue::Text(value) => serializer.serialize_str(value),
            ExportValue::Time(value) => {
                serializer.serialize_str(&value.format(&Rfc3339).map_err(S::Error::custom)?)
            }
            ExportValue::Id(value) => value.serialize(serializer),
            ExportValue::List(items) => serializer.collect_seq(items.iter().map(ValueJson)),
            ExportValue::Record(fields) => {
                serializer.collect_map(fields.iter().map(|(key, value)| (key, ValueJson(value))))
            }
        }
    }
}
