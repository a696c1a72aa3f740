#![recursion_limit = "512"]
//! Repères: the training service. `build` assembles the Rocket instance from settings;
//! each capability lives in its own folder (see `docs/ARCHITECTURE.md`).

pub mod admission;
pub mod api;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod certificates;
pub mod config;
pub mod db;
pub mod equality;
pub mod error;
pub mod ids;
pub mod jobs;
pub mod learning;
pub mod notifications;
pub mod obligations;
pub mod people;
pub mod reminders;
pub mod requests;
pub mod site;
pub mod trainings;
pub mod views;
mod web;

use rocket::figment::Figment;
use rocket::{Build, Rocket};

pub use config::Config;
pub use db::Db;

/// Why the service could not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("the course catalogue is invalid:\n{0}")]
    Catalog(String),
    #[error("templates: {0}")]
    Templates(String),
    #[error("cannot connect to the database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("seeding the demo data failed: {0}")]
    Seed(String),
}

/// The certificate signing key: from the settings, or (debug builds only) generated once
/// and kept in `certificate_key_file`.
fn signing_key(config: &Config) -> Result<certificates::Signer25519, StartError> {
    if let Some(seed) = &config.certificate_key {
        return certificates::Signer25519::from_base64(seed).map_err(StartError::Settings);
    }
    // Release builds always need the key, demo data or not: a key generated per instance
    // would make every other instance's certificates fail verification.
    if !cfg!(debug_assertions) {
        return Err(StartError::Settings(
            "missing setting `certificate_key` (REPERES_CERTIFICATE_KEY): the base64 of a 32-byte \
             Ed25519 seed that signs certificates, e.g. `openssl rand -base64 32`; every instance needs the same"
                .into(),
        ));
    }
    let path = &config.certificate_key_file;
    if let Ok(seed) = std::fs::read_to_string(path) {
        return certificates::Signer25519::from_base64(&seed)
            .map_err(|e| StartError::Settings(format!("{}: {e}", path.display())));
    }
    let (signer, seed) = certificates::Signer25519::generate();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, seed)
        .map_err(|e| StartError::Settings(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "development certificate key generated");
    Ok(signer)
}

/// Whether the settings lack a real `secret_key` (Rocket's own defaults hold an all-zero
/// key, so looking the setting up is not enough). A release build must not start then.
pub fn secret_key_missing(figment: &Figment) -> bool {
    figment
        .extract::<rocket::Config>()
        .map(|c| c.secret_key.is_zero())
        .unwrap_or(true)
}

/// Whether `url` points at this machine (`localhost`, `127.0.0.0/8`, `[::1]`).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A build with the development sign-in (debug, or the benchmark's `dev-login` feature)
/// lets anyone sign in as a demo person: it runs only on demo data, on this machine.
fn check_dev_login(config: &Config) -> Result<(), StartError> {
    if !config::DEV_LOGIN {
        return Ok(());
    }
    if !config.demo {
        return Err(StartError::Settings(
            "this build has the development sign-in (a debug build, or the `dev-login` feature) and \
             runs only with the demo data: set `demo = true` (REPERES_DEMO=true), or deploy a release \
             build without the `dev-login` feature"
                .into(),
        ));
    }
    if !is_loopback_url(&config.public_url) {
        return Err(StartError::Settings(format!(
            "this build has the development sign-in and runs only on this machine, but `public_url` \
             (REPERES_PUBLIC_URL) is {:?}: use a loopback address (127.0.0.1, localhost), or deploy a \
             release build without the `dev-login` feature",
            config.public_url
        )));
    }
    Ok(())
}

/// Hides the password of a database URL, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Loads the catalogue and templates, connects to and migrates the database, seeds the
/// demo data when asked, and returns the Rocket instance ready to launch.
pub async fn build(figment: Figment) -> Result<Rocket<Build>, StartError> {
    let config: Config = figment
        .extract()
        .map_err(|e| StartError::Settings(e.to_string()))?;
    check_dev_login(&config)?;
    let catalog = catalog::load(&config.courses_dir).map_err(|problems| {
        StartError::Catalog(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let views = views::Views::load(&config.templates_dir).map_err(StartError::Templates)?;
    let db = Db::connect(&config.database_url, config.database_max_connections)
        .await
        .map_err(|source| StartError::Connect {
            url: redact_url(&config.database_url),
            source,
        })?;
    db.migrate().await?;
    if config.demo {
        people::store::seed_demo(&db)
            .await
            .map_err(|e| StartError::Seed(e.to_string()))?;
        if obligations::store::seed_demo(&db, &catalog, db::now())
            .await
            .map_err(|e| StartError::Seed(e.to_string()))?
        {
            obligations::flow::reevaluate(&db, &catalog, db::now())
                .await
                .map_err(|e| StartError::Seed(e.to_string()))?;
        }
        if config.demo_trainings {
            let m = trainings::routes::mailing(&views, &config);
            trainings::flow::seed_demo(&db, &m, db::now())
                .await
                .map_err(|e| StartError::Seed(e.to_string()))?;
        }
    }
    // The plan's key days: written once, editable by HR.
    reminders::flow::seed(&db, &catalog)
        .await
        .map_err(|e| StartError::Seed(e.to_string()))?;
    // The equality plan's default indicators: written once, editable by HR.
    equality::flow::seed(&db, &catalog)
        .await
        .map_err(|e| StartError::Seed(e.to_string()))?;
    if config.demo && config.demo_plan {
        equality::flow::seed_demo(&db, &catalog, db::now())
            .await
            .map_err(|e| StartError::Seed(e.to_string()))?;
    }
    let previous_keys = config
        .certificate_previous_keys
        .iter()
        .map(|k| certificates::public_key_from_base64(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Settings)?;
    let certifier = certificates::Certifier {
        signer: signing_key(&config)?,
        previous_keys,
        issuer_city: config.issuer_city.clone(),
        issuer_service: config.issuer_service.clone(),
        public_url: config.public_url.clone(),
    };
    let oidc = match config.oidc.clone() {
        Some(c) => {
            Some(auth::oidc::Oidc::new(c).map_err(|e| StartError::Settings(format!("oidc: {e}")))?)
        }
        None => None,
    };
    let mailer = notifications::worker::Mailer {
        transport: notifications::transport::Transport::from_config(&config)
            .map_err(StartError::Settings)?,
        mail_from: config.mail_from.clone(),
        public_url: config.public_url.clone(),
    };
    Ok(web::assemble(
        figment, config, catalog, views, db, oidc, certifier, mailer,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_secret_key_is_seen_through_rocket_s_zero_default() {
        let base = crate::config::figment();
        if std::env::var_os("ROCKET_SECRET_KEY").is_none() {
            assert!(super::secret_key_missing(&base));
        }
        let set = base.merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="));
        assert!(!super::secret_key_missing(&set));
    }

    #[test]
    fn loopback_addresses_are_recognised() {
        for url in [
            "http://127.0.0.1:8000",
            "http://localhost",
            "https://[::1]:8443/app",
            "http://127.1.2.3",
        ] {
            assert!(super::is_loopback_url(url), "{url}");
        }
        for url in [
            "https://reperes.nancy.fr",
            "http://10.0.0.1:8000",
            "http://localhost.example.org",
            "",
        ] {
            assert!(!super::is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://app:s3cret@db:5432/reperes"),
            "postgres://app:***@db:5432/reperes"
        );
        assert_eq!(
            super::redact_url("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }
}
