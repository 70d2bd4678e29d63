//! `cosmoscope serve --config FILE`: the gateway (`crate::serve`).

use crate::app::App;
use crate::cli::ServeArgs;
use crate::error::{CmdResult, CommandError};

pub async fn run(_app: &App, args: &ServeArgs) -> CmdResult {
    #[cfg(unix)]
    {
        let (config, policy) = crate::serve::ServeConfig::load(&args.config).map_err(|e| {
            CommandError::usage(e.to_string())
                .hint("see the README, \"Run a gateway\", for the configuration keys")
        })?;
        let local = tokio::task::LocalSet::new();
        local
            .run_until(crate::serve::run(config, policy, |addr, tls| {
                let scheme = if tls { "https" } else { "http" };
                crate::serve::log(&serde_json::json!({"listening": format!("{scheme}://{addr}")}));
            }))
            .await
            .map_err(|e| CommandError::runtime("the gateway stopped").caused_by(&e))
    }
    #[cfg(not(unix))]
    {
        let _ = args;
        Err(CommandError::usage(
            "cosmoscope serve runs on Linux and macOS only",
        ))
    }
}
