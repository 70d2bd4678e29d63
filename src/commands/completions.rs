//! `cosmoscope completions SHELL`: the script, generated from the same clap definition as `--help`.

use clap::CommandFactory as _;

use crate::app::App;
use crate::cli::{Cli, CompletionsArgs};
use crate::error::CmdResult;

pub fn run(app: &App, args: &CompletionsArgs) -> CmdResult {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "cosmoscope", &mut buf);
    app.ui.out(&String::from_utf8_lossy(&buf))
}
