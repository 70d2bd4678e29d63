//! `cosmoscope audit [--denied] [--since DUR]`: reads the local audit log.

use std::io::BufRead as _;
use std::time::SystemTime;

use serde_json::Value;

use crate::app::App;
use crate::cli::AuditArgs;
use crate::error::{CmdResult, CommandError};
use crate::output::{OutputFormat, Report, table};

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
    let mut records = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(record) = serde_json::from_str::<Value>(&line) else {
            app.ui
                .warn("skipped a line of the audit log that is not JSON");
            continue;
        };
        if keep(&record) {
            records.push(record);
        }
    }
    let table = |records: &[Value]| {
        let mut t = table::grid();
        t.set_header([
            "TIME",
            "PROFILE",
            "SUBJECT",
            "ACTION",
            "TARGET",
            "DECISION",
            "CAUSE / DETAIL",
        ]);
        for record in records {
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
            t.add_row([
                s("time"),
                s("profile"),
                s("subject"),
                s("action"),
                target,
                s("decision"),
                cause,
            ]);
        }
        format!("{t}\n")
    };
    let report = Report::records(records, table, "no matching records")?;
    app.ui.print(report, OutputFormat::Table)
}
