//! `cosmoscope login`: the device-code flow (RFC 8628), verified tokens, a session in the keyring.

use serde_json::json;

use crate::app::App;
use crate::audit::Record;
use crate::cli::{Exchange, LoginArgs};
use crate::commands::gate::{audit_opens, settle};
use crate::error::{CmdResult, CommandError};
use secrecy::SecretString;

use crate::clock::rfc3339;
use crate::env::vars;
use crate::identity::{ClientGrant, Provider, ci};
use crate::session::{SecretStore, SessionError, Sessions};
use crate::settings::Profile;

pub async fn run(app: &App, args: &LoginArgs) -> CmdResult {
    let (config, profile) = app.profile()?;
    let audit = app.audit(&config);
    let sessions = app.sessions(&config, &profile, &audit, args.device.as_deref())?;
    // A login is audited like a data command: the log must open before anything happens.
    audit_opens(&audit)?;
    let json = app.ui.machine_readable();

    if args.fido2 {
        // Touch (and PIN) → unseal the refresh token → refresh → seal its successor: no browser.
        let sealed = sessions
            .current()?
            .is_some_and(|i| i.sealed && i.refreshable);
        if !sealed {
            return Err(SessionError::NothingSealed(profile.name.clone()).into());
        }
        let (info, _access) = sessions.fresh(0, true).await?;
        let record = Record::new(&profile.name, "login", "ok")
            .who(Some(&info.subject), &info.roles)
            .detail("fido2");
        settle(&audit, record, Ok(()))?;
        return announce(app, &info, json, "Logged in with your security key");
    }
    if args.refresh {
        let (info, _access) = sessions.fresh(0, true).await?;
        return announce(app, &info, json, "Session refreshed");
    }

    // Open the store first: with no keyring there is no point in asking the person to sign in.
    let store = app.keyring.open(profile.store)?;
    if args.client_credentials || args.federated || args.federated_token_file.is_some() {
        return ci_login(app, args, &profile, &sessions, &store, json).await;
    }
    if app.ui.no_input && !json {
        return Err(CommandError::login_required("a device-code login needs a person, and --no-input (or CI=true) is set")
            .hint("in CI use `cosmoscope login --client-credentials` or `--federated`; a script can drive the device flow with -o json"));
    }
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
        // With a security key enrolled, one touch seals the refresh token before it is stored.
        let sealing = sessions.sealing_key(None).await?;
        sessions
            .establish(
                &provider,
                &store,
                tokens,
                "device_code",
                None,
                sealing.as_ref(),
            )
            .await
            .map(|(info, _)| info)
    }
    .await;
    match outcome {
        Ok(info) => {
            let record = Record::new(&profile.name, "login", "ok")
                .who(Some(&info.subject), &info.roles)
                .detail("device_code");
            settle(&audit, record, Ok(()))?;
            announce(app, &info, json, "Logged in")
        }
        Err(e) => {
            let record = Record::new(&profile.name, "login", "error").cause(e.audit_cause());
            settle(&audit, record, Err(CommandError::from(e)))
        }
    }
}

/// Logs in without a person: a client secret, or the CI system's own OIDC token.
async fn ci_login(
    app: &App,
    args: &LoginArgs,
    profile: &Profile,
    sessions: &Sessions<'_>,
    store: &SecretStore,
    json: bool,
) -> CmdResult {
    let result = async {
        let method;
        let credential: SecretString;
        let grant = if args.client_credentials {
            method = "client_credentials".to_string();
            credential = client_secret(app, args)?;
            ClientGrant::Secret(&credential)
        } else {
            let ci = ci::federated_token(&app.env, args.federated_token_file.as_deref(), &args.federated_audience)
                .await
                .map_err(|e| CommandError::login_required("cannot get the CI system's OIDC token").caused_by(&e).hint(
                    "in GitHub Actions grant `permissions: id-token: write`; in Azure Pipelines map SYSTEM_ACCESSTOKEN; in GitLab define id_tokens: COSMOSCOPE_ID_TOKEN; or pass --federated-token-file",
                ))?;
            method = format!("federated ({})", ci.source);
            credential = ci.token;
            match args.exchange {
                Exchange::ClientAssertion => ClientGrant::Assertion(&credential),
                Exchange::JwtBearer => ClientGrant::JwtBearer(&credential),
                Exchange::TokenExchange => ClientGrant::TokenExchange(&credential),
            }
        };
        let provider = Provider::discover(&profile.issuer, &profile.client_id).await?;
        let tokens = provider.client_token(&grant, &profile.scopes, profile.audience.as_deref()).await?;
        Ok::<_, CommandError>(sessions.establish(&provider, store, tokens, &method, None, None).await?.0)
    }
    .await;
    match result {
        Ok(info) => {
            let record = Record::new(&profile.name, "login", "ok")
                .who(Some(&info.subject), &info.roles)
                .detail(info.method.clone());
            settle(sessions.audit_log(), record, Ok(()))?;
            announce(app, &info, json, "Logged in")
        }
        Err(e) => {
            let record = Record::new(&profile.name, "login", "error").cause(e.summary());
            settle(sessions.audit_log(), record, Err(e))
        }
    }
}

/// The client secret: `COSMOSCOPE_CLIENT_SECRET`, or stdin with `--client-secret-stdin` — never argv.
fn client_secret(app: &App, args: &LoginArgs) -> CmdResult<SecretString> {
    if args.client_secret_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin().read_line(&mut line)?;
        let secret = line.trim_end_matches(['\r', '\n']);
        if secret.is_empty() {
            return Err(CommandError::usage("no client secret on stdin"));
        }
        return Ok(SecretString::from(secret.to_string()));
    }
    app.env
        .get(vars::COSMOSCOPE_CLIENT_SECRET)
        .map(|s| SecretString::from(s.to_string()))
        .ok_or_else(|| CommandError::usage("no client secret").hint("set COSMOSCOPE_CLIENT_SECRET from your CI's secret store, or pipe it with --client-secret-stdin"))
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
