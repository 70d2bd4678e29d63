//! Parse, build the runtime, run, map the result to an exit code — nothing else.

use std::process::ExitCode;

use clap::Parser as _;
use cosmoscope::app::App;
use cosmoscope::cli::Cli;
use cosmoscope::env::Env;
use cosmoscope::error::{CommandError, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let app = App::new(cli.global, Env::from_process());
    // Before any thread exists: the Cosmos SDK's instance-metadata probe is switched off through
    // the environment only (see cosmos::client).
    cosmoscope::cosmos::client::disable_imds_probe_before_threads(app.wants_region_proximity());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(&CommandError::runtime("cannot start the async runtime").caused_by(&e));
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            // The command first: one that handles Ctrl-C itself (a streamed query closes its
            // output and reports what it fetched) gets to finish before this fallback fires.
            biased;
            r = cosmoscope::commands::dispatch(&app, cli.command) => r,
            _ = tokio::signal::ctrl_c() => Err(CommandError::new(Exit::Interrupted, "interrupted")),
        }
    });
    // Do not wait for stray blocking tasks (a keyring call, a browser launcher) on the way out.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

fn report(e: &CommandError) -> ExitCode {
    if e.broken_pipe {
        return ExitCode::SUCCESS;
    }
    eprint!("{}", e.render());
    ExitCode::from(e.exit.code())
}
