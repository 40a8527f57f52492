//! The `ferrovox` binary: parses the command line and configuration, then runs one of the
//! appliance's roles. Everything it starts lives in the workspace's library crates.

mod cli;
mod config;
mod run;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if matches!(cli.command, cli::Command::Version) {
        println!("ferrovox {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match config::load(cli.config.as_deref(), std::env::vars(), cli.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ferrovox: config error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = run::init_logging(&config.log) {
        eprintln!("ferrovox: config error: {error}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ferrovox: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::command(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrovox: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line (operators grep for it), skipping a cause whose text
/// the line already carries.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}
