//! Credentials an account holder manages after sign-up: changing the password, resetting a
//! forgotten one by mail, and proving the e-mail address. Reset and verification links carry
//! single-use tokens (256 random bits) that are stored only as SHA-256 hashes; each token row
//! and the mail carrying its link are written in one transaction, and the `MailRelay`
//! delivers the mail afterwards.

mod mails;
mod model;
mod ports;
mod service;

pub use model::{NewUserToken, TokenPurpose};
pub use ports::CredentialStore;
pub use service::{CredentialService, MailConfig};
