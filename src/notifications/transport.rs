//! Where mail goes: an SMTP relay, or (development, or when configured) a folder of `.eml`
//! files that the development mailbox reads.

use std::path::PathBuf;

use base64::Engine;
use lettre::message::header::ContentType;
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::store::Claimed;
use crate::config::Config;

/// The configured way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Smtp {
        host: String,
        port: u16,
    },
    /// One `.eml` file per message in this folder.
    Folder(PathBuf),
}

impl Transport {
    /// `mail_transport = "smtp"` or `"folder"` when set. Otherwise: the SMTP relay when
    /// `smtp_host` is set; in a debug build without a relay, the folder (so that
    /// `cargo run` can show every mail); in a release build, a relay on 127.0.0.1. A release
    /// build writes mail to a folder only when told to.
    pub fn from_config(config: &Config) -> Result<Transport, String> {
        let smtp = || Transport::Smtp {
            host: config
                .smtp_host
                .clone()
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: config.smtp_port,
        };
        match config.mail_transport.as_deref() {
            Some("smtp") => Ok(smtp()),
            Some("folder") => Ok(Transport::Folder(config.mail_folder.clone())),
            Some(other) => Err(format!(
                "mail_transport = {other:?}: expected \"smtp\" or \"folder\""
            )),
            None if config.smtp_host.is_none() && cfg!(debug_assertions) => {
                Ok(Transport::Folder(config.mail_folder.clone()))
            }
            None => Ok(smtp()),
        }
    }

    /// For logs and the admin page.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { host, port } => format!("relais SMTP {host}:{port}"),
            Transport::Folder(dir) => format!("dossier {}", dir.display()),
        }
    }

    /// The folder of a folder transport.
    pub fn folder(&self) -> Option<&PathBuf> {
        match self {
            Transport::Folder(dir) => Some(dir),
            Transport::Smtp { .. } => None,
        }
    }

    /// Hands one message over. The error says what went wrong, for the admin page.
    pub async fn send(&self, message: Message, stem: &str) -> Result<(), String> {
        match self {
            Transport::Smtp { host, port } => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(*port)
                    .timeout(Some(std::time::Duration::from_secs(10)))
                    .build();
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP {host}:{port} : {e}"))
            }
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
