use crate::auth::FieldError;
use crate::pagination::PageError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TracksError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// No such track, or one the caller may not see.
    #[error("track not found")]
    NotFound,
    /// The caller sees the track but may not change it.
    #[error("only the track's owner may do this")]
    Forbidden,
    /// Unknown `sort` value, or `relevance` without a search.
    #[error("sort must be one of recent, popular, title, or relevance with q")]
    BadSort,
    #[error(transparent)]
    BadPage(#[from] PageError),
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl From<FieldError> for TracksError {
    fn from(err: FieldError) -> Self {
        TracksError::Invalid(vec![err])
    }
}
