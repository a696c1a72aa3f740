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
    CertificateExport,
    RuleSaved,
    Exemption,
    ReminderSettings,
    CampaignSaved,
    TrainingSaved,
    TrainingCancelled,
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
            Kind::CertificateExport => "certificate_export",
            Kind::RuleSaved => "rule_saved",
            Kind::Exemption => "exemption",
            Kind::ReminderSettings => "reminder_settings",
            Kind::CampaignSaved => "campaign_saved",
            Kind::TrainingSaved => "training_saved",
            Kind::TrainingCancelled => "training_cancelled",
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
            "certificate_export" => "Export d'attestations",
            "rule_saved" => "Règle d'obligation enregistrée",
            "exemption" => "Dispense de formation",
            "reminder_settings" => "Règles de rappel modifiées",
            "campaign_saved" => "Campagne enregistrée",
            "training_saved" => "Formation partagée enregistrée",
            "training_cancelled" => "Session de formation annulée",
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

/// A value that came from outside (typed by someone, or an identity provider's error), made
/// safe for a one-line log: control characters (a newline
/// that would forge a second log line, an escape sequence for the terminal) are written
/// escaped, as `\n` or `\u{1b}`.
pub fn log_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod log_tests {
    use super::log_safe;

    #[test]
    fn control_characters_cannot_forge_a_log_line() {
        assert_eq!(
            log_safe("a@b.c\naudit: sign_in actor=admin"),
            "a@b.c\\naudit: sign_in actor=admin"
        );
        assert_eq!(log_safe("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(log_safe("Hélène Lefèvre-Çelik"), "Hélène Lefèvre-Çelik");
    }
}
