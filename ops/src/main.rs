//! The `chatctl` binary: parse the command line, install tracing (stderr), and run
//! the command until it finishes or, for `local up`, until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,chat_ops=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = chat_ops::cli::Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Our messages already name their cause; the chain would repeat it.
            eprintln!("chatctl: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: chat_ops::cli::Cli) -> anyhow::Result<()> {
    // Listen before running: a signal that arrives while a command starts up is
    // kept until the command waits for it, instead of killing chatctl.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    cli.run(shutdown).await?;
    Ok(())
}
