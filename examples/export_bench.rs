//! Benchmark helper (bench/export.sh): exports a container as NDJSON on stdout through the same
//! streaming path as `cosmoscope query -o ndjson`, without the policy engine. An optional FORMAT
//! (`ndjson` by default, `json`, `csv`, `table`) picks another writer; Ctrl-C (SIGINT) is handled by
//! `stream_query` like in the CLI: the output is closed, the count is reported, exit 130.
//!
//! TEST/BENCH ONLY — it builds its `QueryPlan` with `QueryPlan::for_tests`.
//!
//!   COSMOS_KEY=… COSMOS_DISABLE_IMDS=1 SSL_CERT_FILE=ca.pem \
//!     cargo run --example export_bench -- ENDPOINT DATABASE CONTAINER [SQL] [PAGE_SIZE] [FORMAT]

use std::num::NonZeroU32;
use std::process::ExitCode;

use cosmoscope::commands::run_query::stream_query;
use cosmoscope::cosmos::client::{self, CosmosAuth};
use cosmoscope::cosmos::{ExecOptions, QueryPlan};
use cosmoscope::output::Ui;
use cosmoscope::output::{ColorChoice, OutputFormat};
use cosmoscope::settings::{CosmosSettings, CredentialKind};
use secrecy::SecretString;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, database, container, rest @ ..] = args.as_slice() else {
        eprintln!(
            "usage: export_bench ENDPOINT DATABASE CONTAINER [SQL] [PAGE_SIZE] [FORMAT]  (key in COSMOS_KEY)"
        );
        return ExitCode::from(2);
    };
    let sql = rest.first().map_or("SELECT * FROM c", String::as_str);
    let page_size = rest
        .get(1)
        .and_then(|p| p.parse().ok())
        .and_then(NonZeroU32::new);
    let format = match rest.get(2).map(String::as_str) {
        None | Some("ndjson") => OutputFormat::Ndjson,
        Some("json") => OutputFormat::Json,
        Some("csv") => OutputFormat::Csv,
        Some("table") => OutputFormat::Table,
        Some(other) => {
            eprintln!("unknown FORMAT {other:?} (ndjson, json, csv, table)");
            return ExitCode::from(2);
        }
    };
    let Ok(key) = std::env::var("COSMOS_KEY") else {
        eprintln!("set COSMOS_KEY");
        return ExitCode::from(2);
    };
    let mut settings = CosmosSettings::new(endpoint.clone(), CredentialKind::Key);
    settings.http2 = false;
    let plan = QueryPlan::for_tests(database, container, sql, Vec::new(), None, None);
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::from(1);
    };
    let ui = Ui::new(None, false, 0, ColorChoice::Never, true, true);
    let result = rt.block_on(async {
        let cosmos = client::build(&settings, CosmosAuth::Key(SecretString::from(key)))
            .await
            .map_err(cosmoscope::error::CommandError::from)?;
        stream_query(
            &ui,
            &cosmos,
            &plan,
            format,
            ExecOptions {
                page_size,
                ..ExecOptions::default()
            },
            Box::new(std::io::stdout()),
        )
        .await
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render());
            ExitCode::from(e.exit.code())
        }
    }
}
