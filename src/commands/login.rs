//! `cosmoscope login`: the browser (authorization code + PKCE) or the device code (RFC 8628),
//! verified tokens, a session in the keyring.

use serde_json::json;

use crate::app::App;
use crate::audit::Record;
use crate::cli::{Exchange, LoginArgs};
use crate::commands::gate::{audit_opens, settle};
use crate::error::{CmdResult, CommandError};
use secrecy::{ExposeSecret as _, SecretString};

use crate::clock::rfc3339;
use crate::env::vars;
use crate::error::Exit;
use crate::identity::browser::{Callback, Loopback};
use crate::identity::{ClientGrant, IdentityError, Issuer, Provider, TokenSet, ci};
use crate::session::{SecretStore, SessionError, Sessions};
use crate::settings::{LoginFlow, Profile};

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
        return Err(CommandError::login_required("signing in needs a person, and --no-input (or CI=true) is set")
            .hint("in CI use `cosmoscope login --client-credentials` or `--federated`; a script can drive the device flow with -o json"));
    }
    let provider = Provider::for_profile(&profile).await?;
    let flow = choose_flow(app, args, &profile, &provider)?;
    let method = match flow {
        Flow::Browser => "browser",
        Flow::DeviceCode => "device_code",
    };
    // Ctrl-C while the person signs in ends the login cleanly: nothing is stored, and the log says
    // it was interrupted.
    let signed_in = tokio::select! {
        r = async {
            match flow {
                Flow::Browser => browser_login(app, args, &provider, &profile, json).await,
                Flow::DeviceCode => device_login(app, args, &provider, &profile, json)
                    .await
                    .map(|t| (t, None)),
            }
        } => r,
        _ = tokio::signal::ctrl_c() => {
            let record = Record::new(&profile.name, "login", "error").cause("interrupted");
            return settle(&audit, record, Err(CommandError::new(Exit::Interrupted, "the sign-in was interrupted")
                .hint("nothing was stored; run `cosmoscope login` again")));
        }
    };
    let outcome = finish_login(&sessions, &provider, &store, method, signed_in).await;
    match outcome {
        Ok(info) => {
            let record = Record::new(&profile.name, "login", "ok")
                .who(Some(&info.subject), &info.roles)
                .detail(method);
            settle(&audit, record, Ok(()))?;
            announce(app, &info, json, "Logged in")
        }
        Err(e) => {
            let record = Record::new(&profile.name, "login", "error").cause(e.audit_cause());
            settle(&audit, record, Err(CommandError::from(e)))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Browser,
    DeviceCode,
}

/// `--browser`/`--device-code`, else the profile's `login_flow`; `auto` is the browser when one
/// can open in front of the person (a desktop session, not SSH, not --no-browser) and the provider
/// offers it, the device code otherwise.
fn choose_flow(
    app: &App,
    args: &LoginArgs,
    profile: &Profile,
    provider: &Provider,
) -> CmdResult<Flow> {
    let has_browser_flow = provider.metadata.authorization_endpoint.is_some();
    let has_device_flow = provider.metadata.device_authorization_endpoint.is_some();
    let forced = if args.browser {
        Some(Flow::Browser)
    } else if args.device_code {
        Some(Flow::DeviceCode)
    } else {
        match profile.login_flow {
            LoginFlow::Browser => Some(Flow::Browser),
            LoginFlow::DeviceCode => Some(Flow::DeviceCode),
            LoginFlow::Auto => None,
        }
    };
    match forced {
        Some(Flow::Browser) if !has_browser_flow => {
            Err(IdentityError::NoAuthorizationEndpoint.into())
        }
        Some(flow) => Ok(flow),
        None if has_browser_flow
            && (!has_device_flow
                || (!args.no_browser && !app.ui.no_input && app.env.browser_is_local())) =>
        {
            Ok(Flow::Browser)
        }
        None => Ok(Flow::DeviceCode),
    }
}

/// The browser sign-in up to the provider's tokens; the browser's tab is answered once the session
/// is stored (or not).
async fn browser_login(
    app: &App,
    args: &LoginArgs,
    provider: &Provider,
    profile: &Profile,
    json: bool,
) -> Result<(TokenSet, Option<Callback>), SessionError> {
    let loopback = Loopback::bind(profile.redirect_port).await?;
    let auth = provider.authorization(
        &loopback.redirect_uri,
        &profile.scopes,
        profile.audience.as_deref(),
    )?;
    if json {
        app.ui
            .out_json_line(&json!({"event": "browser", "url": auth.url}))
            .map_err(|e| SessionError::Identity(IdentityError::Client(e.to_string())))?;
    }
    // The browser starts on a thread of its own: a text browser (w3m, lynx) runs until it exits,
    // and the listener must answer it meanwhile.
    if !args.no_browser && !app.ui.no_input {
        let url = auth.start_url();
        let opener = tokio::task::spawn_blocking(move || webbrowser::open(&url).is_ok());
        if tokio::time::timeout(std::time::Duration::from_millis(500), opener)
            .await
            .is_ok_and(|r| r.unwrap_or(false))
        {
            app.ui
                .info("Opened your browser to sign in. If it did not open, visit:");
        } else {
            app.ui
                .info("Opening your browser to sign in. If it does not open, visit:");
        }
    } else {
        app.ui
            .info("To sign in, open this URL in a browser on this machine:");
    }
    app.ui.info(format!("  {}", auth.url));
    let secs = args.timeout.as_secs().max(1);
    app.ui.info(format!(
        "Waiting for the sign-in (up to {}; Ctrl-C to cancel; `cosmoscope login --device-code` signs in from another device)…",
        humantime::format_duration(std::time::Duration::from_secs(secs))
    ));
    let callback = tokio::time::timeout(
        args.timeout,
        loopback.receive(
            &auth,
            &provider.issuer,
            &provider.metadata.issuer,
            provider
                .metadata
                .authorization_response_iss_parameter_supported,
        ),
    )
    .await
    .map_err(|_| IdentityError::BrowserTimeout(secs))??;
    match provider.exchange_code(&auth, &callback.code).await {
        Ok(tokens) => Ok((tokens, Some(callback))),
        Err(e) => {
            callback.finish(false, &e.to_string()).await;
            Err(e.into())
        }
    }
}

/// The device-code sign-in up to the provider's tokens.
async fn device_login(
    app: &App,
    args: &LoginArgs,
    provider: &Provider,
    profile: &Profile,
    json: bool,
) -> Result<TokenSet, SessionError> {
    let device = provider
        .start_device(&profile.scopes, profile.audience.as_deref())
        .await?;
    if json {
        app.ui
            .out_json_line(&json!({
                "event": "device_code",
                "user_code": device.user_code,
                "verification_uri": device.verification_uri,
                "verification_uri_complete": device.verification_uri_complete,
                "expires_in": device.expires_in,
            }))
            .map_err(|e| SessionError::Identity(IdentityError::Client(e.to_string())))?;
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
    if !args.no_browser && !app.ui.no_input && app.env.browser_is_local() {
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
    Ok(provider.poll_device(&device).await?)
}

/// Stores what a person's sign-in brought: with a security key enrolled, one touch seals the
/// refresh token first. The browser tab, if any, is told how it ended.
async fn finish_login(
    sessions: &Sessions<'_>,
    provider: &Provider,
    store: &SecretStore,
    method: &str,
    signed_in: Result<(TokenSet, Option<Callback>), SessionError>,
) -> Result<crate::session::SessionInfo, SessionError> {
    let (tokens, callback) = signed_in?;
    let outcome = async {
        let sealing = sessions.sealing_key(None).await?;
        sessions
            .establish(provider, store, tokens, method, None, sealing.as_ref())
            .await
            .map(|(info, _)| info)
    }
    .await;
    if let Some(callback) = callback {
        match &outcome {
            Ok(info) => {
                callback
                    .finish(true, &format!("You are signed in as {}.", info.subject))
                    .await;
            }
            Err(e) => callback.finish(false, &e.to_string()).await,
        }
    }
    outcome
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
        let provider = Provider::discover(&Issuer::of(profile), &profile.client_id).await?;
        let mut tokens = provider.client_token(&grant, &profile.scopes, profile.audience.as_deref()).await?;
        if tokens.id_token.is_none()
            && !meant_for(&tokens.access_token, profile)
            && !profile.scopes.iter().any(|s| s.ends_with("/.default"))
        {
            // Not Entra's `.default` scopes: there is no standard way to ask for a token about
            // the app itself, and the one we got is for someone else.
            return Err(CommandError::login_required(
                "the provider's token is for another audience, and no ID token says who this is",
            )
            .hint("set the profile's audience to the API the provider issues this client's tokens for"));
        }
        if tokens.id_token.is_none() && !meant_for(&tokens.access_token, profile) {
            // The answer is a token for another resource (Entra: Cosmos DB's, v1, opaque to a
            // client) and no ID token: who this is comes from a second token, for the app itself
            // (`<client_id>/.default`, aud = the client id), verified like an ID token at login and
            // at every use. The resource's token is never verified as ours.
            let own = [format!("{}/.default", profile.client_id)];
            let identity = provider.client_token(&grant, &own, None).await.map_err(|e| {
                CommandError::from(e).hint(
                    "the provider's token is for another resource, so cosmoscope asks for one for the app itself to know who this is; in Entra ID, set \"accessTokenAcceptedVersion\": 2 in the app's manifest and assign the app roles to its service principal",
                )
            })?;
            // It must be a token issued to this client (Entra: `azp` v2, `appid` v1), not merely
            // one that names it as the audience.
            let issued_to = crate::identity::verify::unverified_claims(identity.access_token.expose_secret())
                .and_then(|c| c.get("azp").or_else(|| c.get("appid")).and_then(serde_json::Value::as_str).map(str::to_string));
            if issued_to.as_deref() != Some(profile.client_id.as_str()) {
                return Err(CommandError::from(IdentityError::Verify(crate::identity::VerifyError::Audience {
                    expected: format!("azp {}", profile.client_id),
                })));
            }
            tokens.id_token = Some(identity.access_token);
        }
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

/// Whether an access token names the profile's audience or client as its audience (read without
/// verifying: it only decides whether to ask for an identity token; what is stored is verified).
fn meant_for(access: &SecretString, profile: &Profile) -> bool {
    let Some(claims) = crate::identity::verify::unverified_claims(access.expose_secret()) else {
        return true;
    };
    let ours = |a: &str| a == profile.client_id || profile.audience.as_deref() == Some(a);
    match claims.get("aud") {
        Some(serde_json::Value::String(a)) => ours(a),
        Some(serde_json::Value::Array(v)) => {
            v.iter().filter_map(serde_json::Value::as_str).any(ours)
        }
        _ => false,
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
