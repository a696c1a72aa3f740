//! Outgoing mail over SMTP (lettre), configured by `smtp_host`, `smtp_port`, `mail_from`.

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::Config;
use crate::error::{Error, Result};

/// Sends a plain-text message.
pub async fn send(config: &Config, to: &str, subject: &str, body: String) -> Result<()> {
    let from: Mailbox = config
        .mail_from
        .parse()
        .map_err(|e| Error::Internal(format!("mail_from {:?}: {e}", config.mail_from)))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| Error::Internal(format!("recipient {to:?}: {e}")))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| Error::Internal(format!("building mail: {e}")))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
        .port(config.smtp_port)
        .timeout(Some(std::time::Duration::from_secs(10)))
        .build();
    transport.send(message).await.map(|_| ()).map_err(|e| {
        Error::Internal(format!(
            "SMTP {}:{}: {e}",
            config.smtp_host, config.smtp_port
        ))
    })
}
