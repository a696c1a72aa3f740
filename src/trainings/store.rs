//! SQL for shared trainings. Every change to the seats of a session runs in one write
//! transaction that first locks the session (`FOR UPDATE` on PostgreSQL; SQLite's write
//! lock, taken at `BEGIN IMMEDIATE`, covers the file), reads the seats, decides with
//! [`super::seat_for`], writes, and queues its e-mails in the outbox before committing:
//! two enrolments never see the same free seat, and no mail leaves for a change that was
//! rolled back.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::{offer_or_give, seat_for, Mode, Presence, Seat, Seats, Status};
use crate::audit::Event;
use crate::db::{Db, WritePool};
use crate::error::{Error, Result};
use crate::notifications::Outgoing;
use crate::on_db;

/// An offer, as stored.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct OfferRow {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub audiences: String,
    pub axes: String,
    pub prerequisite_module: Option<String>,
    pub completes_module: Option<String>,
    pub requires_approval: bool,
}

/// A session with its offer and its seat counts.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SessionRow {
    pub id: Uuid,
    pub offer_id: Uuid,
    pub title: String,
    pub description: String,
    pub audiences: String,
    pub axes: String,
    pub requires_approval: bool,
    pub prerequisite_module: Option<String>,
    pub completes_module: Option<String>,
    #[sqlx(try_from = "String")]
    pub mode: Mode,
    pub address: Option<String>,
    pub room: Option<String>,
    pub access_info: Option<String>,
    pub online_link: Option<String>,
    pub capacity: i64,
    pub enrol_until: DateTime<Utc>,
    pub cancel_until: DateTime<Utc>,
    pub quota_release_at: Option<DateTime<Utc>>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub revision: i64,
    /// Seats booked or offered.
    pub held: i64,
    pub waiting: i64,
    /// Seats reserved for partners, and those of them taken.
    pub reserved: i64,
    pub reserved_used: i64,
    /// Attendance marks recorded, and how many say absent.
    pub marks: i64,
    pub absences: i64,
}

const SESSION_SELECT: &str = "SELECT s.id, s.offer_id, o.title, o.description, o.audiences, o.axes,
        o.requires_approval, o.prerequisite_module, o.completes_module, s.mode, s.address, s.room,
        s.access_info, s.online_link, s.capacity, s.enrol_until, s.cancel_until, s.quota_release_at,
        s.starts_at, s.ends_at, s.cancelled_at, s.cancel_reason, s.revision,
        (SELECT COUNT(*) FROM enrolments e WHERE e.session_id = s.id AND e.status IN ('booked', 'offered')) AS held,
        (SELECT COUNT(*) FROM enrolments e WHERE e.session_id = s.id AND e.status = 'waiting') AS waiting,
        CAST((SELECT COALESCE(SUM(q.seats), 0) FROM session_quotas q WHERE q.session_id = s.id) AS BIGINT) AS reserved,
        (SELECT COUNT(*) FROM enrolments e WHERE e.session_id = s.id AND e.quota_partner_id IS NOT NULL
            AND e.status IN ('booked', 'offered')) AS reserved_used,
        (SELECT COUNT(*) FROM attendance a JOIN enrolments e ON e.id = a.enrolment_id WHERE e.session_id = s.id) AS marks,
        (SELECT COUNT(*) FROM attendance a JOIN enrolments e ON e.id = a.enrolment_id
            WHERE e.session_id = s.id AND a.status = 'absent') AS absences
    FROM training_sessions s JOIN training_offers o ON o.id = s.offer_id";

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SlotRow {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A session with everything a page, a mail or a calendar file needs.
#[derive(Debug, Clone, Serialize)]
pub struct SessionFull {
    pub session: SessionRow,
    pub slots: Vec<SlotRow>,
    pub trainers: Vec<Person>,
    /// Partner id, name, reserved seats, seats used.
    pub quotas: Vec<QuotaRow>,
}

impl SessionFull {
    /// Slot `n` (from 1; the first when absent, the last when beyond) and its number, as
    /// the roster and QR pages choose it.
    pub fn slot_numbered(&self, n: Option<usize>) -> Result<(usize, &SlotRow)> {
        let n = n.unwrap_or(1).clamp(1, self.slots.len().max(1));
        let slot = self
            .slots
            .get(n - 1)
            .ok_or_else(|| Error::NotFound("Ce créneau n'existe pas.".into()))?;
        Ok((n, slot))
    }
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct QuotaRow {
    pub partner_id: Uuid,
    pub partner: String,
    pub seats: i64,
    pub used: i64,
}

/// An enrolment with its person.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct EnrolmentRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub user_id: Uuid,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub quota_partner_id: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub queue_no: i64,
    pub offer_expires_at: Option<DateTime<Utc>>,
    pub sequence: i64,
    pub attended_at: Option<DateTime<Utc>>,
    pub email: String,
    pub display_name: String,
    pub partner_id: Option<Uuid>,
    pub partner: Option<String>,
    pub org_path: Option<String>,
    /// Place on the waiting list (1 = next), for a waiting enrolment.
    pub position: Option<i64>,
}

const ENROLMENT_SELECT: &str = "SELECT e.id, e.session_id, e.user_id, e.status, e.quota_partner_id,
        e.requested_at, e.queue_no, e.offer_expires_at, e.sequence, e.attended_at, u.email,
        u.display_name, u.partner_id, p.name AS partner, ou.path AS org_path,
        CASE WHEN e.status = 'waiting' THEN 1 + (SELECT COUNT(*) FROM enrolments w
            WHERE w.session_id = e.session_id AND w.status = 'waiting'
              AND w.queue_no < e.queue_no)
        END AS position
    FROM enrolments e JOIN users u ON u.id = e.user_id
    LEFT JOIN partners p ON p.id = u.partner_id
    LEFT JOIN org_units ou ON ou.id = u.org_unit_id";

/// Why a mail goes out about an enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A seat is booked (with an invitation).
    Booked,
    /// On the waiting list.
    Waiting,
    /// Waits for approval: to the person.
    Pending,
    /// A freed seat is held for the person: confirm within the hold.
    Offered,
    /// A freed seat is given directly (the session is close).
    Given,
    /// The approval was refused.
    Refused,
    /// The offered seat was not confirmed in time.
    Lapsed,
    /// The enrolment was cancelled (with a cancellation of the invitation).
    Cancelled,
    /// The session changed (time, place): an updated invitation.
    Changed,
    /// The session was cancelled, with its reason.
    SessionCancelled,
    /// To an approver: a request waits for them.
    ApprovalRequest,
}

/// What a mail about an enrolment is built from.
pub struct Notice<'a> {
    pub kind: NoticeKind,
    pub enrolment: &'a EnrolmentRow,
    pub session: &'a SessionFull,
    /// For an approval request: who is asked.
    pub to: Option<&'a Person>,
}

