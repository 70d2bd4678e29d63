//! The `init` wizard, for real in a terminal: tmux runs cosmoscope, send-keys types the answers,
//! capture-pane reads the screen.

use std::process::Command;

use crate::harness::{BIN, TestEnv, Tmux};
use crate::require;

/// cosmoscope with ARGS in a real terminal, in this test's environment.
fn start(env: &TestEnv, args: &str) -> Tmux {
    Tmux::run(&format!("{} {BIN} {args}", env.shell_env()))
}

#[test]
fn init_wizard_in_a_real_terminal() {
    require!(Command::new("tmux").arg("-V").output().is_ok(), "tmux");
    let env = TestEnv::new();
    let t = start(&env, "init");
    t.wait_for("Profile name");
    t.send(&["Enter"]); // keeps the offered "default"
    t.wait_for("Identity provider");
    t.send(&["Enter"]); // generic: the issuer is asked for
    t.wait_for("OpenID issuer URL");
    t.send(&["-l", "http://remote.example.com"]);
    t.send(&["Enter"]);
    t.wait_for("plain http");
    t.send(&["C-u"]);
    t.send(&["-l", "https://example.eu.auth0.com/"]);
    t.send(&["Enter"]);
    t.wait_for("Client ID");
    t.send(&["-l", "abc123"]);
    t.send(&["Enter"]);
    t.wait_for("API audience");
    t.send(&["-l", "https://cosmos-gateway.example"]);
    t.send(&["Enter"]);
    t.wait_for("Claim that holds roles");
    t.send(&["Enter"]);
    t.wait_for("Where to keep");
    t.send(&["Down"]); // secret-service
    t.send(&["Enter"]);
    t.wait_for("Configure a Cosmos DB account now?");
    t.send(&["n"]);
    let screen = t.wait_for("EXIT=");
    assert!(
        screen.contains("EXIT=0") && screen.contains("Wrote profile \"default\""),
        "{screen}"
    );
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    for expected in [
        "default_profile = \"default\"",
        "issuer = \"https://example.eu.auth0.com/\"",
        "client_id = \"abc123\"",
        "audience = \"https://cosmos-gateway.example\"",
        "store = \"secret-service\"",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}
