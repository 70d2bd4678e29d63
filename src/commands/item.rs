//! `cosmoscope item get|upsert|delete`: point operations on one item, each checked by the policy
//! (`read`, `upsert`, `delete` on that container and partition key) and audited.

use std::io::{IsTerminal as _, Read as _};

use serde_json::Value;

use crate::app::App;
use crate::cli::{ItemCommand, ItemTarget};
use crate::commands::gate::{Act, Gate};
use crate::commands::run_query::summary;
use crate::cosmos::QueryStats;
use crate::cosmos::items::{self, ItemRef, UpsertTarget, parse_partition_key_arg};
use crate::error::{CmdResult, CommandError};
use crate::output::OutputFormat;
use crate::output::Report;
use crate::policy::{Action, FieldPath, Request};

pub async fn run(app: &App, command: ItemCommand) -> CmdResult {
    let (target, action, act) = match &command {
        ItemCommand::Get(t) => (t, Action::Read, Act::ITEM_READ),
        ItemCommand::Upsert(a) => (&a.target, Action::Upsert, Act::ITEM_UPSERT),
        ItemCommand::Delete(a) => (&a.target, Action::Delete, Act::ITEM_DELETE),
    };
    Gate::run(app, act, async |gate| {
        gate.record.container = Some(target.container.clone());
        gate.record.detail = Some(format!("id {:?}", target.id));
        gate.session().await?;
        let (_, profile) = app.profile()?;
        if let Some(gateway) = profile.gateway.as_deref() {
            return via_gateway(app, gate, gateway, &command).await;
        }
        gate.policy()?;
        let database = gate.database(target.database.as_deref())?;
        let item = item_ref(database.clone(), target)?;
        // The document is part of the request: an upsert may not write a denied field.
        let document = match &command {
            ItemCommand::Upsert(args) => Some(read_document(args.file.as_deref())?),
            _ => None,
        };
        let request = Request {
            database,
            container: target.container.clone(),
            action,
            query: None,
            partition_key: Some(item.partition_key.clone()),
            max_items: None,
            fido2_fresh: false,
            item_id: Some(target.id.clone()),
            document: document.clone(),
        };
        let scoped = gate.allow(request).await?;
        match (&command, document) {
            // The item the policy decided on is the one addressed: nothing is resolved twice.
            (ItemCommand::Get(_), _) => get(app, &item).await,
            (ItemCommand::Upsert(args), Some(document)) => {
                upsert(app, &item, document, scoped.preserve_fields(), args.yes).await
            }
            (ItemCommand::Upsert(_), None) => {
                Err(CommandError::runtime("the upsert lost its document"))
            }
            (ItemCommand::Delete(args), _) => delete(app, &item, args.yes).await,
        }
    })
    .await
}

/// The same operation through the profile's gateway, which decides it (denied fields kept as
/// stored on an upsert, as here); confirmations stay on this side, with the person.
async fn via_gateway(
    app: &App,
    gate: &mut Gate<'_>,
    gateway: &str,
    command: &ItemCommand,
) -> CmdResult {
    use super::gateway::{call, item_path, send};
    let target = match command {
        ItemCommand::Get(t) => t,
        ItemCommand::Upsert(a) => &a.target,
        ItemCommand::Delete(a) => &a.target,
    };
    let token = gate.session_token(60).await?;
    let database = super::gateway::database(gateway, &token, target.database.as_deref()).await?;
    let item = item_ref(database, target)?;
    gate.record.database = Some(item.database.clone());
    gate.record.detail = Some(format!("id {:?} via gateway {gateway}", target.id));
    let path = item_path(
        &item.database,
        &item.container,
        &item.id,
        &item.partition_key,
    );
    match command {
        ItemCommand::Get(_) => {
            let answer = call(gateway, token, reqwest::Method::GET, &path, None, &[]).await?;
            gate.record.request_charge = Some(answer.request_charge);
            app.ui
                .print(Report::document(answer.body), OutputFormat::Json)?;
            app.ui.info(charge_line(answer.request_charge));
        }
        ItemCommand::Upsert(args) => {
            let mut document = read_document(args.file.as_deref())?;
            check_document_id(&mut document, &item)?;
            // Create unless it exists; an existing item is replaced only once confirmed.
            let mut answer = if args.yes {
                call(
                    gateway,
                    token.clone(),
                    reqwest::Method::PUT,
                    &path,
                    Some(&document),
                    &[],
                )
                .await?
            } else {
                send(
                    gateway,
                    token.clone(),
                    reqwest::Method::PUT,
                    &path,
                    Some(&document),
                    &[("if-none-match", "*")],
                )
                .await?
            };
            if answer.status == 412 && answer.body["error"] == "exists" {
                confirm(
                    app,
                    &format!(
                        "item {:?} exists in {}/{}; replace it",
                        item.id, item.database, item.container
                    ),
                    false,
                )?;
                answer = call(
                    gateway,
                    token,
                    reqwest::Method::PUT,
                    &path,
                    Some(&document),
                    &[],
                )
                .await?;
            } else if !(200..300).contains(&answer.status) {
                return Err(super::gateway::refusal(answer.status, &answer.body));
            }
            gate.record.request_charge = Some(answer.request_charge);
            app.ui.success(format!(
                "{} item {:?} in {}/{} ({:.1} RU)",
                answer.body["status"].as_str().unwrap_or("wrote"),
                item.id,
                item.database,
                item.container,
                answer.request_charge
            ));
        }
        ItemCommand::Delete(args) => {
            confirm(
                app,
                &format!(
                    "delete item {:?} from {}/{}",
                    item.id, item.database, item.container
                ),
                args.yes,
            )?;
            let answer = call(gateway, token, reqwest::Method::DELETE, &path, None, &[]).await?;
            gate.record.request_charge = Some(answer.request_charge);
            app.ui.success(format!(
                "deleted item {:?} from {}/{} ({:.1} RU)",
                item.id, item.database, item.container, answer.request_charge
            ));
        }
    }
    Ok(())
}