/// Signs the attestation de présence of a person (by name) who attended in full at an
/// instant.
pub type Attest<'a> =
    dyn Fn(&str, DateTime<Utc>) -> crate::certificates::SignedAttendance + Send + Sync + 'a;

/// Builds the mail of a notice (text, HTML, calendar file).
pub type Compose<'a> = dyn Fn(&Notice<'_>) -> Result<Outgoing> + Send + Sync + 'a;

/// The `FOR UPDATE` suffix that locks a session row on PostgreSQL; SQLite's transaction
/// already holds the file's write lock.
fn lock_suffix(db: &Db) -> &'static str {
    match db {
        Db::Sqlite(_) => "",
        Db::Postgres(_) => " FOR UPDATE",
    }
}

// ---------------------------------------------------------------- reads

pub async fn offers(db: &Db) -> Result<Vec<OfferRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, title, description, audiences, axes, prerequisite_module, completes_module,
                requires_approval FROM training_offers ORDER BY title, id")
        .fetch_all(pool).await)?)
}

pub async fn offer(db: &Db, id: Uuid) -> Result<Option<OfferRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, title, description, audiences, axes, prerequisite_module, completes_module,
                requires_approval FROM training_offers WHERE id = $1")
        .bind(id).fetch_optional(pool).await)?)
}

/// Sessions ending after `from`, soonest first (cancelled ones included: the page says so).
pub async fn sessions_from(db: &Db, from: DateTime<Utc>, limit: i64) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "{SESSION_SELECT} WHERE s.ends_at >= $1 ORDER BY s.starts_at, s.id {}",
        crate::db::limit(limit, 0)
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(from).fetch_all(pool).await)?,
    )
}

/// Every session, latest first (HR's list).
pub async fn all_sessions(db: &Db, limit: i64) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "{SESSION_SELECT} ORDER BY s.starts_at DESC, s.id {}",
        crate::db::limit(limit, 0)
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool).await)?,
    )
}

/// The sessions `trainer` runs, soonest first.
pub async fn sessions_of_trainer(db: &Db, trainer: Uuid) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "{SESSION_SELECT} WHERE s.id IN (SELECT session_id FROM session_trainers WHERE user_id = $1)
         ORDER BY s.starts_at, s.id"
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(trainer).fetch_all(pool).await)?,
    )
}

pub async fn session(db: &Db, id: Uuid) -> Result<Option<SessionFull>> {
    Ok(sessions_of(db, &[id]).await?.remove(&id))
}

/// The sessions `ids` (each once), complete, in a fixed number of queries: the lists of
/// enrolments read their sessions with this.
pub async fn sessions_of(db: &Db, ids: &[Uuid]) -> Result<HashMap<Uuid, SessionFull>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut args = Vec::new();
    let list: Vec<String> = ids
        .iter()
        .map(|id| crate::db::push_arg(&mut args, crate::db::Arg::Id(*id)))
        .collect();
    let sql = format!("{SESSION_SELECT} WHERE s.id IN ({})", list.join(", "));
    let rows: Vec<SessionRow> = on_db!(db, pool => crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), &args)
        .fetch_all(pool).await)?;
    Ok(complete(db, rows)
        .await?
        .into_iter()
        .map(|f| (f.session.id, f))
        .collect())
}

/// The sessions of `rows` with their slots, trainers and quotas, read in three queries
/// whatever their number (lists of sessions).
pub async fn complete(db: &Db, rows: Vec<SessionRow>) -> Result<Vec<SessionFull>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Vec::new();
    let list: Vec<String> = rows
        .iter()
        .map(|r| crate::db::push_arg(&mut args, crate::db::Arg::Id(r.id)))
        .collect();
    let list = list.join(", ");
    let slots_sql = format!(
        "SELECT session_id, id, starts_at, ends_at FROM session_slots WHERE session_id IN ({list})
         ORDER BY starts_at, id"
    );
    let trainers_sql = format!(
        "SELECT t.session_id, u.id, u.email, u.display_name FROM session_trainers t
         JOIN users u ON u.id = t.user_id WHERE t.session_id IN ({list}) ORDER BY u.display_name"
    );
    let quotas_sql = format!(
        "SELECT q.session_id, q.partner_id, p.name AS partner, q.seats,
                (SELECT COUNT(*) FROM enrolments e WHERE e.session_id = q.session_id
                    AND e.quota_partner_id = q.partner_id AND e.status IN ('booked', 'offered')) AS used
         FROM session_quotas q JOIN partners p ON p.id = q.partner_id
         WHERE q.session_id IN ({list}) ORDER BY p.name"
    );
    type SlotOf = (Uuid, Uuid, DateTime<Utc>, DateTime<Utc>);
    type TrainerOf = (Uuid, Uuid, String, String);
    type QuotaOf = (Uuid, Uuid, String, i64, i64);
    let (slots, trainers, quotas): (Vec<SlotOf>, Vec<TrainerOf>, Vec<QuotaOf>) = on_db!(db, pool => {
        let slots = crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(slots_sql.as_str())), &args)
            .fetch_all(pool).await?;
        let trainers = crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(trainers_sql.as_str())), &args)
            .fetch_all(pool).await?;
        let quotas = crate::bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(quotas_sql.as_str())), &args)
            .fetch_all(pool).await?;
        (slots, trainers, quotas)
    });
    Ok(rows
        .into_iter()
        .map(|session| {
            let id = session.id;
            SessionFull {
                slots: slots
                    .iter()
                    .filter(|s| s.0 == id)
                    .map(|s| SlotRow {
                        id: s.1,
                        starts_at: s.2,
                        ends_at: s.3,
                    })
                    .collect(),
                trainers: trainers
                    .iter()
                    .filter(|t| t.0 == id)
                    .map(|t| Person {
                        id: t.1,
                        email: t.2.clone(),
                        display_name: t.3.clone(),
                    })
                    .collect(),
                quotas: quotas
                    .iter()
                    .filter(|q| q.0 == id)
                    .map(|q| QuotaRow {
                        partner_id: q.1,
                        partner: q.2.clone(),
                        seats: q.3,
                        used: q.4,
                    })
                    .collect(),
                session,
            }
        })
        .collect())
}

pub async fn enrolment(db: &Db, id: Uuid) -> Result<Option<EnrolmentRow>> {
    let sql = format!("{ENROLMENT_SELECT} WHERE e.id = $1");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id).fetch_optional(pool).await)?,
    )
}

pub async fn enrolment_of(db: &Db, session: Uuid, user: Uuid) -> Result<Option<EnrolmentRow>> {
    let sql = format!("{ENROLMENT_SELECT} WHERE e.session_id = $1 AND e.user_id = $2");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(session).bind(user).fetch_optional(pool).await)?,
    )
}

