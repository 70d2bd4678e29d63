//! One file per command, each `async fn run(app: &App, args: …) -> CmdResult`.

pub mod completions;
pub mod init;
pub mod key;
pub mod login;
pub mod logout;
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
        Command::Key(cmd) => key::run(app, cmd).await,
        Command::Completions(args) => completions::run(app, &args),
    }
}
