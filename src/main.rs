//! The `reperes` command: the web service (default) and the maintenance commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the pages allocate many small strings and JSON values; glibc malloc showed up
/// as a fifth of the CPU time in the benchmark profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "reperes",
    version,
    about = "Repères : former au repérage des discriminations"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the web service (the default).
    Serve,
    /// Course files.
    Courses {
        #[command(subcommand)]
        command: CoursesCommand,
    },
    /// People and the HR directory.
    People {
        #[command(subcommand)]
        command: PeopleCommand,
    },
    /// API tokens for machine clients.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Certificate signing keys.
    Certificates {
        #[command(subcommand)]
        command: CertificatesCommand,
    },
    /// Scheduled jobs, run by hand (the service runs them on its own).
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Claim and run one job's slot due at an instant, unless an instance ran it already
    /// (the same claim as the scheduler's). Jobs: outbox_delivery, cleanup,
    /// obligations_sweep, reminders_sweep.
    Run {
        job: String,
        /// The instant (RFC 3339, e.g. 2027-01-20T09:00:00Z); default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Deliver every message of the outbox due at an instant, until none is left.
    Deliver {
        /// The instant (RFC 3339); default: now.
        #[arg(long)]
        at: Option<String>,
        /// Stop after this many messages (default: all).
        #[arg(long)]
        max: Option<usize>,
    },
}

#[derive(Subcommand)]
enum CertificatesCommand {
    /// Print the public key of `certificate_key` (base64): before replacing the key, add it to
    /// `certificate_previous_keys` so that the certificates it signed stay valid.
    PublicKey,
}

#[derive(Subcommand)]
enum PeopleCommand {
    /// Import the HR system's CSV export: creates, updates and deactivates people.
    /// Prints `line N: message` for every bad line and imports nothing if there is one.
    Import {
        file: PathBuf,
        /// Show what would be created, changed and deactivated, without writing.
        #[arg(long)]
        dry_run: bool,
        /// Confirm deactivations above `import_max_deactivation_percent` of the directory.
        #[arg(long)]
        confirm_deactivations: bool,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create a token; prints it once.
    Create {
        /// What the token is for (the tool that will use it).
        #[arg(long)]
        name: String,
        /// `read` or `read_write`.
        #[arg(long, default_value = "read")]
        scope: String,
    },
}

#[derive(Subcommand)]
enum CoursesCommand {
    /// Validate every module of a course folder; prints `path:line: message` per problem.
    Check {
        /// The course folder (default: the `courses_dir` setting, `courses`).
        dir: Option<PathBuf>,
    },
}

/// Logs go to standard error through `tracing`: readable lines by default,
/// `REPERES_LOG_FORMAT=json` for one JSON object per line (production log collectors);
/// `REPERES_LOG` filters (`info` by default, e.g. `reperes=debug`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REPERES_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("REPERES_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Courses {
            command: CoursesCommand::Check { dir },
        } => check_courses(dir),
        Command::Jobs {
            command: JobsCommand::Run { job, at },
        } => run_job(&job, at.as_deref()),
        Command::Jobs {
            command: JobsCommand::Deliver { at, max },
        } => deliver(at.as_deref(), max.unwrap_or(usize::MAX)),
        Command::People {
            command:
                PeopleCommand::Import {
                    file,
                    dry_run,
                    confirm_deactivations,
                },
        } => import_people(file, dry_run, confirm_deactivations),
        Command::Tokens {
            command: TokensCommand::Create { name, scope },
        } => create_token(name, scope),
        Command::Certificates {
            command: CertificatesCommand::PublicKey,
        } => print_public_key(),
    }
}