/// The enrolments of a session: seats first, then the waiting list in order, then the rest.
pub async fn enrolments_of_session(db: &Db, session: Uuid) -> Result<Vec<EnrolmentRow>> {
    let sql = format!(
        "{ENROLMENT_SELECT} WHERE e.session_id = $1
         ORDER BY CASE e.status WHEN 'booked' THEN 0 WHEN 'offered' THEN 1 WHEN 'pending' THEN 2
                  WHEN 'waiting' THEN 3 ELSE 4 END, e.queue_no"
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(session).fetch_all(pool).await)?,
    )
}

/// A person's enrolments, with their sessions.
pub async fn enrolments_of_user(db: &Db, user: Uuid) -> Result<Vec<EnrolmentRow>> {
    let sql = format!(
        "{ENROLMENT_SELECT} JOIN training_sessions ts ON ts.id = e.session_id
         WHERE e.user_id = $1 ORDER BY ts.starts_at DESC, e.id"
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user).fetch_all(pool).await)?,
    )
}

/// Pending requests (the caller filters them by scope).
pub async fn pending(db: &Db) -> Result<Vec<EnrolmentRow>> {
    let sql = format!("{ENROLMENT_SELECT} WHERE e.status = 'pending' ORDER BY e.queue_no");
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool).await)?,
    )
}

/// Another active enrolment of `user` in a session overlapping `[from, to)`.
pub async fn overlapping(
    db: &Db,
    user: Uuid,
    except: Uuid,
    slots: &[SlotRow],
) -> Result<Option<String>> {
    for s in slots {
        let title: Option<String> = on_db!(db, pool => sqlx::query_scalar(
            "SELECT o.title FROM enrolments e
             JOIN training_sessions ts ON ts.id = e.session_id
             JOIN training_offers o ON o.id = ts.offer_id
             JOIN session_slots sl ON sl.session_id = ts.id
             WHERE e.user_id = $1 AND e.session_id <> $2 AND ts.cancelled_at IS NULL
               AND e.status IN ('pending', 'booked', 'offered', 'waiting')
               AND sl.starts_at < $3 AND sl.ends_at > $4
             LIMIT 1")
            .bind(user).bind(except).bind(s.ends_at).bind(s.starts_at)
            .fetch_optional(pool).await)?;
        if title.is_some() {
            return Ok(title);
        }
    }
    Ok(None)
}

/// Marks per enrolment and slot of a session.
pub async fn attendance(db: &Db, session: Uuid) -> Result<Vec<(Uuid, Uuid, Presence)>> {
    let rows: Vec<(Uuid, Uuid, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT a.enrolment_id, a.slot_id, a.status FROM attendance a
         JOIN session_slots s ON s.id = a.slot_id WHERE s.session_id = $1")
        .bind(session).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(e, s, p)| Presence::parse(&p).map(|p| (e, s, p)))
        .collect())
}

// ---------------------------------------------------------------- writes

/// An offer to write.
#[derive(Debug, Clone)]
pub struct NewOffer {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub audiences: String,
    pub axes: String,
    pub prerequisite_module: Option<String>,
    pub completes_module: Option<String>,
    pub requires_approval: bool,
}

pub async fn save_offer(
    db: &Db,
    o: &NewOffer,
    by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &Event,
) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let updated = sqlx::query(
            "UPDATE training_offers SET title = $1, description = $2, audiences = $3, axes = $4,
                    prerequisite_module = $5, completes_module = $6, requires_approval = $7, updated_at = $8
             WHERE id = $9")
            .bind(&o.title).bind(&o.description).bind(&o.audiences).bind(&o.axes)
            .bind(&o.prerequisite_module).bind(&o.completes_module).bind(o.requires_approval)
            .bind(now).bind(o.id).execute(&mut *conn).await?.rows_affected();
        if updated == 0 {
            sqlx::query(
                "INSERT INTO training_offers (id, title, description, audiences, axes, prerequisite_module,
                        completes_module, requires_approval, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)")
                .bind(o.id).bind(&o.title).bind(&o.description).bind(&o.audiences).bind(&o.axes)
                .bind(&o.prerequisite_module).bind(&o.completes_module).bind(o.requires_approval)
                .bind(by).bind(now).execute(&mut *conn).await?;
        }
        crate::audit::store::insert_event!(conn, event, now)?;
        tx.commit().await?;
    });
    Ok(())
}

/// A session to write: checked by the flow.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub offer_id: Uuid,
    pub mode: Mode,
    pub address: Option<String>,
    pub room: Option<String>,
    pub access_info: Option<String>,
    pub online_link: Option<String>,
    pub capacity: i64,
    pub enrol_until: DateTime<Utc>,
    pub cancel_until: DateTime<Utc>,
    pub quota_release_at: Option<DateTime<Utc>>,
    /// Start and end of each slot, in order.
    pub slots: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    pub trainers: Vec<Uuid>,
    pub quotas: Vec<(Uuid, i64)>,
}

/// Reads the seats of a locked session.
macro_rules! seats_of {
    ($conn:expr, $session:expr, $capacity:expr, $release:expr, $now:expr) => {{
        let quotas: Vec<(Uuid, i64)> =
            sqlx::query_as("SELECT partner_id, seats FROM session_quotas WHERE session_id = $1")
                .bind($session)
                .fetch_all(&mut *$conn)
                .await?;
        let held: Vec<(Option<Uuid>, i64)> = sqlx::query_as(
            "SELECT quota_partner_id, COUNT(*) FROM enrolments
             WHERE session_id = $1 AND status IN ('booked', 'offered') GROUP BY quota_partner_id",
        )
        .bind($session)
        .fetch_all(&mut *$conn)
        .await?;
        let release: Option<DateTime<Utc>> = $release;
        let mut seats = Seats {
            capacity: $capacity,
            quotas: quotas.into_iter().collect(),
            released: release.is_some_and(|r| r <= $now),
            ..Seats::default()
        };
        for (partner, n) in held {
            match partner {
                Some(p) => {
                    seats.held_quota.insert(p, n);
                }
                None => seats.held_general += n,
            }
        }
        seats
    }};
}

