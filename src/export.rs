//! Temporary credentials for other tools: which token may leave, checked by policy (`export`),
//! audited, and rendered in the formats other tools read. The renderers here are the only code that
//! puts a token into text; only `token` and `exec` call them.

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::app::App;
use crate::audit::Record;
use crate::cli::{ExportResource, TokenFormat};
use crate::clock::{now_unix, rfc3339};
use crate::error::{CmdResult, CommandError, Exit};
use crate::policy::{self, Action, Request};
use crate::secret::SecretJson;
use crate::settings::{Config, CredentialKind, Profile};

/// A credential cleared for export.
pub struct Exported {
    pub token: SecretString,
    pub expires_at: u64,
    pub resource: ExportResource,
    pub endpoint: Option<String>,
}

impl ExportResource {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ExportResource::Cosmos => "cosmos",
            ExportResource::Idp => "idp",
        }
    }
}

/// Gets a token for `resource` that lives at least `min_ttl` seconds, after the policy allowed the
/// export; every attempt is audited.
pub async fn issue(
    app: &App,
    config: &Config,
    profile: &Profile,
    resource: ExportResource,
    min_ttl: u64,
) -> CmdResult<Exported> {
    let audit = app.audit(config);
    let sessions = app.sessions(config, profile, &audit, None)?;
    let mut record = Record::new(&profile.name, "export", "denied");
    record.detail = Some(format!("resource={}", resource.as_str()));

    let result = async {
        // The cheap checks first: the policy decides on the session file's claims, before any
        // keyring read or network.
        let info = sessions.current()?.ok_or_else(|| CommandError::login_required(format!("not logged in (profile {:?})", profile.name)).hint(crate::error::login_hint(&profile.name)))?;
        record.subject = Some(info.subject.clone());
        record.roles.clone_from(&info.roles);
        let database = profile.cosmos.as_ref().and_then(|c| c.database.clone()).unwrap_or_else(|| "*".to_string());
        record.database = Some(database.clone());
        let policy_path = profile.policy_file.as_ref().ok_or_else(|| {
            CommandError::new(Exit::Denied, "exporting a credential needs a policy that allows it")
                .cause(format!("profile {:?} names no policy file", profile.name))
                .hint("add [profiles.NAME.policy] file = \"policy.toml\" with a grant whose actions include \"export\"")
        })?;
        let policy = crate::commands::policy::load_policy(policy_path)?;
        let req = Request { database, container: "*".into(), action: Action::Export, query: None, partition_key: None, max_items: None, fido2_fresh: false };
        let decision = policy::decide(&policy, &Value::Object(info.claims.clone()), &req);
        record.reasons = decision.reasons().iter().map(|r| r.message.clone()).collect();
        if !decision.allowed() {
            let mut err = CommandError::new(Exit::Denied, "the policy does not allow exporting this credential");
            for r in decision.reasons() {
                err = err.cause(&r.message);
            }
            return Err(err.hint("an export needs a grant on all containers (containers = [\"*\"]) with actions including \"export\" and partition_key = \"any\""));
        }
        let endpoint = profile.cosmos.as_ref().map(|c| c.endpoint.clone());
        match (resource, profile.cosmos.as_ref()) {
            (ExportResource::Idp, _) => {}
            (ExportResource::Cosmos, None) => {
                return Err(CommandError::usage(format!("profile {:?} has no [cosmos] section", profile.name))
                    .hint("use --resource idp, or add [profiles.NAME.cosmos]"));
            }
            (ExportResource::Cosmos, Some(c)) if c.credential == CredentialKind::Entra => {}
            (ExportResource::Cosmos, Some(c)) if c.credential == CredentialKind::Key => {
                return Err(CommandError::usage("a key profile has no token to export: account keys never leave cosmoscope")
                    .hint("use credential = \"entra\" (your own token) or a broker identity for tokens other tools can use"));
            }
            (ExportResource::Cosmos, Some(settings)) => {
                // A broker identity's token (azure_identity), handed out only because a grant allows export.
                return broker_token(app, settings, min_ttl, endpoint).await;
            }
        }
        // For `entra` the session's access token is the Cosmos token (scope https://cosmos.azure.com/.default).
        let (info, token) = sessions.fresh(min_ttl, false).await?;
        if info.expires_at < now_unix() + min_ttl {
            return Err(CommandError::login_required(format!(
                "the provider's tokens live until {}, short of --min-ttl",
                rfc3339(info.expires_at)
            ))
            .hint("lower --min-ttl, or raise the access-token lifetime at the provider"));
        }
        Ok(Exported { token, expires_at: info.expires_at, resource, endpoint })
    }
    .await;
    match &result {
        Ok(_) => record.decision = "allowed".into(),
        Err(e) if e.exit != Exit::Denied => {
            record.decision = "error".into();
            record.cause = Some(e.message.clone());
        }
        Err(e) => record.cause = Some(e.message.clone()),
    }
    if let Err(e) = audit.append(record) {
        // An export that cannot be audited does not happen.
        return Err(CommandError::runtime(
            "cannot write the audit log, so no credential was exported",
        )
        .caused_by(&e));
    }
    result
}

