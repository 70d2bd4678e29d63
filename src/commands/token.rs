//! `cosmoscope token`: one credential on stdout, in the format asked for. The fast path (a fresh
//! session) reads the session file, the policy and one keyring entry — no network.

use crate::app::App;
use crate::cli::{TokenArgs, TokenFormat};
use crate::env::vars;
use crate::error::CmdResult;
use crate::export;

pub async fn run(app: &App, args: &TokenArgs) -> CmdResult {
    let json_format = matches!(
        args.format,
        TokenFormat::Json | TokenFormat::ExecCredential | TokenFormat::AzureCli
    );
    let min_ttl = args.credential.min_ttl.map_or(0, |d| d.as_secs());
    let result = async {
        let (config, profile) = app.profile()?;
        export::issue(app, &config, &profile, args.credential.resource, min_ttl).await
    }
    .await;
    match result {
        Ok(c) => app.ui.out(&export::render(
            &c,
            args.format,
            app.env.get(vars::KUBERNETES_EXEC_INFO),
        )),
        Err(e) => {
            if json_format {
                // A tool reading JSON gets JSON; the exit code still says what happened.
                let _ = app.ui.out_json_line(&e.to_json());
            }
            Err(e)
        }
    }
}