/// Locks a session and reads it with its slots, trainers and quotas.
macro_rules! locked_session {
    ($conn:expr, $lock:expr, $id:expr) => {{
        let id: Uuid = $id;
        let lock: &str = $lock;
        let locked: Option<(Uuid,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM training_sessions WHERE id = $1{lock}"
        )))
        .bind(id)
        .fetch_optional(&mut *$conn)
        .await?;
        match locked {
            None => None,
            Some(_) => {
                let sql = format!("{SESSION_SELECT} WHERE s.id = $1");
                let session: SessionRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_one(&mut *$conn)
                    .await?;
                let slots: Vec<SlotRow> = sqlx::query_as(
                    "SELECT id, starts_at, ends_at FROM session_slots WHERE session_id = $1 ORDER BY starts_at, id",
                )
                .bind(id)
                .fetch_all(&mut *$conn)
                .await?;
                let trainers: Vec<Person> = sqlx::query_as(
                    "SELECT u.id, u.email, u.display_name FROM session_trainers t JOIN users u ON u.id = t.user_id
                     WHERE t.session_id = $1 ORDER BY u.display_name",
                )
                .bind(id)
                .fetch_all(&mut *$conn)
                .await?;
                let quotas: Vec<QuotaRow> = sqlx::query_as(
                    "SELECT q.partner_id, p.name AS partner, q.seats,
                            (SELECT COUNT(*) FROM enrolments e WHERE e.session_id = q.session_id
                                AND e.quota_partner_id = q.partner_id AND e.status IN ('booked', 'offered')) AS used
                     FROM session_quotas q JOIN partners p ON p.id = q.partner_id
                     WHERE q.session_id = $1 ORDER BY p.name",
                )
                .bind(id)
                .fetch_all(&mut *$conn)
                .await?;
                Some(SessionFull { session, slots, trainers, quotas })
            }
        }
    }};
}

/// Reads one enrolment inside the transaction.
macro_rules! enrolment_in {
    ($conn:expr, $where:literal, $($bind:expr),+) => {{
        let sql = format!("{ENROLMENT_SELECT} WHERE {}", $where);
        let q = sqlx::query_as::<_, EnrolmentRow>(sqlx::AssertSqlSafe(sql));
        $(let q = q.bind($bind);)+
        q.fetch_optional(&mut *$conn).await?
    }};
}

/// Locks the session of an enrolment and reads both again under the lock (a change racing
/// with this one is seen done): `(SessionFull, EnrolmentRow)`, or a 404 returned.
macro_rules! locked_enrolment {
    ($conn:expr, $lock:expr, $session:expr, $enrolment:expr) => {{
        let Some(full) = locked_session!($conn, $lock, $session) else {
            return Err(Error::NotFound("Cette session n'existe pas.".into()));
        };
        let Some(e) = enrolment_in!($conn, "e.id = $1", $enrolment) else {
            return Err(Error::NotFound("Cette inscription n'existe pas.".into()));
        };
        (full, e)
    }};
}

/// The session of an enrolment, before locking it; 404 for an unknown enrolment.
async fn session_of(db: &Db, enrolment: Uuid) -> Result<Uuid> {
    self::enrolment(db, enrolment)
        .await?
        .map(|e| e.session_id)
        .ok_or_else(|| Error::NotFound("Cette inscription n'existe pas.".into()))
}

/// Queues the mail of a notice.
macro_rules! notify {
    ($conn:expr, $compose:expr, $kind:expr, $enrolment:expr, $session:expr, $now:expr) => {{
        let mail = ($compose)(&Notice {
            kind: $kind,
            enrolment: $enrolment,
            session: $session,
            to: None,
        })?;
        crate::notifications::store::enqueue!($conn, &mail, $now)?;
    }};
}

/// Gives the free seats to the waiting list, in order, respecting quotas: each person is
/// offered the seat for `hold` (or given it when the session is close). Evaluates to the
/// number of people promoted.
macro_rules! promote {
    ($conn:expr, $full:expr, $hold:expr, $now:expr, $compose:expr) => {{
        let full: &SessionFull = $full;
        let s = &full.session;
        let mut promoted = 0usize;
        if s.cancelled_at.is_none() && s.starts_at > $now {
            let mut seats = seats_of!($conn, s.id, s.capacity, s.quota_release_at, $now);
            let sql = format!(
                "{ENROLMENT_SELECT} WHERE e.session_id = $1 AND e.status = 'waiting'
                 ORDER BY e.queue_no"
            );
            let waiting: Vec<EnrolmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(s.id)
                .fetch_all(&mut *$conn)
                .await?;
            for mut w in waiting {
                if seats.held() >= seats.capacity {
                    break;
                }
                let seat = seat_for(&seats, w.partner_id);
                if seat == Seat::Full {
                    continue;
                }
                seats.take(seat);
                let (status, until) = offer_or_give($now, s.starts_at, $hold);
                let quota = match seat {
                    Seat::Quota(p) => Some(p),
                    _ => None,
                };
                let bump = i64::from(status == Status::Booked);
                sqlx::query(
                    "UPDATE enrolments SET status = $1, quota_partner_id = $2, offer_expires_at = $3,
                            sequence = sequence + $4, updated_at = $5 WHERE id = $6",
                )
                .bind(status.code())
                .bind(quota)
                .bind(until)
                .bind(bump)
                .bind($now)
                .bind(w.id)
                .execute(&mut *$conn)
                .await?;
                w.status = status;
                w.quota_partner_id = quota;
                w.offer_expires_at = until;
                w.sequence += bump;
                w.position = None;
                let kind = if status == Status::Booked {
                    NoticeKind::Given
                } else {
                    NoticeKind::Offered
                };
                notify!($conn, $compose, kind, &w, full, $now);
                promoted += 1;
            }
        }
        promoted
    }};
}

/// Writes a new session with its slots, trainers and quotas.
pub async fn create_session(
    db: &Db,
    n: &NewSession,
    by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &Event,
) -> Result<()> {
    let starts = n.slots.iter().map(|s| s.0).min().unwrap_or(now);
    let ends = n.slots.iter().map(|s| s.1).max().unwrap_or(now);
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        sqlx::query(
            "INSERT INTO training_sessions (id, offer_id, mode, address, room, access_info, online_link,
                    capacity, enrol_until, cancel_until, quota_release_at, starts_at, ends_at, revision,
                    created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $15)")
            .bind(n.id).bind(n.offer_id).bind(n.mode.code()).bind(&n.address).bind(&n.room)
            .bind(&n.access_info).bind(&n.online_link).bind(n.capacity).bind(n.enrol_until)
            .bind(n.cancel_until).bind(n.quota_release_at).bind(starts).bind(ends).bind(by).bind(now)
            .execute(&mut *conn).await?;
        for (start, end) in &n.slots {
            sqlx::query("INSERT INTO session_slots (id, session_id, starts_at, ends_at, checkin_secret) VALUES ($1, $2, $3, $4, $5)")
                .bind(Uuid::new_v4()).bind(n.id).bind(start).bind(end).bind(crate::auth::random_token())
                .execute(&mut *conn).await?;
        }
        for t in &n.trainers {
            sqlx::query("INSERT INTO session_trainers (session_id, user_id) VALUES ($1, $2)")
                .bind(n.id).bind(t).execute(&mut *conn).await?;
        }
        for (p, seats) in &n.quotas {
            sqlx::query("INSERT INTO session_quotas (session_id, partner_id, seats) VALUES ($1, $2, $3)")
                .bind(n.id).bind(p).bind(seats).execute(&mut *conn).await?;
        }
        crate::audit::store::insert_event!(conn, event, now)?;
        tx.commit().await?;
    });
    Ok(())
}

