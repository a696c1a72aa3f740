//! Where mail goes: an SMTP relay, or (development, or when configured) a folder of `.eml`
//! files that the development mailbox reads.

use std::path::PathBuf;

use base64::Engine;
use lettre::message::header::ContentType;
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::store::Claimed;
use crate::config::Config;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP: a relay on the same host or a trusted network only.
    None,
    /// STARTTLS, required (port 587): the message never leaves in clear.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpSecurity {
    pub fn parse(s: &str) -> Result<SmtpSecurity, String> {
        match s {
            "none" => Ok(SmtpSecurity::None),
            "starttls" => Ok(SmtpSecurity::StartTls),
            "tls" => Ok(SmtpSecurity::Tls),
            other => Err(format!(
                "smtp_security = {other:?}: expected \"none\", \"starttls\" or \"tls\""
            )),
        }
    }
}

/// An SMTP relay and its pooled connections (reused from one message to the next).
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// The account name, when the relay asks for one (the password is never shown).
    pub username: Option<String>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay; `ca_pem` adds a trusted root (a relay with a certificate of the city's own
    /// authority).
    pub fn new(
        host: &str,
        port: u16,
        security: SmtpSecurity,
        credentials: Option<(String, String)>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Relay, String> {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(10)));
        if security != SmtpSecurity::None {
            let mut params = TlsParameters::builder(host.to_string());
            if let Some(pem) = ca_pem {
                params = params.add_root_certificate(
                    Certificate::from_pem(pem).map_err(|e| format!("smtp_ca_file : {e}"))?,
                );
            }
            let params = params
                .build_rustls()
                .map_err(|e| format!("TLS vers {host} : {e}"))?;
            builder = builder.tls(match security {
                SmtpSecurity::StartTls => Tls::Required(params),
                _ => Tls::Wrapper(params),
            });
        }
        let username = credentials.as_ref().map(|(u, _)| u.clone());
        if let Some((user, password)) = credentials {
            builder = builder.credentials(
                lettre::transport::smtp::authentication::Credentials::new(user, password),
            );
        }
        Ok(Relay {
            host: host.to_string(),
            port,
            security,
            username,
            transport: builder.build(),
        })
    }

    /// A plain relay with no account (a local relay, or a test server).
    pub fn plain(host: &str, port: u16) -> Result<Relay, String> {
        Relay::new(host, port, SmtpSecurity::None, None, None)
    }
}

/// The configured way out.
#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(Relay),
    /// One `.eml` file per message in this folder.
    Folder(PathBuf),
}

