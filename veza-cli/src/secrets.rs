//! Secrets the operator did not configure are generated once and kept in
//! `DATA_DIR/secrets/` with mode 0600, so restarts keep every session valid.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;

use veza_core::auth::AuthService;

/// Reads `DATA_DIR/secrets/NAME`, creating it with a fresh random secret if missing.
///
/// # Errors
/// If the directory or file cannot be created or read.
pub fn load_or_generate(data_dir: &Path, name: &str) -> std::io::Result<String> {
    let dir = data_dir.join("secrets");
    create_private_dir(&dir)?;
    let path = dir.join(name);
    match fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_owned()),
        Ok(_) => {
            return Err(std::io::Error::other(format!("{} is empty", path.display())));
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let secret = AuthService::generate_secret();
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            Ok(fs::read_to_string(&path)?.trim().to_owned())
        }
        Err(err) => Err(err),
    }
}

/// Creates `dir` (and parents) readable by its owner only.
///
/// # Errors
/// If the directory cannot be created.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path(), "jwt_secret").unwrap();
        assert!(first.len() >= 43, "256 bits, base64");
        assert_eq!(load_or_generate(dir.path(), "jwt_secret").unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = fs::metadata(dir.path().join("secrets/jwt_secret")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }
}