/// What changing a session did.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    /// People told of the change.
    pub notified: usize,
    /// People given a seat freed by a larger capacity.
    pub promoted: usize,
}

/// Changes a session. The capacity may not go below the seats held, nor the quotas above
/// the capacity; the number of slots stays. When the time or the place changes, everyone
/// holding a seat or waiting is told (with an updated invitation for seats).
pub async fn update_session(
    db: &Db,
    n: &NewSession,
    hold: Duration,
    now: DateTime<Utc>,
    event: &Event,
    compose: &Compose<'_>,
) -> Result<Changed> {
    let lock = lock_suffix(db);
    let starts = n.slots.iter().map(|s| s.0).min().unwrap_or(now);
    let ends = n.slots.iter().map(|s| s.1).max().unwrap_or(now);
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let Some(before) = locked_session!(conn, lock, n.id) else {
            return Err(Error::NotFound("Cette session n'existe pas.".into()));
        };
        if before.session.cancelled_at.is_some() {
            return Err(Error::Conflict("Cette session est annulée : elle ne peut plus changer.".into()));
        }
        if before.slots.len() != n.slots.len() {
            return Err(Error::Unprocessable(format!(
                "Le nombre de créneaux ne change pas après la création ({} créneau(x)) : annulez la session et créez-en une autre.",
                before.slots.len())));
        }
        super::check_capacity(n.capacity, &n.quotas, before.session.held).map_err(Error::Unprocessable)?;
        // Quotas: a partner's seats already used stay counted.
        for (p, seats) in &n.quotas {
            let used = before.quotas.iter().find(|q| q.partner_id == *p).map(|q| q.used).unwrap_or(0);
            if *seats < used {
                return Err(Error::Unprocessable(format!(
                    "Un quota ne peut pas descendre à {seats} : {used} places réservées sont déjà prises.")));
            }
        }
        let moved = before.slots.iter().zip(&n.slots).any(|(a, b)| a.starts_at != b.0 || a.ends_at != b.1)
            || before.session.mode != n.mode
            || before.session.address != n.address
            || before.session.room != n.room
            || before.session.online_link != n.online_link;
        sqlx::query(
            "UPDATE training_sessions SET mode = $1, address = $2, room = $3, access_info = $4,
                    online_link = $5, capacity = $6, enrol_until = $7, cancel_until = $8,
                    quota_release_at = $9, starts_at = $10, ends_at = $11,
                    revision = revision + $12, updated_at = $13 WHERE id = $14")
            .bind(n.mode.code()).bind(&n.address).bind(&n.room).bind(&n.access_info)
            .bind(&n.online_link).bind(n.capacity).bind(n.enrol_until).bind(n.cancel_until)
            .bind(n.quota_release_at).bind(starts).bind(ends).bind(i64::from(moved)).bind(now).bind(n.id)
            .execute(&mut *conn).await?;
        for (slot, (start, end)) in before.slots.iter().zip(&n.slots) {
            sqlx::query("UPDATE session_slots SET starts_at = $1, ends_at = $2 WHERE id = $3")
                .bind(start).bind(end).bind(slot.id).execute(&mut *conn).await?;
        }
        sqlx::query("DELETE FROM session_trainers WHERE session_id = $1").bind(n.id).execute(&mut *conn).await?;
        for t in &n.trainers {
            sqlx::query("INSERT INTO session_trainers (session_id, user_id) VALUES ($1, $2)")
                .bind(n.id).bind(t).execute(&mut *conn).await?;
        }
        // A partner's quota taken away: its bookings become general seats.
        sqlx::query("DELETE FROM session_quotas WHERE session_id = $1").bind(n.id).execute(&mut *conn).await?;
        for (p, seats) in &n.quotas {
            sqlx::query("INSERT INTO session_quotas (session_id, partner_id, seats) VALUES ($1, $2, $3)")
                .bind(n.id).bind(p).bind(seats).execute(&mut *conn).await?;
        }
        let kept: Vec<Uuid> = n.quotas.iter().map(|q| q.0).collect();
        for q in &before.quotas {
            if !kept.contains(&q.partner_id) {
                sqlx::query("UPDATE enrolments SET quota_partner_id = NULL WHERE session_id = $1 AND quota_partner_id = $2")
                    .bind(n.id).bind(q.partner_id).execute(&mut *conn).await?;
            }
        }
        let Some(after) = locked_session!(conn, "", n.id) else {
            return Err(Error::NotFound("Cette session n'existe pas.".into()));
        };
        let mut notified = 0;
        if moved {
            sqlx::query(
                "UPDATE enrolments SET sequence = sequence + 1, updated_at = $1
                 WHERE session_id = $2 AND status IN ('booked', 'offered')")
                .bind(now).bind(n.id).execute(&mut *conn).await?;
            let sql = format!(
                "{ENROLMENT_SELECT} WHERE e.session_id = $1 AND e.status IN ('pending', 'booked', 'offered', 'waiting')
                 ORDER BY e.queue_no");
            let people: Vec<EnrolmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(n.id).fetch_all(&mut *conn).await?;
            for p in &people {
                notify!(conn, compose, NoticeKind::Changed, p, &after, now);
                notified += 1;
            }
        }
        let promoted = promote!(conn, &after, hold, now, compose);
        crate::audit::store::insert_event!(conn, event, now)?;
        tx.commit().await?;
        Changed { notified, promoted }
    }))
}

/// Cancels a session with its reason: every enrolment still active is cancelled and told.
pub async fn cancel_session(
    db: &Db,
    id: Uuid,
    reason: &str,
    by: Option<Uuid>,
    now: DateTime<Utc>,
    event: &Event,
    compose: &Compose<'_>,
) -> Result<usize> {
    let lock = lock_suffix(db);
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let Some(_) = locked_session!(conn, lock, id) else {
            return Err(Error::NotFound("Cette session n'existe pas.".into()));
        };
        let done = sqlx::query(
            "UPDATE training_sessions SET cancelled_at = $1, cancel_reason = $2, revision = revision + 1,
                    updated_at = $1 WHERE id = $3 AND cancelled_at IS NULL")
            .bind(now).bind(reason).bind(id).execute(&mut *conn).await?.rows_affected();
        if done == 0 {
            return Err(Error::Conflict("Cette session est déjà annulée.".into()));
        }
        let sql = format!(
            "{ENROLMENT_SELECT} WHERE e.session_id = $1 AND e.status IN ('pending', 'booked', 'offered', 'waiting')
             ORDER BY e.queue_no");
        let people: Vec<EnrolmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_all(&mut *conn).await?;
        sqlx::query(
            "UPDATE enrolments SET status = 'cancelled', cancelled_at = $1, cancelled_by = $2,
                    sequence = sequence + 1, offer_expires_at = NULL, updated_at = $1
             WHERE session_id = $3 AND status IN ('pending', 'booked', 'offered', 'waiting')")
            .bind(now).bind(by).bind(id).execute(&mut *conn).await?;
        let Some(after) = locked_session!(conn, "", id) else {
            return Err(Error::NotFound("Cette session n'existe pas.".into()));
        };
        for mut p in people {
            p.sequence += 1;
            notify!(conn, compose, NoticeKind::SessionCancelled, &p, &after, now);
        }
        crate::audit::store::insert_event!(conn, event, now)?;
        tx.commit().await?;
        after.session.held as usize
    }))
}

