//! The HTTP client for the identity provider: timeouts, a user agent, and errors that say which
//! request failed — never with a token or a form body in them.

use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::IdentityError;
use crate::secret::SecretJson;

/// Cheap to clone: the connection pool is shared.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

/// What the token endpoint answered: success JSON, or an OAuth error.
pub enum TokenReply {
    Ok(SecretJson),
    Error {
        status: u16,
        error: String,
        description: Option<String>,
    },
}

impl TokenReply {
    /// The success JSON, or the OAuth error as [`IdentityError::OAuth`].
    pub fn into_result(self) -> Result<SecretJson, IdentityError> {
        match self {
            TokenReply::Ok(v) => Ok(v),
            TokenReply::Error {
                status,
                error,
                description,
            } => Err(IdentityError::OAuth {
                status,
                error,
                description,
            }),
        }
    }
}

impl Http {
    pub fn new() -> Result<Self, IdentityError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("cosmoscope/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| IdentityError::Client(e.to_string()))?;
        Ok(Self { client })
    }

    pub async fn get_json(&self, url: &str, what: &'static str) -> Result<Value, IdentityError> {
        self.send_json(self.client.get(url), url, what).await
    }

    /// GETs JSON and the server's `Date` header (to measure clock skew).
    pub async fn get_json_dated(
        &self,
        url: &str,
        what: &'static str,
    ) -> Result<(Value, Option<std::time::SystemTime>), IdentityError> {
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok());
        let status = resp.status();
        if !status.is_success() {
            return Err(IdentityError::HttpStatus {
                what,
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let v = resp
            .json::<Value>()
            .await
            .map_err(|e| IdentityError::BadResponse {
                what,
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        Ok((v, date))
    }

    /// A JSON request with a bearer token (a CI system's token service).
    pub async fn bearer_json(
        &self,
        method: reqwest::Method,
        url: &str,
        bearer: &str,
        what: &'static str,
    ) -> Result<Value, IdentityError> {
        let req = self
            .client
            .request(method, url)
            .bearer_auth(bearer)
            .header("accept", "application/json")
            .header("content-type", "application/json");
        self.send_json(req, url, what).await
    }

    async fn send_json(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        what: &'static str,
    ) -> Result<Value, IdentityError> {
        let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(IdentityError::HttpStatus {
                what,
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        resp.json::<Value>()
            .await
            .map_err(|e| IdentityError::BadResponse {
                what,
                url: url.to_string(),
                detail: e.to_string(),
            })
    }

    /// POSTs a form to an OAuth endpoint and sorts the answer into success and OAuth error.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic_auth: Option<(&str, &str)>,
    ) -> Result<TokenReply, IdentityError> {
        let mut req = self
            .client
            .post(url)
            .header("accept", "application/json")
            .form(form);
        if let Some((user, pass)) = basic_auth {
            req = req.basic_auth(user, Some(pass));
        }
        let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
        let status = resp.status().as_u16();
        // The body holds tokens: keep our copy in a buffer that is wiped when dropped.
        let body = Zeroizing::new(Vec::from(
            resp.bytes().await.map_err(|e| unreachable(url, &e))?,
        ));
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if (200..300).contains(&status) {
            return Ok(TokenReply::Ok(SecretJson(json.unwrap_or(Value::Null))));
        }
        let json = json.map(SecretJson);
        match json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str)
        {
            Some(error) => Ok(TokenReply::Error {
                status,
                error: error.to_string(),
                description: json
                    .as_ref()
                    .and_then(|j| j.get("error_description"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
            None => Err(IdentityError::HttpStatus {
                what: "the provider",
                url: url.to_string(),
                status,
            }),
        }
    }
}

fn unreachable(url: &str, err: &reqwest::Error) -> IdentityError {
    // reqwest's message names the URL already; keep only the innermost cause for a short line.
    let mut detail = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    IdentityError::Unreachable {
        url: url.to_string(),
        detail,
        timeout: err.is_timeout(),
    }
}
