//! `/api/v1/admin`: user search, roles, suspensions and the audit log. Admins may change;
//! moderators may read. The core checks the role; handlers only translate.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use veza_core::audit::{Actor, AuditEntry, AuditFilter};
use veza_core::auth::{AuthError, ClientInfo, FieldError, Principal};
use veza_core::pagination::PageRequest;
use veza_core::users::{Role, User};

use super::auth::MeView;
use crate::AppState;
use crate::extract::{Authenticated, Body, Client, Path, Query};
use crate::problem::Problem;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_users))
        .routes(routes!(set_role))
        .routes(routes!(suspend))
        .routes(routes!(unsuspend))
        .routes(routes!(audit_log))
}

/// An account as staff see it: the owner's own view (e-mail, role, …) plus its suspension.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    account: MeView,
    suspended: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    suspended_at: Option<OffsetDateTime>,
}

impl From<&User> for AdminUserView {
    fn from(user: &User) -> Self {
        Self {
            account: user.into(),
            suspended: user.is_suspended(),
            suspended_at: user.suspended_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserList {
    items: Vec<AdminUserView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserSearchQuery {
    /// Part of an e-mail, username or display name, without case; empty lists everyone.
    query: Option<String>,
    /// 1–100, default 20.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `listener`, `creator`, `moderator` or `admin`.
    role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    id: Uuid,
    /// Stable event name, e.g. `auth.login_failed`, `admin.role_changed`.
    action: String,
    actor_id: Option<Uuid>,
    target_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            action: e.action,
            actor_id: e.actor_id,
            target_id: e.target_id,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
            occurred_at: e.occurred_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogPage {
    items: Vec<AuditEntryView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events by this user id.
    actor: Option<Uuid>,
    /// Only events about this user id.
    target: Option<Uuid>,
    /// Only this event name.
    action: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Search accounts (moderators and admins).
#[utoipa::path(get, path = "/users", tag = "admin", security(("bearer" = [])), params(UserSearchQuery),
    responses((status = 200, body = AdminUserList), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn search_users(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<UserSearchQuery>,
) -> Result<Json<AdminUserList>, Problem> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let text = query.query.unwrap_or_default();
    let found = state.services.admin.search_users(&principal, &text, page).await?;
    let items = found.items.iter().map(AdminUserView::from).collect();
    Ok(Json(AdminUserList { items, next_cursor: found.next_cursor }))
}

/// Change an account's role (admins).
#[utoipa::path(put, path = "/users/{id}/role", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RoleBody,
    responses((status = 200, body = AdminUserView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_role(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Body(body): Body<RoleBody>,
) -> Result<Json<AdminUserView>, Problem> {
    let role: Role = body.role.parse().map_err(|e: FieldError| AuthError::from(e))?;
    let by = Actor::user(principal.user.id, client);
    let user = state.services.admin.set_role(&principal, id, role, &by).await?;
    Ok(Json((&user).into()))
}

/// Suspend an account: login refused, tokens rejected at once (admins).
#[utoipa::path(post, path = "/users/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn suspend(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    set_suspension(&state, client, &principal, id, true).await
}

/// Lift a suspension (admins).
#[utoipa::path(post, path = "/users/{id}/unsuspend", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn unsuspend(
    State(state): State<AppState>,
    Client(client): Client,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Problem> {
    set_suspension(&state, client, &principal, id, false).await
}

/// Suspends or reinstates `id` on behalf of the signed-in admin.
async fn set_suspension(
    state: &AppState,
    client: ClientInfo,
    principal: &Principal,
    id: Uuid,
    suspended: bool,
) -> Result<StatusCode, Problem> {
    let by = Actor::user(principal.user.id, client);
    state.services.admin.set_suspended(principal, id, suspended, &by).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Security events, newest first (moderators and admins).
#[utoipa::path(get, path = "/audit-log", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditLogPage), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn audit_log(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditLogPage>, Problem> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let filter =
        AuditFilter { actor_id: query.actor, target_id: query.target, action: query.action };
    let found = state.services.admin.audit_log(&principal, &filter, page).await?;
    let items = found.items.into_iter().map(AuditEntryView::from).collect();
    Ok(Json(AuditLogPage { items, next_cursor: found.next_cursor }))
}