/// What an enrolment request asks.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub session: Uuid,
    pub user: Uuid,
    pub by: Uuid,
    /// The offer needs approval and the person enrolling is not an approver.
    pub needs_approval: bool,
    pub now: DateTime<Utc>,
}

/// Enrols a person: returns the enrolment and whether it is new (enrolling twice returns
/// the existing one).
pub async fn enrol(db: &Db, r: Request, compose: &Compose<'_>) -> Result<(EnrolmentRow, bool)> {
    let lock = lock_suffix(db);
    let now = r.now;
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let Some(full) = locked_session!(conn, lock, r.session) else {
            return Err(Error::NotFound("Cette session n'existe pas.".into()));
        };
        let existing = enrolment_in!(conn, "e.session_id = $1 AND e.user_id = $2", r.session, r.user);
        if let Some(e) = existing.as_ref().filter(|e| e.status.active()) {
            return Ok((e.clone(), false));
        }
        let s = &full.session;
        if s.cancelled_at.is_some() {
            return Err(Error::Conflict("Cette session est annulée : on ne peut plus s'y inscrire.".into()));
        }
        if now > s.enrol_until {
            return Err(Error::Conflict(format!(
                "Les inscriptions à cette session sont closes depuis le {}.",
                super::paris_label(s.enrol_until))));
        }
        let queue_no: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(queue_no), 0) + 1 FROM enrolments WHERE session_id = $1")
            .bind(r.session).fetch_one(&mut *conn).await?;
        let partner: Option<Uuid> = sqlx::query_scalar("SELECT partner_id FROM users WHERE id = $1")
            .bind(r.user).fetch_one(&mut *conn).await?;
        let (status, quota) = if r.needs_approval {
            (Status::Pending, None)
        } else {
            let seats = seats_of!(conn, r.session, s.capacity, s.quota_release_at, now);
            match seat_for(&seats, partner) {
                Seat::Quota(p) => (Status::Booked, Some(p)),
                Seat::General => (Status::Booked, None),
                Seat::Full => (Status::Waiting, None),
            }
        };
        let id = match &existing {
            Some(old) => {
                sqlx::query(
                    "UPDATE enrolments SET status = $1, quota_partner_id = $2, requested_at = $3, queue_no = $4,
                            offer_expires_at = NULL, enrolled_by = $5, decided_by = NULL, cancelled_at = NULL,
                            cancelled_by = NULL, sequence = sequence + 1, updated_at = $3 WHERE id = $6")
                    .bind(status.code()).bind(quota).bind(now).bind(queue_no).bind(r.by).bind(old.id)
                    .execute(&mut *conn).await?;
                old.id
            }
            None => {
                let id = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO enrolments (id, session_id, user_id, status, quota_partner_id, requested_at,
                            queue_no, enrolled_by, sequence, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $6)")
                    .bind(id).bind(r.session).bind(r.user).bind(status.code()).bind(quota).bind(now)
                    .bind(queue_no).bind(r.by).execute(&mut *conn).await?;
                id
            }
        };
        let Some(row) = enrolment_in!(conn, "e.id = $1", id) else {
            return Err(Error::Internal("enrolment vanished".into()));
        };
        let kind = match status {
            Status::Booked => NoticeKind::Booked,
            Status::Waiting => NoticeKind::Waiting,
            _ => NoticeKind::Pending,
        };
        notify!(conn, compose, kind, &row, &full, now);
        if status == Status::Pending {
            // The approvers are read outside the lock's statements but inside the transaction.
            let approvers: Vec<Person> = if let Some(p) = row.partner_id {
                sqlx::query_as(
                    "SELECT id, email, display_name FROM users
                     WHERE partner_id = $1 AND role = 'partner_referent' AND active ORDER BY display_name")
                    .bind(p).fetch_all(&mut *conn).await?
            } else {
                let mut found = Vec::new();
                let mut unit = row.org_path.clone().unwrap_or_default();
                while !unit.is_empty() {
                    found = sqlx::query_as(
                        "SELECT u.id, u.email, u.display_name FROM users u JOIN org_units o ON o.id = u.org_unit_id
                         WHERE o.path = $1 AND u.role = 'manager' AND u.active AND u.id <> $2 ORDER BY u.display_name")
                        .bind(&unit).bind(r.user).fetch_all(&mut *conn).await?;
                    if !found.is_empty() { break; }
                    unit = unit.rfind('/').map(|i| unit[..i].to_string()).unwrap_or_default();
                }
                found
            };
            // Nobody above the person decides: HR does.
            let approvers: Vec<Person> = if approvers.is_empty() {
                sqlx::query_as(
                    "SELECT id, email, display_name FROM users WHERE role = 'hr' AND active ORDER BY display_name")
                    .fetch_all(&mut *conn).await?
            } else {
                approvers
            };
            for a in &approvers {
                let mail = compose(&Notice { kind: NoticeKind::ApprovalRequest, enrolment: &row, session: &full, to: Some(a) })?;
                crate::notifications::store::enqueue!(conn, &mail, now)?;
            }
        }
        tx.commit().await?;
        (row, true)
    }))
}

