//! The export document: a small value tree the core builds and an edge serialises (JSON over
//! HTTP), so that the core stays free of wire formats while each domain describes its own
//! data next to its own code.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::StoreError;
use crate::users::User;

/// A value in the export. Records keep their field order, so exports read the same each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportValue {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Time(OffsetDateTime),
    Id(Uuid),
    List(Vec<ExportValue>),
    Record(Vec<(&'static str, ExportValue)>),
}

impl ExportValue {
    pub fn record<const N: usize>(fields: [(&'static str, ExportValue); N]) -> Self {
        Self::Record(fields.into())
    }

    pub fn list<T: Into<ExportValue>>(items: impl IntoIterator<Item = T>) -> Self {
        Self::List(items.into_iter().map(Into::into).collect())
    }
}

impl From<bool> for ExportValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<i64> for ExportValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<String> for ExportValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for ExportValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<OffsetDateTime> for ExportValue {
    fn from(value: OffsetDateTime) -> Self {
        Self::Time(value)
    }
}

impl From<Uuid> for ExportValue {
    fn from(value: Uuid) -> Self {
        Self::Id(value)
    }
}

impl<T: Into<ExportValue>> From<Option<T>> for ExportValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

/// One domain's part of the export: everything it keeps that the account owns or that is
/// about the account. A domain plugs in by implementing this and adding its section to
/// `sections::all` — the one list the export walks.
#[async_trait]
pub trait ExportSection: Send + Sync {
    /// The section's key in the document (`profile`, `follows`, later `tracks`, `orders`).
    fn name(&self) -> &'static str;

    async fn export(&self, user: &User) -> Result<ExportValue, StoreError>;
}

/// The whole export: who, when, and each section in registration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportDocument {
    pub user_id: Uuid,
    pub exported_at: OffsetDateTime,
    pub sections: Vec<(&'static str, ExportValue)>,
}
