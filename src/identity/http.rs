//! The HTTP client for the identity provider: timeouts, a user agent, and errors that say which
//! request failed — never with a token or a form body in them.

use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::IdentityError;
use crate::secret::SecretJson;

/// The largest body read from a provider: discovery documents, JWKS and token answers are a few
/// KiB; anything near this is a broken or hostile server.
pub const MAX_BODY: usize = 1 << 20;

/// How many redirects a GET follows (each to https, or http on loopback); a POST follows none, so
/// a form with a client secret or a code is never re-sent to another origin.
const MAX_REDIRECTS: usize = 3;

/// Cheap to clone: the connection pools are shared.
#[derive(Clone)]
pub struct Http {
    /// GETs: a few redirects, each to an https (or loopback) URL.
    client: reqwest::Client,
    /// POSTs: no redirect at all.
    post_client: reqwest::Client,
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
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("cosmoscope/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(30))
        };
        let get_redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if crate::settings::check_url(attempt.url().as_str(), "a redirect").is_err() {
                attempt.error("a redirect to a URL that is not https")
            } else {
                attempt.follow()
            }
        });
        let client = builder()
            .redirect(get_redirects)
            .build()
            .map_err(|e| IdentityError::Client(e.to_string()))?;
        let post_client = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| IdentityError::Client(e.to_string()))?;
        Ok(Self {
            client,
            post_client,
        })
    }

    pub async fn get_json(&self, url: &str, what: &'static str) -> Result<Value, IdentityError> {
        self.send_json(self.client.get(url), url, what).await
    }

    /// GETs JSON of a known shape; a body of another shape is a bad response naming `what`.
    pub async fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &'static str,
    ) -> Result<T, IdentityError> {
        let body = self.get_json(url, what).await?;
        serde_json::from_value(body).map_err(|e| IdentityError::BadResponse {
            what,
            url: url.to_string(),
            detail: e.to_string(),
        })
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
        let body = read_capped(resp, url, what).await?;
        let v = parse_json(&body, url, what)?;
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
        let body = read_capped(resp, url, what).await?;
        parse_json(&body, url, what)
    }

    /// POSTs a form to an OAuth endpoint and sorts the answer into success and OAuth error.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic_auth: Option<(&str, &str)>,
    ) -> Result<TokenReply, IdentityError> {
        let mut req = self
            .post_client
            .post(url)
            .header("accept", "application/json")
            .form(form);
        if let Some((user, pass)) = basic_auth {
            req = req.basic_auth(user, Some(pass));
        }
        let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
        let status = resp.status().as_u16();
        // The body holds tokens: our copy is wiped when dropped.
        let body = read_capped(resp, url, "the provider's answer").await?;
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

/// Reads a body of at most [`MAX_BODY`] bytes into a buffer that is wiped when dropped (it may
/// hold tokens); a longer one is refused without reading the rest.
async fn read_capped(
    mut resp: reqwest::Response,
    url: &str,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let too_big = || IdentityError::BadResponse {
        what,
        url: url.to_string(),
        detail: format!("the body is larger than {} KiB", MAX_BODY / 1024),
    };
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_big());
    }
    let mut body = Zeroizing::new(Vec::new());
    while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn parse_json(body: &[u8], url: &str, what: &'static str) -> Result<Value, IdentityError> {
    serde_json::from_slice(body).map_err(|e| IdentityError::BadResponse {
        what,
        url: url.to_string(),
        detail: e.to_string(),
    })
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
