//! Mail as files: each message becomes `DATA_DIR/outbox/<uuidv7>.eml`, the bytes an SMTP
//! server would have received. Written under a hidden temporary name and renamed, so a
//! reader (a person, a test, a script forwarding them) never sees half a message.

use async_trait::async_trait;
use lettre::message::Mailbox;
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;
use veza_core::mail::{MailError, Mailer, OutgoingMail};

#[derive(Debug, Clone)]
pub struct OutboxDirMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxDirMailer {
    /// Mail from `from` into `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>, from: Mailbox) -> Self {
        Self { dir: dir.into(), from }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the folder and proves a file can be written there (`veza doctor`).
    ///
    /// # Errors
    /// The I/O error that would stop a mail.
    pub fn check(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let probe = self.dir.join(".doctor-probe");
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(probe)
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temporary)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(err);
    }
    std::fs::rename(&temporary, dir.join(name))
}

#[async_trait]
impl Mailer for OutboxDirMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let bytes = super::message::build(&self.from, mail)?.formatted();
        let dir = self.dir.clone();
        // UUIDv7: names sort in the order the mails were written.
        let name = format!("{}.eml", Uuid::now_v7());
        tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .map_err(MailError::transient)?
            .map_err(MailError::transient)
    }
}
