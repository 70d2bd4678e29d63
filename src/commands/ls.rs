//! `cosmoscope ls [databases|containers]`: what the account holds that the session's grants name
//! (a grant for `"*"` shows everything at its level). Which names are visible is the policy
//! engine's answer (`Policy::visible`); the listing is audited like any data command.

use serde::Serialize;

use crate::app::App;
use crate::cli::{LsArgs, LsWhat};
use crate::commands::gate::{Act, Gate};
use crate::cosmos::items;
use crate::error::CmdResult;
use crate::output::{OutputFormat, Report, table};

#[derive(Serialize)]
struct Database {
    id: String,
}

#[derive(Serialize)]
struct Container {
    id: String,
    database: String,
    partition_key_paths: Vec<String>,
}

pub async fn run(app: &App, args: &LsArgs) -> CmdResult {
    let report = Gate::run(app, Act::LS, async |gate| {
        let visible = gate.visible().await?;
        let conn = app.cosmos().await?;
        let what = args.what.unwrap_or(
            if args.database.is_some() || conn.settings.database.is_some() {
                LsWhat::Containers
            } else {
                LsWhat::Databases
            },
        );
        gate.record.detail = Some(format!("{what:?}").to_lowercase());
        match what {
            LsWhat::Databases => {
                let rows: Vec<Database> = items::list_databases(&conn.cosmos)
                    .await?
                    .into_iter()
                    .filter(|id| visible.database(id))
                    .map(|id| Database { id })
                    .collect();
                gate.record.items = Some(rows.len() as u64);
                let table = |rows: &[Database]| {
                    let mut t = table::grid();
                    t.set_header(["DATABASE"]);
                    for r in rows {
                        t.add_row([table::terminal_text(&r.id)]);
                    }
                    format!("{t}\n")
                };
                Report::records(rows, table, "no databases")
            }
            LsWhat::Containers => {
                let database = gate.database(args.database.as_deref())?;
                let rows: Vec<Container> = items::list_containers(&conn.cosmos, &database)
                    .await?
                    .into_iter()
                    .filter(|(id, _)| visible.container(&database, id))
                    .map(|(id, partition_key_paths)| Container {
                        id,
                        database: database.clone(),
                        partition_key_paths,
                    })
                    .collect();
                gate.record.items = Some(rows.len() as u64);
                let table = |rows: &[Container]| {
                    let mut t = table::grid();
                    t.set_header(["CONTAINER", "PARTITION KEY"]);
                    for r in rows {
                        t.add_row([
                            table::terminal_text(&r.id),
                            table::terminal_text(&r.partition_key_paths.join(", ")),
                        ]);
                    }
                    format!("{t}\n")
                };
                Report::records(rows, table, "no containers")
            }
        }
    })
    .await?;
    app.ui.print(report, OutputFormat::Table)
}
