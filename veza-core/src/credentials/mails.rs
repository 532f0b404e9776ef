//! The texts of the mails this domain sends, each as plain text and HTML with the same words.

use time::Duration;

use crate::mail::OutgoingMail;
use crate::users::User;

/// "1 hour", "48 hours", "30 minutes".
fn lifetime(ttl: Duration) -> String {
    let hours = ttl.whole_hours();
    if hours >= 1 && ttl == Duration::hours(hours) {
        return if hours == 1 { "1 hour".into() } else { format!("{hours} hours") };
    }
    let minutes = ttl.whole_minutes().max(1);
    if minutes == 1 { "1 minute".into() } else { format!("{minutes} minutes") }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One call to action: a greeting, why the mail came, the link (as a button and as text, for
/// clients that strip links), and what to do if it was not expected.
fn compose(
    user: &User,
    subject: &str,
    lead: &str,
    action: &str,
    link: &str,
    footer: &str,
) -> OutgoingMail {
    let name = user.display_name.as_str();
    let text_body = format!("Hello {name},\n\n{lead}\n\n{link}\n\n{footer}\n\n-- \nVeza\n");
    let (name, lead, action, link, footer) = (
        escape_html(name),
        escape_html(lead),
        escape_html(action),
        escape_html(link),
        escape_html(footer),
    );
    let html_body = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n\
         <p>Hello {name},</p>\n<p>{lead}</p>\n\
         <p><a href=\"{link}\" style=\"font-weight: bold\">{action}</a></p>\n\
         <p>If the button does not work, open this address:<br>{link}</p>\n\
         <p>{footer}</p>\n<p>&mdash; Veza</p>\n</body></html>\n"
    );
    OutgoingMail {
        to: user.email.as_str().to_owned(),
        subject: subject.to_owned(),
        text_body,
        html_body,
    }
}

pub(crate) fn password_reset(user: &User, link: &str, ttl: Duration) -> OutgoingMail {
    compose(
        user,
        "Reset your Veza password",
        &format!(
            "Someone asked to reset the password of your Veza account ({}). Open this link \
             within {} to choose a new one; it works once:",
            user.username.as_str(),
            lifetime(ttl)
        ),
        "Choose a new password",
        link,
        "If you did not ask for this, ignore this mail: your password stays as it is.",
    )
}

pub(crate) fn email_verification(user: &User, link: &str, ttl: Duration) -> OutgoingMail {
    compose(
        user,
        "Confirm your e-mail address for Veza",
        &format!(
            "Welcome to Veza, {}! Confirm that this address is yours by opening this link \
             within {}:",
            user.username.as_str(),
            lifetime(ttl)
        ),
        "Confirm my address",
        link,
        "If you did not create a Veza account, ignore this mail.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime(Duration::hours(1)), "1 hour");
        assert_eq!(lifetime(Duration::hours(48)), "48 hours");
        assert_eq!(lifetime(Duration::minutes(30)), "30 minutes");
        assert_eq!(lifetime(Duration::seconds(10)), "1 minute");
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape_html(r#"<b>"Ana" & 'Bo'</b>"#),
            "&lt;b&gt;&quot;Ana&quot; &amp; &#39;Bo&#39;&lt;/b&gt;"
        );
    }
}
