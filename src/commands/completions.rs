//! `cosmoscope completions SHELL`: a small script that registers cosmoscope's dynamic completion
//! with the shell. The shell then asks cosmoscope itself (through `COSMOSCOPE_COMPLETE`) for every
//! completion, generated from the same clap definition as `--help` — so subcommands, flags and the
//! profile names of the config file complete without regenerating anything.

use crate::app::App;
use crate::cli::{COMPLETE_VAR, CompletionsArgs};
use crate::error::{CmdResult, CommandError};

/// The registration script for `shell`.
pub fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    let completer: &dyn clap_complete::env::EnvCompleter = match shell {
        clap_complete::Shell::Bash => &clap_complete::env::Bash,
        clap_complete::Shell::Zsh => &clap_complete::env::Zsh,
        clap_complete::Shell::Fish => &clap_complete::env::Fish,
        clap_complete::Shell::PowerShell => &clap_complete::env::Powershell,
        _ => &clap_complete::env::Elvish,
    };
    // Writing into a Vec cannot fail.
    let _ = completer.write_registration(
        COMPLETE_VAR,
        "cosmoscope",
        "cosmoscope",
        "cosmoscope",
        &mut buf,
    );
    buf
}

pub fn run(app: &App, args: &CompletionsArgs) -> CmdResult {
    let buf = script(args.shell);
    if buf.is_empty() {
        return Err(CommandError::runtime(
            "cannot generate the completion script",
        ));
    }
    app.ui.out(&String::from_utf8_lossy(&buf))
}
