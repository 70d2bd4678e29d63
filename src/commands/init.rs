//! `cosmoscope init`: add a profile to the config file — through a wizard on a terminal, or entirely
//! from flags with `--no-input`. The file is validated before and after; nothing is written unless
//! the result is valid. Comments and formatting of an existing file are kept (`toml_edit`).

use clap::ValueEnum as _;
use dialoguer::{Confirm, Input, Select};
use toml_edit::{Array, DocumentMut, Item, Table, value};

use crate::app::App;
use crate::cli::{InitArgs, ProviderPreset};
use crate::error::{CmdResult, CommandError};
use crate::settings::{
    COSMOS_SCOPE, Config, CredentialKind, DEFAULT_SCOPES, StoreKind, check_url, is_cosmos_scope,
    is_entra_issuer,
};

/// The values of a profile to write.
struct Answers {
    name: String,
    issuer: String,
    client_id: String,
    audience: Option<String>,
    scopes: Vec<String>,
    roles_claim: Option<String>,
    store: Option<StoreKind>,
    endpoint: Option<String>,
    database: Option<String>,
    credential: Option<CredentialKind>,
    policy_file: Option<String>,
    allowed_tenants: Vec<String>,
    client_secret_env: Option<String>,
}

/// What a provider preset fills in: (issuer, roles claim, client secret variable).
fn preset(
    args: &InitArgs,
) -> CmdResult<(Option<String>, Option<&'static str>, Option<&'static str>)> {
    let Some(provider) = args.provider else {
        return Ok((None, None, None));
    };
    let name = value_name(&provider);
    // A domain or a tenant id; a pasted URL is taken for its host.
    let tenant = || {
        let raw = args.tenant.as_deref().map(str::trim).unwrap_or_default();
        let host = raw
            .strip_prefix("https://")
            .unwrap_or(raw)
            .trim_end_matches('/');
        if host.is_empty() {
            return Err(CommandError::usage(format!("--provider {name} needs --tenant"))
                .hint("Entra: the directory (tenant) id; Auth0 and Okta: the domain, e.g. example.eu.auth0.com"));
        }
        if host.contains(['/', '?', '#', ' ', '{', '}', ':', '@']) {
            return Err(CommandError::usage(format!(
                "--tenant {raw:?} is not a domain or a tenant id"
            ))
            .hint("give the domain alone, e.g. example.eu.auth0.com, not a URL with a path"));
        }
        Ok(host.to_ascii_lowercase())
    };
    if let Some(bad) = args
        .allowed_tenants
        .iter()
        .find(|a| !crate::settings::is_guid(a))
    {
        return Err(CommandError::usage(format!("--allowed-tenant {bad:?} is not a tenant id"))
            .hint("give the directory (tenant) id, a GUID, from the Entra admin center's Overview page"));
    }
    Ok(match provider {
        ProviderPreset::Entra if args.issuer.is_some() => (None, Some("roles"), None),
        ProviderPreset::Entra => {
            let t = tenant()?;
            let multi = matches!(t.as_str(), "common" | "organizations");
            if t == "consumers" {
                return Err(CommandError::usage(
                    "personal Microsoft accounts cannot use Cosmos DB's data-plane roles",
                )
                .hint("use your organization's tenant id"));
            }
            if !multi && !crate::settings::is_guid(&t) {
                return Err(CommandError::usage(format!("--tenant {t:?} is not a tenant id"))
                    .hint("Entra's issuer names the tenant by its id: give the directory (tenant) id, a GUID, from the Entra admin center's Overview page (or organizations with --allowed-tenant)"));
            }
            if multi && args.allowed_tenants.is_empty() {
                return Err(CommandError::usage(format!(
                    "--tenant {t} lets any organization's people sign in"
                ))
                .hint("list the tenants that may, with --allowed-tenant <tenant-id> (repeat it)"));
            }
            if !multi && !args.allowed_tenants.is_empty() {
                return Err(CommandError::usage(
                    "--allowed-tenant goes with --tenant organizations",
                )
                .hint(
                    "a single tenant's profile admits only that tenant; leave --allowed-tenant out",
                ));
            }
            (
                Some(format!("https://login.microsoftonline.com/{t}/v2.0")),
                Some("roles"),
                None,
            )
        }
        ProviderPreset::Auth0 => (Some(format!("https://{}/", tenant()?)), None, None),
        ProviderPreset::Okta => (
            Some(format!("https://{}/oauth2/default", tenant()?)),
            Some("groups"),
            None,
        ),
        ProviderPreset::Keycloak => (None, Some("/realm_access/roles"), None),
        ProviderPreset::Google => (
            Some("https://accounts.google.com".into()),
            None,
            Some("GOOGLE_CLIENT_SECRET"),
        ),
        ProviderPreset::Generic => (None, None, None),
    })
}

