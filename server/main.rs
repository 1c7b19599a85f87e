//! The `berth` command: reads the configuration, sets up logging, and serves (or checks
//! lessons). Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use berth::config::{Config, ServeArgs};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Learn Docker by doing: lessons beside a real terminal in each learner's own sandbox.
#[derive(Parser)]
#[command(name = "berth", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the lessons and the learners' terminals.
    ///
    /// Every flag is also an environment variable (BERTH_<FLAG>, e.g. BERTH_IDLE_TIMEOUT=15m)
    /// and a key in berth.toml; flags win over the environment, the environment over the file.
    Serve(Box<ServeArgs>),
    /// Work with lessons.
    Lessons {
        #[command(subcommand)]
        command: LessonsCommand,
    },
}

#[derive(Subcommand)]
enum LessonsCommand {
    /// Validate lessons (front matter, checks, both languages, links and pictures); exits
    /// non-zero on any problem.
    Check {
        /// Folder with en/ and ko/ (default: the lessons built into berth).
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Lessons {
            command: LessonsCommand::Check { dir },
        } => match berth::lessons::check_command(dir.as_deref()) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprintln!("{problems}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => match serve(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("berth: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let running = berth::start(config).await?;
        shutdown_signal().await;
        tracing::info!("stopping: removing every sandbox");
        running.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminate = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
