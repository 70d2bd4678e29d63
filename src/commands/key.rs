//! `cosmoscope key enroll|list|remove`: FIDO2 keys of cosmoscope's own relying party.

use serde_json::json;

use crate::app::App;
use crate::cli::{KeyCommand, KeyEnrollArgs, KeyRemoveArgs};
use crate::commands::gate::{Act, Gate};
use crate::error::{CmdResult, CommandError};
use crate::fido2::ceremony;
use crate::fido2::store::EnrolledCredential;
use crate::output::{OutputFormat, Report, table};
use crate::settings::{Config, Profile};

pub async fn run(app: &App, cmd: KeyCommand) -> CmdResult {
    match cmd {
        KeyCommand::Enroll(args) => enroll(app, args).await,
        KeyCommand::List => list(app),
        KeyCommand::Remove(args) => remove(app, &args).await,
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
    let mut t = table::grid();
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

fn report(records: &[EnrolledCredential]) -> CmdResult<Report<'_>> {
    let rows: Vec<_> = records.iter().map(record_json).collect();
    Report::records(
        rows,
        |_| table(records),
        "no security key is enrolled; run `cosmoscope key enroll`",
    )
}

async fn enroll(app: &App, args: KeyEnrollArgs) -> CmdResult {
    let record = Gate::run(app, Act::KEY_ENROLL, async |gate| {
        gate.note_identity();
        let record = enroll_key(app, &gate.config, &gate.profile, args).await?;
        gate.record.detail = Some(format!("key {:?} (ID {})", record.label, record.short_id()));
        Ok(record)
    })
    .await?;
    let one = std::slice::from_ref(&record);
    app.ui.print(
        Report::object(&record_json(&record), || table(one))?,
        OutputFormat::Table,
    )
}

async fn enroll_key(
    app: &App,
    config: &Config,
    profile: &Profile,
    args: KeyEnrollArgs,
) -> CmdResult<EnrolledCredential> {
    let ctx = app.fido2(config, profile, args.device.as_deref())?;
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
    Ok(record)
}

fn list(app: &App) -> CmdResult {
    let (config, profile) = app.profile()?;
    let ctx = app.fido2(&config, &profile, None)?;
    let store = ctx.load_store()?;
    app.ui
        .print(report(&store.file.credentials)?, OutputFormat::Table)
}

async fn remove(app: &App, args: &KeyRemoveArgs) -> CmdResult {
    Gate::run(app, Act::KEY_REMOVE, async |gate| {
        gate.note_identity();
        gate.record.detail = Some(format!("key {:?}", args.key));
        remove_key(app, &gate.config, &gate.profile, args)
    })
    .await
}

fn remove_key(app: &App, config: &Config, profile: &Profile, args: &KeyRemoveArgs) -> CmdResult {
    let ctx = app.fido2(config, profile, None)?;
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
            ctx.record_integrity();
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