/// The scopes to write: the user's, else the provider's (Google has no `offline_access`: it gives
/// refresh tokens to installed apps anyway); with `credential = "entra"`, Cosmos DB's scope too.
fn scopes_for(args: &InitArgs, issuer: &str, credential: Option<CredentialKind>) -> Vec<String> {
    let mut scopes = args.scopes.clone();
    if scopes.is_empty() && args.provider == Some(ProviderPreset::Google) {
        scopes = ["openid", "email", "profile"].map(String::from).to_vec();
    }
    if credential == Some(CredentialKind::Entra)
        && is_entra_issuer(issuer)
        && !scopes.iter().any(|s| is_cosmos_scope(s))
    {
        if scopes.is_empty() {
            scopes = DEFAULT_SCOPES.map(String::from).to_vec();
        }
        scopes.push(COSMOS_SCOPE.to_string());
    }
    scopes
}

/// The credential when `--endpoint` is given without `--credential`: the session's own token for
/// an Entra profile, an account key otherwise (another provider's token means nothing to Cosmos).
fn default_credential(args: &InitArgs, issuer: &str) -> Option<CredentialKind> {
    args.credential.or(args.endpoint.as_ref().map(|_| {
        if is_entra_issuer(issuer) {
            CredentialKind::Entra
        } else {
            CredentialKind::Key
        }
    }))
}

pub fn run(app: &App, args: &InitArgs) -> CmdResult {
    let path = app.config_path()?;
    if app.config().is_ok_and(|c| c.locked) {
        return Err(CommandError::usage(format!(
            "the system configuration {} is locked; profiles come from it",
            path.display()
        ))
        .hint("ask the administrator for a profile"));
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(
                CommandError::runtime(format!("cannot read {}", path.display())).caused_by(&e),
            );
        }
    };
    let existing = if text.is_empty() {
        None
    } else {
        Some(Config::parse(&path, &text).map_err(|e| {
            CommandError::runtime("the existing configuration file is invalid; nothing was written")
                .cause(&e)
                .hint(format!("fix {} first", path.display()))
        })?)
    };

    let answers = if app.ui.can_prompt() {
        wizard(app, args)?
    } else {
        from_flags(app, args)?
    };
    if let Some(problem) = crate::settings::profile_name_problem(&answers.name) {
        return Err(
            CommandError::usage(format!("profile name {:?} {problem}", answers.name))
                .hint("choose a plain name such as dev, prod-eu or ci_2 with --profile"),
        );
    }
    if let Some(cfg) = &existing
        && cfg.profiles.contains_key(&answers.name)
        && !args.force
    {
        return Err(CommandError::usage(format!(
            "profile {:?} already exists in {}",
            answers.name,
            path.display()
        ))
        .hint("pass --force to replace it, or choose another name with --profile"));
    }

    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| CommandError::runtime("cannot edit the configuration file").cause(e))?;
    let make_default = existing
        .as_ref()
        .is_none_or(|c| c.default_profile.is_none());
    write_profile(&mut doc, &answers, make_default);
    let new_text = doc.to_string();
    // Never write a file we would refuse to read.
    Config::parse(&path, &new_text).map_err(|e| {
        CommandError::usage("these values do not make a valid profile; nothing was written")
            .cause(&e)
    })?;
    crate::fsutil::write_private_atomic(&path, new_text.as_bytes()).map_err(|e| {
        CommandError::runtime(format!("cannot write {}", path.display())).caused_by(&e)
    })?;

    app.ui.success(format!(
        "Wrote profile {:?} to {}",
        answers.name,
        path.display()
    ));
    let flag = if make_default {
        String::new()
    } else {
        format!(" --profile {}", answers.name)
    };
    app.ui.info(format!("Next: cosmoscope login{flag}"));
    Ok(())
}

