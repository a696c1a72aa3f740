//! The delivery worker: claims due outbox rows, sends them, records each outcome.

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::transport::{build_message, Transport};
use super::{after_failure, store, AfterFailure};
use crate::db::Db;
use crate::error::Result;

/// How a worker sends: the transport and the sender's identity.
#[derive(Debug, Clone)]
pub struct Mailer {
    pub transport: Transport,
    pub mail_from: String,
    pub public_url: String,
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Reminders whose obligations were all met before they left.
    pub dropped: usize,
}

/// Rows claimed at once.
const BATCH: i64 = 50;
/// Messages of a batch sent at the same time.
const CONCURRENCY: usize = 8;
/// Claims per round at most, so that one round ends even under a flood.
const MAX_BATCHES: usize = 20;

/// Delivers every message due at `now` (in batches, one round at most), and returns what
/// happened.
pub async fn deliver_due(db: &Db, mailer: &Mailer, now: DateTime<Utc>) -> Result<Round> {
    deliver_at_most(db, mailer, now, MAX_BATCHES * BATCH as usize).await
}

/// Delivers up to `max` messages due at `now`.
pub async fn deliver_at_most(
    db: &Db,
    mailer: &Mailer,
    now: DateTime<Utc>,
    max: usize,
) -> Result<Round> {
    let mut round = Round::default();
    let mut left = max;
    while left > 0 {
        let claimed = store::claim_due(db, now, BATCH.min(left as i64)).await?;
        left = left.saturating_sub(claimed.len());
        if claimed.is_empty() {
            break;
        }
        // Several messages of a batch in flight at once over the relay's pooled
        // connections: one message's round trips no longer set the pace of the whole.
        let outcomes: Vec<Result<Outcome>> = futures::stream::iter(claimed)
            .map(|row| deliver_one(db, mailer, row))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => round.sent += 1,
                Outcome::Retried => round.retried += 1,
                Outcome::Failed => round.failed += 1,
                Outcome::Dropped => round.dropped += 1,
            }
        }
    }
    Ok(round)
}

/// What became of one claimed message.
enum Outcome {
    Sent,
    Retried,
    Failed,
    Dropped,
}

/// Sends one claimed message and records what happened to it.
async fn deliver_one(db: &Db, mailer: &Mailer, row: store::Claimed) -> Result<Outcome> {
    if let Some(ids) = &row.obligation_ids {
        let ids: Vec<uuid::Uuid> = ids
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        if !store::any_still_open(db, &ids).await? {
            store::mark_dropped(db, row.id, crate::db::now()).await?;
            return Ok(Outcome::Dropped);
        }
    }
    let stem = format!(
        "{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%6f"),
        row.id.simple()
    );
    let outcome = match build_message(&row, &mailer.mail_from, &mailer.public_url) {
        Ok(message) => mailer.transport.send(message, &stem).await,
        Err(e) => Err(e),
    };
    Ok(match outcome {
        Ok(()) => {
            store::mark_sent(db, row.id, crate::db::now()).await?;
            Outcome::Sent
        }
        Err(error) => match after_failure(row.tries, crate::db::now()) {
            AfterFailure::RetryAt(at) => {
                let held = super::MailKind::parse(&row.kind)
                    .is_some_and(super::MailKind::held_to_working_hours);
                let at = if held { super::working_window(at) } else { at };
                tracing::warn!(outbox = %row.id, tries = row.tries, retry_at = %at, error = %error, "mail not delivered, retry planned");
                store::mark_failure(db, row.id, &error, Some(at)).await?;
                Outcome::Retried
            }
            AfterFailure::GiveUp => {
                tracing::error!(outbox = %row.id, tries = row.tries, error = %error, "mail not delivered, kept as failed");
                store::mark_failure(db, row.id, &error, None).await?;
                Outcome::Failed
            }
        },
    })
}
