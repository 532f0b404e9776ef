pub mod auth;
pub mod ops;
