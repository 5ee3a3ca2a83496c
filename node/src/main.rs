//! The `chat-node` binary: parse the configuration, install tracing (text or JSON
//! lines), run the node until SIGINT or SIGTERM.

mod json_logs;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

fn main() -> std::process::ExitCode {
    let config = chat_node::Config::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn,sled=warn".into()),
        )
        .with_writer(std::io::stderr);
    match config.log_format {
        chat_node::LogFormat::Text => logs.init(),
        chat_node::LogFormat::Json => logs.event_format(json_logs::JsonLines).init(),
    }
    // Before the runtime exists: a bad --worker-threads must not start its threads.
    // `run` validates again, for callers that start it directly (the tests).
    if let Err(e) = config.validate() {
        eprintln!("chat-node: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        runtime.worker_threads(config.worker_threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-node: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: chat_node::Config) -> std::process::ExitCode {
    let shutdown = async {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    match chat_node::run(config, shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "chat-node failed");
            eprintln!("chat-node: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
