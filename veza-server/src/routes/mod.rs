pub mod admin;
pub mod auth;
pub mod credentials;
pub mod ops;
pub mod search;
pub mod tracks;
pub mod two_factor;
pub mod users;