fn from_flags(app: &App, args: &InitArgs) -> CmdResult<Answers> {
    let (preset_issuer, preset_roles, secret_env) = preset(args)?;
    let mut missing = Vec::new();
    if args.issuer.is_none() && preset_issuer.is_none() {
        missing.push("--issuer URL");
    }
    if args.client_id.is_none() {
        missing.push("--client-id ID");
    }
    if !missing.is_empty() {
        return Err(CommandError::usage(format!("without a terminal (or with --no-input), init needs {}", missing.join(" and ")))
            .hint("example: cosmoscope init --no-input --profile dev --issuer https://example.eu.auth0.com/ --client-id abc123"));
    }
    let issuer = args.issuer.clone().or(preset_issuer).unwrap_or_default();
    check_url(&issuer, "issuer").map_err(|m| {
        CommandError::usage(m)
            .hint("pass the provider's issuer exactly as its discovery document names it")
    })?;
    if let Some(endpoint) = &args.endpoint {
        check_url(endpoint, "--endpoint").map_err(CommandError::usage)?;
    }
    Ok(Answers {
        name: app
            .global
            .profile
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        scopes: scopes_for(args, &issuer, default_credential(args, &issuer)),
        credential: default_credential(args, &issuer),
        issuer,
        client_id: args.client_id.clone().unwrap_or_default(),
        audience: args.audience.clone(),
        roles_claim: args.roles_claim.clone().or(preset_roles.map(String::from)),
        store: args.store,
        endpoint: args.endpoint.clone(),
        database: args.database.clone(),
        policy_file: args.policy_file.clone(),
        allowed_tenants: args
            .allowed_tenants
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect(),
        client_secret_env: secret_env.map(String::from),
    })
}

/// The name a value has on the command line and in the file.
fn value_name(v: &impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

/// Asks the person to pick one of `T`'s values.
fn choose<T: clap::ValueEnum + Copy>(prompt: &str, default: usize) -> CmdResult<T> {
    let kinds = T::value_variants();
    let names: Vec<String> = kinds.iter().map(value_name).collect();
    let i = Select::new()
        .with_prompt(prompt)
        .items(&names)
        .default(default)
        .interact()
        .map_err(prompt_err)?;
    Ok(kinds[i])
}

fn prompt_err(e: dialoguer::Error) -> CommandError {
    match e {
        dialoguer::Error::IO(io) if io.kind() == std::io::ErrorKind::Interrupted => {
            CommandError::new(
                crate::error::Exit::Interrupted,
                "interrupted; nothing was written",
            )
        }
        dialoguer::Error::IO(io) => {
            CommandError::runtime("the prompt failed; nothing was written").caused_by(&io)
        }
    }
}

fn ask(
    prompt: &str,
    initial: Option<&str>,
    required: bool,
    check: impl Fn(&str) -> Result<(), String> + 'static,
) -> CmdResult<Option<String>> {
    let mut input = Input::<String>::new()
        .with_prompt(prompt)
        .allow_empty(!required)
        .validate_with(move |s: &String| -> Result<(), String> {
            if s.is_empty() { Ok(()) } else { check(s) }
        });
    if let Some(i) = initial {
        input = input.with_initial_text(i);
    }
    let s = input.interact_text().map_err(prompt_err)?;
    Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty()))
}

