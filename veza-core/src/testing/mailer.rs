//! The `Mailer` port contract. A harness pairs an adapter with a way to read back what it
//! delivered (the outbox folder, an SMTP server's Maildir); recipients are unique per case,
//! so harnesses may share one destination.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::mime::Mime;
use super::unique_tag;
use crate::mail::{Mailer, OutgoingMail};

#[async_trait]
pub trait MailerHarness: Send + Sync {
    fn mailer(&self) -> Arc<dyn Mailer>;

    /// Every raw message delivered so far to `to` (compare against the `To` header).
    async fn delivered(&self) -> Vec<String>;
}

/// Instantiates every case below as a `#[tokio::test]`; `$fresh()` returns an
/// `Arc<dyn MailerHarness>` (or, with `=> optional`, an `Option` of one, `None` to skip).
#[macro_export]
macro_rules! mailer_contract {
    ($($fresh:tt)+) => {
        $crate::contract_suite!(mailer [
            a_mail_arrives_with_its_recipient_subject_and_both_parts,
            non_ascii_subjects_and_bodies_survive,
            a_link_longer_than_an_smtp_line_survives_whole,
            concurrent_sends_all_arrive,
            an_unparsable_recipient_is_a_permanent_error,
        ] $($fresh)+);
    };
}

fn mail_to(tag: &str) -> OutgoingMail {
    OutgoingMail {
        to: format!("{}@example.com", unique_tag(tag)),
        subject: "Contract test".into(),
        text_body: "Plain words.\n".into(),
        html_body: "<p>Rich <b>words</b>.</p>\n".into(),
    }
}

/// The messages addressed to `to`, waiting up to 10 s for `count` of them.
async fn delivered_to(harness: &Arc<dyn MailerHarness>, to: &str, count: usize) -> Vec<Mime> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Mime> = harness
            .delivered()
            .await
            .iter()
            .map(|raw| Mime::parse(raw))
            .filter(|mail| mail.header("to").is_some_and(|h| h.contains(to)))
            .collect();
        if found.len() >= count || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn a_mail_arrives_with_its_recipient_subject_and_both_parts(
    harness: Arc<dyn MailerHarness>,
) {
    let mail = mail_to("one");
    harness.mailer().send(&mail).await.expect("send");
    let found = delivered_to(&harness, &mail.to, 1).await;
    assert_eq!(found.len(), 1, "exactly one message to {}", mail.to);
    let message = &found[0];
    assert_eq!(message.header("subject").as_deref(), Some("Contract test"));
    assert!(message.header("from").is_some_and(|f| f.contains('@')), "a sender");
    assert!(message.header("date").is_some() && message.header("message-id").is_some());
    let content_type = message.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
    assert_eq!(message.text().map(str::trim_end), Some("Plain words."));
    assert_eq!(message.html().map(str::trim_end), Some("<p>Rich <b>words</b>.</p>"));
}

pub async fn non_ascii_subjects_and_bodies_survive(harness: Arc<dyn MailerHarness>) {
    let mut mail = mail_to("utf");
    mail.subject = "Réinitialisez votre mot de passe — Zoë 🎧".into();
    mail.text_body = "Bonjour Zoë, voici le lien : café ☕\n".into();
    mail.html_body = "<p>Bonjour <b>Zoë</b> ☕</p>\n".into();
    harness.mailer().send(&mail).await.expect("send");
    let found = delivered_to(&harness, &mail.to, 1).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].header("subject").as_deref(), Some(mail.subject.as_str()));
    assert_eq!(found[0].text().map(str::trim_end), Some(mail.text_body.trim_end()));
    assert_eq!(found[0].html().map(str::trim_end), Some(mail.html_body.trim_end()));
}

pub async fn a_link_longer_than_an_smtp_line_survives_whole(harness: Arc<dyn MailerHarness>) {
    let mut mail = mail_to("long");
    let link = format!("https://veza.example/reset-password?token=vzp_{}", "x".repeat(1200));
    mail.text_body = format!("Open:\n\n{link}\n");
    mail.html_body = format!("<p><a href=\"{link}\">Reset</a></p>\n");
    harness.mailer().send(&mail).await.expect("send");
    let found = delivered_to(&harness, &mail.to, 1).await;
    assert_eq!(found.len(), 1);
    assert!(found[0].text().is_some_and(|t| t.contains(&link)), "text link cut or altered");
    assert!(found[0].html().is_some_and(|h| h.contains(&link)), "HTML link cut or altered");
}

pub async fn concurrent_sends_all_arrive(harness: Arc<dyn MailerHarness>) {
    let mail = mail_to("many");
    let sends: Vec<_> = (0..12)
        .map(|i| {
            let (mailer, mut mail) = (harness.mailer(), mail.clone());
            mail.subject = format!("Mail {i}");
            tokio::spawn(async move { mailer.send(&mail).await })
        })
        .collect();
    for send in sends {
        send.await.expect("task").expect("send");
    }
    let found = delivered_to(&harness, &mail.to, 12).await;
    let mut subjects: Vec<String> = found.iter().filter_map(|m| m.header("subject")).collect();
    subjects.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("Mail {i}")).collect();
    expected.sort();
    assert_eq!(subjects, expected, "each mail once");
}

pub async fn an_unparsable_recipient_is_a_permanent_error(harness: Arc<dyn MailerHarness>) {
    for to in ["not an address", "", "a@b@c", "ana@example.com\r\nBcc: all@example.com"] {
        let mut mail = mail_to("bad");
        mail.to = to.to_owned();
        let err = harness.mailer().send(&mail).await.expect_err("refused");
        assert!(err.is_permanent(), "{to:?}: {err}");
    }
}
