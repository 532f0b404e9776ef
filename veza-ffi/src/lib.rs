//! The embedding facade of Veza for desktop and mobile apps. The uniffi bindings (Kotlin,
//! Swift, Python) arrive with their own issue; until then this crate only pins the shape:
//! it depends on the core and the embedded adapters, never on the server.

pub use veza_adapters::sqlite::SqliteStore;
pub use veza_core::Services;
