//! The few Cosmos DB REST calls the SDK does not make for us: the gateway's query plan, the
//! container's physical partition-key ranges, and one page of a query sent to one logical
//! partition or one physical range exactly as written (the SDK plans every query it sends across
//! partitions, and refuses the rewritten aggregate and GROUP BY queries a merge needs).
//!
//! Requests are signed like the SDK signs them (account key: HMAC-SHA256 over
//! `verb\nresourcetype\nlink\ndate\n\n`; Entra: `type=aad` with the token of the same
//! once-per-command credential the SDK uses), wait out 429s within the same bounds as the SDK
//! ([`super::client::THROTTLE_RETRIES`], [`super::client::THROTTLE_WAIT`]), and end after the
//! profile's `request_timeout`. Errors are classified by [`CosmosError::from_status`], like the
//! SDK's.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use azure_core::credentials::{Secret, TokenCredential};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::client::{THROTTLE_RETRIES, THROTTLE_WAIT};
use super::error::{Answer, CosmosError, Resource, first_line};

/// The REST API version sent (the one the gateway's query plans and ranges are documented for).
const API_VERSION: &str = "2020-07-15";
/// The Entra scope for Cosmos DB data-plane tokens (the SDK asks for the same).
const AAD_SCOPE: &str = "https://cosmos.azure.com/.default";
/// What the merge in [`super::pipeline`] can put together, as the gateway names the features.
pub(crate) const SUPPORTED_QUERY_FEATURES: &str = "Aggregate,CompositeAggregate,DCount,Distinct,\
GroupBy,MultipleAggregates,MultipleOrderBy,NonValueAggregate,OffsetAndLimit,OrderBy,Top";
/// The query-plan version those features belong to.
const QUERY_VERSION: &str = "1.4";
/// The longest service message kept in an error.
const MAX_MESSAGE: usize = 400;
/// Pages of the partition-key-range feed a container may have (a guard against a server that
/// keeps answering with a continuation).
const MAX_RANGE_PAGES: usize = 1000;

/// How requests are signed.
pub(crate) enum RestAuth {
    Key(Secret),
    Token(Arc<dyn TokenCredential>),
}

/// Where one query page is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// One logical partition: the service reads nothing outside it.
    Key(&'a [Value]),
    /// One physical partition-key range, by id.
    Range(&'a str),
    /// The part of a hierarchical-key prefix (its logical partitions) inside one physical range:
    /// what the SDKs send for a prefix, which the gateway cannot route alone.
    PrefixInRange(&'a [Value], &'a str),
}

/// One page of a query.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub docs: Vec<Value>,
    pub continuation: Option<String>,
    pub charge: f64,
}

/// A physical partition-key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PkRange {
    pub id: String,
    pub min: String,
    pub max: String,
}

pub(crate) struct Rest {
    http: reqwest::Client,
    base: url::Url,
    endpoint: String,
    auth: RestAuth,
}

