//! Reading what a test server mailed: the `.eml` files of its outbox folder, or the Maildir
//! of the SMTP server `.ci/run` starts. Recipients are unique per test, so a shared Maildir
//! is filtered by the `To` header.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use veza_adapters::mail::testing::{maildir_messages, outbox_messages};
use veza_core::testing::mime::Mime;

pub enum Mailbox {
    OutboxDir(PathBuf),
    Maildir(PathBuf),
}

impl Mailbox {
    pub fn all(&self) -> Vec<Mime> {
        let raw = match self {
            Mailbox::OutboxDir(dir) => outbox_messages(dir),
            Mailbox::Maildir(dir) => maildir_messages(dir),
        };
        raw.iter().map(|text| Mime::parse(text)).collect()
    }

    pub fn to(&self, address: &str) -> Vec<Mime> {
        self.all()
            .into_iter()
            .filter(|mail| mail.header("to").is_some_and(|to| to.contains(address)))
            .collect()
    }

    /// Waits (up to 15 s) until `address` has a mail whose subject contains `subject`;
    /// returns the newest such mail.
    pub async fn wait_for(&self, address: &str, subject: &str) -> Mime {
        self.wait_for_count(address, subject, 1).await.pop().expect("at least one")
    }

    /// Waits (up to 15 s) for `count` mails to `address` with `subject` in their subject.
    pub async fn wait_for_count(&self, address: &str, subject: &str, count: usize) -> Vec<Mime> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found: Vec<Mime> = self
                .to(address)
                .into_iter()
                .filter(|mail| mail.header("subject").is_some_and(|s| s.contains(subject)))
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {count} mail(s) {subject:?} to {address}; have {}",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The link starting with `prefix` in the text part, checked to be in the HTML part too,
/// and the token it carries.
pub fn link_and_token(mail: &Mime, prefix: &str) -> (String, String) {
    let text = mail.text().expect("a text/plain part");
    let html = mail.html().expect("a text/html part");
    let start = text.find(prefix).unwrap_or_else(|| panic!("no link {prefix}… in {text}"));
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    assert!(html.contains(&format!("href=\"{link}\"")), "the HTML part links to {link}: {html}");
    let token = link.split_once("?token=").expect("a token parameter").1.to_owned();
    (link, token)
}
