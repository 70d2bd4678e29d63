//! `cosmoscope query`: parse → decide (the signed-in identity's verified claims against the policy)
//! → run only what the policy engine allowed, pinned to the grant's partitions → audit.

use crate::app::App;
use crate::cli::QueryArgs;
use crate::commands::gate::{Act, Gate};
use crate::commands::gateway::{GatewayQuery, query_body};
use crate::commands::policy::parse_params;
use crate::commands::run_query::{Source, stream_from, stream_query};
use crate::cosmos::{ExecOptions, QueryPlan};
use crate::error::{CmdResult, CommandError};
use crate::output::OutputFormat;
use crate::policy::{self, Action, QueryRequest, Request};

pub async fn run(app: &App, args: &QueryArgs) -> CmdResult {
    let sql = read_sql(args)?;
    let params = parse_params(&args.params)?;
    Gate::run(app, Act::QUERY, async |gate| {
        gate.set_query(&sql);
        gate.record.parameters = params.keys().cloned().collect();
        gate.record.container = Some(args.container.clone());
        // Who, and under which policy, before anything reaches Cosmos DB: without a policy
        // nothing is allowed, so no credential is used and no container listed.
        gate.session().await?;
        let (_, profile) = app.profile()?;
        if let Some(gateway) = profile.gateway.as_deref() {
            // The gateway decides and runs the query: no policy file, no Cosmos credential here.
            let partition_key = args
                .partition_key
                .as_deref()
                .map(crate::cosmos::items::parse_partition_key_arg)
                .transpose()
                .map_err(|e| CommandError::usage(format!("--partition-key: {e}")))?;
            let token = gate.session_token(60).await?;
            gate.record.database.clone_from(&args.database);
            gate.record.detail = Some(format!("via gateway {gateway}"));
            let query = GatewayQuery {
                gateway,
                token,
                body: query_body(
                    &args.container,
                    args.database.as_deref(),
                    &sql,
                    &params,
                    partition_key.as_deref(),
                    args.max_items,
                ),
            };
            let format = app.ui.format(OutputFormat::Table);
            let stats = stream_from(
                &app.ui,
                Source::Gateway(query),
                format,
                Box::new(std::io::stdout()),
            )
            .await?;
            gate.record.items = Some(stats.items);
            gate.record.request_charge = Some(stats.request_charge);
            return Ok(());
        }
        let partition_key = args
            .partition_key
            .as_deref()
            .map(crate::cosmos::items::parse_partition_key_arg)
            .transpose()
            .map_err(|e| {
                CommandError::usage(format!("--partition-key: {e}")).hint(
                    "a JSON value, e.g. --partition-key '\"t1\"', or an array for hierarchical keys",
                )
            })?;
        let (conn, plan) = plan(
            app,
            gate,
            &QueryInput {
                sql: &sql,
                params: &params,
                container: &args.container,
                database: args.database.as_deref(),
                partition_key,
                max_items: args.max_items,
            },
        )
        .await?;
        let format = app.ui.format(OutputFormat::Table);
        let stats = stream_query(
            &app.ui,
            &conn.cosmos,
            &plan,
            format,
            ExecOptions {
                max_fan_out: args.max_fan_out,
                ..ExecOptions::default()
            },
            Box::new(std::io::stdout()),
        )
        .await?;
        gate.record.items = Some(stats.items);
        gate.record.request_charge = Some(stats.request_charge);
        Ok(())
    })
    .await
}

/// What a query asks for, however it was asked (the command line, an MCP tool call).
pub struct QueryInput<'a> {
    pub sql: &'a str,
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    pub container: &'a str,
    pub database: Option<&'a str>,
    pub partition_key: Option<Vec<serde_json::Value>>,
    pub max_items: Option<u64>,
}

/// Parse → decide → the plan to run: the policy is checked before Cosmos DB is asked anything (a
/// denied request must not learn whether the container exists), then again with the container's
/// partition-key paths, which decide what the query can touch.
pub async fn plan(
    app: &App,
    gate: &mut Gate<'_>,
    input: &QueryInput<'_>,
) -> CmdResult<(std::sync::Arc<crate::app::CosmosConnection>, QueryPlan)> {
    gate.policy()?;
    let ast = policy::parse(input.sql).map_err(|e| {
        CommandError::usage(format!("syntax error at byte {}: {}", e.offset, e.message)).hint(
            "`cosmoscope policy explain \"…\"` shows where; the grammar: \
             https://learn.microsoft.com/azure/cosmos-db/nosql/query/",
        )
    })?;
    let database = gate.database(input.database)?;
    let mut request = Request {
        database: database.clone(),
        container: input.container.to_string(),
        action: Action::Query,
        query: Some(QueryRequest {
            text: input.sql.to_string(),
            ast,
            params: input.params.clone(),
            partition_key_paths: Vec::new(),
        }),
        partition_key: input.partition_key.clone(),
        max_items: input.max_items,
        fido2_fresh: false,
        item_id: None,
        document: None,
    };
    gate.precheck(&request).await?;
    let conn = app.cosmos().await?;
    // Read from the container itself, so a role assigned on that one container is enough.
    let paths = crate::cosmos::items::container_partition_key_paths(
        &conn.cosmos,
        &database,
        input.container,
    )
    .await?;
    let depth = paths.len();
    if let Some(q) = request.query.as_mut() {
        q.partition_key_paths = paths;
    }
    let scoped = gate.allow(request).await?;
    let plan = QueryPlan::from_scoped(&scoped)
        .ok_or_else(|| CommandError::runtime("the policy engine returned no query to run"))?
        .with_key_depth(depth);
    Ok((conn, plan))
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
