//! End-to-end tests over HTTP against a real server on a free port. Run on SQLite by
//! default; with `VEZA_DATABASE_URL=postgres://…` the same tests run on PostgreSQL.

mod auth;
mod hostile;
mod mailbox;
mod ops;
mod password;
mod support;
mod tokens;
