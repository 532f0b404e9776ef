//! What the `/users` endpoints do: read and edit profiles, avatars, settings and follows.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    AVATAR_MAX_BYTES, Bio, Completion, FollowEntry, FollowOutcome, ImageFormat, Location,
    NewFollow, Profile, ProfileChanges, ProfileError, ProfilePatch, Settings, SettingsInput,
    Website,
};
use crate::Ports;
use crate::auth::{FieldError, Principal};
use crate::blobs::{BlobError, BlobKey, BlobRead};
use crate::pagination::{Page, PageRequest};
use crate::users::{DisplayName, Username};

/// An avatar ready to be sent: its format and an open read of its bytes.
#[derive(Debug)]
pub struct Avatar {
    pub key: BlobKey,
    pub format: ImageFormat,
    pub content: BlobRead,
}

impl Avatar {
    /// The SHA-256 of the image (its key is content-addressed): a strong validator.
    pub fn digest(&self) -> &str {
        self.key.file_stem()
    }
}

/// The value, or `None` with its error kept, so one answer can list every bad field.
fn collect<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

#[derive(Clone)]
pub struct ProfileService {
    ports: Ports,
}

impl ProfileService {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// The profile named by `ident`: a user id or a username (without case).
    ///
    /// # Errors
    /// `UserNotFound` if none matches.
    pub async fn profile(&self, ident: &str) -> Result<Profile, ProfileError> {
        let ident = ident.trim();
        let found = match Uuid::try_parse(ident) {
            Ok(id) => self.ports.profiles.profile_by_id(id).await?,
            // A UUID is 36 characters, a username at most 30: the two never collide.
            Err(_) => match Username::parse(ident) {
                Ok(username) => self.ports.profiles.profile_by_username(&username.key()).await?,
                Err(_) => None,
            },
        };
        found.ok_or(ProfileError::UserNotFound)
    }

    /// The caller's own profile.
    ///
    /// # Errors
    /// `UserNotFound` if the account was deleted meanwhile.
    pub async fn own_profile(&self, principal: &Principal) -> Result<Profile, ProfileError> {
        self.ports
            .profiles
            .profile_by_id(principal.user.id)
            .await?
            .ok_or(ProfileError::UserNotFound)
    }

    /// Applies a partial edit. A cleared display name falls back to the username, as at
    /// sign-up; the other fields clear to nothing.
    ///
    /// # Errors
    /// `Invalid` listing every bad field; nothing is written then.
    pub async fn update(
        &self,
        principal: &Principal,
        patch: ProfilePatch,
    ) -> Result<Profile, ProfileError> {
        let mut errors = Vec::new();
        let username = &principal.user.username;
        let display_name = patch.display_name.map(|value| match value.as_deref().map(str::trim) {
            None | Some("") => Some(DisplayName::from_trusted(username.as_str().to_owned())),
            Some(raw) => collect(&mut errors, DisplayName::parse(raw)),
        });
        let bio =
            patch.bio.map(|v| collect(&mut errors, v.as_deref().map_or(Ok(None), Bio::parse)));
        let location = patch
            .location
            .map(|v| collect(&mut errors, v.as_deref().map_or(Ok(None), Location::parse)));
        let website = patch
            .website
            .map(|v| collect(&mut errors, v.as_deref().map_or(Ok(None), Website::parse)));
        if !errors.is_empty() {
            return Err(ProfileError::Invalid(errors));
        }
        let changes = ProfileChanges {
            display_name: display_name.flatten(),
            bio: bio.flatten(),
            location: location.flatten(),
            website: website.flatten(),
        };
        let now = self.ports.clock.now();
        self.ports
            .profiles
            .update_profile(principal.user.id, &changes, now)
            .await?
            .ok_or(ProfileError::UserNotFound)
    }

    /// Stores a new avatar under `avatars/<sha256>.<ext>` and points the profile at it; the
    /// previous image is deleted when no account uses it any more.
    ///
    /// Two accounts swapping to and from byte-identical images in the same instant can race:
    /// one may see the shared file deleted under it and must upload again. Keys are content
    /// hashes, so that needs identical bytes at the same moment; it never leaks a file.
    ///
    /// # Errors
    /// `ImageTooLarge` over `AVATAR_MAX_BYTES`, `UnsupportedImage` unless the bytes start
    /// like a PNG, JPEG or WebP file.
    pub async fn set_avatar(
        &self,
        principal: &Principal,
        image: Bytes,
    ) -> Result<Profile, ProfileError> {
        if image.len() > AVATAR_MAX_BYTES {
            return Err(ProfileError::ImageTooLarge { max_bytes: AVATAR_MAX_BYTES });
        }
        let format = ImageFormat::sniff(&image).ok_or(ProfileError::UnsupportedImage)?;
        let digest: String = Sha256::digest(&image).iter().map(|b| format!("{b:02x}")).collect();
        let key = BlobKey::parse(&format!("avatars/{digest}.{}", format.extension()))
            .expect("hex digits and a known extension make a valid key");
        self.ports.blobs.put(&key, image).await?;
        let now = self.ports.clock.now();
        let change = self
            .ports
            .profiles
            .set_avatar(principal.user.id, &key, now)
            .await?
            .ok_or(ProfileError::UserNotFound)?;
        if let Some(orphan) = change.orphaned {
            // The profile already points at the new image; a stale file costs only space.
            if let Err(err) = self.ports.blobs.delete(&orphan).await {
                tracing::warn!(error = %err, key = %orphan, "previous avatar not deleted");
            }
        }
        Ok(change.profile)
    }

