//! Mail through an SMTP server. `smtp://host:port` speaks plain SMTP (a loopback relay or a
//! trusted network); `smtp://host:port?tls=required` upgrades with STARTTLS; `smtps://` is
//! TLS from the first byte. `user:password@` in the URL authenticates. Connections are
//! pooled; TLS is rustls on aws-lc-rs with the webpki roots.

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::fmt;
use std::time::Duration;
use veza_core::mail::{MailError, Mailer, OutgoingMail};

/// Per SMTP command; shorter than the relay's lease, so a hung server cannot make a live
/// send look abandoned.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The URL without its credentials, for logs and `veza doctor`.
    server: String,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").field("server", &self.server).finish_non_exhaustive()
    }
}

/// `smtp://user:pw@host:25/` → `smtp://host:25/`.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{tail}")
        }
        None => "(unparsable URL)".into(),
    }
}

impl SmtpMailer {
    /// A pooled transport to the server `url` names; connects on first use. Call it inside
    /// a Tokio runtime: the pool starts its idle-connection reaper right away.
    ///
    /// # Errors
    /// A message naming the problem if the URL is not a usable SMTP URL.
    pub fn new(url: &str, from: Mailbox) -> Result<Self, String> {
        let server = without_credentials(url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("VEZA_SMTP_URL {server}: {e}"))?
            .timeout(Some(COMMAND_TIMEOUT))
            .build();
        Ok(Self { transport, from, server })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Connects and says NOOP (`veza doctor`).
    ///
    /// # Errors
    /// Why the server cannot be used.
    pub async fn check(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("{} does not answer NOOP", self.server)),
            Err(err) => Err(format!("{}: {err}", self.server)),
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = super::message::build(&self.from, mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(MailError::Permanent(err.to_string())),
            Err(err) => Err(MailError::transient(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credentials_never_reach_the_printable_url() {
        assert_eq!(
            without_credentials("smtp://u:secret@mx.example:587?tls=required"),
            "smtp://mx.example:587?tls=required"
        );
        assert_eq!(without_credentials("smtps://mx.example"), "smtps://mx.example");
        let from = super::super::parse_sender(super::super::DEFAULT_FROM).unwrap();
        let mailer = SmtpMailer::new("smtp://u:secret@127.0.0.1:2525", from).unwrap();
        assert!(!format!("{mailer:?}").contains("secret"));
    }

    #[tokio::test]
    async fn unusable_urls_are_refused_at_start() {
        let from = super::super::parse_sender(super::super::DEFAULT_FROM).unwrap();
        assert!(SmtpMailer::new("http://mx.example", from.clone()).is_err());
        assert!(SmtpMailer::new("not a url", from).is_err());
    }
}
