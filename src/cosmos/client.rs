//! Building the Cosmos DB client for a profile: the one place that knows the SDK's knobs.
//!
//! - Instance metadata (IMDS, 169.254.169.254): the SDK probes it when its runtime starts unless
//!   `COSMOS_DISABLE_IMDS` is set — there is no option for it. cosmoscope's `main` sets the variable
//!   before any thread exists unless the profile asks for `region_proximity`
//!   ([`disable_imds_probe_before_threads`]); [`build`] refuses to build a client while the probe is
//!   still enabled for a profile that did not ask for it, so a library caller cannot probe by accident.
//! - HTTP/2 is on by default, and a server that refuses it in TLS is reached over HTTP/1.1
//!   ([`build`]); `http2 = false` in the profile uses HTTP/1.1 from the start.
//! - Binary encoding is off: cosmoscope prints JSON, and not every endpoint speaks the binary format.
//! - TLS trust: the SDK's rustls stack uses the platform verifier, which honours `SSL_CERT_FILE`.
//! - Throttling (429) is retried by the SDK with the server's `x-ms-retry-after-ms`, bounded here to
//!   [`THROTTLE_RETRIES`] retries and [`THROTTLE_WAIT`] of waiting.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{Secret, TokenCredential};
use azure_data_cosmos::options::{
    BinaryEncodingOptions, ConnectionPoolOptions, OperationOptionsBuilder, Region,
    ServerCertificateValidation, ThrottlingRetryOptionsBuilder,
};
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, CosmosClient, CosmosClientBuilder, CosmosRuntime,
    RoutingStrategy,
};
use secrecy::{ExposeSecret as _, SecretString};

use super::error::{CosmosError, Resource};
use super::rest::{Rest, RestAuth};
use crate::settings::CosmosSettings;

/// The variable the SDK reads before probing the instance metadata service.
pub const DISABLE_IMDS_VAR: &str = "COSMOS_DISABLE_IMDS";
/// Retries after a 429 (so at most this + 1 tries).
pub const THROTTLE_RETRIES: u32 = 4;
/// Total time spent waiting on `retry-after` before a 429 is reported.
pub const THROTTLE_WAIT: Duration = Duration::from_secs(30);

/// How the client proves itself to Cosmos DB.
pub enum CosmosAuth {
    /// An account key (base64), from the keyring.
    Key(SecretString),
    /// An Entra token source: the session's own token, or a broker identity.
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for CosmosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CosmosAuth::Key(_) => f.write_str("CosmosAuth::Key(<redacted>)"),
            CosmosAuth::Token(t) => write!(f, "CosmosAuth::Token({t:?})"),
        }
    }
}

/// A connected client and what it points at.
pub struct Cosmos {
    pub client: CosmosClient,
    pub endpoint: String,
    /// The REST calls the SDK does not make (query plans, ranges, partial queries).
    pub(crate) rest: super::rest::Rest,
}

/// Sets `COSMOS_DISABLE_IMDS=1` for this process unless the profile wants region proximity or
/// the variable is already set. Call it from `main` before the async runtime (or any other
/// thread) starts: changing the environment is only sound while the process is single-threaded.
pub fn disable_imds_probe_before_threads(region_proximity: bool) {
    if region_proximity || std::env::var_os(DISABLE_IMDS_VAR).is_some() {
        return;
    }
    set_disable_imds();
}

#[allow(unsafe_code)]
fn set_disable_imds() {
    // SAFETY: called from `main` before the tokio runtime is built; no other thread exists that
    // could read the environment concurrently. The SDK offers no option for this probe.
    unsafe { std::env::set_var(DISABLE_IMDS_VAR, "1") };
}

/// Builds a client for the profile's endpoint with `auth`. With HTTP/2 allowed (the default) the
/// SDK offers only `h2` in TLS; a server that speaks only HTTP/1.1 refuses that with the alert
/// `no_application_protocol`, which the SDK does not take as a reason to fall back — so the client
/// is built again with HTTP/1.1 (`http2 = false` says so from the start).
pub async fn build(settings: &CosmosSettings, auth: CosmosAuth) -> Result<Cosmos, CosmosError> {
    let auth = match auth {
        CosmosAuth::Token(cred) => CosmosAuth::Token(super::credential::OncePerCommand::wrap(cred)),
        CosmosAuth::Key(key) => CosmosAuth::Key(key),
    };
    match connect(settings, &auth, settings.http2).await {
        Err(Refused::Alpn(_)) if settings.http2 => connect(settings, &auth, false)
            .await
            .map_err(Refused::into_error),
        other => other.map_err(Refused::into_error),
    }
}

