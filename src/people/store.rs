//! SQL for people, org units and partner organisations.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{Role, Source, User, Visibility, DEMO_ORG_UNITS, DEMO_PARTNERS, DEMO_PEOPLE};
use crate::catalog::Audience;
use crate::db::{self, Arg, Db, WritePool};
use crate::error::{Error, Result};
use crate::on_db;

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    #[sqlx(try_from = "String")]
    role: Role,
    audiences: String,
    org_unit_id: Option<Uuid>,
    org_path: Option<String>,
    partner_id: Option<Uuid>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            role: r.role,
            audiences: parse_audiences(&r.audiences),
            org_unit_id: r.org_unit_id,
            org_path: r.org_path,
            partner_id: r.partner_id,
        }
    }
}

pub fn parse_audiences(s: &str) -> Vec<Audience> {
    s.split_whitespace().filter_map(Audience::parse).collect()
}

pub fn audiences_text(audiences: &[Audience]) -> String {
    audiences
        .iter()
        .map(|a| a.code())
        .collect::<Vec<_>>()
        .join(" ")
}

const USER_SELECT: &str = "SELECT u.id, u.email, u.display_name, u.role, u.audiences, \
    u.org_unit_id, o.path AS org_path, u.partner_id \
    FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id";

/// An active user by id.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<User>> {
    let sql = format!("{USER_SELECT} WHERE u.id = $1 AND u.active");
    let row: Option<UserRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_optional(pool).await)?;
    Ok(row.map(User::from))
}

/// An active user by e-mail (case-insensitive).
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let email = email.trim().to_lowercase();
    let sql = format!("{USER_SELECT} WHERE u.email = $1 AND u.active");
    let row: Option<UserRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(email).fetch_optional(pool).await)?;
    Ok(row.map(User::from))
}

/// An active user by OIDC subject.
pub async fn find_by_subject(db: &Db, subject: &str) -> Result<Option<User>> {
    let sql = format!("{USER_SELECT} WHERE u.oidc_subject = $1 AND u.active");
    let row: Option<UserRow> = on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(subject).fetch_optional(pool).await)?;
    Ok(row.map(User::from))
}

/// Adds a user; used by the tests.
pub async fn insert(
    db: &Db,
    email: &str,
    name: &str,
    role: Role,
    audiences: &[Audience],
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    let audiences = audiences_text(audiences);
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

/// Whether an account comes from the demo seed (not the directory, not the city's
/// sign-in): the only accounts the development sign-in opens.
pub async fn is_demo_account(db: &Db, id: Uuid) -> Result<bool> {
    let row: Option<(String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT source, email FROM users WHERE id = $1"
    ).bind(id).fetch_optional(pool).await)?;
    Ok(match row.map(|(s, e)| (Source::try_from(s), e)) {
        Some((Ok(Source::Demo), _)) => true,
        // The seed marks its partner staff `partner`: only those, by their demo address.
        Some((Ok(Source::Partner), email)) => super::DEMO_PEOPLE.iter().any(|p| p.email == email),
        _ => false,
    })
}

/// Returns the id of the org unit at `path`, creating it and its missing parents.
/// `known` caches paths already resolved in this transaction.
macro_rules! ensure_org_unit {
    ($conn:expr, $path:expr, $now:expr, $known:expr) => {{
        let path: &str = $path;
        let mut parent: Option<Uuid> = None;
        let mut prefix = String::new();
        for segment in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(segment);
            let id = match $known.get(&prefix) {
                Some(id) => *id,
                None => {
                    // Insert-or-keep then read back: safe against a concurrent import or seed.
                    sqlx::query("INSERT INTO org_units (id, parent_id, name, path, created_at) VALUES ($1, $2, $3, $4, $5)
                                 ON CONFLICT (path) DO NOTHING")
                        .bind(Uuid::new_v4()).bind(parent).bind(segment).bind(&prefix).bind($now)
                        .execute(&mut *$conn).await?;
                    let id: Uuid = sqlx::query_scalar("SELECT id FROM org_units WHERE path = $1")
                        .bind(&prefix).fetch_one(&mut *$conn).await?;
                    $known.insert(prefix.clone(), id);
                    id
                }
            };
            parent = Some(id);
        }
        parent
    }};
}