    /// The avatar of the account `ident` names, opened for reading.
    ///
    /// # Errors
    /// `UserNotFound`, or `NoAvatar` if it has none (or its file is gone).
    pub async fn avatar(&self, ident: &str) -> Result<Avatar, ProfileError> {
        let profile = self.profile(ident).await?;
        let key = profile.avatar.ok_or(ProfileError::NoAvatar)?;
        let format =
            key.extension().and_then(ImageFormat::from_extension).ok_or(ProfileError::NoAvatar)?;
        let content = match self.ports.blobs.get(&key, None).await {
            Ok(content) => content,
            Err(BlobError::NotFound) => return Err(ProfileError::NoAvatar),
            Err(err) => return Err(err.into()),
        };
        Ok(Avatar { key, format, content })
    }

    /// # Errors
    /// Only storage failures.
    pub async fn settings(&self, principal: &Principal) -> Result<Settings, ProfileError> {
        Ok(self.ports.profiles.settings(principal.user.id).await?)
    }

    /// Replaces the caller's settings.
    ///
    /// # Errors
    /// `Invalid` if the language is not a language tag.
    pub async fn save_settings(
        &self,
        principal: &Principal,
        input: SettingsInput,
    ) -> Result<Settings, ProfileError> {
        let settings = Settings {
            email_notifications: input.email_notifications,
            private_profile: input.private_profile,
            language: super::Language::parse(&input.language)?,
            explicit_content: input.explicit_content,
        };
        let now = self.ports.clock.now();
        Ok(self.ports.profiles.save_settings(principal.user.id, &settings, now).await?)
    }

    /// Which of the things that make a profile useful to others the caller has done:
    /// a display name of their own, an avatar, a bio, a location, a website, a verified
    /// e-mail. Each weighs the same; `percent` rounds down.
    ///
    /// # Errors
    /// `UserNotFound` if the account was deleted meanwhile.
    pub async fn completion(&self, principal: &Principal) -> Result<Completion, ProfileError> {
        let profile = self.own_profile(principal).await?;
        let checks = [
            ("display_name", profile.display_name.as_str() != profile.username.as_str()),
            ("avatar", profile.avatar.is_some()),
            ("bio", profile.bio.is_some()),
            ("location", profile.location.is_some()),
            ("website", profile.website.is_some()),
            ("email_verified", principal.user.email_verified),
        ];
        let done = checks.iter().filter(|(_, ok)| *ok).count();
        let percent = u8::try_from(done * 100 / checks.len()).expect("at most 100");
        let missing = checks.iter().filter(|(_, ok)| !ok).map(|(name, _)| *name).collect();
        Ok(Completion { percent, missing })
    }

    async fn other_account(
        &self,
        principal: &Principal,
        ident: &str,
    ) -> Result<Uuid, ProfileError> {
        let target = self.profile(ident).await?;
        if target.id == principal.user.id {
            return Err(ProfileError::CannotFollowSelf);
        }
        Ok(target.id)
    }

    /// The caller follows `ident`. Idempotent.
    ///
    /// # Errors
    /// `UserNotFound`, `CannotFollowSelf`.
    pub async fn follow(&self, principal: &Principal, ident: &str) -> Result<(), ProfileError> {
        let followee_id = self.other_account(principal, ident).await?;
        let follow = NewFollow {
            id: self.ports.ids.new_id(),
            follower_id: principal.user.id,
            followee_id,
            created_at: self.ports.clock.now(),
        };
        match self.ports.profiles.follow(&follow).await? {
            FollowOutcome::Followed | FollowOutcome::AlreadyFollowing => Ok(()),
            FollowOutcome::UnknownUser => Err(ProfileError::UserNotFound),
        }
    }

    /// The caller stops following `ident`. Idempotent.
    ///
    /// # Errors
    /// `UserNotFound`, `CannotFollowSelf` (there is nothing to undo, and the answer matches
    /// the follow's).
    pub async fn unfollow(&self, principal: &Principal, ident: &str) -> Result<(), ProfileError> {
        let followee_id = self.other_account(principal, ident).await?;
        self.ports.profiles.unfollow(principal.user.id, followee_id).await?;
        Ok(())
    }

    /// The profile `ident` names, if `viewer` may see its follow lists: anyone for a public
    /// profile, only the owner for a private one.
    async fn visible_lists(
        &self,
        viewer: Option<&Principal>,
        ident: &str,
    ) -> Result<Uuid, ProfileError> {
        let profile = self.profile(ident).await?;
        let is_owner = viewer.is_some_and(|v| v.user.id == profile.id);
        if profile.private && !is_owner {
            return Err(ProfileError::UserNotFound);
        }
        Ok(profile.id)
    }

    /// Who follows `ident`, newest first.
    ///
    /// # Errors
    /// `UserNotFound` if no such account, or its profile is private and not the viewer's.
    pub async fn followers(
        &self,
        viewer: Option<&Principal>,
        ident: &str,
        page: PageRequest,
    ) -> Result<Page<FollowEntry>, ProfileError> {
        let id = self.visible_lists(viewer, ident).await?;
        let rows = self.ports.profiles.followers(id, page).await?;
        Ok(Page::from_rows(rows, page, |e| e.follow_id))
    }

    /// Whom `ident` follows, newest first.
    ///
    /// # Errors
    /// As `followers`.
    pub async fn following(
        &self,
        viewer: Option<&Principal>,
        ident: &str,
        page: PageRequest,
    ) -> Result<Page<FollowEntry>, ProfileError> {
        let id = self.visible_lists(viewer, ident).await?;
        let rows = self.ports.profiles.following(id, page).await?;
        Ok(Page::from_rows(rows, page, |e| e.follow_id))
    }
}