fn item_ref(app_db: String, target: &ItemTarget) -> CmdResult<ItemRef> {
    let partition_key = parse_partition_key_arg(&target.partition_key).map_err(|m| {
        CommandError::usage("the partition key is not valid JSON")
            .cause(m)
            .hint("strings need JSON quotes: --partition-key '\"t1\"'")
    })?;
    Ok(ItemRef {
        database: app_db,
        container: target.container.clone(),
        partition_key,
        id: target.id.clone(),
    })
}

/// The document's id must be the ID argument; a document without one gets it.
fn check_document_id(document: &mut Value, item: &ItemRef) -> CmdResult {
    match document.get("id") {
        Some(Value::String(id)) if id != &item.id => {
            return Err(CommandError::usage(format!(
                "the document's id {id:?} differs from the ID argument {:?}",
                item.id
            ))
            .hint("make them the same, or leave id out of the document"));
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(CommandError::usage("the document's id must be a string")),
        None => {
            if let Some(map) = document.as_object_mut() {
                map.insert("id".into(), Value::String(item.id.clone()));
            }
        }
    }
    Ok(())
}

fn charge_line(rc: f64) -> String {
    summary(&QueryStats {
        items: 1,
        request_charge: rc,
        pages: 1,
        truncated: false,
    })
}

async fn get(app: &App, item: &ItemRef) -> CmdResult {
    let conn = app.cosmos().await?;
    let Some((doc, _etag, rc)) = items::get(&conn.cosmos, item).await? else {
        return Err(crate::cosmos::CosmosError::NotFound {
            resource: crate::cosmos::Resource::Item {
                database: item.database.clone(),
                container: item.container.clone(),
                id: item.id.clone(),
            },
        }
        .into());
    };
    app.ui.print(Report::document(doc), OutputFormat::Json)?;
    app.ui.info(charge_line(rc));
    Ok(())
}

/// The document from `--file` (`-` is stdin) or piped stdin.
fn read_document(file: Option<&std::path::Path>) -> CmdResult<Value> {
    let text = match file {
        Some(p) if p.as_os_str() != "-" => std::fs::read_to_string(p).map_err(|e| {
            CommandError::runtime(format!("cannot read {}", p.display())).caused_by(&e)
        })?,
        _ => {
            if std::io::stdin().is_terminal() && file.is_none() {
                return Err(CommandError::usage("no document given")
                    .hint("pipe the JSON document on stdin, or pass --file PATH"));
            }
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        CommandError::usage("the document is not valid JSON")
            .cause(e)
            .hint("pass one JSON object")
    })?;
    if !doc.is_object() {
        return Err(CommandError::usage("the document must be a JSON object"));
    }
    Ok(doc)
}

/// Asks before overwriting or deleting: `--yes` skips; `--no-input` (or no terminal) refuses.
fn confirm(app: &App, question: &str, yes: bool) -> CmdResult {
    if yes {
        return Ok(());
    }
    if !app.ui.can_prompt() {
        return Err(CommandError::usage(format!("{question} — needs confirmation"))
            .hint("pass --yes to confirm without a prompt (stdin carrying the document cannot answer one)"));
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| CommandError::runtime("cannot read the answer").cause(e))?;
    if ok {
        Ok(())
    } else {
        Err(CommandError::usage("cancelled; nothing was changed"))
    }
}

async fn upsert(
    app: &App,
    item: &ItemRef,
    mut document: Value,
    preserve: &[FieldPath],
    yes: bool,
) -> CmdResult {
    check_document_id(&mut document, item)?;
    let conn = app.cosmos().await?;
    let (plan, current, read_rc) = items::upsert_target(&conn.cosmos, item).await?;
    // Denied fields keep their stored values: the writer can neither set nor remove them.
    if let Some(current) = &current {
        for field in preserve {
            items::carry_over(current, &mut document, field.segments()).map_err(|()| {
                CommandError::new(
                    crate::error::Exit::Denied,
                    format!("cannot keep denied field \"{field}\" as stored"),
                )
                .cause("the stored item or the document holds an array or a non-object on its path")
                .hint("ask for a grant without deny_fields to rewrite this item")
            })?;
        }
    }
    if let UpsertTarget::Replace { .. } = plan {
        confirm(
            app,
            &format!(
                "item {:?} exists in {}/{}; replace it",
                item.id, item.database, item.container
            ),
            yes,
        )?;
    }
    let rc = items::write(&conn.cosmos, item, &document, &plan).await?;
    let verb = match plan {
        UpsertTarget::Create => "created",
        UpsertTarget::Replace { .. } => "replaced",
    };
    app.ui.success(format!(
        "{verb} item {:?} in {}/{} ({:.1} RU)",
        item.id,
        item.database,
        item.container,
        read_rc + rc
    ));
    Ok(())
}

async fn delete(app: &App, item: &ItemRef, yes: bool) -> CmdResult {
    let conn = app.cosmos().await?;
    confirm(
        app,
        &format!(
            "delete item {:?} from {}/{}",
            item.id, item.database, item.container
        ),
        yes,
    )?;
    let rc = items::delete(&conn.cosmos, item).await?;
    app.ui.success(format!(
        "deleted item {:?} from {}/{} ({rc:.1} RU)",
        item.id, item.database, item.container
    ));
    Ok(())
}