/// A failed build, and whether it was the server refusing HTTP/2 in TLS.
enum Refused {
    Alpn(CosmosError),
    Other(CosmosError),
}

impl Refused {
    fn into_error(self) -> CosmosError {
        match self {
            Refused::Alpn(e) | Refused::Other(e) => e,
        }
    }
}

/// Whether an error's chain is the TLS alert a server sends when it speaks none of the offered
/// application protocols (ALPN).
fn alpn_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if text.contains("NoApplicationProtocol") || text.contains("no_application_protocol") {
            return true;
        }
        cause = c.source();
    }
    false
}

async fn connect(
    settings: &CosmosSettings,
    auth: &CosmosAuth,
    http2: bool,
) -> Result<Cosmos, Refused> {
    // Read the real process environment on purpose: this is the variable the SDK itself reads.
    if !settings.region_proximity && std::env::var_os(DISABLE_IMDS_VAR).is_none() {
        return Err(Refused::Other(CosmosError::Config(format!(
            "{DISABLE_IMDS_VAR} is not set, so the SDK would probe the Azure instance metadata \
             service; set {DISABLE_IMDS_VAR}=1 (cosmoscope does this itself) or region_proximity = true"
        ))));
    }
    let endpoint: AccountEndpoint = settings.endpoint.parse().map_err(|e| {
        Refused::Other(CosmosError::Config(format!(
            "endpoint {:?}: {e}",
            settings.endpoint
        )))
    })?;
    let account = match auth {
        CosmosAuth::Key(key) => AccountReference::with_authentication_key(
            endpoint,
            Secret::new(key.expose_secret().to_string()),
        ),
        CosmosAuth::Token(cred) => AccountReference::with_credential(endpoint, cred.clone()),
    };
    let sdk = |e: azure_data_cosmos::CosmosError| {
        let mapped = CosmosError::from_sdk(&e, Resource::Account, &settings.endpoint);
        if alpn_refused(&e) {
            Refused::Alpn(mapped)
        } else {
            Refused::Other(mapped)
        }
    };
    let pool = ConnectionPoolOptions::builder()
        .with_is_http2_allowed(http2)
        .with_max_dataplane_request_timeout(settings.request_timeout)
        // Always, whatever AZURE_COSMOS_EMULATOR_SERVER_CERT_VALIDATION_DISABLED says (the SDK
        // would skip the check for loopback and AZURE_COSMOS_EMULATOR_HOST): a local emulator's
        // certificate is trusted through SSL_CERT_FILE like any other.
        .with_server_certificate_validation(ServerCertificateValidation::Required)
        .build()
        .map_err(sdk)?;
    let throttling = ThrottlingRetryOptionsBuilder::new()
        .with_max_retry_count(THROTTLE_RETRIES)
        .with_max_retry_wait_time(THROTTLE_WAIT)
        .build();
    let operation = OperationOptionsBuilder::new()
        .with_throttling_retry_options(throttling)
        .build();
    let runtime = CosmosRuntime::builder()
        .with_connection_pool(pool)
        .with_default_operation_options(operation)
        .build()
        .await
        .map_err(sdk)?;
    let routing = match &settings.region {
        Some(region) if settings.region_proximity => {
            RoutingStrategy::ProximityTo(Region::from(region.clone()))
        }
        _ => RoutingStrategy::PreferredRegions(Vec::new()),
    };
    let client = CosmosClientBuilder::new()
        .with_runtime(runtime)
        .with_binary_encoding_options(BinaryEncodingOptions::new().with_enabled(false))
        .build(account, routing)
        .await
        .map_err(sdk)?;
    let rest_auth = match auth {
        CosmosAuth::Key(key) => RestAuth::Key(Secret::new(key.expose_secret().to_string())),
        CosmosAuth::Token(cred) => RestAuth::Token(cred.clone()),
    };
    let rest = Rest::new(&settings.endpoint, rest_auth, settings.request_timeout)
        .map_err(Refused::Other)?;
    Ok(Cosmos {
        client,
        endpoint: settings.endpoint.clone(),
        rest,
    })
}
