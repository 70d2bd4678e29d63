//! The CI system's own OIDC token, for workload identity federation: a file (Kubernetes/Azure
//! `AZURE_FEDERATED_TOKEN_FILE`, or `--federated-token-file`), GitHub Actions' token service, Azure
//! Pipelines' OIDC endpoint, or a GitLab `id_tokens` variable.

use std::path::Path;

use secrecy::SecretString;
use serde_json::Value;

use super::IdentityError;
use super::http::Http;
use crate::env::{Env, vars};

/// Entra ID's audience for federated credentials; the default for tokens we request.
pub const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";

#[derive(Debug, thiserror::Error)]
pub enum CiTokenError {
    #[error(
        "no CI token source found (looked for --federated-token-file, AZURE_FEDERATED_TOKEN_FILE, GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL, Azure Pipelines' SYSTEM_OIDCREQUESTURI, GitLab's COSMOSCOPE_ID_TOKEN)"
    )]
    NoSource,
    #[error("cannot read the federated token file {path}: {detail}")]
    File { path: String, detail: String },
    #[error("the federated token file {0} is empty")]
    Empty(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("{0} answered without a token")]
    NoToken(&'static str),
}

/// Where the token came from, for messages and the audit log.
pub struct CiToken {
    pub token: SecretString,
    pub source: &'static str,
}

/// Finds the CI's token: an explicit file first, then the CI systems cosmoscope knows.
pub async fn federated_token(
    env: &Env,
    file: Option<&Path>,
    audience: &str,
) -> Result<CiToken, CiTokenError> {
    if let Some(path) = file
        .map(Path::to_path_buf)
        .or_else(|| env.get(vars::AZURE_FEDERATED_TOKEN_FILE).map(Into::into))
    {
        let text = std::fs::read_to_string(&path).map_err(|e| CiTokenError::File {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(CiTokenError::Empty(path.display().to_string()));
        }
        return Ok(CiToken {
            token: SecretString::from(token.to_string()),
            source: "token file",
        });
    }
    if let (Some(url), Some(bearer)) = (
        env.get(vars::ACTIONS_ID_TOKEN_REQUEST_URL),
        env.get(vars::ACTIONS_ID_TOKEN_REQUEST_TOKEN),
    ) {
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}audience={}", url_encode(audience));
        let v = Http::new()?
            .bearer_json(
                reqwest::Method::GET,
                &url,
                bearer,
                "GitHub Actions' token service",
            )
            .await?;
        return token_field(&v, "value", "GitHub Actions' token service").map(|token| CiToken {
            token,
            source: "GitHub Actions",
        });
    }
    if let (Some(url), Some(bearer)) = (
        env.get(vars::SYSTEM_OIDCREQUESTURI),
        env.get(vars::SYSTEM_ACCESSTOKEN),
    ) {
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}api-version=7.1");
        let v = Http::new()?
            .bearer_json(
                reqwest::Method::POST,
                &url,
                bearer,
                "Azure Pipelines' OIDC endpoint",
            )
            .await?;
        return token_field(&v, "oidcToken", "Azure Pipelines' OIDC endpoint").map(|token| {
            CiToken {
                token,
                source: "Azure Pipelines",
            }
        });
    }
    if let Some(token) = env.get(vars::COSMOSCOPE_ID_TOKEN) {
        return Ok(CiToken {
            token: SecretString::from(token.to_string()),
            source: "COSMOSCOPE_ID_TOKEN (GitLab id_tokens)",
        });
    }
    Err(CiTokenError::NoSource)
}

fn token_field(v: &Value, field: &str, what: &'static str) -> Result<SecretString, CiTokenError> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(|t| SecretString::from(t.to_string()))
        .ok_or(CiTokenError::NoToken(what))
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
