//! The audit log: one JSON object per line at `$XDG_STATE_HOME/cosmoscope/audit.jsonl` (0600).
//! Who did what, the decision, and the cause of a denial or failure. Never a token or a key.

use std::io::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Record {
    pub time: String,
    pub profile: String,
    /// The gateway's id of the request (also its `x-request-id` answer header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Where the request came from: the gateway's client address, or an MCP client's
    /// `name/version` from its `initialize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// How the action arrived when not from the command line itself (`mcp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_sha256: Option<String>,
    /// HMAC-SHA256 of the query under the gateway's audit key (`audit_hash_key_env`): comparable
    /// across records, not reversible by guessing without the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_hmac: Option<String>,
    /// The query was left out on purpose (`[audit] redact_queries = true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub query_redacted: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
    /// `ok`, `allowed`, `denied` or `error`.
    pub decision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_charge: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Record {
    #[must_use]
    pub fn new(profile: &str, action: &str, decision: &str) -> Self {
        Self {
            profile: profile.to_string(),
            action: action.to_string(),
            decision: decision.to_string(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn who(mut self, subject: Option<&str>, roles: &[String]) -> Self {
        self.subject = subject.map(str::to_string);
        self.roles = roles.to_vec();
        self
    }

    #[must_use]
    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// The audit log could not be opened or appended to: the command's outcome was not recorded.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Unwritable(pub std::io::Error);

pub struct Audit {
    path: Option<PathBuf>,
    redact_queries: bool,
}

impl Audit {
    #[must_use]
    pub fn new(path: Option<PathBuf>, redact_queries: bool) -> Self {
        Self {
            path,
            redact_queries,
        }
    }

    #[must_use]
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// Sets the query text and its SHA-256, or neither when `audit.redact_queries` is on: an
    /// unkeyed hash of a short query is reversed by trying the likely ones (`… c.ssn = '…'`), so a
    /// redacted record keeps only that a query ran.
    pub fn set_query(&self, record: &mut Record, query: &str) {
        if self.redact_queries {
            record.query_redacted = true;
            return;
        }
        record.query_sha256 = Some(crate::fsutil::hex(&Sha256::digest(query.as_bytes())));
        record.query = Some(query.to_string());
    }

    /// Opens the log for appending (creating it) without writing: a cheap check before an action
    /// that must not go unaudited. A full disk still shows at the append itself.
    pub fn check_writable(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no state directory for the audit log",
            ));
        };
        crate::fsutil::open_private_append(path).map(drop)
    }

    /// [`append`](Self::append), and when the log cannot take the record, prints it whole on
    /// stderr so that it is not lost (the caller decides what the failure means for its command).
    pub fn append_or_show(&self, mut record: Record) -> std::io::Result<()> {
        if record.time.is_empty() {
            record.time = crate::clock::now_rfc3339_millis();
        }
        let line = serde_json::to_string(&record).unwrap_or_default();
        self.append(record).inspect_err(|_| {
            eprintln!("warning: the audit log cannot take this record; here it is: {line}");
        })
    }

    /// Appends one record in a single `write` (O_APPEND keeps concurrent writers' lines whole),
    /// stamped with the current time unless the caller already stamped it.
    pub fn append(&self, mut record: Record) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no state directory for the audit log",
            ));
        };
        if record.time.is_empty() {
            record.time = crate::clock::now_rfc3339_millis();
        }
        let mut line = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = crate::fsutil::open_private_append(path)?;
        file.write_all(&line)
    }
}
