//! `cosmoscope serve --config FILE`: the gateway (`crate::serve`).

use crate::app::App;
use crate::cli::ServeArgs;
use crate::error::{CmdResult, CommandError};

pub async fn run(app: &App, args: &ServeArgs) -> CmdResult {
    #[cfg(unix)]
    {
        let (config, policy) = crate::serve::ServeConfig::load(&args.config).map_err(|e| {
            CommandError::usage(e.to_string())
                .hint("see the README, \"Run a gateway\", for the configuration keys")
        })?;
        if args.check {
            let grants: usize = policy.roles.iter().map(|r| r.grants.len()).sum();
            let summary = serde_json::json!({
                "config": args.config.display().to_string(),
                "listen": config.listen,
                "tls": config.tls_cert.is_some(),
                "issuers": config.accepted.iter().map(|i| &i.url).collect::<Vec<_>>(),
                "audience": config.audience,
                "policy": {"file": config.policy.display().to_string(), "roles": policy.roles.len(), "grants": grants},
                "cosmos": {"endpoint": config.cosmos.endpoint, "database": config.cosmos.database, "credential": config.cosmos.credential},
            });
            app.ui.print(
                crate::output::Report::object(&summary, || format!("{summary:#}\n"))?,
                crate::output::OutputFormat::Json,
            )?;
            app.ui.success(format!(
                "{}: valid ({} roles, {grants} grants)",
                args.config.display(),
                policy.roles.len()
            ));
            return Ok(());
        }
        let local = tokio::task::LocalSet::new();
        let served = local
            .run_until(crate::serve::run(config, policy, |addr, tls| {
                let scheme = if tls { "https" } else { "http" };
                crate::serve::log(
                    crate::serve::Level::Info,
                    &serde_json::json!({"listening": format!("{scheme}://{addr}")}),
                );
            }))
            .await
            .map_err(|e| match e {
                // What the files or the environment say is wrong: a usage error, like --check's.
                crate::serve::ServeError::Config { .. } | crate::serve::ServeError::Read { .. } => {
                    CommandError::usage(e.to_string())
                        .hint("see the README, \"Run a gateway\", for the configuration keys")
                }
                _ => CommandError::runtime("the gateway stopped").caused_by(&e),
            });
        crate::serve::flush_stdout();
        served
    }
    #[cfg(not(unix))]
    {
        let _ = (app, args);
        Err(CommandError::usage(
            "cosmoscope serve runs on Linux and macOS only",
        ))
    }
}
