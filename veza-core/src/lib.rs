//! Veza's core: the domains (accounts and auth so far), their services and the ports they
//! talk to the world through. Nothing here knows SQL, HTTP or a file path; adapters in
//! `veza-adapters` implement the ports, and `veza-server`, `veza-cli` and `veza-ffi` call the
//! services.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod clock;
pub mod credentials;
pub mod jobs;
pub mod mail;
pub mod media;
mod names;
pub mod pagination;
pub mod privacy;
pub mod profiles;
pub mod rate_limit;
pub mod scan;
pub mod store;
pub mod stream;
pub mod tracks;
pub mod uploads;
pub mod users;
mod web_address;

#[cfg(feature = "testing")]
pub mod testing;

mod services;

pub use services::{Ports, Services};
