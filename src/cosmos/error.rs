//! What can go wrong talking to Cosmos DB, as meaningful variants. `app.rs` turns each into a
//! `CommandError` with its exit code and next step; nothing here prints.

use std::fmt;
use std::time::Duration;

use azure_data_cosmos::CosmosError as SdkError;

/// The resource an operation addressed, so a 404 can say which one is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Account,
    Database {
        database: String,
    },
    Container {
        database: String,
        container: String,
    },
    Item {
        database: String,
        container: String,
        id: String,
    },
}

impl Resource {
    /// The scope a data-plane role assignment for this resource names (an item's is its
    /// container's: roles are not assigned per item).
    #[must_use]
    pub fn role_scope(&self) -> String {
        match self {
            Resource::Account => "/".into(),
            Resource::Database { database } => format!("/dbs/{database}"),
            Resource::Container {
                database,
                container,
            }
            | Resource::Item {
                database,
                container,
                ..
            } => format!("/dbs/{database}/colls/{container}"),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Account => f.write_str("the account"),
            Resource::Database { database } => write!(f, "database {database:?}"),
            Resource::Container {
                database,
                container,
            } => write!(f, "container {container:?} in database {database:?}"),
            Resource::Item {
                database,
                container,
                id,
            } => write!(f, "item {id:?} in {database}/{container}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CosmosError {
    /// 401: the key or token was not accepted.
    #[error("Cosmos DB rejected the credential (401): {message}")]
    Unauthorized {
        message: String,
        reason: AuthFailure,
    },
    /// 403: authenticated, but not allowed (RBAC, firewall, disabled key auth on some accounts).
    #[error("Cosmos DB refused the request (403{}): {message}", substatus.map(|s| format!("/{s}")).unwrap_or_default())]
    Forbidden {
        message: String,
        substatus: Option<u32>,
        /// The role-assignment scope of what was refused (`/`, `/dbs/D`, `/dbs/D/colls/C`).
        scope: String,
        /// The account's name (the endpoint's first label), for the `az` command in the hint.
        account: String,
    },
    /// 429 after the bounded retries (5 tries, 30 s of waiting).
    #[error("Cosmos DB kept throttling the request (429) after {tries} tries")]
    Throttled {
        tries: u32,
        retry_after: Option<Duration>,
    },
    #[error("{resource} does not exist")]
    NotFound { resource: Resource },
    #[error("{resource} already exists (409)")]
    Conflict { resource: Resource },
    #[error("{resource} changed since it was read (412)")]
    PreconditionFailed { resource: Resource },
    /// 400/1004: the gateway cannot serve this cross-partition query (aggregates, GROUP BY, DISTINCT).
    #[error("this query cannot run across partitions: {message}")]
    CrossPartitionUnsupported { message: String },
    #[error("Cosmos DB rejected the request (400): {message}")]
    BadRequest { message: String },
    /// The SDK refuses a query's shape before sending it (its own 400/201xx sub-statuses).
    #[error("the Cosmos DB SDK cannot run this query ({substatus}): {message}")]
    QueryShape { substatus: u32, message: String },
    #[error("cannot reach {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    /// Every try of a request outlived the profile's `request_timeout`.
    #[error("{endpoint} did not answer in time: {detail}")]
    TimedOut { endpoint: String, detail: String },
    #[error("the TLS connection to {endpoint} failed: {detail}")]
    Tls { endpoint: String, detail: String },
    /// The credential source could not produce a token (Entra, azure-cli, managed identity …).
    #[error("cannot get a token for Cosmos DB: {detail}")]
    Token { detail: String },
    #[error("a broker credential is misconfigured: {0}")]
    CredentialConfig(String),
    /// The profile asks for something the client cannot be built with.
    #[error("cannot set up the Cosmos DB client: {0}")]
    Config(String),
    #[error("a partition-key value is not usable: {0}")]
    PartitionKey(String),
    #[error("Cosmos DB answered {status}{}: {message}", substatus.map(|s| format!("/{s}")).unwrap_or_default())]
    Service {
        status: u16,
        substatus: Option<u32>,
        message: String,
    },
}

/// Why a 401 happened, when the answer says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The account disallows key (local) authorization: only Entra tokens work.
    LocalAuthDisabled,
    /// The token's audience is not this account (sub-status 5008).
    WrongAudience,
    /// The token expired.
    Expired,
    /// A key signature or token did not verify.
    Other,
}

/// Sub-statuses used below (the service's numbering).
const SUBSTATUS_CROSS_PARTITION: u32 = 1004;
/// The SDK's "query plan needs a feature this client lacks" (aggregates, GROUP BY …).
const SUBSTATUS_CLIENT_UNSUPPORTED_QUERY: u32 = 20113;
/// The SDK's query-pipeline refusals (invalid TOP/OFFSET/LIMIT, complex projections, fan-out over
/// the limit, ORDER BY on arrays or objects, buffered windows …).
const SUBSTATUS_CLIENT_QUERY: std::ops::RangeInclusive<u32> = 20114..=20126;
/// A cross-partition query fanned out to more physical partitions than allowed.
pub const SUBSTATUS_FAN_OUT: u32 = 20118;
/// A buffered cross-partition query (DISTINCT, non-streaming ORDER BY) needs TOP or OFFSET/LIMIT.
pub const SUBSTATUS_FINITE_WINDOW: u32 = 20125;
const SUBSTATUS_WRONG_AUDIENCE: u32 = 5008;
/// The SDK's own codes for failures before or under HTTP (azure_data_cosmos_driver status_codes).
const SUBSTATUS_CLIENT_401: u32 = 20401;
const SUBSTATUS_TOKEN_ACQUISITION: u32 = 20402;
/// Transport-generated 503s (20003) and the transport failures under them (20010…).
const SUBSTATUS_TRANSPORT_FIRST: u32 = 20001;
const SUBSTATUS_TRANSPORT_LAST: u32 = 20019;
/// The SDK's end-to-end operation timeout.
const SUBSTATUS_CLIENT_OPERATION_TIMEOUT: u32 = 20008;

impl CosmosError {
    /// Classifies an SDK error for an operation on `resource` at `endpoint`.
    #[must_use]
    pub fn from_sdk(err: &SdkError, resource: Resource, endpoint: &str) -> Self {
        let status = err.status();
        Self::from_status(
            Answer {
                code: u16::from(status.status_code()),
                substatus: status.sub_status().map(|s| u32::from(s.value())),
                message: wire_message(err),
                chain: source_chain(err),
                from_wire: err.is_from_wire(),
            },
            resource,
            endpoint,
        )
    }

    /// Classifies a status (the service's, or a client's own) for an operation on `resource`.
    #[must_use]
    pub(crate) fn from_status(answer: Answer, resource: Resource, endpoint: &str) -> Self {
        let Answer {
            code,
            substatus,
            message,
            chain,
            from_wire,
        } = answer;
        match (code, substatus) {
            (401, Some(SUBSTATUS_TOKEN_ACQUISITION | SUBSTATUS_CLIENT_401)) => CosmosError::Token {
                detail: if chain.is_empty() { message } else { chain },
            },
            (401, sub) => CosmosError::Unauthorized {
                reason: auth_failure(&message, sub),
                message,
            },
            (403, sub) => CosmosError::Forbidden {
                message,
                substatus: sub,
                scope: resource.role_scope(),
                account: url::Url::parse(endpoint)
                    .ok()
                    .and_then(|u| {
                        u.host_str()
                            .and_then(|h| h.split('.').next())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "ACCOUNT".into()),
            },
            (429, _) => CosmosError::Throttled {
                tries: 5,
                retry_after: None,
            },
            (404, _) => CosmosError::NotFound {
                resource: narrow_not_found(resource, &message),
            },
            (409, _) => CosmosError::Conflict { resource },
            (412, _) => CosmosError::PreconditionFailed { resource },
            // Hybrid, full-text and vector ranking: a missing feature of the SDK, not something the
            // gateway refuses.
            (400, Some(SUBSTATUS_CLIENT_UNSUPPORTED_QUERY))
                if !from_wire && is_ranking(&message) =>
            {
                CosmosError::QueryShape {
                    substatus: SUBSTATUS_CLIENT_UNSUPPORTED_QUERY,
                    message,
                }
            }
            (400, Some(SUBSTATUS_CROSS_PARTITION | SUBSTATUS_CLIENT_UNSUPPORTED_QUERY)) => {
                CosmosError::CrossPartitionUnsupported { message }
            }
            (400, Some(s)) if !from_wire && SUBSTATUS_CLIENT_QUERY.contains(&s) => {
                CosmosError::QueryShape {
                    substatus: s,
                    message,
                }
            }
            (503, Some(s))
                if (SUBSTATUS_TRANSPORT_FIRST..=SUBSTATUS_TRANSPORT_LAST).contains(&s) =>
            {
                let detail = if chain.is_empty() { message } else { chain };
                if looks_like_tls(&detail) {
                    CosmosError::Tls {
                        endpoint: endpoint.to_string(),
                        detail,
                    }
                } else if s == SUBSTATUS_CLIENT_OPERATION_TIMEOUT
                    || detail.to_ascii_lowercase().contains("timed out")
                {
                    CosmosError::TimedOut {
                        endpoint: endpoint.to_string(),
                        detail,
                    }
                } else {
                    CosmosError::Unreachable {
                        endpoint: endpoint.to_string(),
                        detail,
                    }
                }
            }
            (400, _) if !from_wire => CosmosError::Config(message),
            (400, _) => CosmosError::BadRequest { message },
            (_, sub) => {
                let detail = format!(
                    "{message}{}",
                    if chain.is_empty() {
                        String::new()
                    } else {
                        format!(" ({chain})")
                    }
                );
                if !from_wire && looks_like_tls(&detail) {
                    return CosmosError::Tls {
                        endpoint: endpoint.to_string(),
                        detail,
                    };
                }
                CosmosError::Service {
                    status: code,
                    substatus: sub,
                    message: detail,
                }
            }
        }
    }
}

/// An answer to classify: status, sub-status, the service's message, the causes under it, and
/// whether it came over the wire (or from the client itself).
pub(crate) struct Answer {
    pub code: u16,
    pub substatus: Option<u32>,
    pub message: String,
    pub chain: String,
    pub from_wire: bool,
}

/// Whether an SDK refusal is about ranked (hybrid, full-text, vector) search.
fn is_ranking(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["hybrid", "rank", "full-text", "full text", "vector"]
        .iter()
        .any(|w| lower.contains(w))
}

fn auth_failure(message: &str, substatus: Option<u32>) -> AuthFailure {
    let lower = message.to_ascii_lowercase();
    if lower.contains("local authorization is disabled") {
        AuthFailure::LocalAuthDisabled
    } else if substatus == Some(SUBSTATUS_WRONG_AUDIENCE) || lower.contains("audience") {
        AuthFailure::WrongAudience
    } else if lower.contains("expired") {
        AuthFailure::Expired
    } else {
        AuthFailure::Other
    }
}

/// A 404 on an item operation may really be the container or database missing; the service's
/// message says which ("Resource Not Found" for an item, "Owner resource does not exist" …).
fn narrow_not_found(resource: Resource, message: &str) -> Resource {
    let lower = message.to_ascii_lowercase();
    match resource {
        Resource::Item {
            database,
            container,
            ..
        } if lower.contains("collection") || lower.contains("container") => Resource::Container {
            database,
            container,
        },
        Resource::Item { database, .. } | Resource::Container { database, .. }
            if lower.contains("database") =>
        {
            Resource::Database { database }
        }
        other => other,
    }
}

fn looks_like_tls(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "unknownissuer",
        "invalid peer",
        "ssl",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// The service's `message` from the error body when there is one, else the SDK's text.
fn wire_message(err: &SdkError) -> String {
    if let Some(resp) = err.response()
        && let Ok(bytes) = resp.body().clone().single()
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(m) = v.get("message").and_then(|m| m.as_str())
    {
        return first_line(m);
    }
    let text = err.to_string();
    // The SDK renders `status/sub (name): message`; keep the message, which is what people read.
    let msg = text.split_once(": ").map_or(text.as_str(), |(_, m)| m);
    // Service bodies are JSON `{"code","message"}`; the message itself may embed JSON.
    let msg = serde_json::from_str::<serde_json::Value>(msg)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| msg.to_string());
    first_line(&msg)
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

fn source_chain(err: &SdkError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = std::error::Error::source(err);
    while let Some(e) = next {
        let t = first_line(&e.to_string());
        if !t.is_empty() && !parts.contains(&t) {
            parts.push(t);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_auth_disabled_is_recognised() {
        assert_eq!(
            auth_failure(
                "Local Authorization is disabled. Use an AAD token to authorize all requests.",
                None
            ),
            AuthFailure::LocalAuthDisabled
        );
        assert_eq!(auth_failure("x", Some(5008)), AuthFailure::WrongAudience);
    }

    #[test]
    fn item_404_can_be_the_container() {
        let r = narrow_not_found(
            Resource::Item {
                database: "shop".into(),
                container: "nope".into(),
                id: "1".into(),
            },
            "Owner resource does not exist: collection",
        );
        assert!(matches!(r, Resource::Container { .. }), "{r}");
    }
}