fn wizard(app: &App, args: &InitArgs) -> CmdResult<Answers> {
    let ok = |_: &str| Ok(());
    app.ui.info("Set up a cosmoscope profile. Values in [brackets] are defaults; leave optional ones empty.");
    let name = match &app.global.profile {
        Some(n) => n.clone(),
        None => ask("Profile name", Some("default"), true, ok)?.unwrap_or_else(|| "default".into()),
    };
    let provider = match args.provider {
        Some(p) => p,
        None => choose(
            "Identity provider",
            ProviderPreset::value_variants().len() - 1,
        )?,
    };
    let tenant = match (&args.tenant, provider) {
        (Some(t), _) => Some(t.clone()),
        (None, ProviderPreset::Entra) if args.issuer.is_none() => ask(
            "Entra tenant id (or organizations for a multi-tenant app)",
            None,
            true,
            ok,
        )?,
        (None, ProviderPreset::Auth0 | ProviderPreset::Okta) => {
            ask("Domain (e.g. example.eu.auth0.com)", None, true, ok)?
        }
        _ => None,
    };
    let mut allowed_tenants = args.allowed_tenants.clone();
    if provider == ProviderPreset::Entra
        && allowed_tenants.is_empty()
        && tenant.as_deref().is_some_and(|t| {
            matches!(
                t.trim().to_ascii_lowercase().as_str(),
                "common" | "organizations"
            )
        })
    {
        let list = ask(
            "Tenant ids whose people may sign in (comma-separated)",
            None,
            true,
            |s| {
                if s.split(',').all(|t| crate::settings::is_guid(t.trim())) {
                    Ok(())
                } else {
                    Err("tenant ids are GUIDs, separated by commas".to_string())
                }
            },
        )?
        .unwrap_or_default();
        allowed_tenants = list.split(',').map(|t| t.trim().to_string()).collect();
    }
    let filled = InitArgs {
        provider: Some(provider),
        tenant,
        allowed_tenants: allowed_tenants.clone(),
        issuer: args.issuer.clone(),
        client_id: None,
        audience: None,
        scopes: args.scopes.clone(),
        roles_claim: None,
        store: None,
        endpoint: args.endpoint.clone(),
        database: None,
        credential: args.credential,
        policy_file: None,
        force: args.force,
    };
    let (preset_issuer, preset_roles, secret_env) = preset(&filled)?;
    let issuer = match args.issuer.clone().or(preset_issuer) {
        Some(i) => i,
        None => ask("OpenID issuer URL", None, true, |s| {
            check_url(s, "issuer").map(|_| ())
        })?
        .unwrap_or_default(),
    };
    let client_id = match &args.client_id {
        Some(c) => c.clone(),
        None => ask(
            "Client ID (a public client with the device-code grant)",
            None,
            true,
            ok,
        )?
        .unwrap_or_default(),
    };
    let audience = match &args.audience {
        Some(a) => Some(a.clone()),
        None => ask("API audience (optional; Auth0 needs one)", None, false, ok)?,
    };
    let roles_claim = match (&args.roles_claim, preset_roles) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(r)) => Some(r.to_string()),
        (None, None) => ask(
            "Claim that holds roles (optional; name or /json/pointer)",
            None,
            false,
            ok,
        )?,
    };
    let store = if let Some(s) = args.store {
        Some(s)
    } else {
        let kinds = StoreKind::value_variants();
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let i = Select::new()
            .with_prompt("Where to keep the session's secrets")
            .items(&names)
            .default(0)
            .interact()
            .map_err(prompt_err)?;
        Some(kinds[i]).filter(|k| *k != StoreKind::Auto)
    };
    let (mut endpoint, mut database, mut credential) = (
        args.endpoint.clone(),
        args.database.clone(),
        args.credential,
    );
    if endpoint.is_none()
        && Confirm::new()
            .with_prompt("Configure a Cosmos DB account now?")
            .default(false)
            .interact()
            .map_err(prompt_err)?
    {
        endpoint = ask("Cosmos DB endpoint", None, true, |s| {
            check_url(s, "endpoint").map(|_| ())
        })?;
        database = ask("Default database (optional)", None, false, ok)?;
        credential = Some(choose("How cosmoscope authenticates to Cosmos DB", 0)?);
    }
    let credential = credential.or_else(|| {
        endpoint
            .as_ref()
            .map(|_| default_credential(&filled, &issuer).unwrap_or(CredentialKind::Key))
    });
    Ok(Answers {
        scopes: scopes_for(&filled, &issuer, credential),
        name,
        issuer,
        client_id,
        audience,
        roles_claim,
        store,
        endpoint,
        database,
        credential,
        policy_file: args.policy_file.clone(),
        allowed_tenants,
        client_secret_env: secret_env.map(String::from),
    })
}

fn write_profile(doc: &mut DocumentMut, a: &Answers, make_default: bool) {
    if make_default {
        doc.insert("default_profile", value(a.name.as_str()));
    }
    let profiles = doc.entry("profiles").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let mut p = Table::new();
    p.insert("issuer", value(a.issuer.as_str()));
    p.insert("client_id", value(a.client_id.as_str()));
    if let Some(aud) = &a.audience {
        p.insert("audience", value(aud.as_str()));
    }
    if !a.scopes.is_empty() {
        p.insert(
            "scopes",
            value(a.scopes.iter().map(String::as_str).collect::<Array>()),
        );
    }
    if let Some(c) = &a.roles_claim {
        p.insert("roles_claim", value(c.as_str()));
    }
    if let Some(s) = a.store {
        p.insert("store", value(s.as_str()));
    }
    if !a.allowed_tenants.is_empty() {
        p.insert(
            "allowed_tenants",
            value(
                a.allowed_tenants
                    .iter()
                    .map(String::as_str)
                    .collect::<Array>(),
            ),
        );
    }
    if let Some(var) = &a.client_secret_env {
        p.insert("client_secret_env", value(var.as_str()));
    }
    if let Some(endpoint) = &a.endpoint {
        let mut c = Table::new();
        c.insert("endpoint", value(endpoint.as_str()));
        if let Some(db) = &a.database {
            c.insert("database", value(db.as_str()));
        }
        let cred = a.credential.unwrap_or(CredentialKind::Key);
        let name = value_name(&cred);
        c.insert("credential", value(name));
        p.insert("cosmos", Item::Table(c));
    }
    if let Some(f) = &a.policy_file {
        let mut t = Table::new();
        t.insert("file", value(f.as_str()));
        p.insert("policy", Item::Table(t));
    }
    if let Some(t) = profiles.as_table_mut() {
        t.insert(&a.name, Item::Table(p));
    }
}
