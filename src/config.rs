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
    /// Requests handled at once; past it a request waits `max_queue_wait_ms` for a place,
    /// then is answered « 503 » with `Retry-After` (see `admission`).
    pub max_in_flight: u32,
    /// How long a request may wait for a place before the 503.
    pub max_queue_wait_ms: u64,
    pub courses_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub static_dir: PathBuf,
    /// Create the demo people when the database has no user yet.
    pub demo: bool,
    /// With the demo: also create the demo's shared training sessions (and their
    /// enrolments). The tests turn it off to start from an empty training calendar.
    pub demo_trainings: bool,
    /// With the demo people, also a demo equality plan: period, actions, a manual value
    /// and a first snapshot.
    pub demo_plan: bool,
    /// The address users reach the service at, for links in e-mails.
    pub public_url: String,
    /// The SMTP relay; absent in a debug build: mail goes to `mail_folder` (see
    /// `notifications::transport::Transport::from_config`).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `"none"` (a local relay), `"starttls"` (required) or `"tls"` (from the first byte).
    pub smtp_security: String,
    /// The relay's account; the password only from the environment (REPERES_SMTP_PASSWORD).
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// A PEM root certificate to trust for the relay, besides the public ones.
    pub smtp_ca_file: Option<PathBuf>,
    /// `"smtp"` or `"folder"`; absent: chosen from `smtp_host` and the build.
    pub mail_transport: Option<String>,
    /// Where the folder transport writes one `.eml` file per message.
    pub mail_folder: PathBuf,
    /// Seconds between two rounds of the outbox delivery worker.
    pub outbox_poll_seconds: u64,
    /// Whether this instance runs the scheduled jobs, outbox delivery included (tests drive
    /// them themselves, through `jobs::runner::Runner::run_due`).
    pub scheduler: bool,
    /// `Secure` cookies with the `__Host-` prefix. Turn off only for plain-HTTP local
    /// development on a browser that refuses secure cookies from `http://127.0.0.1`.
    pub cookie_secure: bool,
    /// Where certificate exports (ZIP files) are written; only the service's user can read
    /// them. The daily clean-up removes them after `export_retention_hours`.
    pub export_folder: PathBuf,
    pub export_retention_hours: i64,
    /// A directory import that would deactivate more than this share (percent) of the
    /// active directory people needs an explicit confirmation.
    pub import_max_deactivation_percent: u32,
    /// Saving an assignment rule that would give more people than this a new obligation
    /// needs an explicit confirmation after its dry run.
    pub rule_max_without_confirmation: u64,
    /// Equality-plan breakdowns show « < n » instead of any cell counting fewer people.
    pub equality_min_cell: u64,
    /// How long a seat freed in a shared session is held for the first person waiting.
    pub training_hold_hours: i64,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// How long an instance trusts a checked session before reading it again.
    pub session_cache_seconds: u64,
    pub mail_from: String,
    /// City sign-in; absent: the sign-in page offers only the partner e-mail link.
    pub oidc: Option<OidcConfig>,
    /// Ed25519 seed (base64 of 32 bytes) that signs certificates. Required in release;
    /// in debug builds a key is generated once into `certificate_key_file`.
    pub certificate_key: Option<String>,
    /// Public keys (base64) of retired signing keys: certificates they signed stay valid
    /// after `certificate_key` changes.
    pub certificate_previous_keys: Vec<String>,
    pub certificate_key_file: PathBuf,
    pub issuer_city: String,
    pub issuer_service: String,
}

/// The city's identity provider (`[default.oidc]` in Rocket.toml, `REPERES_OIDC__*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Must be `<public_url>/auth/oidc/callback`, registered at the provider.
    pub redirect_url: String,
    /// The ID-token claim that lists the person's groups.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Group name → role code (admin, hr, manager, trainer, partner_referent, learner).
    #[serde(default)]
    pub role_map: std::collections::BTreeMap<String, String>,
}

fn default_roles_claim() -> String {
    "groups".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://data/reperes.db".into(),
            database_max_connections: 16,
            max_in_flight: 128,
            max_queue_wait_ms: 500,
            courses_dir: "courses".into(),
            templates_dir: "templates".into(),
            static_dir: "static".into(),
            demo: cfg!(debug_assertions),
            demo_trainings: true,
            demo_plan: true,
            public_url: "http://127.0.0.1:8000".into(),
            smtp_host: None,
            smtp_port: 25,
            smtp_security: "none".into(),
            smtp_username: None,
            smtp_password: None,
            smtp_ca_file: None,
            mail_transport: None,
            mail_folder: "data/mails".into(),
            outbox_poll_seconds: 5,
            scheduler: true,
            cookie_secure: true,
            export_folder: "data/exports".into(),
            export_retention_hours: 24,
            import_max_deactivation_percent: 10,
            rule_max_without_confirmation: 200,
            equality_min_cell: 5,
            training_hold_hours: 48,
            session_idle_minutes: 30,
            session_cache_seconds: 10,
            mail_from: "Repères <ne-pas-repondre@reperes.invalid>".into(),
            oidc: None,
            certificate_key: None,
            certificate_previous_keys: Vec::new(),
            certificate_key_file: "data/certificate-key".into(),
            issuer_city: "Ville de Nancy".into(),
            issuer_service: "Mission lutte contre les discriminations".into(),
        }
    }
}

/// Rocket's own figment (Rocket.toml, `ROCKET_*`) with Repères' defaults under it and the
/// `REPERES_*` variables over it.
pub fn figment() -> Figment {
    Figment::from(Serialized::defaults(Config::default()))
        .merge(rocket::Config::figment())
        .merge(Env::prefixed("REPERES_").split("__").global())
}

/// Whether the development sign-in exists in this build.
pub const DEV_LOGIN: bool = cfg!(any(debug_assertions, feature = "dev-login"));
