//! One file per command, each `async fn run(app: &App, args: …) -> CmdResult`.

pub mod account_key;
pub mod audit_log;
pub mod completions;
pub mod doctor;
pub mod exec;
pub mod guard;
pub mod init;
pub mod item;
pub mod key;
pub mod login;
pub mod logout;
pub mod ls;
pub mod policy;
pub mod query;
pub mod run_query;
pub mod status;
pub mod token;

use crate::app::App;
use crate::cli::Command;
use crate::error::CmdResult;

/// Runs a command; Ctrl-C ends it with exit 130 — except `exec`, which forwards signals to its child.
pub async fn run(app: &App, command: Command) -> CmdResult {
    if matches!(command, Command::Exec(_)) {
        return dispatch(app, command).await;
    }
    tokio::select! {
        // The command first: one that handles Ctrl-C itself (a streamed query closes its output
        // and reports what it fetched) gets to finish before this fallback fires.
        biased;
        r = dispatch(app, command) => r,
        _ = tokio::signal::ctrl_c() => Err(crate::error::CommandError::new(crate::error::Exit::Interrupted, "interrupted")),
    }
}

pub async fn dispatch(app: &App, command: Command) -> CmdResult {
    match command {
        Command::Init(args) => init::run(app, &args),
        Command::Login(args) => login::run(app, &args).await,
        Command::Logout(args) => logout::run(app, &args).await,
        Command::Status => status::run(app),
        Command::Policy(args) => policy::run(app, &args),
        Command::Token(args) => token::run(app, &args).await,
        Command::Exec(args) => exec::run(app, &args).await,
        Command::Doctor => doctor::run(app).await,
        Command::Key(cmd) => key::run(app, cmd).await,
        Command::Audit(args) => audit_log::run(app, &args),
        Command::Completions(args) => completions::run(app, &args),
        Command::Query(args) => query::run(app, &args).await,
        Command::Item(command) => item::run(app, command).await,
        Command::Ls(args) => ls::run(app, &args).await,
        Command::AccountKey(command) => account_key::run(app, &command).await,
    }
}
