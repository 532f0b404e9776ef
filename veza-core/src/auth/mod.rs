//! Sign-up, sign-in and sessions. A session is one signed-in device: it owns a chain of
//! opaque refresh tokens (stored as SHA-256 hashes, rotated on every use) and is named by the
//! `sid` claim of the short-lived access JWTs issued for it. Presenting a rotated refresh
//! token again revokes the session; logout-all bumps the user's token version so every
//! access token already issued is rejected.

mod error;
mod model;
mod password;
mod ports;
pub(crate) mod service;
pub(crate) mod tokens;

pub use error::{AuthError, FieldError};
pub use model::{NewSession, Principal, Rotation, Session, TokenHash};
pub use password::{HashParams, PasswordHasher, check_password_policy};
pub use ports::SessionStore;
pub use service::{AuthConfig, AuthService, ClientInfo, Login, LoginOutcome, Register, TokenPair};
pub use tokens::{AccessClaims, ChatToken, TokenKeys};