impl Rest {
    pub(crate) fn new(
        endpoint: &str,
        auth: RestAuth,
        request_timeout: Duration,
    ) -> Result<Self, CosmosError> {
        let base = url::Url::parse(endpoint)
            .map_err(|e| CosmosError::Config(format!("endpoint {endpoint:?}: {e}")))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("cosmoscope/", env!("CARGO_PKG_VERSION")))
            .timeout(request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CosmosError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            endpoint: endpoint.to_string(),
            auth,
        })
    }

    /// The container's physical partition-key ranges, ordered by their lower bound.
    pub(crate) async fn partition_key_ranges(
        &self,
        database: &str,
        container: &str,
    ) -> Result<Vec<PkRange>, CosmosError> {
        let mut ranges = Vec::new();
        let mut continuation: Option<String> = None;
        for _ in 0..MAX_RANGE_PAGES {
            let mut headers = HeaderMap::new();
            if let Some(c) = &continuation {
                headers.insert("x-ms-continuation", header_value(c)?);
            }
            let (reply, body) = self
                .send(
                    reqwest::Method::GET,
                    database,
                    container,
                    "pkranges",
                    headers,
                    None,
                )
                .await?;
            let body: Value = json(&body, "the partition-key ranges")?;
            for r in body
                .get("PartitionKeyRanges")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let field = |name: &str| -> Result<String, CosmosError> {
                    match r.get(name) {
                        Some(Value::String(s)) => Ok(s.clone()),
                        Some(Value::Number(n)) => Ok(n.to_string()),
                        _ => Err(CosmosError::Service {
                            status: 200,
                            substatus: None,
                            message: format!("a partition-key range without {name}"),
                        }),
                    }
                };
                ranges.push(PkRange {
                    id: field("id")?,
                    min: field("minInclusive")?,
                    max: field("maxExclusive")?,
                });
            }
            continuation = continuation_of(&reply);
            if continuation.is_none() {
                ranges.sort_by(|a, b| a.min.cmp(&b.min));
                return Ok(ranges);
            }
        }
        Err(CosmosError::Service {
            status: 200,
            substatus: None,
            message: format!("the partition-key ranges did not end after {MAX_RANGE_PAGES} pages"),
        })
    }

    /// The gateway's plan for a query (`body` is the query spec `{"query", "parameters"}`).
    pub(crate) async fn query_plan(
        &self,
        database: &str,
        container: &str,
        body: &[u8],
    ) -> Result<Value, CosmosError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-cosmos-is-query-plan-request",
            HeaderValue::from_static("True"),
        );
        headers.insert(
            "x-ms-cosmos-supported-query-features",
            HeaderValue::from_static(SUPPORTED_QUERY_FEATURES),
        );
        headers.insert(
            "x-ms-cosmos-query-version",
            HeaderValue::from_static(QUERY_VERSION),
        );
        headers.insert(
            "x-ms-documentdb-query-enablecrosspartition",
            HeaderValue::from_static("True"),
        );
        let (_, reply) = self.post_query(database, container, headers, body).await?;
        json(&reply, "the query plan")
    }

    /// One page of a query sent to `target` as written.
    pub(crate) async fn query_page(
        &self,
        database: &str,
        container: &str,
        body: &[u8],
        target: Target<'_>,
        continuation: Option<&str>,
        max_items: Option<u32>,
    ) -> Result<Page, CosmosError> {
        let mut headers = HeaderMap::new();
        let (key, range) = match target {
            Target::Key(key) => (Some(key), None),
            Target::Range(id) => (None, Some(id)),
            Target::PrefixInRange(key, id) => (Some(key), Some(id)),
        };
        if let Some(components) = key {
            let key = serde_json::to_string(components)
                .map_err(|e| CosmosError::PartitionKey(e.to_string()))?;
            headers.insert("x-ms-documentdb-partitionkey", header_value(&key)?);
        }
        if let Some(id) = range {
            headers.insert(
                "x-ms-documentdb-query-enablecrosspartition",
                HeaderValue::from_static("True"),
            );
            headers.insert("x-ms-documentdb-partitionkeyrangeid", header_value(id)?);
        }
        if let Some(c) = continuation {
            headers.insert("x-ms-continuation", header_value(c)?);
        }
        if let Some(n) = max_items {
            headers.insert("x-ms-max-item-count", HeaderValue::from(n));
        }
        let (reply, body) = self.post_query(database, container, headers, body).await?;
        let charge = reply
            .get("x-ms-request-charge")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        let mut body: Value = json(&body, "a query page")?;
        let Some(Value::Array(docs)) = body.get_mut("Documents").map(Value::take) else {
            return Err(CosmosError::Service {
                status: 200,
                substatus: None,
                message: "a query page without Documents".into(),
            });
        };
        Ok(Page {
            docs,
            continuation: continuation_of(&reply),
            charge,
        })
    }

    /// POSTs a query (or a query-plan request) to the container's documents.
    async fn post_query(
        &self,
        database: &str,
        container: &str,
        mut headers: HeaderMap,
        body: &[u8],
    ) -> Result<(HeaderMap, Vec<u8>), CosmosError> {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/query+json"),
        );
        headers.insert("x-ms-documentdb-isquery", HeaderValue::from_static("True"));
        self.send(
            reqwest::Method::POST,
            database,
            container,
            "docs",
            headers,
            Some(body),
        )
        .await
    }

    /// Sends one signed request to `dbs/{database}/colls/{container}/{kind}`, waiting out 429s.
    async fn send(
        &self,
        method: reqwest::Method,
        database: &str,
        container: &str,
        kind: &str,
        headers: HeaderMap,
        body: Option<&[u8]>,
    ) -> Result<(HeaderMap, Vec<u8>), CosmosError> {
        let resource = Resource::Container {
            database: database.to_string(),
            container: container.to_string(),
        };
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| CosmosError::Config(format!("endpoint {:?}", self.endpoint)))?
            .pop_if_empty()
            .extend(["dbs", database, "colls", container, kind]);
        let link = format!("dbs/{database}/colls/{container}");
        let started = Instant::now();
        let mut tries = 0;
        loop {
            tries += 1;
            let date = httpdate::fmt_http_date(SystemTime::now());
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .header("x-ms-date", &date)
                .header("x-ms-version", API_VERSION)
                .header(
                    "authorization",
                    self.authorization(&method, kind, &link, &date).await?,
                );
            if let Some(b) = body {
                request = request.body(b.to_vec());
            }
            let reply = request
                .send()
                .await
                .map_err(|e| self.transport(&e, &resource))?;
            let status = reply.status().as_u16();
            let reply_headers = reply.headers().clone();
            let bytes = reply
                .bytes()
                .await
                .map_err(|e| self.transport(&e, &resource))?;
            if (200..300).contains(&status) {
                return Ok((reply_headers, bytes.to_vec()));
            }
            let wait = retry_after(&reply_headers);
            if status == 429
                && tries <= THROTTLE_RETRIES
                && started.elapsed() + wait <= THROTTLE_WAIT
            {
                tokio::time::sleep(wait).await;
                continue;
            }
            if status == 429 {
                return Err(CosmosError::Throttled {
                    tries,
                    retry_after: Some(wait),
                });
            }
            let substatus = reply_headers
                .get("x-ms-substatus")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok());
            // The service's message, on one line (a refused query plan names each missing
            // feature on a line of its own), and bounded.
            let text = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            let mut message = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if message.len() > MAX_MESSAGE {
                let cut = (0..=MAX_MESSAGE)
                    .rev()
                    .find(|&i| message.is_char_boundary(i))
                    .unwrap_or(0);
                message.truncate(cut);
                message.push('…');
            }
            return Err(CosmosError::from_status(
                Answer {
                    code: status,
                    substatus,
                    message,
                    chain: String::new(),
                    from_wire: true,
                },
                resource,
                &self.endpoint,
            ));
        }
    }

    async fn authorization(
        &self,
        method: &reqwest::Method,
        kind: &str,
        link: &str,
        date: &str,
    ) -> Result<HeaderValue, CosmosError> {
        let raw = match &self.auth {
            RestAuth::Key(key) => {
                let text = format!(
                    "{}\n{}\n{link}\n{}\n\n",
                    method.as_str().to_ascii_lowercase(),
                    kind.to_ascii_lowercase(),
                    date.to_ascii_lowercase()
                );
                let sig = azure_core::hmac::hmac_sha256(&text, key)
                    .map_err(|_| CosmosError::Config("the account key is not base64".into()))?;
                format!("type=master&ver=1.0&sig={sig}")
            }
            RestAuth::Token(cred) => {
                let token =
                    cred.get_token(&[AAD_SCOPE], None)
                        .await
                        .map_err(|e| CosmosError::Token {
                            detail: first_line(&e.to_string()),
                        })?;
                format!("type=aad&ver=1.0&sig={}", token.token.secret())
            }
        };
        let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
        let mut value = HeaderValue::from_str(&encoded).map_err(|_| {
            CosmosError::Config("an authorization header that HTTP cannot carry".into())
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    fn transport(&self, e: &reqwest::Error, resource: &Resource) -> CosmosError {
        let mut chain = Vec::new();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            let t = first_line(&c.to_string());
            if !t.is_empty() && !chain.contains(&t) {
                chain.push(t);
            }
            cause = c.source();
        }
        let detail = chain.join(": ");
        let endpoint = self.endpoint.clone();
        if e.is_timeout() {
            return CosmosError::TimedOut { endpoint, detail };
        }
        let lower = detail.to_ascii_lowercase();
        if ["certificate", "tls", "handshake", "unknownissuer", "ssl"]
            .iter()
            .any(|w| lower.contains(w))
        {
            return CosmosError::Tls { endpoint, detail };
        }
        if e.is_connect() || e.is_request() {
            return CosmosError::Unreachable { endpoint, detail };
        }
        CosmosError::Service {
            status: 0,
            substatus: None,
            message: format!("{resource}: {detail}"),
        }
    }
}

fn header_value(s: &str) -> Result<HeaderValue, CosmosError> {
    HeaderValue::from_str(s).map_err(|_| CosmosError::Service {
        status: 0,
        substatus: None,
        message: "a header value HTTP cannot carry".into(),
    })
}

fn continuation_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(HeaderName::from_static("x-ms-continuation"))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get("x-ms-retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_millis(100), Duration::from_millis)
}

fn json(bytes: &[u8], what: &str) -> Result<Value, CosmosError> {
    serde_json::from_slice(bytes).map_err(|e| CosmosError::Service {
        status: 200,
        substatus: None,
        message: format!("{what} is not JSON: {e}"),
    })
}
