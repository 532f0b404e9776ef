//! Implementations of `veza-core`'s ports. One module per technology; each passes the
//! contract suite of the port it implements (`veza_core::testing`).

pub mod clamd;
pub mod fs_blobs;
pub mod mail;

pub mod memory;
pub mod object_blobs;

pub mod postgres;
pub mod s3_blobs;

pub mod spool;
pub mod sqlite;
pub mod stream_http;
pub mod symphonia;
pub mod testing;

mod like;
mod time_text;
