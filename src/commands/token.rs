//! `cosmoscope token`: one credential on stdout, in the format asked for. The fast path (a fresh
//! session) reads the session file, the policy and one keyring entry — no network.

use crate::app::App;
use crate::cli::TokenArgs;
use crate::commands::export;
use crate::env::vars;
use crate::error::CmdResult;
use crate::output::credential;

pub async fn run(app: &App, args: &TokenArgs) -> CmdResult {
    let min_ttl = args.credential.min_ttl.map_or(0, |d| d.as_secs());
    match export::issue(app, args.credential.resource, min_ttl).await {
        Ok(c) => app.ui.out(&credential::render(
            &c,
            args.format,
            app.env.get(vars::KUBERNETES_EXEC_INFO),
        )),
        Err(e) => {
            if args.format.is_json() {
                // A tool reading JSON gets JSON; the exit code still says what happened.
                let _ = app.ui.out_json_line(&e.to_json());
            }
            Err(e)
        }
    }
}
