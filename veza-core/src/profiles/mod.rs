//! Profiles: what others see of an account (display name, bio, location, website, avatar,
//! follow counts), the account's settings, and follows between accounts. Values are parsed
//! once into types that can only hold valid ones; the avatar is an image recognised by its
//! bytes and kept in the blob store under its content hash.

mod error;
mod model;
mod ports;
mod service;

pub use error::ProfileError;
pub use model::{
    AVATAR_MAX_BYTES, AvatarChange, Bio, Completion, FollowEntry, FollowOutcome, ImageFormat,
    Language, Location, NewFollow, Profile, ProfileChanges, ProfilePatch, ProfileSummary, Settings,
    SettingsInput, Website,
};
pub use ports::ProfileStore;
pub use service::{Avatar, ProfileService};
