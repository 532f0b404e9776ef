//! The port bundle adapters fill in, and the services every edge (server, CLI, FFI) calls.

use std::sync::Arc;

use crate::auth::{AuthConfig, AuthService, SessionStore};
use crate::clock::{Clock, IdGenerator};
use crate::rate_limit::RateLimiter;
use crate::store::StoreHealth;
use crate::users::{UserService, UserStore};

#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub health: Arc<dyn StoreHealth>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

#[derive(Clone)]
pub struct Services {
    pub auth: AuthService,
    pub users: UserService,
    pub health: Arc<dyn StoreHealth>,
}

impl Services {
    pub fn new(ports: Ports, config: AuthConfig) -> Self {
        // One password hasher (its worker threads and their memory) for the whole process.
        let users = UserService::new(ports.clone(), config.hash_params);
        let auth = AuthService::new(ports.clone(), config, users.clone());
        Self { auth, users, health: ports.health }
    }
}
