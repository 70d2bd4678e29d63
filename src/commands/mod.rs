//! One file per command, each `async fn run(app: &App, args: …) -> CmdResult`.

mod account_key;
mod audit_log;
pub mod completions;
mod doctor;
mod exec;
mod export;
mod gate;
mod gateway;
mod init;
mod item;
mod key;
mod login;
mod logout;
mod ls;
mod mcp;
mod policy;
mod query;
pub mod run_query;
mod serve;
mod status;
mod token;

use crate::app::App;
use crate::cli::Command;
use crate::error::CmdResult;

/// Runs a command; Ctrl-C ends it with exit 130 — except `exec`, which forwards signals to its child.
pub async fn run(app: &App, command: Command) -> CmdResult {
    check_format(app, &command)?;
    if matches!(command, Command::Exec(_)) {
        return dispatch(app, command).await;
    }
    tokio::select! {
        // The command first: one that handles Ctrl-C itself (a streamed query closes its output
        // and reports what it fetched, the gate writes its record) gets to finish before this
        // fallback fires. Listening starts lazily here: a command that finishes in its first
        // poll (`status`) installs no handler at all.
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
        Command::Status => status::run(app).await,
        Command::Policy(args) => policy::run(app, &args).await,
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
        Command::Serve(args) => serve::run(app, &args).await,
        Command::Mcp(args) => mcp::run(app, &args).await,
    }
}

/// A format the command cannot give is a usage error before anything runs, not a silent table.
fn check_format(app: &App, command: &Command) -> CmdResult {
    let Some(asked) = app.global.output else {
        return Ok(());
    };
    let formats = command.formats();
    if formats.contains(&asked) {
        return Ok(());
    }
    let hint = match command {
        Command::Token(_) => "choose the credential's shape with --format (raw, json, env, \
                              exec-credential, azure-cli)"
            .to_string(),
        _ if formats.len() == 1 => "this command prints no data; drop -o".to_string(),
        _ => format!(
            "use one of: {}",
            formats
                .iter()
                .map(|f| format!("-o {}", f.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(asked.unsupported().hint(hint))
}

/// Resolves on Ctrl-C. Listening starts when this is called, not when it is first polled, so a
/// signal that arrives while the command is busy is never the default "kill the process" — which
/// would leave no audit record.
pub(crate) fn on_interrupt() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
        async move {
            match signal {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