/// Creates the demo org units, partners and people when the database has no user at all.
/// Idempotent, and safe when several instances start together: the check and the inserts
/// share one write transaction and e-mails are unique.
pub async fn seed_demo(db: &Db) -> Result<bool> {
    let now = db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *conn).await?;
        if count > 0 {
            return Ok(false);
        }
        let mut units: HashMap<String, Uuid> = HashMap::new();
        for path in DEMO_ORG_UNITS {
            ensure_org_unit!(conn, path, now, units);
        }
        let mut partners: HashMap<&str, Uuid> = HashMap::new();
        for (name, theme) in DEMO_PARTNERS {
            sqlx::query("INSERT INTO partners (id, name, theme, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING")
                .bind(Uuid::new_v4()).bind(*name).bind(*theme).bind(now).execute(&mut *conn).await?;
            let id: Uuid = sqlx::query_scalar("SELECT id FROM partners WHERE name = $1")
                .bind(*name).fetch_one(&mut *conn).await?;
            partners.insert(name, id);
        }
        for p in DEMO_PEOPLE {
            let org = match p.org_unit {
                Some(path) => ensure_org_unit!(conn, path, now, units),
                None => None,
            };
            let partner = p.partner.and_then(|n| partners.get(n).copied());
            sqlx::query(
                "INSERT INTO users (id, email, display_name, role, audiences, active, created_at,
                                    org_unit_id, partner_id, source)
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8, $9) ON CONFLICT (email) DO NOTHING"
            ).bind(Uuid::new_v4()).bind(p.email).bind(p.name).bind(p.role.code())
                .bind(audiences_text(p.audiences)).bind(now).bind(org).bind(partner)
                .bind(if p.partner.is_some() { Source::Partner } else { Source::Demo }.code())
                .execute(&mut *conn).await?;
        }
        tx.commit().await?;
        Ok(true)
    })
}

/// A person as listed for managers, HR and partner referents.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PersonRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub employee_number: Option<String>,
    pub job_title: Option<String>,
    pub org_path: Option<String>,
    pub partner_id: Option<Uuid>,
    pub partner_name: Option<String>,
    pub active: bool,
    pub modules_completed: i64,
}

impl PersonRow {
    pub fn person_ref(&self) -> super::PersonRef {
        super::PersonRef {
            id: self.id,
            org_path: self.org_path.clone(),
            partner_id: self.partner_id,
        }
    }
}

const PERSON_SELECT: &str = "SELECT u.id, u.email, u.display_name, u.role, u.employee_number, \
    u.job_title, o.path AS org_path, u.partner_id, p.name AS partner_name, u.active, \
    (SELECT COUNT(DISTINCT c.module_slug) FROM completions c WHERE c.user_id = u.id) AS modules_completed \
    FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id \
    LEFT JOIN partners p ON p.id = u.partner_id";

/// SQL: the org-unit path in `column` is `root` (the text of placeholder `param`) or lies
/// under it. An exact, case-sensitive prefix comparison on both backends (SQLite's `LIKE`
/// ignores case, so `Ville/CCAS` would have matched `Ville/Ccas/…`), with nothing to escape.
pub(crate) fn in_subtree(column: &str, param: &str) -> String {
    format!("({column} = {param} OR substr({column}, 1, length({param}) + 1) = {param} || '/')")
}

