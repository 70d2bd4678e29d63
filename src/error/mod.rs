//! One error type for every command: what went wrong, why, what to do next, and the exit code.
//!
//! Boundary modules (identity, session, settings …) have their own `thiserror` enums with meaningful
//! variants; they are turned into a [`CommandError`] in one place, [`hints`] (jj's
//! `command_error.rs`), which is where messages, exit codes and hints are chosen. The boundary error
//! stays attached as the [`source`](std::error::Error::source) of the command error.
//! [`CommandError::render`] is the only place an error is printed.

mod hints;

use std::fmt::Write as _;
use std::sync::Arc;

pub use hints::login_hint;

/// The error a command error was made from, kept whole for programmatic inspection.
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Process exit codes — the contract in docs/contract.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: runtime error.
    Runtime,
    /// 2: usage or query syntax error.
    Usage,
    /// 3: login required (no session, expired and not refreshable).
    LoginRequired,
    /// 4: denied by policy.
    Denied,
    /// 5: a remote service refused (401/403 from Cosmos or the provider).
    Refused,
    /// 130: interrupted.
    Interrupted,
    /// `exec`: the child's own exit code, passed through.
    Child(u8),
}

impl Exit {
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Exit::Runtime => 1,
            Exit::Usage => 2,
            Exit::LoginRequired => 3,
            Exit::Denied => 4,
            Exit::Refused => 5,
            Exit::Interrupted => 130,
            Exit::Child(code) => code,
        }
    }
}

#[derive(Debug)]
pub struct CommandError {
    pub exit: Exit,
    pub message: String,
    /// What is printed as `caused by:` lines, in order.
    pub causes: Vec<String>,
    /// Next steps, each printed as a `hint:` line.
    pub hints: Vec<String>,
    /// The boundary error this one was made from.
    pub source: Option<Source>,
    /// stdout was closed by the reader: end quietly with exit 0 (ripgrep's behaviour).
    pub broken_pipe: bool,
    /// Exit with the code but print nothing (an `exec` child already spoke for itself).
    pub silent: bool,
}

pub type CmdResult<T = ()> = Result<T, CommandError>;

impl CommandError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            source: None,
            broken_pipe: false,
            silent: false,
        }
    }
    /// The exit code of a child process, passed through silently.
    #[must_use]
    pub fn child_exit(code: i32) -> Self {
        let code = u8::try_from(code).unwrap_or(1);
        Self {
            silent: true,
            ..Self::new(Exit::Child(code), format!("the command exited with {code}"))
        }
    }
    #[must_use]
    pub fn broken_pipe() -> Self {
        Self {
            broken_pipe: true,
            ..Self::runtime("stdout was closed")
        }
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(Exit::Runtime, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }
    pub fn login_required(message: impl Into<String>) -> Self {
        Self::new(Exit::LoginRequired, message)
    }
    #[must_use]
    pub fn cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }
    /// Adds every error in `err`'s `source()` chain as a cause.
    #[must_use]
    pub fn caused_by(mut self, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut next = Some(err);
        while let Some(e) = next {
            let text = e.to_string();
            // A wrapper that prints its source ("token rejected: bad audience") already said it.
            let said = self.causes.last().is_some_and(|last| last.ends_with(&text));
            if !said && !self.causes.contains(&text) && text != self.message {
                self.causes.push(text);
            }
            next = e.source();
        }
        self
    }
    /// Keeps `err` as the source and prints it (its own text, not its chain) as a cause.
    #[must_use]
    pub fn source(mut self, err: impl std::error::Error + Send + Sync + 'static) -> Self {
        let text = err.to_string();
        if text != self.message && !self.causes.contains(&text) {
            self.causes.push(text);
        }
        self.source = Some(Arc::new(err));
        self
    }
    /// Keeps `err` as the source and prints every error of its chain as a cause.
    #[must_use]
    pub fn source_chain(self, err: impl std::error::Error + Send + Sync + 'static) -> Self {
        let mut this = self.caused_by(&err);
        this.source = Some(Arc::new(err));
        this
    }
    /// Adds a next step; an error may have several.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// The most specific thing said about the failure: the first cause, else the message.
    #[must_use]
    pub fn summary(&self) -> String {
        self.causes.first().unwrap_or(&self.message).clone()
    }

    /// The first hint, or nothing.
    #[must_use]
    pub fn next_step(&self) -> String {
        self.hints.first().cloned().unwrap_or_default()
    }

    /// The text printed on stderr: `error: …`, `caused by: …` lines, `hint: …`.
    #[must_use]
    pub fn render(&self) -> String {
        // Causes repeat what providers and servers said: escaped, so no answer drives the
        // terminal or reorders what is shown.
        let shown = crate::text::terminal_text;
        let mut out = format!("error: {}\n", shown(&self.message));
        for cause in &self.causes {
            let _ = writeln!(out, "caused by: {}", shown(cause));
        }
        for hint in &self.hints {
            let _ = writeln!(out, "hint: {}", shown(hint));
        }
        out
    }

    /// The JSON form, for commands whose machine-readable output must stay JSON even on failure.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "causes": self.causes,
                "hint": self.hints.first(),
                "hints": self.hints,
                "exit_code": self.exit.code(),
            }
        })
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for CommandError {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::Interrupted {
            return CommandError::new(Exit::Interrupted, "interrupted");
        }
        CommandError::runtime("an I/O operation failed").source_chain(err)
    }
}

/// A panic is a bug. The hook says where it happened and what to do, never the panic's message:
/// a message can carry any value it formatted, and values here can be tokens, keys or PINs.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: cosmoscope stopped on an internal error (a bug){at}\n\
             hint: please report it with the command you ran and `cosmoscope --version`; the panic's \
             own message is not shown because it may hold a secret"
        );
    }));
}

/// Debug builds only: panics at `point` with `secret` in the message when
/// `COSMOSCOPE_DEBUG_PANIC=point`, so the secrets audit can check that a bug which formats a
/// secret into a panic still prints nothing secret. (Read from the process environment directly:
/// this is a test hook, not configuration.)
#[cfg(debug_assertions)]
#[allow(clippy::manual_assert)] // a panic is the point
pub fn debug_panic_point(point: &str, secret: &str) {
    if std::env::var(crate::env::vars::DEBUG_PANIC).is_ok_and(|p| p == point) {
        panic!("injected panic at {point} while holding {secret}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_error_causes_and_hint() {
        let e = CommandError::login_required("no session for profile \"dev\"")
            .cause("the refresh token was revoked")
            .hint("run `cosmoscope login --profile dev`");
        assert_eq!(
            e.render(),
            "error: no session for profile \"dev\"\ncaused by: the refresh token was revoked\nhint: run `cosmoscope login --profile dev`\n"
        );
        assert_eq!(e.exit.code(), 3);
    }

    #[test]
    fn a_source_its_wrapper_already_printed_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("bad audience")]
        struct Inner;
        #[derive(Debug, thiserror::Error)]
        #[error("token rejected: {0}")]
        struct Outer(#[from] Inner);
        let e = CommandError::runtime("a token failed verification").caused_by(&Outer(Inner));
        assert_eq!(e.causes, ["token rejected: bad audience"]);
    }
}
