//! Which credential may leave for other tools (`token`, `exec`): the session must be live, and the
//! policy must allow `export`; every attempt leaves one audit record (the gate), written before the
//! credential leaves the process. Rendering is `output::credential`'s.

use secrecy::SecretString;

use crate::app::App;
use crate::clock::{now_unix, rfc3339};
use crate::commands::gate::{Act, Gate};
use crate::error::{CmdResult, CommandError, Exit};
use crate::output::credential::{ExportResource, Exported};
use crate::policy::{Action, Request};
use crate::settings::CredentialKind;

/// Gets a token for `resource` that lives at least `min_ttl` seconds, after the policy allowed the
/// export.
pub async fn issue(app: &App, resource: ExportResource, min_ttl: u64) -> CmdResult<Exported> {
    Gate::run(app, Act::EXPORT, async |gate| {
        gate.note_identity();
        gate.record.detail = Some(format!("resource={}", resource.as_str()));
        let profile = gate.profile.clone();
        // An exported credential works on the whole account, whatever database the profile
        // names: the request (and its record) say so, and only an account-wide grant allows it.
        let database = "*".to_string();
        gate.record.database = Some(database.clone());
        if resource == ExportResource::Gateway {
            // The gateway verifies this token and decides every request on its claims: handing
            // the session its own token adds nothing the gateway would not check.
            let Some(gateway) = profile.gateway.clone() else {
                return Err(CommandError::usage(format!(
                    "profile {:?} names no gateway",
                    profile.name
                ))
                .hint("add gateway = \"https://…\" to the profile, or use --resource idp"));
            };
            gate.record.detail = Some(format!("resource=gateway {gateway}"));
            let token = gate.session_token(min_ttl).await?;
            let expires_at = gate.session().await?.expires_at;
            lives_long_enough(
                expires_at,
                min_ttl,
                "the provider's tokens live",
                "lower --min-ttl, or raise the access-token lifetime at the provider",
            )?;
            // No endpoint: COSMOS_ENDPOINT must never name something that is not Cosmos DB.
            return Ok(Exported {
                token,
                expires_at,
                resource,
                endpoint: None,
            });
        }
        if profile.policy_file.is_none() {
            return Err(CommandError::new(
                Exit::Denied,
                "exporting a credential needs a policy that allows it",
            )
            .cause(format!("profile {:?} names no policy file", profile.name))
            .hint(
                "add [profiles.NAME.policy] file = \"policy.toml\" with a grant whose actions \
                 include \"export\"",
            ));
        }
        let request = Request {
            database,
            container: "*".into(),
            action: Action::Export,
            query: None,
            partition_key: None,
            max_items: None,
            fido2_fresh: false,
            item_id: None,
            document: None,
        };
        let endpoint = profile.cosmos.as_ref().map(|c| c.endpoint.clone());
        let broker = match (resource, profile.cosmos.as_ref()) {
            (ExportResource::Idp | ExportResource::Gateway, _) => None,
            (ExportResource::Cosmos, None) => {
                return Err(CommandError::usage(format!(
                    "profile {:?} has no [cosmos] section",
                    profile.name
                ))
                .hint("use --resource idp, or add [profiles.NAME.cosmos]"));
            }
            (ExportResource::Cosmos, Some(c)) if c.credential == CredentialKind::Entra => None,
            (ExportResource::Cosmos, Some(c)) if c.credential == CredentialKind::Key => {
                return Err(CommandError::usage(
                    "a key profile has no token to export: account keys never leave cosmoscope",
                )
                .hint(
                    "use credential = \"entra\" (your own token) or a broker identity for tokens \
                     other tools can use",
                ));
            }
            (ExportResource::Cosmos, Some(settings)) => Some(settings),
        };
        // The session must be live in every case, and the policy decides before any credential is
        // fetched (a denied export refreshes nothing).
        gate.session().await?;
        gate.allow_or(
            request,
            "the policy does not allow exporting this credential",
            "an export needs a grant on all containers (containers = [\"*\"]) with actions \
             including \"export\" and partition_key = \"any\"",
        )
        .await?;
        let token = match broker {
            // For `entra` and the provider's token the session's access token is the credential
            // (for `entra`, scope https://cosmos.azure.com/.default).
            None => gate.session_token(min_ttl).await?,
            // A broker identity's token (azure_identity), handed out only because a grant allows
            // export to this live session.
            Some(settings) => {
                return broker_token(app, settings, min_ttl, endpoint).await;
            }
        };
        let expires_at = gate.session().await?.expires_at;
        lives_long_enough(
            expires_at,
            min_ttl,
            "the provider's tokens live",
            "lower --min-ttl, or raise the access-token lifetime at the provider",
        )?;
        Ok(Exported {
            token,
            expires_at,
            resource,
            endpoint,
        })
    })
    .await
    .map_err(|e| {
        if Gate::unaudited(&e) {
            // The record is written before the credential leaves, so none did.
            CommandError {
                message: "cannot write the audit log, so no credential was exported".into(),
                ..e
            }
        } else {
            e
        }
    })
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
    lives_long_enough(
        expires_at,
        min_ttl,
        "the broker's token lives",
        "lower --min-ttl",
    )?;
    Ok(Exported {
        token: SecretString::from(token.token.secret().to_string()),
        expires_at,
        resource: ExportResource::Cosmos,
        endpoint,
    })
}

/// `--min-ttl`: a credential that expires sooner is not handed out (exit 3).
fn lives_long_enough(expires_at: u64, min_ttl: u64, whose: &str, hint: &str) -> CmdResult {
    if expires_at < now_unix().saturating_add(min_ttl) {
        return Err(CommandError::login_required(format!(
            "{whose} until {}, short of --min-ttl",
            rfc3339(expires_at)
        ))
        .hint(hint));
    }
    Ok(())
}