/// SQL: the people (table `u`, their org-unit path in `path_column`) that `visibility`
/// lets `viewer` see; `None` when it is everyone. Lists of people and of their obligations
/// share it, so a scope is written once.
pub(crate) fn visibility_condition(
    visibility: &Visibility,
    viewer: Uuid,
    path_column: &str,
    args: &mut Vec<Arg>,
) -> Option<String> {
    match visibility {
        Visibility::All => None,
        Visibility::OrgSubtree(root) => {
            let p = db::push_arg(args, Arg::Text(root.clone()));
            Some(in_subtree(path_column, &p))
        }
        Visibility::Partner(id) => {
            let p = db::push_arg(args, Arg::Id(*id));
            Some(format!("u.partner_id = {p}"))
        }
        Visibility::OnlySelf => {
            let p = db::push_arg(args, Arg::Id(viewer));
            Some(format!("u.id = {p}"))
        }
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// People within a visibility and a query: one page, sorted, and how many there are in all.
pub async fn search_people(
    db: &Db,
    viewer_id: Uuid,
    visibility: &Visibility,
    query: &super::PeopleQuery,
    limit: i64,
    offset: i64,
) -> Result<(Vec<PersonRow>, i64)> {
    use super::{ActiveFilter, PeopleSort};
    let mut args: Vec<Arg> = Vec::new();
    let next = db::push_arg;
    let mut conditions: Vec<String> =
        visibility_condition(visibility, viewer_id, "o.path", &mut args)
            .into_iter()
            .collect();
    match query.active {
        ActiveFilter::Active => conditions.push("u.active".into()),
        ActiveFilter::Inactive => conditions.push("NOT u.active".into()),
        ActiveFilter::All => {}
    }
    if let Some(term) = &query.search {
        let like = next(
            &mut args,
            Arg::Text(format!("%{}%", like_escape(&term.to_lowercase()))),
        );
        let exact = next(&mut args, Arg::Text(term.clone()));
        conditions.push(format!(
            "(LOWER(u.display_name) LIKE {like} ESCAPE '\\' OR LOWER(u.email) LIKE {like} ESCAPE '\\' OR u.employee_number = {exact})"
        ));
    }
    if let Some(unit) = &query.org_unit {
        let p = next(&mut args, Arg::Text(unit.clone()));
        conditions.push(in_subtree("o.path", &p));
    }
    if let Some(audience) = query.audience {
        let p = next(&mut args, Arg::Text(format!("% {} %", audience.code())));
        conditions.push(format!("(' ' || u.audiences || ' ') LIKE {p}"));
    }
    if let Some(partner) = query.partner {
        let p = next(&mut args, Arg::Id(partner));
        conditions.push(format!("u.partner_id = {p}"));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let order = match query.sort {
        PeopleSort::Name => "u.display_name, u.id",
        PeopleSort::OrgUnit => "COALESCE(o.path, p.name, ''), u.display_name, u.id",
        PeopleSort::Completed => "modules_completed DESC, u.display_name, u.id",
    };
    let count_sql = format!(
        "SELECT COUNT(*) FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id \
         LEFT JOIN partners p ON p.id = u.partner_id {filter}"
    );
    let page_sql = format!(
        "{PERSON_SELECT} {filter} ORDER BY {order} {}",
        db::limit(limit, offset)
    );
    let (rows, total) = on_db!(db, pool => {
        let page = sqlx::query_as::<_, PersonRow>(sqlx::AssertSqlSafe(page_sql.as_str()));
        let rows = crate::bind_args!(page, &args).fetch_all(pool).await?;
        let count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql.as_str()));
        let total = crate::bind_args!(count, &args).fetch_one(pool).await?;
        (rows, total)
    });
    Ok((rows, total))
}

/// One active person, whoever asks (scope is checked by the caller).
pub async fn person(db: &Db, id: Uuid) -> Result<Option<PersonRow>> {
    let sql = format!("{PERSON_SELECT} WHERE u.active AND u.id = $1");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_optional(pool).await)?,
    )
}

/// Sets a user's role; returns the previous one. A change ends the person's sessions in the
/// same transaction: they sign in again with their new rights.
pub async fn set_role(db: &Db, id: Uuid, role: Role) -> Result<Option<String>> {
    let now = db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let before: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(id).fetch_optional(&mut *conn).await?;
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.code()).bind(id).execute(&mut *conn).await?;
        if before.as_deref() != Some(role.code()) {
            crate::auth::sessions::end_all_sessions!(conn, id, now, crate::auth::sessions::EndReason::RoleChanged)?;
        }
        tx.commit().await?;
        Ok(before)
    })
}

/// An org unit with its path.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct OrgUnitRow {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub path: String,
}

pub async fn org_units(db: &Db) -> Result<Vec<OrgUnitRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, parent_id, name, path FROM org_units ORDER BY path"
    ).fetch_all(pool).await)?)
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PartnerRow {
    pub id: Uuid,
    pub name: String,
    pub theme: String,
}

/// Name and e-mail of every person, by id (for lists that name many people at once).
pub async fn names(db: &Db) -> Result<HashMap<Uuid, (String, String)>> {
    let rows: Vec<(Uuid, String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, display_name, email FROM users"
    ).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(id, n, e)| (id, (n, e))).collect())
}

pub async fn partners(db: &Db) -> Result<Vec<PartnerRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, theme FROM partners ORDER BY name"
    ).fetch_all(pool).await)?)
}

/// What an OIDC sign-in did to the directory.
pub enum OidcUpsert {
    /// The person, and their previous role when the provider's groups changed it.
    SignedIn(User, Option<String>),
    /// The person exists but was deactivated (left the directory).
    Inactive,
    /// The address belongs to an account this sign-in may not take over (not a directory
    /// agent, or the provider did not verify the address).
    NotLinkable,
}

