//! The `init` wizard, for real in a terminal: tmux runs cosmoscope, send-keys types the answers,
//! capture-pane reads the screen.

use std::process::Command;
use std::time::Duration;

use crate::harness::{BIN, TestEnv, wait_for};
use crate::require;

struct Tmux {
    name: String,
}

impl Tmux {
    fn start(env: &TestEnv, args: &str) -> Self {
        let name = format!("cosmoscope-it-{}", std::process::id());
        let d = env.dir.path();
        let cmd = format!(
            "env -i PATH=/usr/bin:/bin TERM=xterm-256color NO_COLOR=1 HOME={h} XDG_CONFIG_HOME={c} XDG_STATE_HOME={s} {BIN} {args}; echo EXIT=$?",
            h = d.join("home").display(),
            c = d.join("config").display(),
            s = d.join("state").display(),
        );
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "40"])
            .arg(&cmd)
            .status()
            .expect("tmux");
        assert!(ok.success());
        let _ = Command::new("tmux")
            .args(["set-option", "-t", &name, "remain-on-exit", "on"])
            .status();
        Self { name }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        wait_for(
            &format!("{text:?} on screen"),
            Duration::from_secs(15),
            || {
                let s = self.screen();
                s.contains(text).then_some(s)
            },
        )
    }

    fn send(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(ok.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[test]
fn init_wizard_in_a_real_terminal() {
    require!(Command::new("tmux").arg("-V").output().is_ok(), "tmux");
    let env = TestEnv::new();
    let t = Tmux::start(&env, "init");
    t.wait_for("Profile name");
    t.send(&["Enter"]); // keeps the offered "default"
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
