//! Privacy: the export of everything an account holds, and the erasure of an account.
//! Export walks a list of `ExportSection`s, one per domain (`sections::all`), so a new
//! domain joins the export in one place. Erasure is one store transaction plus the removal
//! of blobs nobody references any more; what is kept, anonymised, is decided in ADR 0004.

mod export;
mod ports;
mod sections;
mod service;

use crate::store::StoreError;

pub use export::{ExportDocument, ExportSection, ExportValue};
pub use ports::{ErasedAccount, PrivacyStore};
pub use service::PrivacyService;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// The password confirming a deletion was wrong.
    #[error("invalid password")]
    InvalidCredentials,
    #[error("too many wrong passwords")]
    RateLimited { retry_after_secs: u64 },
    #[error("storage failed")]
    Store(#[from] StoreError),
}
