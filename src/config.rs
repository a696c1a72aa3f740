//! Settings, read from `Rocket.toml` and the environment (`ROCKET_*` and `REPERES_*`).

use std::path::PathBuf;

use rocket::figment::providers::{Env, Serialized};
use rocket::figment::Figment;
use serde::{Deserialize, Serialize};

/// Repères' own settings. Each key can be set in `Rocket.toml` or as `REPERES_<KEY>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// `sqlite://data/reperes.db` (default), `sqlite:///abs/path.db` or `postgres://…`.
    pub database_url: String,
    /// Largest number of pooled database connections.
    pub database_max_connections: u32,
    pub courses_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub static_dir: PathBuf,
    /// Create the demo people when the database has no user yet.
    pub demo: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://data/reperes.db".into(),
            database_max_connections: 16,
            courses_dir: "courses".into(),
            templates_dir: "templates".into(),
            static_dir: "static".into(),
            demo: cfg!(debug_assertions),
        }
    }
}

/// Rocket's own figment (Rocket.toml, `ROCKET_*`) with Repères' defaults under it and the
/// `REPERES_*` variables over it.
pub fn figment() -> Figment {
    Figment::from(Serialized::defaults(Config::default()))
        .merge(rocket::Config::figment())
        .merge(Env::prefixed("REPERES_").global())
}

/// Whether the development sign-in exists in this build.
pub const DEV_LOGIN: bool = cfg!(any(debug_assertions, feature = "dev-login"));
