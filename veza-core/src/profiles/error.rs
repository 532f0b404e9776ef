use crate::auth::FieldError;
use crate::blobs::BlobError;
use crate::pagination::PageError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// No such account, or one the caller may not see (a private list).
    #[error("user not found")]
    UserNotFound,
    #[error("an account cannot follow itself")]
    CannotFollowSelf,
    #[error("not a PNG, JPEG or WebP image")]
    UnsupportedImage,
    #[error("image larger than {max_bytes} bytes")]
    ImageTooLarge { max_bytes: usize },
    #[error("no avatar")]
    NoAvatar,
    #[error(transparent)]
    BadPage(#[from] PageError),
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("blob storage failed")]
    Blob(#[from] BlobError),
}

impl From<FieldError> for ProfileError {
    fn from(err: FieldError) -> Self {
        ProfileError::Invalid(vec![err])
    }
}
