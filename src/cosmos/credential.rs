//! Where the Cosmos credential of a profile comes from (README, trust model; docs/contract.md):
//!
//! - `key`: an account key from the OS keyring (entry `<profile>:account-key:<id>`, `<id>` tied to
//!   the endpoint), put there by `cosmoscope account-key set`;
//! - `entra`: the user's own session token, handed to the SDK through [`SessionTokenCredential`];
//! - `azure-cli`, `managed-identity`, `workload-identity`, `client-secret`: a broker identity
//!   through `azure_identity`. Secrets come from the environment (`AZURE_CLIENT_SECRET`,
//!   `AZURE_FEDERATED_TOKEN_FILE`), never from argv or the config file.

use std::sync::Arc;

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::ClientOptions;
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use futures::future::BoxFuture;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::error::CosmosError;
use crate::env::{Env, vars};
use crate::session::{Keyring, StoreError};
use crate::settings::{CosmosSettings, CredentialKind, Profile};

/// The keyring entry holding a profile's account key: tied to the endpoint, so a profile that
/// is pointed at another account never sends it the old account's key.
#[must_use]
pub fn account_key_entry(profile: &str, endpoint: &str) -> String {
    let digest = Sha256::digest(endpoint.trim_end_matches('/').as_bytes());
    format!("{profile}:account-key:{}", crate::fsutil::hex(&digest[..8]))
}

/// Reads the profile's account key from the keyring.
pub fn account_key(
    keyring: &Keyring,
    profile: &Profile,
    settings: &CosmosSettings,
) -> Result<SecretString, KeyError> {
    let store = keyring.open(profile.store)?;
    store
        .get(&account_key_entry(&profile.name, &settings.endpoint))?
        .ok_or_else(|| KeyError::Missing {
            profile: profile.name.clone(),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no account key is stored for profile {profile:?}")]
    Missing { profile: String },
    #[error("the account key is not valid base64")]
    NotBase64,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks what a person pasted as an account key: trimmed, base64, not empty.
pub fn parse_account_key(raw: &str) -> Result<SecretString, KeyError> {
    use base64::Engine as _;
    let key = raw.trim();
    // The decoded bytes are the key itself: wiped as soon as the check is done.
    if key.is_empty()
        || base64::engine::general_purpose::STANDARD
            .decode(key)
            .map(zeroize::Zeroizing::new)
            .is_err()
    {
        return Err(KeyError::NotBase64);
    }
    Ok(SecretString::from(key.to_string()))
}

/// A token and its expiry (Unix seconds).
pub type TokenResult = Result<(SecretString, u64), String>;
/// Produces the session's current access token (refreshing it when needed).
pub type TokenSource = Arc<dyn Fn() -> BoxFuture<'static, TokenResult> + Send + Sync>;

/// A `TokenCredential` that hands the SDK the signed-in user's own token: Cosmos DB data-plane
/// RBAC then judges the user, not a broker.
pub struct SessionTokenCredential {
    source: TokenSource,
}

impl SessionTokenCredential {
    #[must_use]
    pub fn new(source: TokenSource) -> Arc<Self> {
        Arc::new(Self { source })
    }
}

impl std::fmt::Debug for SessionTokenCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionTokenCredential")
    }
}

#[async_trait::async_trait]
impl TokenCredential for SessionTokenCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        // The session was requested with the Cosmos scope at login; the SDK's scope is implied.
        let (token, expires_at) = (self.source)().await.map_err(|detail| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, detail)
        })?;
        let expires_on =
            OffsetDateTime::from_unix_timestamp(i64::try_from(expires_at).unwrap_or(i64::MAX))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(AccessToken::new(
            Secret::new(token.expose_secret().to_string()),
            expires_on,
        ))
    }
}

/// How long before its expiry a cached token is fetched again.
pub const TOKEN_MARGIN: std::time::Duration = std::time::Duration::from_mins(5);

/// Any credential behind a cache for one command: the Cosmos driver asks for a token on every
/// request, and `AzureCliCredential` starts `az` each time, the session credential reads the
/// session file and the keyring each time. One token per scope set is kept until
/// [`TOKEN_MARGIN`] before it expires; concurrent requests wait for the one fetch.
pub struct OncePerCommand {
    inner: Arc<dyn TokenCredential>,
    cached: tokio::sync::Mutex<Vec<(String, AccessToken)>>,
}

impl OncePerCommand {
    #[must_use]
    pub fn wrap(inner: Arc<dyn TokenCredential>) -> Arc<dyn TokenCredential> {
        Arc::new(Self {
            inner,
            cached: tokio::sync::Mutex::new(Vec::new()),
        })
    }
}

impl std::fmt::Debug for OncePerCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OncePerCommand({:?})", self.inner)
    }
}

#[async_trait::async_trait]
impl TokenCredential for OncePerCommand {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let key = scopes.join(" ");
        // Held across the fetch: N requests at once make one fetch, not N.
        let mut cached = self.cached.lock().await;
        let fresh_until = OffsetDateTime::now_utc() + TOKEN_MARGIN;
        if let Some((_, token)) = cached
            .iter()
            .find(|(k, t)| *k == key && t.expires_on > fresh_until)
        {
            return Ok(token.clone());
        }
        let token = self.inner.get_token(scopes, options).await?;
        cached.retain(|(k, _)| *k != key);
        cached.push((key, token.clone()));
        Ok(token)
    }
}

