use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::FieldError;
use crate::blobs::BlobKey;
use crate::users::{DisplayName, Username};
use crate::web_address;

/// The largest avatar accepted, in bytes (API.md: 5 MiB).
pub const AVATAR_MAX_BYTES: usize = 5 * 1024 * 1024;

/// An account as others see it, with its follow counts (exact: counted from the follow rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: Uuid,
    pub username: Username,
    pub display_name: DisplayName,
    pub bio: Option<Bio>,
    pub location: Option<Location>,
    pub website: Option<Website>,
    pub avatar: Option<BlobKey>,
    pub followers_count: i64,
    pub following_count: i64,
    /// The account's public, ready tracks (what a visitor can list).
    pub tracks_count: i64,
    /// `settings.private_profile`: follower and following lists are the owner's only.
    pub private: bool,
    pub created_at: OffsetDateTime,
}

/// The short form of a profile in lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    pub id: Uuid,
    pub username: Username,
    pub display_name: DisplayName,
    pub avatar: Option<BlobKey>,
}

/// One follow relation seen from one side: who, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowEntry {
    /// The follow's own id (UUIDv7): lists page by it, newest follow first.
    pub follow_id: Uuid,
    pub followed_at: OffsetDateTime,
    pub user: ProfileSummary,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFollow {
    pub id: Uuid,
    pub follower_id: Uuid,
    pub followee_id: Uuid,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowOutcome {
    Followed,
    AlreadyFollowing,
    /// Either account does not exist (any more).
    UnknownUser,
}

/// A profile edit as sent: absent fields (`None`) stay, `Some(None)` or an empty string
/// clears.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub display_name: Option<Option<String>>,
    pub bio: Option<Option<String>>,
    pub location: Option<Option<String>>,
    pub website: Option<Option<String>>,
}

/// A validated edit: only the `Some` fields are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub display_name: Option<DisplayName>,
    pub bio: Option<Option<Bio>>,
    pub location: Option<Option<Location>>,
    pub website: Option<Option<Website>>,
}

/// The result of replacing an avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarChange {
    pub profile: Profile,
    /// The previous avatar, when no account uses it any more: its blob can go.
    pub orphaned: Option<BlobKey>,
}

/// Per-account preferences; `Default` is what an account that never saved any has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub email_notifications: bool,
    pub private_profile: bool,
    pub language: Language,
    pub explicit_content: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            email_notifications: true,
            private_profile: false,
            language: Language("en".to_owned()),
            explicit_content: false,
        }
    }
}

/// Settings as sent, before validation.
#[derive(Debug, Clone)]
pub struct SettingsInput {
    pub email_notifications: bool,
    pub private_profile: bool,
    pub language: String,
    pub explicit_content: bool,
}

/// How complete a profile is, and what is missing, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub percent: u8,
    pub missing: Vec<&'static str>,
}

