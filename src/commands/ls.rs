//! `cosmoscope ls [databases|containers]`: what the account holds that the session's grants name
//! (a grant for `"*"` shows everything at its level).

use comfy_table::{Table, presets::NOTHING};
use serde_json::json;

use crate::app::App;
use crate::audit::Record;
use crate::cli::{LsArgs, LsWhat, OutputFormat};
use crate::commands::guard::Guard;
use crate::cosmos::items;
use crate::error::CmdResult;
use crate::policy::Grant;

pub async fn run(app: &App, args: &LsArgs) -> CmdResult {
    let (config, profile) = app.profile()?;
    let audit = app.audit(&config);
    let mut record = Record::new(&profile.name, "ls", "ok");
    let guard = Guard::open(app, &config, &profile, &audit, &mut record).await?;
    let grants: Vec<&Grant> = guard
        .policy
        .roles
        .iter()
        .filter(|r| r.when.matches(guard.claims()))
        .flat_map(|r| r.grants.iter())
        .collect();
    let db_visible = |db: &str| grants.iter().any(|g| g.database == "*" || g.database == db);
    let container_visible = |db: &str, c: &str| {
        grants.iter().any(|g| {
            (g.database == "*" || g.database == db)
                && g.containers.iter().any(|x| x == "*" || x == c)
        })
    };
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
            .filter(|id| db_visible(id))
            .map(|id| json!({"id": id}))
            .collect(),
        LsWhat::Containers => {
            let database = conn.database(args.database.as_deref())?;
            items::list_containers(&conn.cosmos, &database)
                .await?
                .into_iter()
                .filter(|(id, _)| container_visible(&database, id))
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
