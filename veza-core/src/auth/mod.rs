//! Sign-up, sign-in and sessions. A session is one signed-in device: it owns a chain of
//! opaque refresh tokens (stored as SHA-256 hashes, rotated on every use) and is named by the
//! `sid` claim of the short-lived access JWTs issued for it. Presenting a rotated refresh
//! token again revokes the session; logout-all bumps the user's token version so every
//! access token already issued is rejected. With two-factor authentication on, the right
//! password only earns a five-minute challenge token, traded for a session by a TOTP or
//! recovery code (`two_factor.rs`).

mod error;
mod model;
mod password;
mod ports;
pub(crate) mod service;
pub(crate) mod tokens;
mod two_factor;
mod two_factor_store;

pub use error::{AuthError, FieldError};
pub use model::{NewSession, Principal, Rotation, Session, TokenHash};
pub use password::{HashParams, PasswordHasher, check_password_policy};
pub use ports::SessionStore;
pub use service::{AuthConfig, AuthService, ClientInfo, Login, LoginOutcome, Register, TokenPair};
pub use tokens::{AccessClaims, CHALLENGE_AUDIENCE, ChatToken, TokenKeys};
pub use two_factor::TwoFactorSetup;
pub use two_factor_store::{EnableOutcome, TotpSecret, TwoFactorRecord, TwoFactorStore};
