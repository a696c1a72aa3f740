//! The database: SQLite (embedded default) or PostgreSQL, behind one enum.
//!
//! Store code is written once and run on either pool with [`on_db!`]; SQL uses `$1..$n`
//! placeholders, which both drivers accept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A connection pool on one of the two supported backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool `db` holds: `on_db!(db, pool => expr)`.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// A value bound to a numbered placeholder of a query built at run time.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Id(uuid::Uuid),
    Int(i64),
    Date(chrono::NaiveDate),
    Time(chrono::DateTime<chrono::Utc>),
    /// A text that may be absent (bound as NULL).
    OptText(Option<String>),
    /// An id that may be absent (bound as NULL).
    OptId(Option<uuid::Uuid>),
}

/// Adds `arg` to `args` and returns its placeholder (`$n`).
pub fn push_arg(args: &mut Vec<Arg>, arg: Arg) -> String {
    args.push(arg);
    format!("${}", args.len())
}

/// A `LIMIT … OFFSET …` clause with its numbers written into the SQL (negative ones read
/// as 0). Not bound: SQLite (3.51) re-prepares a statement whose `LIMIT` or `OFFSET` is a
/// bound parameter every time it is bound again, which cost a third of the CPU of the
/// catalogue page. The numbers are integers from the code, never text from a request.
pub fn limit(limit: i64, offset: i64) -> String {
    format!("LIMIT {} OFFSET {}", limit.max(0), offset.max(0))
}

/// Binds `args` in order to a query built at run time: `bind_args!(query, &args)`.
#[macro_export]
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for a in $args {
            q = match a {
                $crate::db::Arg::Text(t) => q.bind(t.clone()),
                $crate::db::Arg::Id(i) => q.bind(*i),
                $crate::db::Arg::Int(n) => q.bind(*n),
                $crate::db::Arg::Date(d) => q.bind(*d),
                $crate::db::Arg::Time(t) => q.bind(*t),
                $crate::db::Arg::OptText(t) => q.bind(t.clone()),
                $crate::db::Arg::OptId(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// A write transaction. On SQLite it also holds this process's write lock for its file,
/// so that writers queue in order instead of polling SQLite's busy handler (whose growing
/// sleeps made the slowest writes wait up to a tenth of a second under load).
pub struct WriteTx<DB: sqlx::Database> {
    tx: Transaction<'static, DB>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }

    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }
}

/// Opening a transaction that will write. On SQLite the write lock is taken at once
/// (`BEGIN IMMEDIATE`) after waiting for this process's turn; PostgreSQL row locks do the
/// job there.
pub trait WritePool {
    type Backend: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<WriteTx<Self::Backend>>> + Send;
}

/// One queue of writers per SQLite file in this process.
fn sqlite_turns(file: &Path) -> Arc<Mutex<()>> {
    static TURNS: OnceLock<std::sync::Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let turns = TURNS.get_or_init(Default::default);
    let mut map = turns
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(file.to_path_buf()).or_default().clone()
}

impl WritePool for SqlitePool {
    type Backend = Sqlite;
    async fn begin_write(&self) -> sqlx::Result<WriteTx<Sqlite>> {
        let turn = sqlite_turns(self.connect_options().get_filename())
            .lock_owned()
            .await;
        let tx = self.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx {
            tx,
            _turn: Some(turn),
        })
    }
}

impl WritePool for PgPool {
    type Backend = Postgres;
    async fn begin_write(&self) -> sqlx::Result<WriteTx<Postgres>> {
        Ok(WriteTx {
            tx: self.begin().await?,
            _turn: None,
        })
    }
}

/// The current time, at the microsecond precision both backends store, so that a value
/// read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// How much of an SQLite file each connection maps into memory: SQLite's own ceiling,
/// about 2 GiB (address space, not memory: the pages are the operating system's file
/// cache, shared by the connections; past it, a file is read as before).
const SQLITE_MMAP_BYTES: u64 = 0x7fff_0000;

impl Db {
    /// Connects to `url`, creating an SQLite file (and its folder) when needed.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            return Ok(Db::Postgres(pool));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Reads through memory-mapped I/O: a page is not copied out of the operating
            // system's file cache by a read(2) call (the equality measures over a million
            // completions were 20–30 % slower without it).
            .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string());
        if let Some(parent) = Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // A connection to a file in this process cannot have gone away: the test query
            // sqlx sends by default before lending one was a round trip to its thread for
            // every query (a third of the hand-offs of a page's queries).
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Db::Sqlite(pool))
    }

    /// Applies the migrations of this backend. On PostgreSQL the migrator holds an advisory
    /// lock, so instances starting together apply them once, one after the other.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await,
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers a trivial query within two seconds.
    pub async fn ping(&self) -> bool {
        let probe =
            async { on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())) };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(()))
        )
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}