/// The broker identity's Cosmos token, fresh enough for `min_ttl`.
async fn broker_token(
    app: &App,
    settings: &crate::settings::CosmosSettings,
    min_ttl: u64,
    endpoint: Option<String>,
) -> CmdResult<Exported> {
    let credential = crate::cosmos::credential::broker(settings, &app.env)?;
    let token = credential
        .get_token(&[crate::cosmos::credential::COSMOS_SCOPE], None)
        .await
        .map_err(|e| {
            CommandError::from(crate::cosmos::CosmosError::Token {
                detail: e.to_string(),
            })
        })?;
    let expires_at = u64::try_from(token.expires_on.unix_timestamp()).unwrap_or(0);
    if expires_at < now_unix() + min_ttl {
        return Err(CommandError::login_required(format!(
            "the broker's token lives until {}, short of --min-ttl",
            rfc3339(expires_at)
        ))
        .hint("lower --min-ttl"));
    }
    Ok(Exported {
        token: SecretString::from(token.token.secret().to_string()),
        expires_at,
        resource: ExportResource::Cosmos,
        endpoint,
    })
}

/// Quotes a value for sh, bash and zsh: single quotes, with `'` written as `'\''`.
#[must_use]
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The credential in `format`, ready for stdout.
#[must_use]
pub fn render(c: &Exported, format: TokenFormat, exec_info: Option<&str>) -> Zeroizing<String> {
    let token = c.token.expose_secret();
    #[cfg(debug_assertions)]
    crate::error::debug_panic_point("render", token);
    let expires = rfc3339(c.expires_at);
    // The credential's JSON is built as a value holding the token: wiped once it is written out.
    let json = |v: Value| format!("{}\n", *SecretJson(v));
    Zeroizing::new(match format {
        TokenFormat::Raw => format!("{token}\n"),
        TokenFormat::Json => json(
            json!({"version": 1, "token": token, "expires_at": expires, "resource": c.resource.as_str(), "endpoint": c.endpoint}),
        ),
        TokenFormat::Env => {
            let endpoint = c
                .endpoint
                .as_ref()
                .map(|e| format!("export COSMOS_ENDPOINT={}\n", shell_quote(e)))
                .unwrap_or_default();
            format!(
                "{endpoint}export COSMOS_TOKEN={}\nexport COSMOS_TOKEN_EXPIRES_AT={}\n",
                shell_quote(token),
                shell_quote(&expires)
            )
        }
        TokenFormat::ExecCredential => {
            // Answer in the API version kubectl asked for (KUBERNETES_EXEC_INFO), v1 by default.
            let api = exec_info
                .and_then(|i| serde_json::from_str::<Value>(i).ok())
                .and_then(|v| v["apiVersion"].as_str().map(str::to_string))
                .filter(|v| v.starts_with("client.authentication.k8s.io/"))
                .unwrap_or_else(|| "client.authentication.k8s.io/v1".to_string());
            json(
                json!({"apiVersion": api, "kind": "ExecCredential", "spec": {}, "status": {"token": token, "expirationTimestamp": expires}}),
            )
        }
        TokenFormat::AzureCli => {
            let local = humantime::format_rfc3339_micros(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(c.expires_at),
            )
            .to_string();
            // az prints "YYYY-MM-DD HH:MM:SS.ffffff"; keep its shape (in UTC, which az also accepts).
            let expires_on = local.trim_end_matches('Z').replacen('T', " ", 1);
            json(
                json!({"accessToken": token, "expiresOn": expires_on, "expires_on": c.expires_at, "tokenType": "Bearer"}),
            )
        }
    })
}

/// The environment `exec` gives the child.
#[must_use]
pub fn child_env(c: &Exported) -> Vec<(&'static str, Zeroizing<String>)> {
    let token = Zeroizing::new(c.token.expose_secret().to_string());
    let mut env = vec![
        ("COSMOS_TOKEN", token.clone()),
        ("COSMOSDB_SHELL_TOKEN", token),
        (
            "COSMOS_TOKEN_EXPIRES_AT",
            Zeroizing::new(rfc3339(c.expires_at)),
        ),
    ];
    if let Some(e) = &c.endpoint {
        env.push(("COSMOS_ENDPOINT", Zeroizing::new(e.clone())));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes_and_dollars() {
        assert_eq!(shell_quote("a'b$c`d"), r"'a'\''b$c`d'");
    }

    #[test]
    fn formats_have_their_shapes() {
        let c = Exported {
            token: SecretString::from("tok".to_string()),
            expires_at: 1_800_000_000,
            resource: ExportResource::Cosmos,
            endpoint: Some("https://x/".into()),
        };
        let json: Value = serde_json::from_str(&render(&c, TokenFormat::Json, None)).expect("json");
        assert_eq!(json["version"], 1);
        assert_eq!(json["expires_at"], "2027-01-15T08:00:00Z");
        let k8s: Value = serde_json::from_str(&render(
            &c,
            TokenFormat::ExecCredential,
            Some(r#"{"apiVersion":"client.authentication.k8s.io/v1beta1"}"#),
        ))
        .expect("json");
        assert_eq!(k8s["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(k8s["status"]["token"], "tok");
        let az: Value =
            serde_json::from_str(&render(&c, TokenFormat::AzureCli, None)).expect("json");
        assert_eq!(az["expiresOn"], "2027-01-15 08:00:00.000000");
        assert_eq!(az["expires_on"], 1_800_000_000);
        assert_eq!(
            render(&c, TokenFormat::Env, None).as_str(),
            "export COSMOS_ENDPOINT='https://x/'\nexport COSMOS_TOKEN='tok'\nexport COSMOS_TOKEN_EXPIRES_AT='2027-01-15T08:00:00Z'\n"
        );
    }
}
