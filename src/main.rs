//! Parse, build the runtime, run, map the result to an exit code — nothing else.

use std::process::ExitCode;

use clap::Parser as _;
use cosmoscope::app::App;
use cosmoscope::cli::Cli;
use cosmoscope::env::Env;
use cosmoscope::error::CommandError;

fn main() -> ExitCode {
    // A shell asking for completions (COSMOSCOPE_COMPLETE=bash …) is answered here, and we exit.
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command)
        .var(cosmoscope::cli::COMPLETE_VAR)
        .complete();
    cosmoscope::error::install_panic_hook();
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
    // A panic has been reported by the hook; it exits like any runtime error.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(cosmoscope::commands::run(&app, cli.command))
    }))
    .unwrap_or_else(|_| {
        Err(CommandError {
            silent: true,
            ..CommandError::runtime("internal error")
        })
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
    if !e.silent {
        eprint!("{}", e.render());
    }
    ExitCode::from(e.exit.code())
}
