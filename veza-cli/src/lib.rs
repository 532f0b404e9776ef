//! The `veza` command's library half: configuration resolution, secret handling and the
//! wiring of adapters into core services. `main.rs` is the clap front; the end-to-end tests
//! build servers through this same wiring.

pub mod import;
pub mod secrets;
pub mod settings;
pub mod wiring;
