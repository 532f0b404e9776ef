//! What the service-backed tests share, here and in other crates.

/// The value of `var`, which names a real service for `what` tests (e.g. "a PostgreSQL");
/// `None`, after a one-line notice, to skip them where it is unset.
///
/// # Panics
/// If `var` is unset or empty while `CI=true`: in CI a skipped suite would pass unseen.
pub fn service_var(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{var} must be set under CI=true")
        }
        _ => {
            eprintln!("skipping {what} test: {var} is not set");
            None
        }
    }
}
