//! The terminal: data on stdout, everything else on stderr (uv's Printer, jj's Ui).
//! A closed stdout (`cosmoscope status -o json | head -c1`) ends the command quietly with exit 0.

pub mod credential;
pub mod csv;
pub mod documents;
pub mod json;
pub mod report;
pub mod table;

use std::io::{IsTerminal as _, Write as _};

use crate::error::{CmdResult, CommandError};

pub use report::Report;

/// `-o FORMAT`: how data is written on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Ndjson,
    Csv,
}

impl OutputFormat {
    /// Every format: lists of records and streamed documents.
    pub const ALL: &'static [OutputFormat] = &[Self::Table, Self::Json, Self::Ndjson, Self::Csv];
    /// A single object has no rows for CSV.
    pub const OBJECT: &'static [OutputFormat] = &[Self::Table, Self::Json, Self::Ndjson];
    /// Commands that print no data: only the default.
    pub const NONE: &'static [OutputFormat] = &[Self::Table];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }

    /// The usage error for a format a command cannot give.
    #[must_use]
    pub fn unsupported(self) -> CommandError {
        CommandError::usage(format!("this command cannot print -o {}", self.as_str()))
    }
}

/// `--color WHEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub struct Ui {
    pub quiet: bool,
    pub verbose: u8,
    /// Colour for what is written to stderr (messages).
    pub color: bool,
    /// Colour for what is written to stdout (a table): decided for that stream, so a pipe gets
    /// plain text even when stderr is a terminal.
    pub stdout_color: bool,
    pub no_input: bool,
    output: Option<OutputFormat>,
    stdin_tty: bool,
    stderr_tty: bool,
}

impl Ui {
    #[must_use]
    pub fn new(
        output: Option<OutputFormat>,
        quiet: bool,
        verbose: u8,
        color: ColorChoice,
        no_color_env: bool,
        no_input: bool,
    ) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let for_stream = |tty: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color_env,
        };
        Self {
            quiet,
            verbose,
            color: for_stream(stderr_tty),
            stdout_color: for_stream(std::io::stdout().is_terminal()),
            no_input,
            output,
            stdin_tty: std::io::stdin().is_terminal(),
            stderr_tty,
        }
    }

    /// The output format asked for, or the command's default.
    #[must_use]
    pub fn format(&self, default: OutputFormat) -> OutputFormat {
        self.output.unwrap_or(default)
    }

    /// Whether data on stdout is for a program (`-o json` or `-o ndjson`): event streams such
    /// as `login`'s are then NDJSON.
    #[must_use]
    pub fn machine_readable(&self) -> bool {
        matches!(self.output, Some(OutputFormat::Json | OutputFormat::Ndjson))
    }

    /// Whether prompts may be shown: not `--no-input`/`CI=true`, and a person at the terminal.
    #[must_use]
    pub fn can_prompt(&self) -> bool {
        !self.no_input && self.stdin_tty && self.stderr_tty
    }

    /// Whether a spinner may be drawn: stderr is a terminal and `--quiet` is off.
    #[must_use]
    pub fn can_animate(&self) -> bool {
        self.stderr_tty && !self.quiet
    }

    /// A message for the person (stderr), unless `--quiet`.
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", crate::text::terminal_text(msg.as_ref()));
        }
    }

    pub fn success(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            let mark = if self.color {
                "\x1b[32m✓\x1b[0m"
            } else {
                "✓"
            };
            eprintln!("{mark} {}", crate::text::terminal_text(msg.as_ref()));
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        let label = if self.color {
            "\x1b[33mwarning\x1b[0m"
        } else {
            "warning"
        };
        eprintln!("{label}: {}", crate::text::terminal_text(msg.as_ref()));
    }

    pub fn debug(&self, msg: impl AsRef<str>) {
        if self.verbose > 0 {
            eprintln!("debug: {}", crate::text::terminal_text(msg.as_ref()));
        }
    }

    /// Prints a command's result in the format asked for (or `default`): the one place that
    /// decides between table, json, ndjson and csv.
    pub fn print(&self, report: Report<'_>, default: OutputFormat) -> CmdResult {
        report.render(self.format(default), self)
    }

    /// Writes data to stdout and flushes (so a script reading events sees each line at once).
    pub fn out(&self, text: &str) -> CmdResult {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| stdout_error(&e))
    }

    /// One JSON value per line.
    pub fn out_json_line(&self, value: &serde_json::Value) -> CmdResult {
        self.out(&format!("{value}\n"))
    }

    pub fn out_json_pretty(&self, value: &serde_json::Value) -> CmdResult {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| CommandError::runtime("cannot encode JSON").cause(e))?;
        self.out(&format!("{text}\n"))
    }
}

/// The error for a failed write to stdout: a closed pipe ends quietly.
pub(crate) fn stdout_error(e: &std::io::Error) -> CommandError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CommandError::broken_pipe()
    } else {
        CommandError::runtime("cannot write to stdout").caused_by(e)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::{Arc, Mutex};

    /// A `Write` whose bytes the test can read after the writer is gone.
    #[derive(Clone, Default)]
    pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

    impl SharedBuf {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
        }
    }

    impl std::io::Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
