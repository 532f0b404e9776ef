//! The port bundle adapters fill in, and the services every edge (server, CLI, FFI) calls.

use std::sync::Arc;

use crate::admin::AdminService;
use crate::audit::{AuditLog, AuditStore};
use crate::auth::{AuthConfig, AuthService, SessionStore, TwoFactorStore};
use crate::blobs::BlobStore;
use crate::clock::{Clock, IdGenerator};
use crate::credentials::{CredentialService, CredentialStore};
use crate::jobs::JobStore;
use crate::mail::{MailOutbox, MailRelay, Mailer};
use crate::media::{AudioAnalyzer, MediaSpool};
use crate::privacy::{PrivacyService, PrivacyStore};
use crate::profiles::{ProfileService, ProfileStore};
use crate::rate_limit::RateLimiter;
use crate::scan::VirusScanner;
use crate::store::StoreHealth;
use crate::stream::StreamNotifier;
use crate::tracks::{TrackService, TrackStore, TracksConfig};
use crate::uploads::{UploadService, UploadStore};
use crate::users::{UserService, UserStore};

#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub two_factor: Arc<dyn TwoFactorStore>,
    pub audit: Arc<dyn AuditStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub privacy: Arc<dyn PrivacyStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Stored originals as seekable sources, for the analyzer.
    pub spool: Arc<dyn MediaSpool>,
    pub analyzer: Arc<dyn AudioAnalyzer>,
    pub jobs: Arc<dyn JobStore>,
    pub tracks: Arc<dyn TrackStore>,
    /// Resumable uploads in progress.
    pub uploads: Arc<dyn UploadStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub mail_outbox: Arc<dyn MailOutbox>,
    pub mailer: Arc<dyn Mailer>,
    /// Every upload passes through it before it is stored; `NoScanner` when none is set up.
    pub scanner: Arc<dyn VirusScanner>,
    /// Told when a track is ready for HLS packaging; `NoNotifier` when none is set up.
    pub stream: Arc<dyn StreamNotifier>,
    pub health: Arc<dyn StoreHealth>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

#[derive(Clone)]
pub struct Services {
    pub admin: AdminService,
    pub auth: AuthService,
    pub users: UserService,
    pub audit: AuditLog,
    pub profiles: ProfileService,
    pub privacy: PrivacyService,
    pub jobs: Arc<dyn JobStore>,
    pub tracks: TrackService,
    /// Resumable (tus) uploads, and tracks made of them.
    pub uploads: UploadService,
    pub credentials: CredentialService,
    /// Delivers queued mail; `veza serve` runs it with `mail.start()`.
    pub mail: MailRelay,
    pub health: Arc<dyn StoreHealth>,
}

impl Services {
    pub fn new(ports: Ports, config: AuthConfig, tracks: TracksConfig) -> Self {
        let audit = AuditLog::new(ports.audit.clone(), ports.clock.clone(), ports.ids.clone());
        // One password hasher (its worker threads and their memory) for the whole process.
        let users = UserService::new(ports.clone(), config.hash_params, audit.clone());
        let mail = MailRelay::new(
            ports.mail_outbox.clone(),
            ports.mailer.clone(),
            ports.clock.clone(),
            config.mail.relay.clone(),
        );
        let credentials = CredentialService::new(
            ports.clone(),
            config.mail.clone(),
            users.clone(),
            audit.clone(),
            mail.clone(),
            (config.max_login_failures, config.login_window),
        );
        let auth = AuthService::new(
            ports.clone(),
            config,
            users.clone(),
            audit.clone(),
            credentials.clone(),
        );
        let admin = AdminService::new(ports.clone(), users.clone(), audit.clone());
        let profiles = ProfileService::new(ports.clone());
        let privacy = PrivacyService::new(ports.clone(), users.clone(), audit.clone());
        let tracks = TrackService::new(ports.clone(), audit.clone(), tracks);
        let uploads = UploadService::new(ports.clone(), tracks.clone());
        Self {
            admin,
            auth,
            users,
            audit,
            credentials,
            mail,
            profiles,
            privacy,
            tracks,
            uploads,
            jobs: ports.jobs,
            health: ports.health,
        }
    }
}
