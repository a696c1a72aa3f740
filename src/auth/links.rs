//! One-time sign-in links for partner staff, who are not in the city's directory: sent by
//! e-mail, single use, valid 15 minutes, only the hash of the token is stored.

use chrono::Duration;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, store::insert_event, Event};
use crate::db::{self, Db, WritePool};
use crate::error::Result;
use crate::notifications::store::enqueue;
use crate::notifications::{MailKind, Outgoing};
use crate::on_db;
use crate::people::User;

/// How long a link stays valid.
pub const VALIDITY_MINUTES: i64 = 15;

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a link for `user` and queues the mail that carries it, with the audit line, in
/// one transaction: the request answers at once, whatever the relay does, so its timing
/// says nothing about which addresses exist.
pub async fn send(
    db: &Db,
    user: &User,
    public_url: &str,
    client: Option<std::net::IpAddr>,
) -> Result<()> {
    let token = super::random_token();
    let now = db::now();
    let expires = now + Duration::minutes(VALIDITY_MINUTES);
    let url = format!(
        "{}/connexion/lien/{token}",
        public_url.trim_end_matches('/')
    );
    let mail = Outgoing {
        kind: MailKind::LoginLink,
        user_id: Some(user.id),
        recipient: user.email.clone(),
        subject: "Votre lien de connexion à Repères".into(),
        text: format!(
            "Bonjour {},\n\nPour vous connecter à Repères, ouvrez ce lien dans les {} minutes :\n\n{url}\n\n\
             Le lien ne sert qu'une fois. Si vous n'avez rien demandé, ignorez ce message.\n\n\
             Repères — Ville de Nancy\n",
            user.display_name, VALIDITY_MINUTES
        ),
        html: None,
        attachments: Vec::new(),
        sensitive: true,
        dedupe_key: None,
        obligation_ids: Vec::new(),
        list_unsubscribe: None,
    };
    let event = Event::by(None, audit::Kind::LoginLinkSent, &user.email).client(client);
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        sqlx::query("INSERT INTO login_links (id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(Uuid::new_v4()).bind(hash(&token)).bind(user.id).bind(now).bind(expires)
            .execute(&mut *conn).await?;
        enqueue!(conn, &mail, now)?;
        insert_event!(conn, &event, now)?;
        tx.commit().await?;
    });
    Ok(())
}

/// Why a link was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkRefusal {
    Unknown,
    Used,
    Expired,
}

/// Uses a link: marks it used and returns its user id, in one conditional update, so two
/// simultaneous uses cannot both succeed.
pub async fn consume(db: &Db, token: &str) -> Result<Result<Uuid, LinkRefusal>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Err(LinkRefusal::Unknown));
    }
    let h = hash(token);
    let now = db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let row: Option<(Uuid, Option<chrono::DateTime<chrono::Utc>>, chrono::DateTime<chrono::Utc>)> =
            sqlx::query_as("SELECT user_id, used_at, expires_at FROM login_links WHERE token_hash = $1")
                .bind(&h).fetch_optional(tx.conn()).await?;
        let Some((user, used, expires)) = row else { return Ok(Err(LinkRefusal::Unknown)) };
        if used.is_some() {
            return Ok(Err(LinkRefusal::Used));
        }
        if expires <= now {
            return Ok(Err(LinkRefusal::Expired));
        }
        let done = sqlx::query("UPDATE login_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now).bind(&h).execute(tx.conn()).await?.rows_affected();
        tx.commit().await?;
        Ok(if done == 1 { Ok(user) } else { Err(LinkRefusal::Used) })
    })
}
