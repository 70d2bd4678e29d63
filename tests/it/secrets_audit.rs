//! The secrets audit: the main scenarios, run with secrets we can recognise — the provider's tokens
//! (and their signatures alone), a Cosmos account key, a CI client secret, FIDO2 PINs — and a scan of
//! everything they leave: stdout and stderr of every command (but the credential commands' stdout,
//! which prints a credential by design), the audit log, the config and state folders, the command
//! line of every process seen while they run (`/proc/<pid>/cmdline`, sampled, and an `exec` child's
//! own), and the output of a panic whose message holds a token.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fido2_fuse::{self, HidNode};
use crate::fixtures::{login_with, stored_tokens, stored_tokens_of};
use crate::harness::TestEnv;
use crate::require;
use crate::soft_authenticator::SoftAuthenticator;

const CLIENT_SECRET: &str = "ci-secret-for-tests";
const PIN: &str = "audit-pin-7391-recognisable";
const WRONG_PIN: &str = "audit-wrong-pin-5512-recognisable";

/// The command line of every cosmoscope process, and of every child one starts (an `exec`
/// child), while the scenarios run: sampled every few ms from /proc. (Other processes are left
/// out: the peers' own helpers are handed the test account key on purpose.)
struct CmdlineWatch {
    stop: std::sync::mpsc::Sender<()>,
    seen: Arc<Mutex<BTreeSet<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl CmdlineWatch {
    fn start() -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let n = seen.clone();
        let bin = std::fs::canonicalize(crate::harness::BIN).expect("binary");
        let thread = std::thread::spawn(move || {
            let mut ours = BTreeSet::new();
            // One sample, then the next after the sampling period unless told to stop.
            loop {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    let dir = e.path();
                    let is_ours = std::fs::read_link(dir.join("exe")).is_ok_and(|x| x == bin);
                    if is_ours {
                        ours.insert(pid);
                    } else if !parent(&dir).is_some_and(|pp| ours.contains(&pp)) {
                        continue;
                    }
                    if let Ok(bytes) = std::fs::read(dir.join("cmdline"))
                        && !bytes.is_empty()
                    {
                        let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
                        n.lock().expect("lock").insert(line);
                    }
                }
                if !matches!(
                    stopped.recv_timeout(Duration::from_millis(5)),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                ) {
                    break;
                }
            }
        });
        Self { stop, seen, thread }
    }

    fn finish(self) -> BTreeSet<String> {
        let _ = self.stop.send(());
        self.thread.join().expect("watcher");
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

/// The parent pid from /proc/PID/stat ("pid (comm) state ppid …"; comm may hold spaces).
fn parent(dir: &std::path::Path) -> Option<u32> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// A token, and its signature alone (a truncated print would still show that).
fn token_secrets(tokens: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens {
        out.push(t.clone());
        if let Some(sig) = t.rsplit('.').next().filter(|s| s.len() >= 16 && *s != t) {
            out.push(sig.to_string());
        }
    }
    out
}

/// Runs a credential command: its stdout is the credential (by design, unrecorded); its stderr is
/// recorded like any other output.
fn credential_command(env: &TestEnv, args: &[&str]) -> String {
    let out = env.cmd().args(args).output().expect("spawn");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    env.record(std::process::Output {
        status: out.status,
        stdout: Vec::new(),
        stderr: out.stderr,
    });
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn no_secret_reaches_any_output_file_command_line_or_panic() {
    let (oidc, peer, env) = require!(crate::fixtures::stack("bob"), crate::harness::STACK);
    let watch = CmdlineWatch::start();
    let mut secrets = token_secrets(&stored_tokens(&env, &oidc.issuer));
    secrets.push(peer.key.clone());

    // A person's day: who am I, what may I do, queries allowed and denied, the audit log.
    env.run(&["status"]).ok();
    env.run(&["status", "-o", "json"]).ok();
    env.run(&["ls", "containers"]).ok();
    env.run(&["query", "-c", "orders", "SELECT c.id, c.total FROM c"])
        .ok();
    env.run(&["query", "-c", "customers", "SELECT * FROM c"]);
    env.run(&[
        "policy",
        "explain",
        "SELECT c.id FROM c",
        "--container",
        "orders",
    ])
    .ok();
    env.run(&["audit"]).ok();
    env.run(&["audit", "--denied", "-o", "json"]).ok();
    env.run(&["doctor"]);

    // The credential helper in every format; an exec child sees the token in its environment only.
    for format in ["raw", "json", "env", "exec-credential", "azure-cli"] {
        credential_command(&env, &["token", "--format", format]);
    }
    let exec = env.run(&[
        "exec",
        "--",
        "sh",
        "-c",
        "tr '\\0' ' ' </proc/self/cmdline; echo; tr '\\0' ' ' </proc/$PPID/cmdline; echo; \
         test -n \"$COSMOS_TOKEN\" && echo token-in-env",
    ]);
    exec.ok();
    assert!(exec.stdout.contains("token-in-env"), "{}", exec.stdout);

    // A refresh brings new tokens; they are secrets too.
    env.run(&["login", "--refresh"]).ok();
    secrets.extend(token_secrets(&stored_tokens(&env, &oidc.issuer)));
    credential_command(&env, &["token"]);

    // A bug that formats a token into a panic message prints where, never what.
    let panic = env.run_with(&[("COSMOSCOPE_DEBUG_PANIC", "render")], &["token"]);
    panic
        .code(1)
        .stderr_has("internal error (a bug)")
        .stderr_has("hint:");
    assert!(panic.stdout.is_empty());

    // An account key, from stdin into the keyring, used by a second profile.
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    env.write_config(&format!(
        "{cfg}\n[profiles.keyed]\nissuer = \"{issuer}\"\nclient_id = \"cosmoscope-cli\"\naudience = \"https://cosmos-gateway.test\"\nroles_claim = \"https://cosmoscope.test/roles\"\nstore = \"keyutils\"\n\n[profiles.keyed.cosmos]\nendpoint = \"{endpoint}\"\ndatabase = \"shop\"\ncredential = \"key\"\nhttp2 = false\n\n[profiles.keyed.policy]\nfile = \"policy.toml\"\n",
        issuer = oidc.issuer,
        endpoint = peer.endpoint,
    ));
    login_with(&env, &["--profile", "keyed"], |code| {
        oidc.approve(code, "bob");
    })
    .ok();
    env.run_stdin(&["--profile", "keyed", "account-key", "set"], &peer.key)
        .ok();
    env.run(&["--profile", "keyed", "ls", "containers"]).ok();
    env.run(&[
        "--profile",
        "keyed",
        "query",
        "-c",
        "orders",
        "SELECT VALUE c.id FROM c",
    ])
    .ok();
    secrets.extend(token_secrets(&stored_tokens_of(
        &env,
        &oidc.issuer,
        "keyed",
    )));
    env.run(&["--profile", "keyed", "account-key", "remove"])
        .ok();
    env.run(&["logout", "--all"]).ok();

    // A CI job: client credentials with the secret in the environment, then on stdin.
    let ci = TestEnv::new()
        .with_env("COSMOSCOPE_CLIENT_ID", "cosmoscope-ci")
        .with_env("COSMOSCOPE_CLIENT_SECRET", CLIENT_SECRET);
    ci.write_profile(&oidc.issuer, "cosmoscope-cli", "keyutils");
    ci.run(&["login", "--client-credentials"]).ok();
    ci.run(&["status", "-o", "json"]).ok();
    let ci_stdin = TestEnv::new().with_env("COSMOSCOPE_CLIENT_ID", "cosmoscope-ci");
    ci_stdin.write_profile(&oidc.issuer, "cosmoscope-cli", "keyutils");
    ci_stdin
        .run_stdin(
            &["login", "--client-credentials", "--client-secret-stdin"],
            &format!("{CLIENT_SECRET}\n"),
        )
        .ok();
    secrets.push(CLIENT_SECRET.to_string());

    // A security key with a PIN: the right one, then a wrong one.
    let fido2 = TestEnv::new();
    let node = if fido2_fuse::available() {
        HidNode::mount(SoftAuthenticator::default().with_pin(PIN)).ok()
    } else {
        None
    };
    assert!(
        node.is_some() || std::env::var_os("CI").is_none(),
        "CI runs the FIDO2 part"
    );
    if let Some(node) = &node {
        fido2.write_profile(&oidc.issuer, "cosmoscope-cli", "keyutils");
        let device = node.path_str();
        let pin = [("COSMOSCOPE_FIDO2_PIN", PIN)];
        fido2
            .run_with(
                &pin,
                &["key", "enroll", "--device", &device, "--label", "audit"],
            )
            .ok();
        fido2.run(&["key", "list"]).ok();
        fido2
            .run_with(
                &[("COSMOSCOPE_FIDO2_PIN", WRONG_PIN)],
                &["key", "enroll", "--device", &device, "--label", "again"],
            )
            .code(1)
            .stderr_has("wrong PIN");
        secrets.push(PIN.to_string());
        secrets.push(WRONG_PIN.to_string());
    }

    let cmdlines = watch.finish();
    assert!(
        cmdlines.iter().any(|c| c.contains("cosmoscope")),
        "the watcher saw cosmoscope run"
    );

    for line in &cmdlines {
        for s in &secrets {
            assert!(
                !line.contains(s.as_str()),
                "a secret is in a process's command line: {}",
                line.replace(s.as_str(), "<SECRET>")
            );
        }
    }
    for e in [&env, &ci, &ci_stdin, &fido2] {
        e.assert_no_secrets(&secrets);
    }
}
