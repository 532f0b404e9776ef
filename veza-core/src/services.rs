//! The port bundle adapters fill in, and the services every edge (server, CLI, FFI) calls.

use std::sync::Arc;

use crate::admin::AdminService;
use crate::audit::{AuditLog, AuditStore};
use crate::auth::{AuthConfig, AuthService, SessionStore};
use crate::clock::{Clock, IdGenerator};
use crate::jobs::JobStore;
use crate::rate_limit::RateLimiter;
use crate::store::StoreHealth;
use crate::users::{UserService, UserStore};

#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub audit: Arc<dyn AuditStore>,
    pub jobs: Arc<dyn JobStore>,
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
    pub jobs: Arc<dyn JobStore>,
    pub health: Arc<dyn StoreHealth>,
}

impl Services {
    pub fn new(ports: Ports, config: AuthConfig) -> Self {
        let audit = AuditLog::new(ports.audit.clone(), ports.clock.clone(), ports.ids.clone());
        // One password hasher (its worker threads and their memory) for the whole process.
        let users = UserService::new(ports.clone(), config.hash_params, audit.clone());
        let auth = AuthService::new(ports.clone(), config, users.clone(), audit.clone());
        let admin = AdminService::new(ports.clone(), users.clone(), audit.clone());
        Self { admin, auth, users, audit, jobs: ports.jobs, health: ports.health }
    }
}
