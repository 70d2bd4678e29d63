//! `cosmoscope logout [--all]`: revoke the refresh token where the provider supports RFC 7009, then
//! delete the keyring entries and the session file.

use crate::app::App;
use crate::cli::LogoutArgs;
use crate::commands::gate::{Act, Gate};
use crate::error::CmdResult;
use crate::session::Sessions;

pub async fn run(app: &App, args: &LogoutArgs) -> CmdResult {
    let config = app.config()?;
    let profiles: Vec<_> = if args.all {
        config.profiles.values().cloned().collect()
    } else {
        vec![config.select(app.global.profile.as_deref())?.clone()]
    };
    let state_dir = app.state_dir()?;
    let mut first_error = None;
    for profile in &profiles {
        let outcome = Gate::run_for(
            app,
            config.clone(),
            profile.clone(),
            Act::LOGOUT,
            async |gate| {
                gate.note_identity();
                let sessions =
                    Sessions::new(&state_dir, &gate.profile, gate.audit(), app.keyring.clone());
                let outcome = sessions.logout(&state_dir).await?;
                gate.record.detail = Some(
                    match (outcome.had_session, outcome.revoked, &outcome.revoke_error) {
                        (false, ..) => "no session".to_string(),
                        (_, Some(true), _) => "refresh token revoked".to_string(),
                        (_, Some(false), _) => "provider offers no revocation".to_string(),
                        (_, None, Some(e)) => format!("revocation failed: {e}"),
                        (_, None, None) => "no refresh token".to_string(),
                    },
                );
                Ok(outcome)
            },
        )
        .await;
        match outcome {
            Ok(outcome) if !outcome.had_session => app
                .ui
                .info(format!("Profile {:?}: not logged in.", profile.name)),
            Ok(outcome) => {
                match (outcome.revoked, &outcome.revoke_error) {
                    (Some(true), _) => app.ui.info(format!("Profile {:?}: refresh token revoked at the provider.", profile.name)),
                    (Some(false), _) => app.ui.warn(format!(
                        "profile {:?}: the provider offers no token revocation; the refresh token stays valid until it expires",
                        profile.name
                    )),
                    (None, Some(e)) => app.ui.warn(format!("profile {:?}: could not revoke the refresh token ({e}); deleted it locally", profile.name)),
                    (None, None) => {}
                }
                app.ui.success(format!(
                    "Logged out of profile {:?} ({} keyring entries deleted).",
                    profile.name, outcome.deleted_entries
                ));
            }
            Err(err) => {
                if args.all {
                    app.ui.warn(format!(
                        "profile {:?}: {}",
                        profile.name,
                        err.render().trim_end()
                    ));
                }
                first_error.get_or_insert(err);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
