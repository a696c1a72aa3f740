//! The append-only log of security events: sign-ins, failed sign-ins, role changes,
//! imports, API tokens. The database refuses updates and deletions (triggers).

pub mod routes;
pub mod store;

use uuid::Uuid;

use crate::people::User;

/// Kinds of security events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SignIn,
    SignInFailed,
    SignOut,
    LoginLinkSent,
    RoleChange,
    Import,
    TokenCreated,
    TokenRevoked,
    CertificateRevoked,
    MailResent,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::SignInFailed => "sign_in_failed",
            Kind::SignOut => "sign_out",
            Kind::LoginLinkSent => "login_link_sent",
            Kind::RoleChange => "role_change",
            Kind::Import => "import",
            Kind::TokenCreated => "token_created",
            Kind::TokenRevoked => "token_revoked",
            Kind::CertificateRevoked => "certificate_revoked",
            Kind::MailResent => "mail_resent",
        }
    }

    pub fn label(code: &str) -> &'static str {
        match code {
            "sign_in" => "Connexion",
            "sign_in_failed" => "Échec de connexion",
            "sign_out" => "Déconnexion",
            "login_link_sent" => "Lien de connexion envoyé",
            "role_change" => "Changement de rôle",
            "import" => "Import de l'annuaire",
            "token_created" => "Jeton d'API créé",
            "token_revoked" => "Jeton d'API révoqué",
            "certificate_revoked" => "Attestation révoquée",
            "mail_resent" => "Courriel renvoyé",
            _ => "Autre",
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event {
    pub actor_id: Option<Uuid>,
    /// Who acted, as shown in the log (e-mail, "système", "jeton …").
    pub actor: String,
    pub kind: Kind,
    /// What the event is about (an e-mail, a token name, a file name).
    pub subject: String,
    pub details: String,
    /// The client address, when known.
    pub client: String,
}

impl Event {
    pub fn by(user: Option<&User>, kind: Kind, subject: impl Into<String>) -> Event {
        Event {
            actor_id: user.map(|u| u.id),
            actor: user
                .map(|u| u.email.clone())
                .unwrap_or_else(|| "anonyme".into()),
            kind,
            subject: subject.into(),
            details: String::new(),
            client: String::new(),
        }
    }

    pub fn details(mut self, details: impl Into<String>) -> Event {
        self.details = details.into();
        self
    }

    pub fn client(mut self, client: Option<std::net::IpAddr>) -> Event {
        self.client = client.map(|c| c.to_string()).unwrap_or_default();
        self
    }
}