impl Transport {
    /// `mail_transport = "smtp"` or `"folder"` when set. Otherwise: the SMTP relay when
    /// `smtp_host` is set; in a debug build without a relay, the folder (so that
    /// `cargo run` can show every mail); in a release build, a relay on 127.0.0.1. A release
    /// build never writes mail to a folder unless told to.
    pub fn from_config(config: &Config) -> Result<Transport, String> {
        let smtp = || -> Result<Transport, String> {
            let security = SmtpSecurity::parse(&config.smtp_security)?;
            let credentials = match (&config.smtp_username, &config.smtp_password) {
                (Some(u), Some(p)) => Some((u.clone(), p.clone())),
                (None, None) => None,
                _ => {
                    return Err(
                        "smtp_username and smtp_password go together (REPERES_SMTP_PASSWORD)"
                            .into(),
                    )
                }
            };
            if credentials.is_some() && security == SmtpSecurity::None {
                return Err("smtp_username is set but smtp_security is \"none\": the password would cross the network in clear; choose \"starttls\" or \"tls\"".into());
            }
            let ca = match &config.smtp_ca_file {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| format!("smtp_ca_file {} : {e}", path.display()))?,
                ),
                None => None,
            };
            let host = config
                .smtp_host
                .clone()
                .unwrap_or_else(|| "127.0.0.1".into());
            Ok(Transport::Smtp(Relay::new(
                &host,
                config.smtp_port,
                security,
                credentials,
                ca.as_deref(),
            )?))
        };
        match config.mail_transport.as_deref() {
            Some("smtp") => smtp(),
            Some("folder") => Ok(Transport::Folder(config.mail_folder.clone())),
            Some(other) => Err(format!(
                "mail_transport = {other:?}: expected \"smtp\" or \"folder\""
            )),
            None if config.smtp_host.is_none() && cfg!(debug_assertions) => {
                Ok(Transport::Folder(config.mail_folder.clone()))
            }
            None => smtp(),
        }
    }

    /// For logs and the admin page.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(r) => format!(
                "relais SMTP {}:{}{}",
                r.host,
                r.port,
                match r.security {
                    SmtpSecurity::None => "",
                    SmtpSecurity::StartTls => " (STARTTLS)",
                    SmtpSecurity::Tls => " (TLS)",
                }
            ),
            Transport::Folder(dir) => format!("dossier {}", dir.display()),
        }
    }

    /// The folder of a folder transport.
    pub fn folder(&self) -> Option<&PathBuf> {
        match self {
            Transport::Folder(dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    /// Hands one message over. The error says what went wrong, for the admin page.
    pub async fn send(&self, message: Message, stem: &str) -> Result<(), String> {
        match self {
            Transport::Smtp(relay) => relay
                .transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP {}:{} : {e}", relay.host, relay.port)),
            Transport::Folder(dir) => {
                let bytes = message.formatted();
                let dir = dir.clone();
                let stem = stem.to_string();
                tokio::task::spawn_blocking(move || write_eml(&dir, &stem, &bytes))
                    .await
                    .map_err(|e| format!("écriture interrompue : {e}"))?
            }
        }
    }
}

/// Writes `<stem>.eml` atomically (a temporary file renamed), so the mailbox never reads a
/// half-written message.
fn write_eml(dir: &std::path::Path, stem: &str, bytes: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{} : {e}", dir.display()))?;
    let tmp = dir.join(format!(".{stem}.tmp"));
    let path = dir.join(format!("{stem}.eml"));
    std::fs::write(&tmp, bytes).map_err(|e| format!("{} : {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{} : {e}", path.display()))
}

/// Builds the MIME message of an outbox row: text (and HTML) alternatives, attachments,
/// the row's stable `Message-ID`.
pub fn build_message(
    claimed: &Claimed,
    mail_from: &str,
    public_url: &str,
) -> Result<Message, String> {
    let from: Mailbox = mail_from
        .parse()
        .map_err(|e| format!("mail_from {mail_from:?} : {e}"))?;
    let to: Mailbox = claimed
        .recipient
        .parse()
        .map_err(|e| format!("adresse {:?} : {e}", claimed.recipient))?;
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(claimed.subject.clone())
        .message_id(Some(super::message_id(claimed.id, public_url)));
    // RFC 2369 and RFC 8058: a campaign mail can be left in one click.
    let builder = match &claimed.list_unsubscribe {
        Some(url) => builder
            .raw_header(lettre::message::header::HeaderValue::new(
                lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(lettre::message::header::HeaderValue::new(
                lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            )),
        None => builder,
    };
    let body = match &claimed.body_html {
        Some(html) => MultiPart::alternative_plain_html(claimed.body_text.clone(), html.clone()),
        None => MultiPart::mixed().singlepart(SinglePart::plain(claimed.body_text.clone())),
    };
    let attachments = claimed.attachments();
    let message = if attachments.is_empty() && claimed.body_html.is_none() {
        builder.singlepart(SinglePart::plain(claimed.body_text.clone()))
    } else if attachments.is_empty() {
        builder.multipart(body)
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in attachments {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&a.data)
                .map_err(|e| format!("pièce jointe {} : {e}", a.filename))?;
            let content_type = ContentType::parse(&a.content_type)
                .map_err(|e| format!("pièce jointe {} : {e}", a.filename))?;
            mixed = mixed.singlepart(MimeAttachment::new(a.filename).body(bytes, content_type));
        }
        builder.multipart(mixed)
    };
    message.map_err(|e| format!("message mal formé : {e}"))
}
