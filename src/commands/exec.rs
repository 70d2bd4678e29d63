//! `cosmoscope exec -- CMD ARGS…`: the child gets the credential in its environment (never argv)
//! and none of the secrets cosmoscope itself reads (`env::vars::SECRETS`),
//! receives the signals sent to us, and its exit code becomes ours.

use crate::app::App;
use crate::cli::ExecArgs;
use crate::commands::export;
use crate::error::{CmdResult, CommandError};
use crate::output::credential;

pub async fn run(app: &App, args: &ExecArgs) -> CmdResult {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(CommandError::usage("no command given").hint("cosmoscope exec -- CMD ARGS…"));
    };
    let min_ttl = args.credential.min_ttl.map_or(0, |d| d.as_secs());
    let cred = export::issue(app, args.credential.resource, min_ttl).await?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest).envs(credential::child_env(&cred));
    // The child gets the credential it was given and none of the secrets cosmoscope consumed.
    for secret in crate::env::vars::SECRETS {
        cmd.env_remove(secret);
    }
    // …nor the installed-app client secret the profile points at (Google's).
    if let Ok((_, profile)) = app.profile()
        && let Some(var) = &profile.client_secret_env
    {
        cmd.env_remove(var);
    }
    drop(cred);
    let mut child = cmd.spawn().map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "check the command name and PATH"
        } else {
            "check the command's permissions"
        };
        CommandError::runtime(format!("cannot run {}", program.to_string_lossy()))
            .caused_by(&e)
            .hint(hint)
    })?;
    let status = forward_signals_until_exit(&mut child).await?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CommandError::child_exit(code)),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt as _;
                let sig = status.signal().unwrap_or(0);
                Err(CommandError::child_exit(128 + sig))
            }
            #[cfg(not(unix))]
            Err(CommandError::runtime("the command was terminated"))
        }
    }
}

#[cfg(unix)]
async fn forward_signals_until_exit(
    child: &mut tokio::process::Child,
) -> CmdResult<std::process::ExitStatus> {
    use rustix::process::{Pid, Signal, kill_process};
    use tokio::signal::unix::{SignalKind, signal};
    let pid = child
        .id()
        .and_then(|p| Pid::from_raw(i32::try_from(p).ok()?));
    let (mut int, mut term) = (
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    );
    let (mut hup, mut quit) = (signal(SignalKind::hangup())?, signal(SignalKind::quit())?);
    loop {
        let forwarded = tokio::select! {
            status = child.wait() => return Ok(status?),
            _ = int.recv() => Signal::INT,
            _ = term.recv() => Signal::TERM,
            _ = hup.recv() => Signal::HUP,
            _ = quit.recv() => Signal::QUIT,
        };
        if let Some(pid) = pid {
            let _ = kill_process(pid, forwarded);
        }
    }
}

#[cfg(not(unix))]
async fn forward_signals_until_exit(
    child: &mut tokio::process::Child,
) -> CmdResult<std::process::ExitStatus> {
    Ok(child.wait().await?)
}
