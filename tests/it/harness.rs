//! The test environment: a temporary home, a cleared environment, and a record of everything the
//! spawned binary printed, so a test can prove no secret ever left through stdout, stderr, the audit
//! log or a file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cosmoscope");

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    /// Every stdout/stderr the binary produced in this environment.
    outputs: Mutex<Vec<String>>,
    extra_env: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["home/.cache", "config", "state"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Self {
            dir,
            outputs: Mutex::new(Vec::new()),
            extra_env: Vec::new(),
        }
    }

    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.extra_env.push((k.into(), v.into()));
        self
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config/cosmoscope")
    }
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/cosmoscope")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_dir()).expect("mkdir");
        std::fs::write(self.config_file(), text).expect("write config");
    }

    /// A standard profile named `dev` for an OpenID provider.
    pub fn write_profile(&self, issuer: &str, client_id: &str, store: &str) {
        self.write_config(&format!(
            "default_profile = \"dev\"\n\n[profiles.dev]\nissuer = \"{issuer}\"\nclient_id = \"{client_id}\"\naudience = \"https://cosmos-gateway.test\"\nroles_claim = \"https://cosmoscope.test/roles\"\nscopes = [\"openid\", \"profile\", \"email\", \"offline_access\"]\nstore = \"{store}\"\n"
        ));
    }

    /// The binary with a cleared environment: only what a test gives it.
    pub fn cmd(&self) -> Command {
        self.cmd_of(BIN)
    }

    /// `program` with the cleared environment [`cmd`](Self::cmd) gives the binary.
    pub fn cmd_of(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("COSMOS_DISABLE_IMDS", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        if let Ok(bus) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            c.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Runs to completion and records the output.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(&[], args)
    }

    /// [`run`](Self::run) with `stdin` piped in (a secret or a document, never argv).
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run_full(&[], args, stdin)
    }

    /// [`run`](Self::run) with a few more variables and `stdin` piped in.
    pub fn run_full(&self, envs: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
        let mut cmd = self.cmd();
        cmd.envs(envs.iter().copied()).args(args);
        self.record(output_with_stdin(cmd, stdin))
    }

    /// [`run`](Self::run) with a few more variables for this one command.
    pub fn run_with(&self, envs: &[(&str, &str)], args: &[&str]) -> Run {
        let out = self
            .cmd()
            .envs(envs.iter().copied())
            .args(args)
            .output()
            .expect("spawn cosmoscope");
        self.record(out)
    }

    /// Runs with the kernel's file-size limit at `kib` KiB and SIGXFSZ ignored: every write that
    /// would grow a file past it fails with EFBIG, as a full disk fails with ENOSPC.
    pub fn run_with_file_limit(&self, kib: u64, args: &[&str]) -> Run {
        let out = self
            .cmd_of("bash")
            .arg("-c")
            .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
            .arg(BIN)
            .args(args)
            .output()
            .expect("spawn bash");
        self.record(out)
    }

    #[allow(clippy::needless_pass_by_value)] // callers hand over the Output they are done with
    pub fn record(&self, out: Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut all = self.outputs.lock().expect("lock");
        all.push(run.stdout.clone());
        all.push(run.stderr.clone());
        run
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cosmoscope")
    }

    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state_dir().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// Fails if any secret appears in anything this environment produced: recorded stdout/stderr
    /// and every file under the temporary directory (config, state, audit log).
    pub fn assert_no_secrets(&self, secrets: &[String]) {
        let secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 16).collect();
        assert!(
            !secrets.is_empty(),
            "the leak check needs the secrets it looks for"
        );
        for text in self.outputs.lock().expect("lock").iter() {
            for s in &secrets {
                // Say where, without repeating the secret in the test log.
                assert!(
                    !text.contains(s.as_str()),
                    "a secret leaked into an output, which begins: {:?}",
                    text.replace(s.as_str(), "<SECRET>")
                        .chars()
                        .take(300)
                        .collect::<String>()
                );
            }
        }
        for file in walk(self.dir.path()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            for s in &secrets {
                assert!(
                    !text.contains(s.as_str()),
                    "a secret leaked into {}",
                    file.display()
                );
            }
        }
    }
}

/// A test's sessions leave the keyring with the test: a non-root user's kernel key quota (200
/// keys, 20,000 bytes) holds only a handful of sessions, so a run that kept every test's keys
/// until it ended would fill it (issue 13).
impl Drop for TestEnv {
    fn drop(&mut self) {
        let Ok(files) = std::fs::read_dir(self.state_dir().join("sessions")) else {
            return;
        };
        for file in files.flatten() {
            let Some(info) = std::fs::read(file.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<cosmoscope::session::SessionInfo>(&b).ok())
            else {
                continue;
            };
            let paths = cosmoscope::session::SessionPaths::for_identity(
                &self.state_dir(),
                &info.profile,
                &info.issuer,
                &info.client_id,
            );
            if let Ok(store) = cosmoscope::session::Keyring::Os.open(info.store) {
                let _ = cosmoscope::session::Secrets::delete(&store, &paths);
            }
        }
    }
}