/// Trims, treats an empty result as "cleared", bounds the length and refuses control
/// characters (line breaks too unless `multiline`, where `\r\n` and `\r` become `\n`).
fn optional_text(
    field: &'static str,
    raw: &str,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, FieldError> {
    let value = if multiline { raw.replace("\r\n", "\n").replace('\r', "\n") } else { raw.into() };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && !(multiline && c == '\n')) {
        let message = if multiline {
            "must not contain control characters other than line breaks"
        } else {
            "must be one line without control characters"
        };
        return Err(FieldError::new(field, message));
    }
    Ok(Some(value.to_owned()))
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $multiline:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX: usize = $max;

            /// `None` for an empty (after trimming) value: the field is cleared.
            ///
            /// # Errors
            /// A `FieldError` saying which rule the value breaks.
            pub fn parse(raw: &str) -> Result<Option<Self>, FieldError> {
                Ok(optional_text($field, raw, $max, $multiline)?.map(Self))
            }

            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_value!(
    /// Free text about the account: up to 1000 characters, line breaks allowed.
    Bio, "bio", 1000, true
);
text_value!(
    /// Where the account is based, free form: one line, up to 100 characters.
    Location, "location", 100, false
);

/// A link on the profile: an absolute `http` or `https` URL with a host and no credentials,
/// up to 255 characters. Anything else (`javascript:`, `data:`, relative paths) is refused,
/// since clients render it as a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Website(String);

impl Website {
    pub const MAX: usize = 255;

    /// `None` for an empty value: the field is cleared.
    ///
    /// # Errors
    /// A `FieldError` on `website`.
    pub fn parse(raw: &str) -> Result<Option<Self>, FieldError> {
        let Some(value) = optional_text("website", raw, Self::MAX, false)? else {
            return Ok(None);
        };
        web_address::check("website", &value, "must be an http:// or https:// address")?;
        Ok(Some(Self(value)))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A BCP 47 language tag in its usual case (`en`, `fr`, `pt-BR`, `zh-Hant-TW`): a 2–3
/// letter language, then subtags of 1–8 letters or digits, at most 35 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    pub const MAX: usize = 35;

    /// # Errors
    /// A `FieldError` on `language`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let refuse = || FieldError::new("language", "must be a language tag such as en or pt-BR");
        if value.is_empty() || value.len() > Self::MAX {
            return Err(refuse());
        }
        let mut subtags = value.split('-');
        let primary = subtags.next().unwrap_or_default();
        if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(refuse());
        }
        let mut canonical = primary.to_ascii_lowercase();
        for subtag in subtags {
            if !(1..=8).contains(&subtag.len())
                || !subtag.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(refuse());
            }
            canonical.push('-');
            // RFC 5646 §2.1.1 conventions: regions upper case, scripts title case.
            let alphabetic = subtag.chars().all(|c| c.is_ascii_alphabetic());
            match subtag.len() {
                2 if alphabetic => canonical.push_str(&subtag.to_ascii_uppercase()),
                4 if alphabetic => {
                    canonical.push_str(&subtag[..1].to_ascii_uppercase());
                    canonical.push_str(&subtag[1..].to_ascii_lowercase());
                }
                _ => canonical.push_str(&subtag.to_ascii_lowercase()),
            }
        }
        Ok(Self(canonical))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The image formats an avatar may be, recognised by their leading bytes alone: the client's
/// content type and file name say nothing trustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(PNG) {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 16 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        [Self::Png, Self::Jpeg, Self::Webp].into_iter().find(|f| f.extension() == ext)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bios_keep_line_breaks_and_refuse_other_control_characters() {
        assert_eq!(Bio::parse("  a\r\nb\rc \n").unwrap().unwrap().as_str(), "a\nb\nc");
        assert_eq!(Bio::parse("   ").unwrap(), None, "blank clears");
        assert!(Bio::parse("tab\there").is_err());
        assert!(Bio::parse("bell\u{7}").is_err());
        assert!(Bio::parse(&"é".repeat(1000)).unwrap().is_some());
        assert!(Bio::parse(&"é".repeat(1001)).is_err());
        assert!(Location::parse("two\nlines").is_err());
        assert!(Location::parse(&"x".repeat(101)).is_err());
    }

    #[test]
    fn websites_must_be_absolute_http_urls_without_credentials() {
        for good in
            ["https://example.com", "http://ana.example:8080/music?x=1#top", "https://ex.com/ü"]
        {
            assert_eq!(Website::parse(good).unwrap().unwrap().as_str(), good);
        }
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "//example.com",
            "example.com",
            "/relative",
            "ftp://example.com",
            "https://",
            "https://user:pw@example.com",
            "https://google.com@evil.example",
            "https://exa mple.com",
            "https://example.com/\u{0}",
            "file:///etc/passwd",
        ] {
            assert!(Website::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Website::parse(&format!("https://e.com/{}", "a".repeat(250))).is_err());
        assert_eq!(Website::parse("").unwrap(), None);
    }

    #[test]
    fn language_tags_are_checked_and_put_in_their_usual_case() {
        for (raw, canonical) in
            [("en", "en"), ("FR", "fr"), ("pt-br", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW")]
        {
            assert_eq!(Language::parse(raw).unwrap().as_str(), canonical);
        }
        for bad in
            ["", "e", "english", "en_US", "en-", "-en", "en--US", "12", &"en-abcdefgh".repeat(4)]
        {
            assert!(Language::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn images_are_recognised_by_their_magic_bytes_only() {
        assert_eq!(ImageFormat::sniff(b"\x89PNG\r\n\x1a\n rest"), Some(ImageFormat::Png));
        assert_eq!(ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageFormat::Jpeg));
        assert_eq!(ImageFormat::sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageFormat::Webp));
        assert_eq!(ImageFormat::sniff(b"RIFF\x10\0\0\0WAVEfmt "), None, "a WAV is RIFF too");
        assert_eq!(ImageFormat::sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
        assert_eq!(ImageFormat::sniff(b""), None);
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Webp] {
            assert_eq!(ImageFormat::from_extension(format.extension()), Some(format));
        }
    }
}
