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
    let (_, profile) = app.profile()?;
    let report = Gate::run(app, Act::LS, async |gate| {
        // A gateway lists what the caller's grants name there: no credential here.
        let (what, rows) = if let Some(gateway) = profile.gateway.as_deref() {
            gate.session().await?;
            let token = gate.session_token(60).await?;
            let what = args.what.unwrap_or(if args.database.is_some() {
                LsWhat::Containers
            } else {
                LsWhat::Databases
            });
            gate.record.detail = Some(format!("via gateway {gateway}"));
            let path = match what {
                LsWhat::Databases => "databases".to_string(),
                LsWhat::Containers => {
                    let database =
                        super::gateway::database(gateway, &token, args.database.as_deref()).await?;
                    format!(
                        "databases/{}/containers",
                        super::gateway::segment(&database)
                    )
                }
            };
            let listed = super::gateway::list(gateway, token, &path).await?;
            let rows = match what {
                LsWhat::Databases => Rows::Databases(
                    listed
                        .iter()
                        .filter_map(|v| v["id"].as_str())
                        .map(|id| Database { id: id.to_string() })
                        .collect(),
                ),
                LsWhat::Containers => Rows::Containers(
                    listed
                        .iter()
                        .filter_map(|v| {
                            Some(Container {
                                id: v["id"].as_str()?.to_string(),
                                database: v["database"].as_str()?.to_string(),
                                partition_key_paths: v["partition_key_paths"]
                                    .as_array()?
                                    .iter()
                                    .filter_map(|p| p.as_str().map(str::to_string))
                                    .collect(),
                            })
                        })
                        .collect(),
                ),
            };
            (what, rows)
        } else {
            let visible = gate.visible().await?;
            let conn = app.cosmos().await?;
            let what = args.what.unwrap_or(
                if args.database.is_some() || conn.settings.database.is_some() {
                    LsWhat::Containers
                } else {
                    LsWhat::Databases
                },
            );
            let rows = match what {
                LsWhat::Databases => Rows::Databases(
                    items::list_databases(&conn.cosmos)
                        .await?
                        .into_iter()
                        .filter(|id| visible.database(id))
                        .map(|id| Database { id })
                        .collect(),
                ),
                LsWhat::Containers => {
                    let database = gate.database(args.database.as_deref())?;
                    Rows::Containers(
                        items::list_containers(&conn.cosmos, &database)
                            .await?
                            .into_iter()
                            .filter(|(id, _)| visible.container(&database, id))
                            .map(|(id, partition_key_paths)| Container {
                                id,
                                database: database.clone(),
                                partition_key_paths,
                            })
                            .collect(),
                    )
                }
            };
            (what, rows)
        };
        let what = format!("{what:?}").to_lowercase();
        gate.record.detail = Some(match gate.record.detail.take() {
            Some(via) => format!("{what} {via}"),
            None => what,
        });
        match rows {
            Rows::Databases(rows) => {
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
            Rows::Containers(rows) => {
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

/// What `ls` lists.
enum Rows {
    Databases(Vec<Database>),
    Containers(Vec<Container>),
}