/// Client options for a broker identity: the profile's authority host (or `AZURE_AUTHORITY_HOST`)
/// as a custom cloud, so a test or sovereign cloud is reached instead of the public one.
fn identity_client_options(settings: &CosmosSettings, env: &Env) -> ClientOptions {
    let mut options = ClientOptions::default();
    let host = settings
        .authority_host
        .clone()
        .or_else(|| env.get(vars::AZURE_AUTHORITY_HOST).map(str::to_string));
    if let Some(host) = host {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = host;
        options.cloud = Some(Arc::new(azure_core::cloud::CloudConfiguration::Custom(
            custom,
        )));
    }
    options
}

fn required(value: Option<String>, what: &str, kind: &str) -> Result<String, CosmosError> {
    value.ok_or_else(|| {
        CosmosError::CredentialConfig(format!("credential = \"{kind}\" needs {what}"))
    })
}

/// The scope of a Cosmos DB data-plane token.
pub const COSMOS_SCOPE: &str = "https://cosmos.azure.com/.default";

/// A broker identity for `credential = azure-cli | managed-identity | workload-identity |
/// client-secret`. Building one makes no network request.
pub fn broker(
    settings: &CosmosSettings,
    env: &Env,
) -> Result<Arc<dyn TokenCredential>, CosmosError> {
    let config = |e: azure_core::Error| CosmosError::CredentialConfig(e.to_string());
    let tenant = settings
        .tenant_id
        .clone()
        .or_else(|| env.get(vars::AZURE_TENANT_ID).map(str::to_string));
    let client_id = settings
        .client_id
        .clone()
        .or_else(|| env.get(vars::AZURE_CLIENT_ID).map(str::to_string));
    match settings.credential {
        CredentialKind::AzureCli => {
            let options = AzureCliCredentialOptions {
                tenant_id: tenant,
                ..Default::default()
            };
            let c: Arc<dyn TokenCredential> =
                AzureCliCredential::new(Some(options)).map_err(config)?;
            Ok(c)
        }
        CredentialKind::ManagedIdentity => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: settings.client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            };
            let c: Arc<dyn TokenCredential> =
                ManagedIdentityCredential::new(Some(options)).map_err(config)?;
            Ok(c)
        }
        CredentialKind::WorkloadIdentity => {
            let token_file = env
                .get(vars::AZURE_FEDERATED_TOKEN_FILE)
                .map(std::path::PathBuf::from);
            let options = WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: identity_client_options(settings, env),
                },
                client_id: Some(required(
                    client_id,
                    "client_id (or AZURE_CLIENT_ID)",
                    "workload-identity",
                )?),
                tenant_id: Some(required(
                    tenant,
                    "tenant_id (or AZURE_TENANT_ID)",
                    "workload-identity",
                )?),
                token_file_path: Some(token_file.ok_or_else(|| {
                    CosmosError::CredentialConfig(
                        "credential = \"workload-identity\" needs AZURE_FEDERATED_TOKEN_FILE"
                            .into(),
                    )
                })?),
            };
            let c: Arc<dyn TokenCredential> =
                WorkloadIdentityCredential::new(Some(options)).map_err(config)?;
            Ok(c)
        }
        CredentialKind::ClientSecret => {
            let tenant = required(tenant, "tenant_id (or AZURE_TENANT_ID)", "client-secret")?;
            let client_id = required(client_id, "client_id (or AZURE_CLIENT_ID)", "client-secret")?;
            let secret = env.get(vars::AZURE_CLIENT_SECRET).ok_or_else(|| {
                CosmosError::CredentialConfig(
                    "credential = \"client-secret\" reads the secret from AZURE_CLIENT_SECRET, which is not set".into(),
                )
            })?;
            let options = ClientSecretCredentialOptions {
                client_options: identity_client_options(settings, env),
            };
            let c: Arc<dyn TokenCredential> = ClientSecretCredential::new(
                &tenant,
                client_id,
                Secret::new(secret.to_string()),
                Some(options),
            )
            .map_err(config)?;
            Ok(c)
        }
        CredentialKind::Key | CredentialKind::Entra => Err(CosmosError::CredentialConfig(
            "not a broker identity".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_tied_to_the_endpoint() {
        let a = account_key_entry("dev", "https://a.documents.azure.com:443/");
        let b = account_key_entry("dev", "https://b.documents.azure.com:443/");
        assert!(a.starts_with("dev:account-key:"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            account_key_entry("dev", "https://a.documents.azure.com:443")
        );
    }

    #[test]
    fn account_key_must_be_base64() {
        assert!(parse_account_key("  C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==\n").is_ok());
        assert!(matches!(
            parse_account_key("not base64!"),
            Err(KeyError::NotBase64)
        ));
        assert!(matches!(parse_account_key("  "), Err(KeyError::NotBase64)));
    }

    #[tokio::test]
    async fn session_credential_hands_over_the_session_token() {
        let source: TokenSource = Arc::new(|| {
            Box::pin(async { Ok((SecretString::from("tok".to_string()), 2_000_000_000)) })
        });
        let cred = SessionTokenCredential::new(source);
        let t = cred.get_token(&[COSMOS_SCOPE], None).await.expect("token");
        assert_eq!(t.token.secret(), "tok");
        assert_eq!(t.expires_on.unix_timestamp(), 2_000_000_000);
    }

    #[test]
    fn client_secret_needs_the_env_secret() {
        let mut s = CosmosSettings::new("https://127.0.0.1:1/", CredentialKind::ClientSecret);
        s.tenant_id = Some("00000000-0000-0000-0000-000000000000".into());
        s.client_id = Some("app".into());
        let e = broker(&s, &Env::default()).unwrap_err();
        assert!(e.to_string().contains("AZURE_CLIENT_SECRET"), "{e}");
        let env = Env::default().with(vars::AZURE_CLIENT_SECRET, "s3cret");
        assert!(broker(&s, &env).is_ok());
    }
}
