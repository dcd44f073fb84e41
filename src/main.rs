//! The `peertube-runner-connector` binary: parses the command line and runs it.

use std::process::ExitCode;

use clap::Parser;
use peertube_runner_connector::cli::remote::Exit;
use peertube_runner_connector::cli::{Cli, run};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // A command that says how it ended (a video that failed, a wait that timed out).
        Err(e) if e.downcast_ref::<Exit>().is_some() => {
            let code = e.downcast_ref::<Exit>().map_or(1, |exit| exit.code);
            eprintln!("{e}");
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
