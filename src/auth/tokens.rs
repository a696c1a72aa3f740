//! API tokens for machine clients (the city's reporting tools). Created by an admin, shown
//! once, stored as a SHA-256 hash, scoped read-only or read-write, revocable.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::FromRow;
use uuid::Uuid;

use crate::audit::{self, store::insert_event, Event};
use crate::db::{self, Db, WritePool};
use crate::error::{Error, Result};
use crate::on_db;
use crate::people::User;

/// Prefix of every token, so that a leaked one is easy to recognise.
pub const PREFIX: &str = "rpr_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    Read,
    ReadWrite,
}

impl TokenScope {
    pub fn code(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::ReadWrite => "read_write",
        }
    }
    /// `read`, or `read_write` (also spelt `read-write`, as people write it).
    pub fn parse(s: &str) -> Option<TokenScope> {
        match s.trim() {
            "read" => Some(TokenScope::Read),
            "read_write" | "read-write" => Some(TokenScope::ReadWrite),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            TokenScope::Read => "lecture seule",
            TokenScope::ReadWrite => "lecture et écriture",
        }
    }
}

/// A valid token, as seen by a request guard.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub scope: TokenScope,
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn generate() -> String {
    format!("{PREFIX}{}", super::random_token())
}

/// Creates a token and returns its plaintext (shown once). Audited in the same transaction.
pub async fn create(
    db: &Db,
    name: &str,
    scope: TokenScope,
    by: Option<&User>,
    client: Option<std::net::IpAddr>,
) -> Result<(Uuid, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::Unprocessable(
            "Donnez au jeton un nom de 1 à 100 caractères (l'outil qui l'utilisera).".into(),
        ));
    }
    let token = generate();
    let id = Uuid::new_v4();
    let now = db::now();
    let mut event = Event::by(by, audit::Kind::TokenCreated, name)
        .details(format!("portée : {}", scope.code()))
        .client(client);
    if by.is_none() {
        event.actor = "ligne de commande".into();
    }
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        sqlx::query("INSERT INTO api_tokens (id, name, token_hash, scope, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id).bind(name).bind(hash(&token)).bind(scope.code()).bind(by.map(|u| u.id)).bind(now)
            .execute(&mut *conn).await?;
        insert_event!(conn, &event, now)?;
        tx.commit().await?;
    });
    Ok((id, token))
}

/// Revokes a token; false when it was unknown or already revoked.
pub async fn revoke(
    db: &Db,
    id: Uuid,
    by: &User,
    client: Option<std::net::IpAddr>,
) -> Result<bool> {
    let now = db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM api_tokens WHERE id = $1 AND revoked_at IS NULL")
            .bind(id).fetch_optional(&mut *conn).await?;
        let Some(name) = name else { return Ok(false) };
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2").bind(now).bind(id).execute(&mut *conn).await?;
        let event = Event::by(Some(by), audit::Kind::TokenRevoked, name).client(client);
        insert_event!(conn, &event, now)?;
        tx.commit().await?;
        Ok(true)
    })
}

#[derive(FromRow)]
struct TokenRow {
    id: Uuid,
    name: String,
    scope: String,
    last_used_at: Option<DateTime<Utc>>,
}

/// The token with this plaintext, if valid (known and not revoked). Records its use at
/// most once a minute.
pub async fn verify(db: &Db, plaintext: &str) -> Result<Option<ApiToken>> {
    if !plaintext.starts_with(PREFIX) || plaintext.len() > 200 {
        return Ok(None);
    }
    let h = hash(plaintext);
    let row: Option<TokenRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, scope, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
    ).bind(&h).fetch_optional(pool).await)?;
    let Some(row) = row else { return Ok(None) };
    let now = db::now();
    if row
        .last_used_at
        .is_none_or(|t| now - t > Duration::minutes(1))
    {
        on_db!(db, pool => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now).bind(row.id).execute(pool).await.map(|_| ()))?;
    }
    Ok(TokenScope::parse(&row.scope).map(|scope| ApiToken {
        id: row.id,
        name: row.name,
        scope,
    }))
}

#[derive(Debug, Serialize, FromRow)]
pub struct TokenListRow {
    pub id: Uuid,
    pub name: String,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn list(db: &Db) -> Result<Vec<TokenListRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, scope, created_at, revoked_at, last_used_at FROM api_tokens ORDER BY created_at DESC"
    ).fetch_all(pool).await)?)
}

#[cfg(test)]
mod scope_tests {
    use super::TokenScope;

    #[test]
    fn both_spellings_of_read_write_are_accepted() {
        assert_eq!(TokenScope::parse("read"), Some(TokenScope::Read));
        assert_eq!(TokenScope::parse("read_write"), Some(TokenScope::ReadWrite));
        assert_eq!(TokenScope::parse("read-write"), Some(TokenScope::ReadWrite));
        assert_eq!(TokenScope::parse("write"), None);
    }
}
