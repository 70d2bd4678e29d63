//! `cosmoscope login`: the device-code flow (RFC 8628), verified tokens, a session in the keyring.

use serde_json::json;

use crate::app::App;
use crate::audit::Record;
use crate::cli::{LoginArgs, OutputFormat};
use crate::error::{CmdResult, CommandError};
use crate::identity::Provider;
use crate::session::manager::rfc3339;
use crate::session::{SecretStore, Sessions};

pub async fn run(app: &App, args: &LoginArgs) -> CmdResult {
    let (config, profile) = app.profile()?;
    let audit = app.audit(&config);
    let state_dir = app.state_dir()?;
    let sessions = Sessions::new(&state_dir, &profile, &audit);
    let json = matches!(
        app.ui.format(OutputFormat::Table),
        OutputFormat::Json | OutputFormat::Ndjson
    );

    if args.refresh {
        let (info, _access) = sessions.fresh(0, true).await?;
        return announce(app, &info, json, "Session refreshed");
    }

    // Open the store first: with no keyring there is no point in asking the person to sign in.
    let store = SecretStore::open(profile.store)?;
    let provider = Provider::discover(&profile.issuer, &profile.client_id).await?;
    let device = provider
        .start_device(&profile.scopes, profile.audience.as_deref())
        .await?;

    if json {
        app.ui.out_json_line(&json!({
            "event": "device_code",
            "user_code": device.user_code,
            "verification_uri": device.verification_uri,
            "verification_uri_complete": device.verification_uri_complete,
            "expires_in": device.expires_in,
        }))?;
    }
    app.ui.info(format!(
        "To sign in, open {} and enter the code {}",
        device.verification_uri, device.user_code
    ));
    if let Some(complete) = &device.verification_uri_complete {
        app.ui.info(format!("  (or open {complete})"));
    }
    let open_url = device
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&device.verification_uri);
    if !args.no_browser && !app.ui.no_input && app.env.has_display() {
        if webbrowser::open(open_url).is_ok() {
            app.ui.info("Opened your browser.");
        } else {
            app.ui.debug("could not open a browser");
        }
    }
    app.ui.info(format!(
        "Waiting for approval (the code expires in {} min; Ctrl-C to cancel)…",
        device.expires_in.div_ceil(60)
    ));

    let outcome = async {
        let tokens = provider.poll_device(&device).await?;
        sessions
            .establish(&provider, &store, tokens, "device_code", None)
            .await
    }
    .await;
    match outcome {
        Ok(info) => {
            if let Err(e) = sessions.audit(
                Record::new(&profile.name, "login", "ok")
                    .who(Some(&info.subject), &info.roles)
                    .detail("device_code"),
            ) {
                app.ui.warn(format!("could not write the audit log: {e}"));
            }
            announce(app, &info, json, "Logged in")
        }
        Err(e) => {
            let _ =
                sessions.audit(Record::new(&profile.name, "login", "error").cause(e.audit_cause()));
            Err(CommandError::from(e))
        }
    }
}

fn announce(app: &App, info: &crate::session::SessionInfo, json: bool, verb: &str) -> CmdResult {
    if json {
        app.ui.out_json_line(&json!({
            "event": "logged_in",
            "subject": info.subject,
            "roles": info.roles,
            "expires_at": rfc3339(info.expires_at),
        }))?;
    }
    let roles = if info.roles.is_empty() {
        "no roles".to_string()
    } else {
        format!("roles: {}", info.roles.join(", "))
    };
    app.ui.success(format!(
        "{verb} as {} ({roles}); session in {} until {}",
        info.subject,
        info.store.as_str(),
        rfc3339(info.expires_at)
    ));
    Ok(())
}
