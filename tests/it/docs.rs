//! Completions and man pages are generated from `src/cli.rs` and checked in; this test fails when
//! the CLI changed without regenerating them. Regenerate with:
//!   UPDATE_DOCS=1 cargo nextest run -E 'test(docs::)'

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use cosmoscope::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const EXTRA_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
Success.
.TP
1
Runtime error.
.TP
2
Usage or query syntax error.
.TP
3
Login required: no session, or it expired and cannot be refreshed.
.TP
4
Denied by policy.
.TP
5
A remote service refused (401/403 from Cosmos DB or the identity provider).
.TP
130
Interrupted.
.SH ENVIRONMENT
.TP
COSMOSCOPE_PROFILE
Profile to use (overridden by \-\-profile).
.TP
COSMOSCOPE_CONFIG
Configuration file (overridden by \-\-config).
.TP
CI
When true, never prompt (as \-\-no\-input).
.TP
NO_COLOR
Disable colour.
.TP
COSMOS_DISABLE_IMDS
Keep the Azure SDK from probing the instance-metadata address.
.SH FILES
.TP
$XDG_CONFIG_HOME/cosmoscope/config.toml
Profiles.
.TP
$XDG_STATE_HOME/cosmoscope/audit.jsonl
The audit log (JSON lines, mode 0600).
.TP
$XDG_STATE_HOME/cosmoscope/sessions/
Public facts about sessions (never a token; tokens live in the OS keyring).
"#;

/// Every generated file: (path relative to the repository, contents).
fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for (shell, name) in [
        (clap_complete::Shell::Bash, "cosmoscope.bash"),
        (clap_complete::Shell::Zsh, "_cosmoscope"),
        (clap_complete::Shell::Fish, "cosmoscope.fish"),
    ] {
        files.push((
            Path::new("completions").join(name),
            cosmoscope::commands::completions::script(shell),
        ));
    }
    let cmd = Cli::command();
    let mut main = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut main)
        .expect("render man page");
    main.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    files.push((PathBuf::from("man/cosmoscope.1"), main));
    for sub in cmd.get_subcommands() {
        let name = format!("cosmoscope-{}", sub.get_name());
        let mut page = Vec::new();
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str()); // clap names are &'static without its `string` feature
        clap_mangen::Man::new(sub.clone().name(static_name))
            .render(&mut page)
            .expect("render man page");
        files.push((PathBuf::from(format!("man/{name}.1")), page));
    }
    files
}

#[test]
fn completions_and_man_pages_are_fresh() {
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (rel, contents) in generated() {
        let path = root().join(&rel);
        if update {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, &contents).expect("write");
        } else if std::fs::read(&path).ok().as_deref() != Some(contents.as_slice()) {
            stale.push(rel.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run UPDATE_DOCS=1 cargo nextest run -E 'test(docs::)'"
    );
}

#[test]
fn completions_command_prints_the_checked_in_script() {
    let env = crate::harness::TestEnv::new();
    let run = env.run(&["completions", "bash"]);
    run.ok();
    assert_eq!(
        run.stdout.as_bytes(),
        std::fs::read(root().join("completions/cosmoscope.bash")).expect("checked in")
    );
}

/// Runs bash with the checked-in completion script and returns what it offers for `words`.
fn bash_complete(env: &crate::harness::TestEnv, words: &[&str]) -> Vec<String> {
    let bin_dir = std::path::Path::new(crate::harness::BIN)
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let script = root().join("completions/cosmoscope.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prog = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; COMP_TYPE=9; _clap_complete_cosmoscope cosmoscope '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[cword],
        words[cword.saturating_sub(1)],
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(prog)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
        .env("HOME", env.dir.path().join("home"))
        .env("XDG_CONFIG_HOME", env.dir.path().join("config"))
        .output()
        .expect("bash");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_subcommands_and_profile_names() {
    let env = crate::harness::TestEnv::new();
    env.write_config("[profiles.staging]\nissuer = \"https://a.example/\"\nclient_id = \"a\"\n\n[profiles.prod]\nissuer = \"https://b.example/\"\nclient_id = \"b\"\n");
    let offered = bash_complete(&env, &["cosmoscope", "po"]);
    assert_eq!(offered, ["policy"], "{offered:?}");
    let offered = bash_complete(&env, &["cosmoscope", "q"]);
    assert_eq!(offered, ["query"], "{offered:?}");
    let offered = bash_complete(&env, &["cosmoscope", "status", "--profile", ""]);
    assert_eq!(offered, ["prod", "staging"], "{offered:?}");
    let offered = bash_complete(&env, &["cosmoscope", "status", "--profile", "st"]);
    assert_eq!(offered, ["staging"], "{offered:?}");
}
