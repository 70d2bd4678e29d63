//! One file per command, each `async fn run(app: &App, args: …) -> CmdResult`.

pub mod account_key;
pub mod completions;
pub mod init;
pub mod item;
pub mod login;
pub mod logout;
pub mod ls;
pub mod run_query;
pub mod status;

use crate::app::App;
use crate::cli::Command;
use crate::error::CmdResult;

pub async fn dispatch(app: &App, command: Command) -> CmdResult {
    match command {
        Command::Init(args) => init::run(app, &args),
        Command::Login(args) => login::run(app, &args).await,
        Command::Logout(args) => logout::run(app, &args).await,
        Command::Status => status::run(app),
        Command::Completions(args) => completions::run(app, &args),
        Command::Item(command) => item::run(app, command).await,
        Command::Ls(args) => ls::run(app, &args).await,
        Command::AccountKey(command) => account_key::run(app, &command),
    }
}
