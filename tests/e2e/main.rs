//! End-to-end tests over HTTP against a real server on a free port. Run on SQLite by
//! default; with `VEZA_DATABASE_URL=postgres://…` the same tests run on PostgreSQL.

mod admin;
mod auth;
mod cookies;
mod hostile;
mod mailbox;
mod ops;
mod password;
mod privacy;
mod resumable;
mod stream;
mod support;
mod tokens;
mod track_media;
mod tracks;
mod two_factor;
mod uploads;
mod users;
