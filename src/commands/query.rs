//! `cosmoscope query`: parse → decide (the signed-in identity's verified claims against the policy)
//! → run only what the policy engine allowed, pinned to the grant's partitions → audit.

use std::time::Instant;

use serde_json::Value;

use crate::app::App;
use crate::audit::Record;
use crate::cli::{OutputFormat, QueryArgs};
use crate::commands::policy::{load_policy, parse_params};
use crate::commands::run_query::stream_query;
use crate::cosmos::{ExecOptions, QueryPlan};
use crate::error::{CmdResult, CommandError, Exit};
use crate::identity::verify::now_unix;
use crate::policy::{self, Action, QueryRequest, Request};
use crate::session::SessionError;

pub async fn run(app: &App, args: &QueryArgs) -> CmdResult {
    let started = Instant::now();
    let (config, profile) = app.profile()?;
    let audit = app.audit(&config);
    let sessions = app.sessions(&config, &profile, &audit, None)?;
    let sql = read_sql(args)?;
    let params = parse_params(&args.params)?;

    let mut record = Record::new(&profile.name, "query", "denied");
    audit.set_query(&mut record, &sql);
    record.parameters = params.keys().cloned().collect();
    record.container = Some(args.container.clone());

    let result = async {
        let info = sessions.current()?.ok_or_else(|| SessionError::NotLoggedIn(profile.name.clone()))?;
        record.subject = Some(info.subject.clone());
        record.roles.clone_from(&info.roles);
        let cosmos_settings = profile.cosmos.as_ref().ok_or_else(|| {
            CommandError::runtime(format!("profile {:?} has no [cosmos] table", profile.name))
                .hint("add [profiles.NAME.cosmos] with endpoint, database and credential")
        })?;
        let database = args.database.clone().or_else(|| cosmos_settings.database.clone()).ok_or_else(|| {
            CommandError::usage("no database given").hint("pass --database NAME, or set database in the profile's [cosmos] table")
        })?;
        record.database = Some(database.clone());
        let policy_path = profile.policy_file.as_ref().ok_or_else(|| {
            CommandError::new(Exit::Denied, "no policy: nothing is allowed")
                .hint("name a policy file in the profile: [profiles.NAME.policy] file = \"policy.toml\"")
        })?;
        let policy = load_policy(policy_path)?;
        let ast = policy::parse(&sql).map_err(|e| {
            CommandError::usage(format!("syntax error at byte {}: {}", e.offset, e.message))
                .hint("`cosmoscope policy explain \"…\"` shows where; the grammar: https://learn.microsoft.com/azure/cosmos-db/nosql/query/")
        })?;
        let explicit_pk = args
            .partition_key
            .as_deref()
            .map(crate::cosmos::items::parse_partition_key_arg)
            .transpose()
            .map_err(|e| CommandError::usage(format!("--partition-key: {e}")).hint("a JSON value, e.g. --partition-key '\"t1\"', or an array for hierarchical keys"))?;

        // The container's partition-key paths decide what the query can touch.
        let conn = app.cosmos().await?;
        let containers = crate::cosmos::items::list_containers(&conn.cosmos, &database).await?;
        let paths = containers.into_iter().find(|(id, _)| *id == args.container).map(|(_, p)| p).ok_or_else(|| {
            CommandError::runtime(format!("container {:?} not found in database {database:?}", args.container)).hint("`cosmoscope ls containers` lists what exists")
        })?;

        let window = profile.fido2_window.as_secs();
        let fresh_touch = |at: Option<u64>| at.is_some_and(|t| now_unix() <= t + window);
        let claims = Value::Object(info.claims.clone());
        let mut request = Request {
            database: database.clone(),
            container: args.container.clone(),
            action: Action::Query,
            query: Some(QueryRequest { text: sql.clone(), ast, params: params.clone(), partition_key_paths: paths }),
            partition_key: explicit_pk,
            max_items: args.max_items,
            fido2_fresh: fresh_touch(info.fido2_at),
        };
        let mut decision = policy::decide(&policy, &claims, &request);
        if decision.needs_step_up() {
            if !app.ui.can_prompt() {
                return Err(CommandError::login_required("this grant needs a recent touch of your security key")
                    .hint("run the query at a terminal with the key plugged in (or `cosmoscope login --fido2` first)"));
            }
            app.ui.info("This grant needs a touch of your security key.");
            let at = sessions.step_up().await?;
            request.fido2_fresh = fresh_touch(Some(at));
            decision = policy::decide(&policy, &claims, &request);
        }
        record.reasons = decision.reasons().iter().map(|r| r.message.clone()).collect();
        if !decision.allowed() {
            let mut err = CommandError::new(Exit::Denied, "denied by policy");
            for r in decision.reasons() {
                err = err.cause(&r.message);
            }
            return Err(err.hint("`cosmoscope policy explain` with the same query shows every rule; ask for a grant that covers it"));
        }
        let plan = decision.scoped().and_then(QueryPlan::from_scoped).ok_or_else(|| CommandError::runtime("the policy engine returned no query to run"))?;
        record.decision = "allowed".into();
        let format = app.ui.format(OutputFormat::Table);
        stream_query(&app.ui, &conn.cosmos, &plan, format, ExecOptions::default(), Box::new(std::io::stdout())).await
    }
    .await;

    record.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    let outcome = match result {
        Ok(stats) => {
            record.items = Some(stats.items);
            record.request_charge = Some(stats.request_charge);
            Ok(())
        }
        Err(e) => {
            // "denied" stays for a policy denial; anything else (before or during the run) is an error.
            if e.exit != Exit::Denied || record.decision == "allowed" {
                record.decision = "error".into();
            }
            record.cause = Some(
                e.causes
                    .first()
                    .cloned()
                    .unwrap_or_else(|| e.message.clone()),
            );
            Err(e)
        }
    };
    // A query that cannot be audited still ran; say so loudly rather than lose the record silently.
    if let Err(e) = audit.append(record) {
        app.ui.warn(format!(
            "the audit record of this query could not be written: {e}"
        ));
    }
    outcome
}

fn read_sql(args: &QueryArgs) -> CmdResult<String> {
    match (&args.sql, &args.file) {
        (Some(s), None) if s == "-" => Ok(std::io::read_to_string(std::io::stdin())?),
        (Some(s), None) => Ok(s.clone()),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| {
            CommandError::runtime(format!("cannot read {}", f.display())).caused_by(&e)
        }),
        (None, None) => Err(CommandError::usage("give a query, or --file FILE")
            .hint("example: cosmoscope query --container orders \"SELECT c.id FROM c\"")),
        (Some(_), Some(_)) => Err(CommandError::usage(
            "give the query as an argument or with --file, not both",
        )),
    }
}