/// Finds the person of an OIDC identity: by subject; else, on the first sign-in, a city
/// agent of the directory with the same address when the provider verified it; else a new
/// account. A directory agent keeps the directory's name and address (they appear on
/// signed certificates); other accounts take them from the claims. The role comes from the
/// provider's groups when one of them maps to a role (never demoting the last
/// administrator), and stays as set in Repères otherwise.
pub async fn upsert_oidc(
    db: &Db,
    subject: &str,
    email: Option<&str>,
    email_verified: bool,
    name: Option<&str>,
    role: Option<Role>,
) -> Result<OidcUpsert> {
    let now = db::now();
    let found = on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let mut row: Option<(Uuid, bool, String, String)> = sqlx::query_as(
            "SELECT id, active, role, source FROM users WHERE oidc_subject = $1"
        ).bind(subject).fetch_optional(&mut *conn).await?;
        if row.is_none() {
            if let Some(email) = email {
                // Link on first sign-in only to a city agent of the directory, by an address
                // the provider has verified: never a partner, a demo or an OIDC-created
                // account, never on an unverified address.
                let candidate: Option<(Uuid, bool, String, String, Option<Uuid>)> = sqlx::query_as(
                    "SELECT id, active, role, source, partner_id FROM users WHERE email = $1 AND oidc_subject IS NULL"
                ).bind(email).fetch_optional(&mut *conn).await?;
                match candidate {
                    Some((id, active, role, source, None)) if email_verified && source == Source::Directory.code() => {
                        row = Some((id, active, role, source));
                    }
                    Some(_) => return Ok(OidcUpsert::NotLinkable),
                    None => {
                        let taken: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                            .bind(email).fetch_optional(&mut *conn).await?;
                        if taken.is_some() {
                            return Ok(OidcUpsert::NotLinkable);
                        }
                    }
                }
            }
        }
        let outcome = match row {
            Some((_, false, _, _)) => None,
            Some((id, true, old_role, source)) => {
                let mut new_role = role.map(|r| r.code().to_string()).unwrap_or_else(|| old_role.clone());
                if old_role == Role::Admin.code() && new_role != old_role {
                    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active")
                        .fetch_one(&mut *conn).await?;
                    if admins <= 1 {
                        // The groups would demote the last administrator: kept.
                        new_role = old_role.clone();
                    }
                }
                if source == Source::Directory.code() {
                    // The directory's name and address stay: they are on signed certificates.
                    sqlx::query("UPDATE users SET oidc_subject = $1, role = $2 WHERE id = $3")
                        .bind(subject).bind(&new_role).bind(id)
                        .execute(&mut *conn).await?;
                } else {
                    sqlx::query(
                        "UPDATE users SET oidc_subject = $1, email = COALESCE($2, email),
                                display_name = COALESCE($3, display_name), role = $4 WHERE id = $5"
                    ).bind(subject).bind(email.filter(|_| email_verified)).bind(name).bind(&new_role).bind(id)
                        .execute(&mut *conn).await?;
                }
                Some((id, (old_role != new_role).then_some(old_role)))
            }
            None => {
                let id = Uuid::new_v4();
                let email = email.map(String::from).unwrap_or_else(|| format!("{subject}@oidc.invalid"));
                sqlx::query(
                    "INSERT INTO users (id, email, display_name, role, audiences, active, created_at, source, oidc_subject)
                     VALUES ($1, $2, $3, $4, 'tous', TRUE, $5, 'oidc', $6)"
                ).bind(id).bind(&email).bind(name.unwrap_or(&email)).bind(role.unwrap_or(Role::Learner).code()).bind(now).bind(subject)
                    .execute(&mut *conn).await?;
                Some((id, None))
            }
        };
        tx.commit().await?;
        outcome
    });
    let Some((id, old_role)) = found else {
        return Ok(OidcUpsert::Inactive);
    };
    let user = find(db, id)
        .await?
        .ok_or_else(|| Error::Internal(format!("user {id} vanished after sign-in")))?;
    Ok(OidcUpsert::SignedIn(user, old_role))
}

/// Whether `id` is the only active administrator (who must not be demoted).
pub async fn is_last_admin(db: &Db, id: Uuid) -> Result<bool> {
    let (role, admins): (Option<String>, i64) = on_db!(db, pool => {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(id).fetch_optional(pool).await?;
        let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active")
            .fetch_one(pool).await?;
        (role, admins)
    });
    Ok(role.as_deref() == Some(Role::Admin.code()) && admins <= 1)
}