/// Approves or refuses a pending request. On approval the person takes a seat or a place
/// on the waiting list in the order of their original request.
pub async fn decide(
    db: &Db,
    enrolment: Uuid,
    approve: bool,
    by: Uuid,
    now: DateTime<Utc>,
    compose: &Compose<'_>,
) -> Result<EnrolmentRow> {
    let lock = lock_suffix(db);
    let session = session_of(db, enrolment).await?;
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let (full, e) = locked_enrolment!(conn, lock, session, enrolment);
        if e.status != Status::Pending {
            return Err(Error::Conflict(format!("Cette demande n'attend plus d'accord ({}).", e.status.label())));
        }
        let s = &full.session;
        let (status, quota) = if !approve {
            (Status::Refused, None)
        } else if s.cancelled_at.is_some() {
            return Err(Error::Conflict("Cette session est annulée.".into()));
        } else {
            let seats = seats_of!(conn, s.id, s.capacity, s.quota_release_at, now);
            // Someone waiting who asked earlier keeps their turn: a seat goes to this
            // request only when no earlier request waits.
            let earlier: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM enrolments WHERE session_id = $1 AND status = 'waiting' AND queue_no < $2")
                .bind(s.id).bind(e.queue_no).fetch_one(&mut *conn).await?;
            match seat_for(&seats, e.partner_id) {
                Seat::Quota(p) => (Status::Booked, Some(p)),
                Seat::General if earlier == 0 => (Status::Booked, None),
                _ => (Status::Waiting, None),
            }
        };
        sqlx::query(
            "UPDATE enrolments SET status = $1, quota_partner_id = $2, decided_by = $3,
                    sequence = sequence + $4, updated_at = $5 WHERE id = $6")
            .bind(status.code()).bind(quota).bind(by).bind(i64::from(status == Status::Booked))
            .bind(now).bind(enrolment).execute(&mut *conn).await?;
        let Some(row) = enrolment_in!(conn, "e.id = $1", enrolment) else {
            return Err(Error::Internal("enrolment vanished".into()));
        };
        let kind = match status {
            Status::Booked => NoticeKind::Booked,
            Status::Waiting => NoticeKind::Waiting,
            _ => NoticeKind::Refused,
        };
        notify!(conn, compose, kind, &row, &full, now);
        tx.commit().await?;
        row
    }))
}

/// Who cancels: the person (until the cancellation deadline) or a trainer / HR (any time).
#[derive(Debug, Clone, Copy)]
pub struct Cancellation {
    pub enrolment: Uuid,
    pub by: Uuid,
    pub after_deadline_allowed: bool,
    pub now: DateTime<Utc>,
}

/// Cancels an enrolment; a seat it held goes to the waiting list.
pub async fn cancel(
    db: &Db,
    c: Cancellation,
    hold: Duration,
    compose: &Compose<'_>,
) -> Result<EnrolmentRow> {
    let lock = lock_suffix(db);
    let now = c.now;
    let session = session_of(db, c.enrolment).await?;
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        // Read again under the lock: a cancellation racing with this one sees it done.
        let (full, mut e) = locked_enrolment!(conn, lock, session, c.enrolment);
        if !e.status.active() {
            return Err(Error::Conflict(format!("Cette inscription n'est plus active ({}).", e.status.label())));
        }
        if e.status.holds_seat() && now > full.session.cancel_until && !c.after_deadline_allowed {
            return Err(Error::Conflict(format!(
                "Le délai d'annulation est passé depuis le {} : demandez au formateur ou aux ressources humaines.",
                super::paris_label(full.session.cancel_until))));
        }
        let held = e.status.holds_seat();
        sqlx::query(
            "UPDATE enrolments SET status = 'cancelled', cancelled_at = $1, cancelled_by = $2,
                    offer_expires_at = NULL, sequence = sequence + 1, updated_at = $1 WHERE id = $3")
            .bind(now).bind(c.by).bind(e.id).execute(&mut *conn).await?;
        e.status = Status::Cancelled;
        e.sequence += 1;
        e.position = None;
        notify!(conn, compose, NoticeKind::Cancelled, &e, &full, now);
        if held {
            promote!(conn, &full, hold, now, compose);
        }
        tx.commit().await?;
        e
    }))
}

/// Confirms a seat offered from the waiting list, while the hold lasts.
pub async fn confirm(
    db: &Db,
    enrolment: Uuid,
    now: DateTime<Utc>,
    compose: &Compose<'_>,
) -> Result<EnrolmentRow> {
    let lock = lock_suffix(db);
    let session = session_of(db, enrolment).await?;
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let (full, mut e) = locked_enrolment!(conn, lock, session, enrolment);
        if e.status == Status::Booked {
            return Ok(e);
        }
        if e.status != Status::Offered || e.offer_expires_at.is_some_and(|t| t < now) {
            return Err(Error::Conflict("Cette place n'est plus proposée : le délai de confirmation est passé.".into()));
        }
        sqlx::query(
            "UPDATE enrolments SET status = 'booked', offer_expires_at = NULL, sequence = sequence + 1,
                    updated_at = $1 WHERE id = $2")
            .bind(now).bind(e.id).execute(&mut *conn).await?;
        e.status = Status::Booked;
        e.offer_expires_at = None;
        e.sequence += 1;
        notify!(conn, compose, NoticeKind::Booked, &e, &full, now);
        tx.commit().await?;
        e
    }))
}

/// Sessions to settle: upcoming, not cancelled, with an offer past its hold or people
/// waiting.
pub async fn unsettled(db: &Db, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT s.id FROM training_sessions s
         WHERE s.cancelled_at IS NULL AND s.starts_at > $1
           AND EXISTS (SELECT 1 FROM enrolments e WHERE e.session_id = s.id
                       AND (e.status = 'waiting' OR (e.status = 'offered' AND e.offer_expires_at < $1)))
         ORDER BY s.starts_at")
        .bind(now).fetch_all(pool).await)?)
}

/// Lapses the offers of a session past their hold and gives the seats to the waiting list
/// (also after the quota release date). Returns (lapsed, promoted).
pub async fn settle(
    db: &Db,
    session: Uuid,
    hold: Duration,
    now: DateTime<Utc>,
    compose: &Compose<'_>,
) -> Result<(usize, usize)> {
    let lock = lock_suffix(db);
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let Some(full) = locked_session!(conn, lock, session) else {
            return Ok((0, 0));
        };
        let sql = format!("{ENROLMENT_SELECT} WHERE e.session_id = $1 AND e.status = 'offered' AND e.offer_expires_at < $2");
        let lapsed: Vec<EnrolmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(session).bind(now).fetch_all(&mut *conn).await?;
        for e in &lapsed {
            sqlx::query("UPDATE enrolments SET status = 'lapsed', offer_expires_at = NULL, updated_at = $1 WHERE id = $2")
                .bind(now).bind(e.id).execute(&mut *conn).await?;
            let mut e = e.clone();
            e.status = Status::Lapsed;
            notify!(conn, compose, NoticeKind::Lapsed, &e, &full, now);
        }
        let promoted = promote!(conn, &full, hold, now, compose);
        tx.commit().await?;
        (lapsed.len(), promoted)
    }))
}

