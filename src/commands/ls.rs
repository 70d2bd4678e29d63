//! `cosmoscope ls [databases|containers]`: what the account holds.
//!
//! TODO(policy): once the policy engine lands, show only what the session's grants name.

use comfy_table::{Table, presets::NOTHING};
use serde_json::json;

use crate::app::App;
use crate::cli::{LsArgs, LsWhat, OutputFormat};
use crate::cosmos::items;
use crate::error::CmdResult;

pub async fn run(app: &App, args: &LsArgs) -> CmdResult {
    let conn = app.cosmos().await?;
    let what = args.what.unwrap_or(
        if args.database.is_some() || conn.settings.database.is_some() {
            LsWhat::Containers
        } else {
            LsWhat::Databases
        },
    );
    let rows: Vec<serde_json::Value> = match what {
        LsWhat::Databases => items::list_databases(&conn.cosmos)
            .await?
            .into_iter()
            .map(|id| json!({"id": id}))
            .collect(),
        LsWhat::Containers => {
            let database = conn.database(args.database.as_deref())?;
            items::list_containers(&conn.cosmos, &database)
                .await?
                .into_iter()
                .map(|(id, paths)| json!({"id": id, "database": database, "partition_key_paths": paths}))
                .collect()
        }
    };
    match app.ui.format(OutputFormat::Table) {
        OutputFormat::Json => app
            .ui
            .out_json_pretty(&serde_json::Value::Array(rows.clone()))?,
        OutputFormat::Ndjson => {
            for r in &rows {
                app.ui.out_json_line(r)?;
            }
        }
        OutputFormat::Csv => {
            let mut text = String::from(if what == LsWhat::Databases {
                "id\n"
            } else {
                "id,partition_key_paths\n"
            });
            for r in &rows {
                text.push_str(r["id"].as_str().unwrap_or_default());
                if what == LsWhat::Containers {
                    text.push(',');
                    text.push_str(&paths(r).join(" "));
                }
                text.push('\n');
            }
            app.ui.out(&text)?;
        }
        OutputFormat::Table => {
            let mut table = Table::new();
            table.load_preset(NOTHING);
            if what == LsWhat::Databases {
                table.set_header(["DATABASE"]);
                for r in &rows {
                    table.add_row([r["id"].as_str().unwrap_or_default()]);
                }
            } else {
                table.set_header(["CONTAINER", "PARTITION KEY"]);
                for r in &rows {
                    table.add_row([
                        r["id"].as_str().unwrap_or_default().to_string(),
                        paths(r).join(", "),
                    ]);
                }
            }
            if !rows.is_empty() {
                app.ui.out(&format!("{table}\n"))?;
            }
        }
    }
    if rows.is_empty() {
        app.ui.info(match what {
            LsWhat::Databases => "no databases",
            LsWhat::Containers => "no containers",
        });
    }
    Ok(())
}

fn paths(r: &serde_json::Value) -> Vec<String> {
    r["partition_key_paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
