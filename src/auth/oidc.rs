//! City sign-in with OpenID Connect: authorization code flow with PKCE, `state` and
//! `nonce`; the ID token is verified (signature against the provider's JWKS, issuer,
//! audience, expiry, nonce) by the `openidconnect` crate. Discovery happens on first use
//! and is refreshed hourly, so a provider that is down at start-up does not stop the service.

use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::config::OidcConfig;
use crate::people::Role;

/// How long the browser has between leaving for the provider and coming back.
pub const LOGIN_STATE_MINUTES: i64 = 10;
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// What the login-state cookie remembers across the provider's round trip.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub next: String,
    /// Unix time the login started.
    pub started: i64,
}

/// The person the provider vouched for.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    /// The provider vouches for the address (`email_verified`); only then may the first
    /// sign-in link the person to a directory record by e-mail.
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("identity provider unreachable: {0}")]
    ProviderDown(String),
    #[error("code exchange refused: {0}")]
    Exchange(String),
    #[error("invalid ID token: {0}")]
    InvalidToken(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl OidcError {
    /// The French message for the person, without internal details.
    pub fn public_message(&self) -> &'static str {
        match self {
            OidcError::ProviderDown(_) => "Le service de connexion de la Ville ne répond pas pour le moment. Réessayez dans quelques minutes.",
            OidcError::Exchange(_) => "La connexion n'a pas pu être confirmée auprès du service de connexion de la Ville (code refusé ou destiné à une autre application). Recommencez.",
            OidcError::InvalidToken(_) => "La réponse du service de connexion n'a pas pu être vérifiée. Recommencez ; si le problème persiste, prévenez l'administrateur.",
            OidcError::Config(_) => "La connexion par le compte de la Ville est mal configurée sur ce serveur. Prévenez l'administrateur.",
        }
    }
}

pub struct Oidc {
    config: OidcConfig,
    http: openidconnect::reqwest::Client,
    metadata: RwLock<Option<(Instant, CoreProviderMetadata)>>,
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Oidc, OidcError> {
        // No redirects: a provider answer that redirects elsewhere must not be followed (SSRF).
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| OidcError::Config(format!("issuer: {e}")))?;
        RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| OidcError::Config(format!("redirect_url: {e}")))?;
        Ok(Oidc {
            config,
            http,
            metadata: RwLock::new(None),
        })
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        if let Some((at, m)) = self.metadata.read().await.as_ref() {
            if at.elapsed() < METADATA_TTL {
                return Ok(m.clone());
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Config(e.to_string()))?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::ProviderDown(e.to_string()))?;
        *self.metadata.write().await = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    /// Forgets the provider's metadata and keys (after a signature failure, keys may have
    /// rotated).
    pub async fn forget_metadata(&self) {
        *self.metadata.write().await = None;
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider URL to send the browser to, and the state to keep in a cookie.
    pub async fn start(&self, next: &str) -> Result<(String, LoginState), OidcError> {
        let client = self.client(self.metadata().await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()));
        if self.config.roles_claim == "groups" {
            request = request.add_scope(Scope::new("groups".into()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            LoginState {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                next: next.to_string(),
                started: chrono::Utc::now().timestamp(),
            },
        ))
    }

    /// Exchanges the code and verifies the ID token.
    pub async fn finish(&self, login: &LoginState, code: &str) -> Result<Identity, OidcError> {
        let client = self.client(self.metadata().await?)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::Request(e) => {
                    OidcError::ProviderDown(e.to_string())
                }
                other => OidcError::Exchange(other.to_string()),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::InvalidToken("no ID token in the response".into()))?;
        let verifier = client.id_token_verifier();
        let nonce = Nonce::new(login.nonce.clone());
        let claims = match id_token.claims(&verifier, &nonce) {
            Ok(c) => c,
            Err(e) => {
                self.forget_metadata().await;
                return Err(OidcError::InvalidToken(e.to_string()));
            }
        };
        // The groups claim is not a standard claim: read it from the payload that was
        // just verified.
        let groups = payload_claim(&id_token.to_string(), &self.config.roles_claim);
        Ok(Identity {
            subject: claims.subject().as_str().to_string(),
            email: claims.email().map(|e| e.as_str().to_lowercase()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
            groups,
        })
    }

    /// The role given by the person's groups: the highest one any group maps to; `None`
    /// when no group maps to a role (the role set in Repères then stands).
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        role_for(&self.config.role_map, groups)
    }
}

/// String values of a claim in a JWT payload (a string or an array of strings).
fn payload_claim(jwt: &str, claim: &str) -> Vec<String> {
    let Some(payload) = jwt.split('.').nth(1) else {
        return vec![];
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return vec![];
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return vec![];
    };
    match value.get(claim) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

const PRECEDENCE: [Role; 6] = [
    Role::Admin,
    Role::Hr,
    Role::Manager,
    Role::Trainer,
    Role::PartnerReferent,
    Role::Learner,
];

pub fn role_for(
    map: &std::collections::BTreeMap<String, String>,
    groups: &[String],
) -> Option<Role> {
    let granted: Vec<Role> = groups
        .iter()
        .filter_map(|g| map.get(g))
        .filter_map(|code| Role::parse(code))
        .collect();
    PRECEDENCE.into_iter().find(|r| granted.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_mapped_role_wins() {
        let map = [("rh", "hr"), ("agents", "learner"), ("chefs", "manager")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(
            role_for(&map, &["agents".into(), "rh".into()]),
            Some(Role::Hr)
        );
        assert_eq!(role_for(&map, &["chefs".into()]), Some(Role::Manager));
        assert_eq!(
            role_for(&map, &["inconnu".into()]),
            None,
            "Repères keeps its role"
        );
        assert_eq!(role_for(&map, &[]), None);
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"groups":["a","b"],"one":"x"}"#);
        let jwt = format!("h.{payload}.s");
        assert_eq!(payload_claim(&jwt, "groups"), vec!["a", "b"]);
        assert_eq!(payload_claim(&jwt, "one"), vec!["x"]);
        assert!(payload_claim(&jwt, "none").is_empty());
        assert!(payload_claim("garbage", "groups").is_empty());
    }
}