/// Records the marks of a slot and, for each person present at every slot, the attendance
/// of the whole session. Returns the enrolments that became attended.
#[allow(clippy::too_many_arguments)] // the marks, who and when, and what attending in full gives
pub async fn mark(
    db: &Db,
    session: Uuid,
    slot: Uuid,
    marks: &[(Uuid, Presence)],
    by: Uuid,
    now: DateTime<Utc>,
    attest: &Attest<'_>,
    completes: Option<(&str, chrono::NaiveDate)>,
) -> Result<Vec<Uuid>> {
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        let slots: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_slots WHERE session_id = $1")
            .bind(session).fetch_one(&mut *conn).await?;
        let offer: Uuid = sqlx::query_scalar("SELECT offer_id FROM training_sessions WHERE id = $1")
            .bind(session).fetch_one(&mut *conn).await?;
        let mut attended = Vec::new();
        for (enrolment, presence) in marks {
            let ok: Option<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM enrolments WHERE id = $1 AND session_id = $2 AND status = 'booked'")
                .bind(enrolment).bind(session).fetch_optional(&mut *conn).await?;
            if ok.is_none() {
                return Err(Error::Unprocessable("Cette personne n'a pas de place à cette session.".into()));
            }
            sqlx::query(
                "INSERT INTO attendance (enrolment_id, slot_id, status, marked_by, marked_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (enrolment_id, slot_id) DO UPDATE SET status = $3, marked_by = $4, marked_at = $5")
                .bind(enrolment).bind(slot).bind(presence.code()).bind(by).bind(now)
                .execute(&mut *conn).await?;
            let present: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM attendance WHERE enrolment_id = $1 AND status = 'present'")
                .bind(enrolment).fetch_one(&mut *conn).await?;
            let newly = sqlx::query(
                "UPDATE enrolments SET attended_at = CASE WHEN $1 THEN COALESCE(attended_at, $2) ELSE NULL END,
                        updated_at = $2 WHERE id = $3 AND (attended_at IS NULL) = $1")
                .bind(present == slots).bind(now).bind(enrolment).execute(&mut *conn).await?.rows_affected();
            if newly == 1 && present == slots {
                // Attended in full: the attestation de présence, in this transaction.
                let exists: Option<(String,)> = sqlx::query_as(
                    "SELECT number FROM attendance_attestations WHERE enrolment_id = $1")
                    .bind(enrolment).fetch_optional(&mut *conn).await?;
                if exists.is_none() {
                    let (user, holder): (Uuid, String) = sqlx::query_as(
                        "SELECT u.id, u.display_name FROM enrolments e JOIN users u ON u.id = e.user_id WHERE e.id = $1")
                        .bind(enrolment).fetch_one(&mut *conn).await?;
                    let signed = attest(&holder, now);
                    sqlx::query(
                        "INSERT INTO attendance_attestations (id, number, enrolment_id, user_id, payload, signature, key_id, issued_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(Uuid::new_v4()).bind(&signed.payload.number).bind(enrolment).bind(user)
                        .bind(&signed.payload_json).bind(&signed.signature).bind(&signed.key_id).bind(now)
                        .execute(&mut *conn).await?;
                    // The offer's linked module counts as completed for mandatory training:
                    // the person's open obligation cycle of that module is met here.
                    if let Some((module, valid_until)) = completes {
                        crate::obligations::store::complete_open_cycle!(
                            conn, user, module, None::<Uuid>, now, valid_until
                        )?;
                    }
                    // A rule may assign the offer itself: attending meets that duty too.
                    let until = crate::certificates::paris_today(crate::learning::valid_until(
                        now,
                        crate::obligations::OFFER_VALIDITY_MONTHS,
                    ));
                    let duty = crate::obligations::offer_duty(offer);
                    crate::obligations::store::complete_open_cycle!(
                        conn, user, duty.as_str(), None::<Uuid>, now, until
                    )?;
                }
                attended.push(*enrolment);
            }
        }
        tx.commit().await?;
        attended
    }))
}

/// The enrolments of the staff of a partner organisation, latest sessions first.
pub async fn enrolments_of_partner(db: &Db, partner: Uuid) -> Result<Vec<EnrolmentRow>> {
    let sql = format!(
        "{ENROLMENT_SELECT} JOIN training_sessions ts ON ts.id = e.session_id
         WHERE u.partner_id = $1 ORDER BY ts.starts_at DESC, u.display_name, e.id"
    );
    Ok(
        on_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(partner).fetch_all(pool).await)?,
    )
}

/// A slot by id, with its session and its check-in secret.
#[derive(Debug, Clone, FromRow)]
pub struct CheckinSlot {
    pub id: Uuid,
    pub session_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub checkin_secret: String,
}

pub async fn checkin_slot(db: &Db, slot: Uuid) -> Result<Option<CheckinSlot>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, session_id, starts_at, ends_at, checkin_secret FROM session_slots WHERE id = $1")
        .bind(slot).fetch_optional(pool).await)?)
}

/// Writes the SHA-256 of a person's new calendar feed secret (replacing the old one).
pub async fn set_feed(db: &Db, user: Uuid, hash: &str, now: DateTime<Utc>) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let conn = tx.conn();
        sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1").bind(user).execute(&mut *conn).await?;
        sqlx::query("INSERT INTO calendar_feeds (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(user).bind(hash).bind(now).execute(&mut *conn).await?;
        tx.commit().await?;
    });
    Ok(())
}

pub async fn revoke_feed(db: &Db, user: Uuid) -> Result<bool> {
    let n = on_db!(db, pool => sqlx::query("DELETE FROM calendar_feeds WHERE user_id = $1")
        .bind(user).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// When a person's feed was created, if they have one.
pub async fn feed_of(db: &Db, user: Uuid) -> Result<Option<DateTime<Utc>>> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT created_at FROM calendar_feeds WHERE user_id = $1")
        .bind(user).fetch_optional(pool).await)?,
    )
}

/// The person whose feed secret hashes to `hash`.
pub async fn feed_owner(db: &Db, hash: &str) -> Result<Option<Uuid>> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT user_id FROM calendar_feeds WHERE token_hash = $1")
        .bind(hash).fetch_optional(pool).await)?,
    )
}

/// A seat held in a session starting in a window (for the reminders).
#[derive(Debug, Clone, FromRow)]
pub struct Booked {
    pub enrolment_id: Uuid,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
}

/// Seats booked in sessions (not cancelled) starting between `from` and `to`.
pub async fn booked_between(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Booked>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT e.id AS enrolment_id, e.user_id, s.id AS session_id, o.title, s.starts_at
         FROM enrolments e JOIN training_sessions s ON s.id = e.session_id
         JOIN training_offers o ON o.id = s.offer_id
         WHERE e.status = 'booked' AND s.cancelled_at IS NULL AND s.starts_at > $1 AND s.starts_at <= $2
         ORDER BY s.starts_at, e.id")
        .bind(from).bind(to).fetch_all(pool).await)?)
}

/// Attendance marks per enrolment of a person: (enrolment, mark, count).
pub async fn marks_of_user(db: &Db, user: Uuid) -> Result<Vec<(Uuid, String, i64)>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT a.enrolment_id, a.status, COUNT(*) FROM attendance a
         JOIN enrolments e ON e.id = a.enrolment_id
         WHERE e.user_id = $1 GROUP BY a.enrolment_id, a.status")
        .bind(user).fetch_all(pool).await)?)
}
