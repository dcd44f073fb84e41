//! The `peertube-runner-connector` binary: parses the command line and runs it.

use std::process::ExitCode;

use clap::Parser;
use peertube_runner_connector::cli::{Cli, run};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
