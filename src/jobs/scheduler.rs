//! The ticking: tokio-cron-scheduler calls [`Runner::run_due`] on every instance at a fixed
//! interval (and once at start, to catch up a slot missed while every instance was down).

use std::sync::Arc;
use std::time::Duration;

use tokio_cron_scheduler::{Job as TickJob, JobScheduler};

use super::runner::Runner;

/// Starts ticking every `tick`; stops when `stop` resolves.
pub async fn start(
    runner: Arc<Runner>,
    tick: Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let mut scheduler = JobScheduler::new()
        .await
        .map_err(|e| format!("scheduler: {e}"))?;
    let ticking = runner.clone();
    let job = TickJob::new_repeated_async(tick, move |_id, _lock| {
        let runner = ticking.clone();
        Box::pin(async move {
            runner.run_due(crate::db::now()).await;
        })
    })
    .map_err(|e| format!("scheduler job: {e}"))?;
    scheduler
        .add(job)
        .await
        .map_err(|e| format!("scheduler job: {e}"))?;
    scheduler
        .start()
        .await
        .map_err(|e| format!("scheduler start: {e}"))?;
    // Catch up at once rather than after the first interval.
    let first = runner.clone();
    tokio::spawn(async move {
        first.run_due(crate::db::now()).await;
    });
    tokio::spawn(async move {
        stop.await;
        if let Err(e) = scheduler.shutdown().await {
            tracing::warn!(error = %e, "scheduler shutdown");
        }
    });
    Ok(())
}