#[derive(FromRow)]
struct ExistingRow {
    id: Uuid,
    employee_number: Option<String>,
    email: String,
    display_name: String,
    org_path: Option<String>,
    audiences: String,
    job_title: Option<String>,
    hire_date: Option<chrono::NaiveDate>,
    sex: Option<String>,
    category: Option<String>,
    job_family: Option<String>,
    manages: bool,
    active: bool,
    #[sqlx(try_from = "String")]
    source: Source,
    partner_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    role: Role,
}

/// Everyone the directory import compares against.
pub async fn directory_people(db: &Db) -> Result<Vec<super::import::Existing>> {
    let rows: Vec<ExistingRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT u.id, u.employee_number, u.email, u.display_name, o.path AS org_path, u.audiences,
                u.job_title, u.hire_date, u.sex, u.category, u.job_family, u.manages, u.active, u.source,
                u.partner_id, u.role
         FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id"
    ).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| super::import::Existing {
            id: r.id,
            employee_number: r.employee_number,
            email: r.email,
            display_name: r.display_name,
            org_path: r.org_path,
            audiences: r.audiences,
            job_title: r.job_title,
            hire_date: r.hire_date,
            sex: r.sex,
            category: r.category,
            job_family: r.job_family,
            manages: r.manages,
            active: r.active,
            from_directory: r.source == Source::Directory,
            protected: r.partner_id.is_some() || r.role.is_admin(),
        })
        .collect())
}

/// Applies an import plan and its audit event in one transaction: all or nothing.
pub async fn apply_import(
    db: &Db,
    plan: &super::import::Plan,
    event: &crate::audit::Event,
) -> Result<()> {
    let now = db::now();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let mut units: HashMap<String, Uuid> = HashMap::new();
        for row in &plan.create {
            let org = ensure_org_unit!(conn, &row.org_path, now, units);
            sqlx::query(
                "INSERT INTO users (id, email, display_name, role, audiences, active, created_at, employee_number,
                                    org_unit_id, job_title, hire_date, sex, category, job_family, manages, source)
                 VALUES ($1, $2, $3, 'learner', $4, TRUE, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'directory')"
            ).bind(Uuid::new_v4()).bind(&row.email).bind(&row.display_name).bind(audiences_text(&row.audiences))
                .bind(now).bind(&row.employee_number).bind(org).bind(&row.job_title).bind(row.hire_date)
                .bind(&row.sex).bind(&row.category).bind(row.job_family.clone().flatten())
                .bind(row.manages.unwrap_or(false))
                .execute(&mut *conn).await?;
        }
        for (row, id, _) in &plan.update {
            let org = ensure_org_unit!(conn, &row.org_path, now, units);
            sqlx::query(
                "UPDATE users SET email = $1, display_name = $2, audiences = $3, employee_number = $4, org_unit_id = $5,
                        job_title = $6, hire_date = $7, sex = $8, category = $9, active = TRUE, source = 'directory',
                        job_family = CASE WHEN $11 THEN $12 ELSE job_family END,
                        manages = CASE WHEN $13 THEN $14 ELSE manages END
                 WHERE id = $10"
            ).bind(&row.email).bind(&row.display_name).bind(audiences_text(&row.audiences)).bind(&row.employee_number)
                .bind(org).bind(&row.job_title).bind(row.hire_date).bind(&row.sex).bind(&row.category).bind(*id)
                .bind(row.job_family.is_some()).bind(row.job_family.clone().flatten())
                .bind(row.manages.is_some()).bind(row.manages.unwrap_or(false))
                .execute(&mut *conn).await?;
        }
        for (row, _, fields) in &plan.update {
            let change = crate::audit::Event {
                subject: row.email.clone(),
                details: format!("modifié par l'import : {}", fields.join(", ")),
                ..event.clone()
            };
            crate::audit::store::insert_event!(conn, &change, now)?;
        }
        for (id, email) in &plan.deactivate {
            let gone = crate::audit::Event {
                subject: email.clone(),
                details: "désactivé : absent du fichier de l'annuaire".into(),
                ..event.clone()
            };
            crate::audit::store::insert_event!(conn, &gone, now)?;
            sqlx::query("UPDATE users SET active = FALSE WHERE id = $1").bind(*id).execute(&mut *conn).await?;
            crate::auth::sessions::end_all_sessions!(conn, *id, now, crate::auth::sessions::EndReason::Deactivated)?;
        }
        crate::audit::store::insert_event!(conn, event, now)?;
        tx.commit().await?;
    });
    Ok(())
}
