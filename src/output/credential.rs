//! Credentials rendered for other tools: the only code that puts a token into text (`token`) or
//! into a child's environment (`exec`).

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::clock::rfc3339;
use crate::secret::SecretJson;

/// `token --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenFormat {
    Raw,
    Json,
    Env,
    ExecCredential,
    AzureCli,
}

impl TokenFormat {
    /// Whether the format is JSON (a failure is then answered in JSON too).
    #[must_use]
    pub fn is_json(self) -> bool {
        matches!(self, Self::Json | Self::ExecCredential | Self::AzureCli)
    }
}

/// `--resource`: which credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportResource {
    /// The token Cosmos DB accepts for this profile
    Cosmos,
    /// The identity provider's access token
    Idp,
    /// The session's token for the profile's gateway (`cosmoscope serve`), which decides on it
    Gateway,
}

impl ExportResource {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ExportResource::Cosmos => "cosmos",
            ExportResource::Idp => "idp",
            ExportResource::Gateway => "gateway",
        }
    }
}

/// A credential cleared for export.
pub struct Exported {
    pub token: SecretString,
    pub expires_at: u64,
    pub resource: ExportResource,
    pub endpoint: Option<String>,
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
