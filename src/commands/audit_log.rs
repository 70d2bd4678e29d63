//! `cosmoscope audit [--denied] [--since DUR]`: reads the local audit log.

use std::io::BufRead as _;
use std::time::{Duration, SystemTime};

use comfy_table::{Table, presets::NOTHING};
use serde_json::Value;

use crate::app::App;
use crate::cli::AuditArgs;
use crate::error::{CmdResult, CommandError};
use crate::output::OutputFormat;

pub fn run(app: &App, args: &AuditArgs) -> CmdResult {
    let path = app.state_dir()?.join("audit.jsonl");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            app.ui
                .info(format!("no audit log yet ({})", path.display()));
            return Ok(());
        }
        Err(e) => {
            return Err(
                CommandError::runtime(format!("cannot read {}", path.display())).caused_by(&e),
            );
        }
    };
    let since = args.since.map(|d| {
        crate::clock::now()
            .checked_sub(d)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    });
    let keep = |r: &Value| {
        if args.denied && r["decision"] != "denied" {
            return false;
        }
        match (
            since,
            r["time"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339(t).ok()),
        ) {
            (Some(since), Some(t)) => t >= since,
            (Some(_), None) => false,
            (None, _) => true,
        }
    };
    let format = app.ui.format(OutputFormat::Table);
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header([
        "TIME",
        "PROFILE",
        "SUBJECT",
        "ACTION",
        "TARGET",
        "DECISION",
        "CAUSE / DETAIL",
    ]);
    let mut rows = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(record) = serde_json::from_str::<Value>(&line) else {
            app.ui
                .warn("skipped a line of the audit log that is not JSON");
            continue;
        };
        if !keep(&record) {
            continue;
        }
        match format {
            OutputFormat::Ndjson => app.ui.out(&format!("{line}\n"))?,
            OutputFormat::Json => rows.push(record),
            OutputFormat::Table | OutputFormat::Csv => {
                let s = |k: &str| record[k].as_str().unwrap_or("").to_string();
                let target = [s("database"), s("container")]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join("/");
                let cause = record["cause"]
                    .as_str()
                    .or_else(|| record["detail"].as_str())
                    .unwrap_or("")
                    .to_string();
                table.add_row([
                    s("time"),
                    s("profile"),
                    s("subject"),
                    s("action"),
                    target,
                    s("decision"),
                    cause,
                ]);
            }
        }
    }
    match format {
        OutputFormat::Json => app.ui.out_json_pretty(&Value::Array(rows)),
        OutputFormat::Table | OutputFormat::Csv if !table.is_empty() => {
            app.ui.out(&format!("{table}\n"))
        }
        OutputFormat::Table | OutputFormat::Csv => {
            app.ui.info("no matching records");
            Ok(())
        }
        OutputFormat::Ndjson => Ok(()),
    }
}

/// `--since 1h`: how far back to read.
pub fn parse_since(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30m, 24h, 7d)"))
}