/// Every regular file under `dir` (symlinks are not followed: a test may point one at a device,
/// such as `/dev/full` under the audit log, and reading that never ends).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => out.extend(walk(&e.path())),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout` (no fixed sleeps in tests).
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20)); // poll interval
    }
}

/// Whether the test runs inside a kernel session keyring of its own (scripts/test arranges one);
/// outside one, the kernel answers with the user's default session keyring, `_uid_ses.<uid>`.
pub fn has_session_keyring() -> bool {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    KeyRing::from_special_id(KeyRingIdentifier::Session, false)
        .and_then(|k| k.metadata())
        .is_ok_and(|m| m.get_description() == "_ses")
}

/// What the provider-only tests need (the `require!` message).
pub const PROVIDER: &str = "the OpenID provider peer (npm) and a kernel session keyring";
/// What the tests against the whole local stack need.
pub const STACK: &str = "the OpenID and Cosmos peers (npm), the Python venv and a session keyring";

/// What `require!` accepts: a condition, or a fixture that is `None` when its peer is missing.
pub trait Present {
    type Value;
    fn present(self) -> Option<Self::Value>;
}

impl Present for bool {
    type Value = ();
    fn present(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Present for Option<T> {
    type Value = T;
    fn present(self) -> Option<T> {
        self
    }
}

/// The one way a test needs a peer: `require!(cond, why)`, or `let x = require!(fixture, why)`
/// for a fixture that is `None` without its peer. A missing peer skips the test loudly on a
/// developer's machine (local runs outside scripts/test), and fails it in CI.
#[macro_export]
macro_rules! require {
    ($x:expr, $why:expr) => {
        match $crate::harness::Present::present($x) {
            Some(value) => value,
            None => {
                // In CI a missing peer is a failure, never a silent skip.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI lacks a peer: {}",
                    $why
                );
                eprintln!(
                    "SKIPPED: {} — run ./scripts/test to get the full environment",
                    $why
                );
                return;
            }
        }
    };
}

/// A command in a real terminal: tmux runs it, `send` types, `screen` reads what a person sees.
/// The shell line ends with `; echo EXIT=$?` so a test can wait for the end and read the code.
pub struct Tmux {
    name: String,
}

static TMUX_SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Tmux {
    pub fn run(shell_line: &str) -> Tmux {
        let n = TMUX_SESSIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("cosmoscope-it-{}-{n}", std::process::id());
        let cmd = format!("{shell_line}; echo EXIT=$?");
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "200", "-y", "50"])
            .arg(&cmd)
            .status()
            .expect("tmux");
        assert!(ok.success());
        let _ = Command::new("tmux")
            .args(["set-option", "-t", &name, "remain-on-exit", "on"])
            .status();
        Tmux { name }
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `text` is on the screen and returns the screen.
    pub fn wait_for(&self, text: &str) -> String {
        wait_for(
            &format!("{text:?} on screen"),
            Duration::from_secs(30),
            || {
                let s = self.screen();
                s.contains(text).then_some(s)
            },
        )
    }

    pub fn send(&self, keys: &[&str]) {
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

impl TestEnv {
    /// `env -i …` giving a shell command this environment's HOME and XDG dirs (and the D-Bus
    /// session, when there is one).
    pub fn shell_env(&self) -> String {
        let d = self.dir.path();
        let mut s = format!(
            "env -i PATH=/usr/bin:/bin TERM=xterm-256color NO_COLOR=1 COSMOS_DISABLE_IMDS=1 HOME={} XDG_CONFIG_HOME={} XDG_STATE_HOME={}",
            d.join("home").display(),
            d.join("config").display(),
            d.join("state").display()
        );
        for (k, v) in &self.extra_env {
            let _ = write!(s, " {k}='{v}'");
        }
        s
    }
}

/// A peer process that ends with the test (killed and reaped when dropped).
/// Runs `cmd` to completion with `stdin` written to it.
pub fn output_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// The JSON line a peer prints on stdout once it listens (`{"issuer":…}`, `{"endpoint":…}`),
/// waited for with a deadline so a peer that never starts fails the test instead of hanging it.
pub fn startup_line(child: &mut Child, what: &str) -> serde_json::Value {
    use std::io::BufRead as _;
    let stdout = child.stdout.take().expect("the peer's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} printed no start-up line within 30 s"));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what} said {line:?}: {e}"))
}

pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
