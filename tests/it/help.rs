//! `--help` of every command, snapshotted: a change of wording, a new flag or a lost example is a
//! reviewed diff in `tests/it/snapshots/`.

use clap::CommandFactory as _;
use cosmoscope::cli::Cli;

fn walk(cmd: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    let help = cmd.render_long_help().to_string();
    out.push((path.to_string(), help));
    // clap's own `help` subcommands repeat the pages above.
    for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
        let name = format!("{path} {}", sub.get_name());
        walk(sub, &name, out);
    }
}

fn hide_env_values(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| a.hide_env_values(true))
        .mut_subcommands(hide_env_values)
}

#[test]
fn help_of_every_command() {
    // A fixed width: the snapshot must not depend on the terminal the tests run in.
    // Values of COSMOSCOPE_* variables set where the tests run are not part of the page.
    let mut cmd = hide_env_values(Cli::command().term_width(100).max_term_width(100));
    cmd.build();
    let mut pages = Vec::new();
    walk(&mut cmd, "cosmoscope", &mut pages);
    assert!(pages.len() > 15, "every subcommand: {}", pages.len());
    for (path, help) in pages {
        let name = path.replace(' ', "_");
        insta::assert_snapshot!(name, help);
    }
}
