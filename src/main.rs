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
}

#[derive(Subcommand)]
enum CoursesCommand {
    /// Validate every module of a course folder; prints `path:line: message` per problem.
    Check {
        /// The course folder (default: the `courses_dir` setting, `courses`).
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Courses {
            command: CoursesCommand::Check { dir },
        } => check_courses(dir),
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

fn serve() -> ExitCode {
    let figment = reperes::config::figment();
    if !cfg!(debug_assertions) && figment.find_value("secret_key").is_err() {
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