fn print_public_key() -> ExitCode {
    let seed = reperes::config::figment()
        .extract::<reperes::Config>()
        .ok()
        .and_then(|c| c.certificate_key);
    let Some(seed) = seed else {
        eprintln!("error: certificate_key (REPERES_CERTIFICATE_KEY) is not set");
        return ExitCode::from(2);
    };
    match reperes::certificates::Signer25519::from_base64(&seed) {
        Ok(signer) => {
            println!(
                "{}",
                reperes::certificates::public_key_base64(&signer.verifying_key())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn check_courses(dir: Option<PathBuf>) -> ExitCode {
    let dir = dir.unwrap_or_else(|| {
        reperes::config::figment()
            .extract::<reperes::Config>()
            .map(|c| c.courses_dir)
            .unwrap_or_else(|_| "courses".into())
    });
    match reperes::catalog::load(&dir) {
        Ok(catalog) => {
            let questions: usize = catalog
                .modules()
                .iter()
                .flat_map(|m| &m.quiz.pools)
                .map(|p| p.questions.len())
                .sum();
            println!(
                "{}: {} modules, {} questions, no problem found",
                dir.display(),
                catalog.modules().len(),
                questions
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                println!("{p}");
            }
            eprintln!("{} problem(s) found", problems.len());
            ExitCode::FAILURE
        }
    }
}

/// Connects to the configured database (migrating it) for a maintenance command.
async fn database() -> Result<reperes::Db, String> {
    let config: reperes::Config = reperes::config::figment()
        .extract()
        .map_err(|e| format!("invalid settings: {e}"))?;
    let db = reperes::Db::connect(&config.database_url, 4)
        .await
        .map_err(|e| {
            format!(
                "cannot connect to {}: {e}",
                reperes::redact_url(&config.database_url)
            )
        })?;
    db.migrate()
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    Ok(db)
}

/// Runs a maintenance command on the configured database, reporting a failure to open it.
/// An instant given on the command line, or now.
fn instant(at: Option<&str>) -> Result<chrono::DateTime<chrono::Utc>, String> {
    match at {
        None => Ok(reperes::db::now()),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| format!("--at {s:?}: {e} (expected RFC 3339, e.g. 2027-01-20T09:00:00Z)")),
    }
}

/// Builds the service (settings, catalogue, templates, database) without serving, and runs
/// `command` with its job runner.
fn with_runner<F, Fut>(command: F) -> ExitCode
where
    F: FnOnce(reperes::jobs::runner::Runner) -> Fut + Send,
    Fut: std::future::Future<Output = ExitCode> + Send,
{
    rocket::execute(async move {
        let rocket = match reperes::build(reperes::config::figment()).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        match reperes::jobs::runner::Runner::from_rocket(&rocket) {
            Some(runner) => command(runner).await,
            None => {
                eprintln!("error: the service state is incomplete");
                ExitCode::FAILURE
            }
        }
    })
}

fn run_job(code: &str, at: Option<&str>) -> ExitCode {
    let Some(job) = reperes::jobs::Job::parse(code) else {
        let known: Vec<&str> = reperes::jobs::Job::ALL.iter().map(|j| j.code()).collect();
        eprintln!("error: unknown job {code:?}; jobs: {}", known.join(", "));
        return ExitCode::from(2);
    };
    let at = match instant(at) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    with_runner(move |runner| async move {
        use reperes::jobs::runner::Attempt;
        use std::io::Write;
        let attempt = runner.run_one(job, at).await;
        let mut out = std::io::stdout().lock();
        match attempt {
            Attempt::NotDue => {
                let _ = writeln!(out, "{}: no slot due at {at}", job.code());
                ExitCode::SUCCESS
            }
            Attempt::AlreadyClaimed(slot) => {
                let _ = writeln!(out, "{}: slot {} already claimed", job.code(), slot.key);
                ExitCode::SUCCESS
            }
            Attempt::Ran(done) => match done.outcome {
                Ok(summary) => {
                    let _ = writeln!(out, "{} slot {} done: {summary}", job.code(), done.slot.key);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {} slot {}: {e}", job.code(), done.slot.key);
                    ExitCode::FAILURE
                }
            },
        }
    })
}

fn deliver(at: Option<&str>, max: usize) -> ExitCode {
    let at = match instant(at) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    with_runner(move |runner| async move {
        let mut total = reperes::notifications::worker::Round::default();
        loop {
            let done = total.sent + total.retried + total.failed + total.dropped;
            let left = max.saturating_sub(done).min(1000);
            if left == 0 {
                break;
            }
            match reperes::notifications::worker::deliver_at_most(
                &runner.db,
                &runner.mailer,
                at,
                left,
            )
            .await
            {
                Ok(r) => {
                    total.sent += r.sent;
                    total.retried += r.retried;
                    total.failed += r.failed;
                    total.dropped += r.dropped;
                    if r == reperes::notifications::worker::Round::default() {
                        break;
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!(
            "{} sent, {} to retry, {} failed, {} dropped",
            total.sent, total.retried, total.failed, total.dropped
        );
        ExitCode::SUCCESS
    })
}

fn with_database<F, Fut>(command: F) -> ExitCode
where
    F: FnOnce(reperes::Db) -> Fut + Send,
    Fut: std::future::Future<Output = ExitCode> + Send,
{
    rocket::execute(async move {
        match database().await {
            Ok(db) => command(db).await,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn import_people(file: PathBuf, dry_run: bool, confirm_deactivations: bool) -> ExitCode {
    let max_percent = reperes::config::figment()
        .extract::<reperes::Config>()
        .map(|c| c.import_max_deactivation_percent)
        .unwrap_or(10);
    let safeguard = reperes::people::directory::Safeguard {
        confirmed: confirm_deactivations,
        max_percent,
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    with_database(|db| async move {
        let event = reperes::audit::Event {
            actor: "ligne de commande".into(),
            ..reperes::audit::Event::by(
                None,
                reperes::audit::Kind::Import,
                file.display().to_string(),
            )
        };
        let started = std::time::Instant::now();
        match reperes::people::directory::run(&db, &text, dry_run, safeguard, event).await {
            Ok(Ok(r)) => {
                // Written with writeln! and errors ignored: `| head` must not make it panic.
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "{}{} rows: {} to create, {} to change, {} to deactivate, {} unchanged ({:.2} s)",
                    if r.dry_run { "dry run, nothing written. " } else { "" },
                    r.rows,
                    r.created,
                    r.updated,
                    r.deactivated,
                    r.unchanged,
                    started.elapsed().as_secs_f64()
                );
                for (mark, list) in [
                    ("+", &r.examples_created),
                    ("~", &r.examples_updated),
                    ("-", &r.examples_deactivated),
                ] {
                    for e in list {
                        let _ = writeln!(out, "  {mark} {e}");
                    }
                }
                ExitCode::SUCCESS
            }
            Ok(Err(lines)) => {
                for l in &lines {
                    println!("{l}");
                }
                eprintln!("{} bad line(s): nothing imported", lines.len());
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn create_token(name: String, scope: String) -> ExitCode {
    let Some(scope) = reperes::auth::tokens::TokenScope::parse(&scope) else {
        eprintln!("error: --scope must be read or read_write (also accepted: read-write)");
        return ExitCode::from(2);
    };
    with_database(|db| async move {
        match reperes::auth::tokens::create(&db, &name, scope, None, None).await {
            Ok((_, token)) => {
                println!("{token}");
                eprintln!(
                    "token \"{name}\" ({}) created; it is shown only this once",
                    scope.code()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn serve() -> ExitCode {
    let figment = reperes::config::figment();
    if !cfg!(debug_assertions) && reperes::secret_key_missing(&figment) {
        eprintln!(
            "error: missing setting `secret_key`. A release build needs a secret key to encrypt \
             session cookies: set ROCKET_SECRET_KEY (e.g. the output of `openssl rand -base64 32`) \
             or `secret_key` in Rocket.toml. Every instance must use the same key."
        );
        return ExitCode::from(2);
    }
    rocket::execute(async {
        let rocket = match reperes::build(figment).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        match rocket.launch().await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
