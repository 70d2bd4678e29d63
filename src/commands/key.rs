//! `cosmoscope key enroll|list|remove`: FIDO2 keys of cosmoscope's own relying party.

use std::fmt::Write as _;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use crate::app::App;
use crate::cli::{KeyCommand, KeyEnrollArgs, KeyRemoveArgs, OutputFormat};
use crate::error::{CmdResult, CommandError};
use crate::fido2::ceremony;
use crate::fido2::store::EnrolledCredential;

pub async fn run(app: &App, cmd: KeyCommand) -> CmdResult {
    match cmd {
        KeyCommand::Enroll(args) => enroll(app, args).await,
        KeyCommand::List => list(app),
        KeyCommand::Remove(args) => remove(app, &args),
    }
}

fn record_json(c: &EnrolledCredential) -> serde_json::Value {
    json!({
        "id": c.short_id(),
        "label": c.label,
        "algorithm": c.algorithm.as_str(),
        "credential_id": c.credential_id,
        "rp_id": c.rp_id,
        "sign_count": c.sign_count,
        "user_verified": c.user_verified,
        "attestation": c.attestation,
        "aaguid": c.aaguid,
        "created_at": c.created_at,
        "last_used_at": c.last_used_at,
    })
}

fn table(records: &[EnrolledCredential]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "ID",
        "LABEL",
        "ALG",
        "COUNTER",
        "VERIFIED",
        "CREATED",
        "LAST USED",
    ]);
    for c in records {
        t.add_row(vec![
            c.short_id(),
            c.label.clone(),
            c.algorithm.as_str().to_string(),
            c.sign_count.to_string(),
            if c.user_verified { "PIN/UV" } else { "touch" }.to_string(),
            c.created_at.clone(),
            c.last_used_at.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    format!("{t}\n")
}

fn print(app: &App, records: &[EnrolledCredential], single: bool) -> CmdResult {
    match app.ui.format(OutputFormat::Table) {
        OutputFormat::Json if single => app.ui.out_json_pretty(&record_json(&records[0])),
        OutputFormat::Json => app.ui.out_json_pretty(&serde_json::Value::Array(
            records.iter().map(record_json).collect(),
        )),
        OutputFormat::Ndjson => {
            for r in records {
                app.ui.out_json_line(&record_json(r))?;
            }
            Ok(())
        }
        OutputFormat::Csv => {
            let mut out = String::from("id,label,algorithm,sign_count,user_verified,created_at\n");
            for c in records {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    c.short_id(),
                    csv_field(&c.label),
                    c.algorithm.as_str(),
                    c.sign_count,
                    c.user_verified,
                    c.created_at
                );
            }
            app.ui.out(&out)
        }
        OutputFormat::Table => app.ui.out(&table(records)),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

async fn enroll(app: &App, args: KeyEnrollArgs) -> CmdResult {
    let (config, profile) = app.profile()?;
    let ctx = app.fido2(&config, &profile, args.device.as_deref())?;
    let store = ctx.load_store()?;
    let label = args
        .label
        .unwrap_or_else(|| format!("key-{}", store.file.credentials.len() + 1));
    if label.trim().is_empty() {
        return Err(CommandError::usage("the label must not be empty"));
    }
    app.ui.info(format!(
        "Enrolling a security key for profile {:?} (relying party {:?}); touch the key when it blinks.",
        profile.name, ctx.rp_id
    ));
    let alg = args.alg;
    let record = ctx
        .with_key(move |c, store| ceremony::enroll(c, store, &label, alg))
        .await?;
    app.ui.success(format!(
        "Enrolled key {:?} (ID {}, {}) for profile {:?}.",
        record.label,
        record.short_id(),
        record.algorithm.as_str(),
        profile.name
    ));
    print(app, std::slice::from_ref(&record), true)
}

fn list(app: &App) -> CmdResult {
    let (config, profile) = app.profile()?;
    let ctx = app.fido2(&config, &profile, None)?;
    let store = ctx.load_store()?;
    if store.file.credentials.is_empty()
        && app.ui.format(OutputFormat::Table) == OutputFormat::Table
    {
        app.ui.info(format!(
            "No security key is enrolled for profile {:?}; run `cosmoscope key enroll`.",
            profile.name
        ));
        return Ok(());
    }
    print(app, &store.file.credentials, false)
}

fn remove(app: &App, args: &KeyRemoveArgs) -> CmdResult {
    let (config, profile) = app.profile()?;
    let ctx = app.fido2(&config, &profile, None)?;
    let mut store = ctx.load_store()?;
    let found = store.find(&args.key);
    match found.as_slice() {
        [] => Err(CommandError::runtime(format!(
            "no enrolled key matches {:?} (profile {:?})",
            args.key, profile.name
        ))
        .hint("run `cosmoscope key list` to see labels and IDs")),
        [i] => {
            let removed = store.file.credentials.remove(*i);
            store.save().map_err(crate::fido2::Fido2Error::from)?;
            app.ui.success(format!(
                "Removed key {:?} (ID {}) from profile {:?}. Secrets sealed to it can no longer be opened.",
                removed.label,
                removed.short_id(),
                profile.name
            ));
            Ok(())
        }
        several => Err(CommandError::usage(format!(
            "{:?} matches {} enrolled keys",
            args.key,
            several.len()
        ))
        .hint("give the full ID from `cosmoscope key list`")),
    }
}
