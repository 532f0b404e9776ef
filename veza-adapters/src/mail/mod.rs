//! `Mailer` adapters: `SmtpMailer` hands messages to an SMTP server (`VEZA_SMTP_URL`);
//! `OutboxDirMailer`, the embedded default, writes each as an RFC 5322 `.eml` file under
//! `DATA_DIR/outbox/`. Both build the same message with lettre: the configured sender, the
//! recipient, the subject, and a `multipart/alternative` of the text and HTML bodies.

mod message;
mod outbox_dir;
mod smtp;

pub use message::{DEFAULT_FROM, parse_sender};
pub use outbox_dir::OutboxDirMailer;
pub use smtp::SmtpMailer;

pub mod testing {
    //! The SMTP server tests deliver to: `.ci/run` starts aiosmtpd with a Maildir and names
    //! both in `VEZA_TEST_SMTP_URL` and `VEZA_TEST_MAILDIR`. Without them the SMTP tests skip,
    //! except under `CI=true`, where a skip would hide a missing service and fails instead.

    use std::path::{Path, PathBuf};

    pub const URL_VAR: &str = "VEZA_TEST_SMTP_URL";
    pub const MAILDIR_VAR: &str = "VEZA_TEST_MAILDIR";

    /// `(smtp url, maildir)`, or `None` (after a one-line notice) to skip.
    ///
    /// # Panics
    /// If either variable is unset while `CI=true`.
    pub fn test_smtp_server() -> Option<(String, PathBuf)> {
        let url = crate::testing::service_var(URL_VAR, "an SMTP")?;
        let maildir = crate::testing::service_var(MAILDIR_VAR, "an SMTP")?;
        Some((url, PathBuf::from(maildir)))
    }

    /// Every message file in a Maildir (`new/` and `cur/`), oldest first by name.
    pub fn maildir_messages(maildir: &Path) -> Vec<String> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        files.iter().filter_map(|path| std::fs::read_to_string(path).ok()).collect()
    }

    /// Every `.eml` file in an outbox folder, oldest first (names are UUIDv7s).
    pub fn outbox_messages(dir: &Path) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|path| std::fs::read_to_string(path).ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use std::path::PathBuf;
    use std::sync::Arc;
    use veza_core::mail::Mailer;
    use veza_core::testing::mailer::MailerHarness;

    use super::*;

    struct OutboxDir {
        mailer: OutboxDirMailer,
        _dir: tempfile::TempDir,
    }

    #[async_trait]
    impl MailerHarness for OutboxDir {
        fn mailer(&self) -> Arc<dyn Mailer> {
            Arc::new(self.mailer.clone())
        }

        async fn delivered(&self) -> Vec<String> {
            testing::outbox_messages(self.mailer.dir())
        }
    }

    async fn outbox_dir() -> Arc<dyn MailerHarness> {
        let dir = tempfile::tempdir().expect("temp dir");
        let from = parse_sender(DEFAULT_FROM).expect("default sender");
        let mailer = OutboxDirMailer::new(dir.path().join("outbox"), from);
        Arc::new(OutboxDir { mailer, _dir: dir })
    }

    mod outbox_dir_mailer {
        use super::*;
        veza_core::mailer_contract!(outbox_dir);
    }

    struct Smtp {
        mailer: SmtpMailer,
        maildir: PathBuf,
    }

    #[async_trait]
    impl MailerHarness for Smtp {
        fn mailer(&self) -> Arc<dyn Mailer> {
            Arc::new(self.mailer.clone())
        }

        async fn delivered(&self) -> Vec<String> {
            testing::maildir_messages(&self.maildir)
        }
    }

    async fn smtp() -> Option<Arc<dyn MailerHarness>> {
        let (url, maildir) = testing::test_smtp_server()?;
        let from = parse_sender("Veza Tests <tests@veza.example>").expect("sender");
        Some(Arc::new(Smtp { mailer: SmtpMailer::new(&url, from).expect("smtp url"), maildir }))
    }

    mod smtp_mailer {
        use super::*;
        veza_core::mailer_contract!(smtp => optional);
    }

    #[tokio::test]
    async fn the_outbox_folder_holds_only_finished_eml_files() {
        let harness = outbox_dir().await;
        let mail = veza_core::mail::OutgoingMail {
            to: "ana@example.com".into(),
            subject: "Hi".into(),
            text_body: "Hi\n".into(),
            html_body: "<p>Hi</p>\n".into(),
        };
        for _ in 0..3 {
            harness.mailer().send(&mail).await.unwrap();
        }
        assert_eq!(harness.delivered().await.len(), 3);
        let dir = tempfile::tempdir().unwrap();
        let mailer = OutboxDirMailer::new(
            dir.path().join("a/b/outbox"),
            parse_sender(DEFAULT_FROM).unwrap(),
        );
        mailer.check().expect("the folder is created and writable");
        mailer.send(&mail).await.unwrap();
        let names: Vec<String> = std::fs::read_dir(mailer.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        assert!(names[0].ends_with(".eml"), "{names:?}");
    }

    #[test]
    fn the_default_sender_parses_and_junk_does_not() {
        assert_eq!(parse_sender(DEFAULT_FROM).unwrap().email.to_string(), "no-reply@localhost");
        assert!(parse_sender("not a mailbox").is_err());
    }

    #[tokio::test]
    async fn an_unreachable_smtp_server_is_a_transient_error() {
        // Port 9 (discard) on loopback: nothing listens there, the connection is refused.
        let mailer = SmtpMailer::new("smtp://127.0.0.1:9", parse_sender(DEFAULT_FROM).unwrap());
        let mail = veza_core::mail::OutgoingMail {
            to: "ana@example.com".into(),
            subject: "Hi".into(),
            text_body: "Hi\n".into(),
            html_body: "<p>Hi</p>\n".into(),
        };
        let err = mailer.unwrap().send(&mail).await.expect_err("nobody listens");
        assert!(!err.is_permanent(), "{err}");
    }
}
