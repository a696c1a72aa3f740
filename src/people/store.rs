//! SQL for people.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::{Role, User, DEMO_PEOPLE};
use crate::catalog::Audience;
use crate::db::{self, Db, WritePool};
use crate::error::{Error, Result};
use crate::on_db;

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    role: String,
    audiences: String,
}

impl TryFrom<UserRow> for User {
    type Error = Error;
    fn try_from(r: UserRow) -> Result<User> {
        let role = Role::parse(&r.role).ok_or_else(|| {
            Error::Internal(format!("unknown role {:?} for user {}", r.role, r.id))
        })?;
        Ok(User {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            role,
            audiences: r
                .audiences
                .split_whitespace()
                .filter_map(Audience::parse)
                .collect(),
        })
    }
}

/// An active user by id.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<User>> {
    let row: Option<UserRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, email, display_name, role, audiences FROM users WHERE id = $1 AND active"
    ).bind(id).fetch_optional(pool).await)?;
    row.map(User::try_from).transpose()
}

/// An active user by e-mail (case-insensitive).
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let email = email.trim().to_lowercase();
    let row: Option<UserRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, email, display_name, role, audiences FROM users WHERE email = $1 AND active"
    ).bind(email).fetch_optional(pool).await)?;
    row.map(User::try_from).transpose()
}

/// Adds a user; used by the demo seed and the tests.
pub async fn insert(
    db: &Db,
    email: &str,
    name: &str,
    role: Role,
    audiences: &[Audience],
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    let audiences = audiences
        .iter()
        .map(|a| a.code())
        .collect::<Vec<_>>()
        .join(" ");
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (id, email, display_name, role, audiences, active, created_at)
             VALUES ($1, $2, $3, $4, $5, TRUE, $6)"
        ).bind(id).bind(email.to_lowercase()).bind(name).bind(role.code()).bind(audiences).bind(now)
            .execute(tx.conn()).await?;
        tx.commit().await?;
    });
    Ok(id)
}

/// Creates the demo people when the database has no user at all. Idempotent, and safe
/// when several instances start together: the check and the inserts share one transaction
/// and the e-mail is unique.
pub async fn seed_demo(db: &Db) -> Result<bool> {
    let now = db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(tx.conn()).await?;
        if count > 0 {
            return Ok(false);
        }
        for p in DEMO_PEOPLE {
            let audiences = p.audiences.iter().map(|a| a.code()).collect::<Vec<_>>().join(" ");
            sqlx::query(
                "INSERT INTO users (id, email, display_name, role, audiences, active, created_at)
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6) ON CONFLICT (email) DO NOTHING"
            ).bind(Uuid::new_v4()).bind(p.email).bind(p.name).bind(p.role.code()).bind(audiences).bind(now)
                .execute(tx.conn()).await?;
        }
        tx.commit().await?;
        Ok(true)
    })
}
