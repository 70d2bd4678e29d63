//! Every boundary error turned into a [`CommandError`]: its message, exit code and next steps, in
//! one place (jj's `command_error.rs`). The boundary error stays attached as the source.

use crate::cosmos::credential;
use crate::cosmos::{AuthFailure, CosmosError, Resource};
use crate::error::{CommandError, Exit};
use crate::fido2::VerifyError as VerifyErrorKind;
use crate::fido2::{DeviceError, Fido2Error, SealError};
use crate::identity::IdentityError;
use crate::session::lock::LockError;
use crate::session::{SessionError, StoreError};
use crate::settings::SettingsError;

/// `cosmoscope login` with the right flags for this profile.
#[must_use]
pub fn login_hint(profile: &str) -> String {
    format!("run `cosmoscope login --profile {profile}`")
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        let (message, hint) = match &e {
            StoreError::Locked { .. } => (
                "the OS keyring is locked",
                "unlock it (sign in to the desktop session, or unlock the \
                    \"login\" keyring in your keyring manager) and run the \
                    command again; nothing was changed",
            ),
            StoreError::Unavailable { .. } => (
                "cannot use the OS keyring",
                "start a Secret Service (e.g. gnome-keyring) in this session, \
                    or set store = \"keyutils\" in the profile and run inside a \
                    session keyring (`keyctl session -`); nothing was written",
            ),
            StoreError::Unsupported { .. } => (
                "cannot use the OS keyring",
                "choose a store this platform has: store = \"auto\"",
            ),
            StoreError::QuotaExceeded { .. } => (
                "the kernel keyring has no room for the session",
                "a user may hold 200 keys and 20000 bytes by default \
                    (/proc/sys/kernel/keys/maxkeys, maxbytes); cosmoscope holds one entry \
                    per signed-in profile (about 5 KB for Entra tokens). Free room with \
                    `cosmoscope logout --all`, use store = \"secret-service\" in the \
                    profile, or raise the limit: sysctl -w kernel.keys.maxbytes=200000; \
                    nothing was written",
            ),
            StoreError::Failed {
                store: "keyutils", ..
            } => (
                "cannot use the OS keyring",
                "kernel keyutils needs a session keyring: run inside `keyctl \
                    session - …`, or use store = \"secret-service\"",
            ),
            StoreError::Failed { .. } => (
                "cannot use the OS keyring",
                "check that the keyring is unlocked, or choose another store \
                    with store = … in the profile",
            ),
        };
        CommandError::runtime(message).source_chain(e).hint(hint)
    }
}

impl From<LockError> for CommandError {
    fn from(e: LockError) -> Self {
        let hint = match e {
            LockError::Timeout(_) => {
                "another cosmoscope may be stuck; retry, or end it (the lock \
                    is released when its process exits)"
            }
            LockError::Io { .. } => "check the permissions of $XDG_STATE_HOME/cosmoscope/locks",
        };
        CommandError::runtime("cannot take the session's refresh lock")
            .source_chain(e)
            .hint(hint)
    }
}

impl From<IdentityError> for CommandError {
    fn from(e: IdentityError) -> Self {
        let (exit, message, hint): (Exit, &str, String) = match &e {
            IdentityError::Unreachable { .. } | IdentityError::PollUnreachable(_) => (
                Exit::Runtime,
                "cannot reach the identity provider",
                "check your network and the profile's issuer URL, then retry".into(),
            ),
            IdentityError::HttpStatus {
                status: 401 | 403, ..
            } => (
                Exit::Refused,
                "the identity provider refused the request",
                "check the profile's client_id".into(),
            ),
            IdentityError::HttpStatus {
                status: 500..=599, ..
            } => (
                Exit::Runtime,
                "the identity provider is unavailable",
                "it answered with a server error: retry in a moment (nothing \
                    was changed)"
                    .into(),
            ),
            IdentityError::HttpStatus { .. } | IdentityError::BadResponse { .. } => (
                Exit::Runtime,
                "the identity provider answered unexpectedly",
                "check that the issuer URL is an OpenID provider".into(),
            ),
            IdentityError::IssuerMismatch { found, .. } => (
                Exit::Runtime,
                "the provider's issuer does not match the profile",
                format!("set issuer = \"{found}\" in the profile"),
            ),
            IdentityError::NoDeviceEndpoint => (
                Exit::Runtime,
                "this provider does not support the device-code login",
                "enable the device authorization grant for the \
                    provider/application"
                    .into(),
            ),
            IdentityError::AccessDenied(None) => (
                Exit::Refused,
                "the sign-in was declined",
                "run `cosmoscope login` again and approve the request".into(),
            ),
            // With the provider's words: a policy refused the grant (Okta: the authorization
            // server's access policy rule must allow the device-code and refresh grants).
            IdentityError::AccessDenied(Some(_)) => (
                Exit::Refused,
                "the provider refused the sign-in",
                "if it names a policy, ask the provider's administrator to allow the device-code \
                    and refresh-token grants for this client (Okta: the authorization server's \
                    access policy rule)"
                    .into(),
            ),
            IdentityError::ExpiredToken => (
                Exit::LoginRequired,
                "the device code expired before it was approved",
                "run `cosmoscope login` again and approve the code before it \
                    expires"
                    .into(),
            ),
            IdentityError::BadVerificationCode => (
                Exit::Runtime,
                "the provider did not recognise the device code",
                "run `cosmoscope login` again".into(),
            ),
            IdentityError::RefreshRejected(_) => (
                Exit::LoginRequired,
                "the session can no longer be refreshed",
                "run `cosmoscope login` to sign in again".into(),
            ),
            IdentityError::OAuth { error, .. }
                if matches!(
                    error.as_str(),
                    "invalid_client" | "unauthorized_client" | "access_denied"
                ) =>
            {
                (
                    Exit::Refused,
                    "the identity provider refused the request",
                    "check the profile's client_id and that the device-code grant \
                        is enabled for it"
                        .into(),
                )
            }
            IdentityError::OAuth { error, .. } if error == "invalid_scope" => (
                Exit::Refused,
                "the identity provider refused the requested scopes",
                "check the profile's scopes".into(),
            ),
            IdentityError::OAuth { .. } => (
                Exit::Refused,
                "the identity provider refused the request",
                "see the cause above".into(),
            ),
            IdentityError::Verify(_) => (
                Exit::Runtime,
                "a token from the identity provider failed verification",
                "nothing was stored; check the profile's issuer, client_id and \
                    audience, and the system clock"
                    .into(),
            ),
            IdentityError::Client(_) => (
                Exit::Runtime,
                "cannot set up HTTPS",
                "check the system's TLS certificates".into(),
            ),
            IdentityError::TenantTemplate(_) => (
                Exit::Usage,
                "the provider is multi-tenant, and the profile does not say which tenants may sign in",
                "add allowed_tenants = [\"<tenant-id>\"] to the profile (Entra: the directory ids \
                    of the organizations whose people may use it)"
                    .into(),
            ),
            IdentityError::NoClientSecret(var) => (
                Exit::Usage,
                "the profile's client secret is not in the environment",
                format!("set {var} to the installed app's client secret (from the provider's console); it is never read from a flag or the config file"),
            ),
            IdentityError::NoAuthorizationEndpoint => (
                Exit::Runtime,
                "this provider does not offer the browser sign-in",
                "run `cosmoscope login --device-code`, or set login_flow = \"device-code\" in the profile".into(),
            ),
            IdentityError::Loopback { .. } => (
                Exit::Runtime,
                "cannot receive the browser's answer on this machine",
                "another program holds the port: choose another redirect_port (one the provider \
                    has registered), or 0 for any free port"
                    .into(),
            ),
            IdentityError::BrowserRefused { .. } => (
                Exit::Refused,
                "the provider refused the browser sign-in",
                "the client may not be set up for it: register the redirect URI http://localhost \
                    (any port; or http://localhost:PORT with redirect_port = PORT) and allow the \
                    authorization-code grant — or sign in with `cosmoscope login --device-code` \
                    (login_flow = \"device-code\" in the profile)"
                    .into(),
            ),
            IdentityError::BrowserTimeout(_) => (
                Exit::LoginRequired,
                "the browser sign-in did not finish in time",
                "run `cosmoscope login` again (--timeout gives more time); without a browser on \
                    this machine, `cosmoscope login --device-code` signs in from another device"
                    .into(),
            ),
            IdentityError::CallbackIssuer { .. } => (
                Exit::Runtime,
                "the sign-in answer did not come from the profile's provider",
                "nothing was stored; the answer did not name the profile's provider (RFC 9207), \
                    so something else may have answered in its place — run `cosmoscope login` \
                    again, from a browser you trust"
                    .into(),
            ),
        };
        CommandError::new(exit, message).source(e).hint(hint)
    }
}

impl From<SessionError> for CommandError {
    fn from(e: SessionError) -> Self {
        let (exit, message, hint) = match e {
            SessionError::Fido2(f) => return f.into(),
            SessionError::Store(s) => return s.into(),
            SessionError::Identity(i) => return i.into(),
            SessionError::Lock(l) => return l.into(),
            SessionError::Io(io) => {
                return CommandError::runtime("cannot write the session file")
                    .source_chain(io)
                    .hint("check the permissions of $XDG_STATE_HOME/cosmoscope");
            }
            SessionError::NotLoggedIn(ref profile) => {
                let hint = login_hint(profile);
                return CommandError::login_required(e.to_string())
                    .source(e)
                    .hint(hint);
            }
            SessionError::Expired { ref profile, .. } => (
                Exit::LoginRequired,
                "the session has expired",
                login_hint(profile),
            ),
            SessionError::Unverified(_) => (
                Exit::LoginRequired,
                "the stored session failed verification, so it is not used",
                "sign in again with `cosmoscope login`; if you did not change it, something \
                    edited your keyring"
                    .into(),
            ),
            SessionError::SubjectChanged { .. } => (
                Exit::LoginRequired,
                "the provider renewed the session for another person, so it was refused",
                "sign in again with `cosmoscope login` as the person you mean to be".into(),
            ),
            SessionError::SecretMissing(_) => (
                Exit::LoginRequired,
                "the session is incomplete",
                "the keyring entry was removed; run `cosmoscope login`".into(),
            ),
            SessionError::NoIdentity => (
                Exit::Runtime,
                "cannot establish who signed in",
                "request the openid scope, or configure the audience of a JWT \
                    access token"
                    .into(),
            ),
            SessionError::TouchRequired => (
                Exit::LoginRequired,
                "the session needs a touch of your security key to renew",
                "run `cosmoscope login --fido2` at a terminal with the key \
                    plugged in"
                    .into(),
            ),
            SessionError::NothingSealed(_) => (
                Exit::LoginRequired,
                "there is no sealed session to renew with a security key",
                "run `cosmoscope login` once (device code): with a key \
                    enrolled, it seals the session to it"
                    .into(),
            ),
        };
        CommandError::new(exit, message).source(e).hint(hint)
    }
}

impl From<Fido2Error> for CommandError {
    fn from(e: Fido2Error) -> Self {
        let (message, hint): (&str, String) = match &e {
            Fido2Error::Device(d) => match d {
                DeviceError::NoDevice => (
                    "no security key found",
                    if cfg!(target_os = "linux") {
                        "plug in the key; on Linux your user needs access to its \
                            /dev/hidraw node (install the udev rules of libfido2 or \
                            systemd's 70-u2f.rules, then replug), or pass --device \
                            /dev/hidrawN"
                            .into()
                    } else {
                        "plug in the key, or pass --device PATH".into()
                    },
                ),
                DeviceError::SeveralDevices { .. } => (
                    "several security keys are connected",
                    "pass --device PATH (or set COSMOSCOPE_FIDO2_DEVICE) to choose \
                        one, or run in a terminal to pick from a list"
                        .into(),
                ),
                DeviceError::Open { .. } => (
                    "cannot open the security key",
                    "check the path and your access to it (Linux: udev rules for \
                        FIDO keys; Windows: raw HID needs an elevated prompt)"
                        .into(),
                ),
                DeviceError::PinInvalid { retries } => (
                    "wrong PIN",
                    match retries {
                        Some(n) if *n <= 3 => format!(
                            "{n} attempts left; the key locks its PIN after that and must \
                                then be reset (losing its credentials)"
                        ),
                        Some(n) => format!("{n} attempts left; try again"),
                        None => "try again with the key's PIN".into(),
                    },
                ),
                DeviceError::PinBlocked => (
                    "the security key's PIN is blocked",
                    "the key must be reset with its vendor's tool (this deletes \
                        its credentials), then enrolled again with `cosmoscope key \
                        enroll`"
                        .into(),
                ),
                DeviceError::PinAuthBlocked => (
                    "the security key refuses more PIN attempts for now",
                    "unplug the key, plug it in again, and retry".into(),
                ),
                DeviceError::PinRequired => (
                    "the security key requires its PIN",
                    "run in a terminal to be asked for it, or set \
                        COSMOSCOPE_FIDO2_PIN for automation"
                        .into(),
                ),
                DeviceError::TouchTimeout => (
                    "the security key was not touched in time",
                    "run the command again and touch the key when it blinks".into(),
                ),
                DeviceError::Denied => (
                    "the security key refused the operation",
                    "run the command again and confirm on the key".into(),
                ),
                DeviceError::NoCredentials => (
                    "this security key holds no credential enrolled for this \
                        profile",
                    "use the key you enrolled (see `cosmoscope key list`), or \
                        enroll this one with `cosmoscope key enroll`"
                        .into(),
                ),
                DeviceError::AlreadyEnrolled => (
                    "this security key is already enrolled for this profile",
                    "see `cosmoscope key list`; remove the old entry first to \
                        enroll it again"
                        .into(),
                ),
                DeviceError::UnsupportedAlgorithm => (
                    "the security key does not support that algorithm",
                    "try --alg es256, which every FIDO2 key supports".into(),
                ),
                DeviceError::UnsupportedExtension(_) => (
                    "the security key lacks a required extension",
                    "use a FIDO2 key with hmac-secret support (most current keys \
                        have it)"
                        .into(),
                ),
                DeviceError::UnsupportedOption(_)
                | DeviceError::Ctap { .. }
                | DeviceError::Transport(_) => (
                    "the security key failed",
                    "unplug and replug the key and retry; `cosmoscope -v` says more".into(),
                ),
            },
            Fido2Error::Verify(VerifyErrorKind::SignCountRegression { .. }) => (
                "refused: the security key's signature counter went backwards",
                "this is how a cloned key shows; if the key was not reset or \
                    copied, report it to your security team before using it again"
                    .into(),
            ),
            Fido2Error::Verify(_) => (
                "refused: the security key's answer failed verification",
                "nothing was stored or unlocked; check the profile's \
                    fido2_rp_id and that this is the enrolled key"
                    .into(),
            ),
            Fido2Error::Seal(SealError::Outdated) => (
                "the sealed secret is in an earlier format, which is no longer opened",
                "seal it again: `cosmoscope login` for a session, `cosmoscope account-key \
                    set` for an account key"
                    .into(),
            ),
            Fido2Error::Seal(_) => (
                "cannot open the sealed secret",
                "it was sealed by another key or profile, or damaged; run \
                    `cosmoscope login` to obtain a new one"
                    .into(),
            ),
            Fido2Error::Store(_) | Fido2Error::Corrupt { .. } => (
                "cannot use the list of enrolled keys",
                "check the file named above; removing it forgets every \
                    enrolled key of the profile"
                    .into(),
            ),
            Fido2Error::NoHmacSecret { .. } => (
                "this security key cannot seal secrets (no hmac-secret \
                    extension)",
                "use a FIDO2 key with hmac-secret support (YubiKey 5, SoloKey, \
                    Nitrokey 3, Feitian …)"
                    .into(),
            ),
            Fido2Error::NotEnrolled { profile } => (
                "no security key is enrolled",
                format!("run `cosmoscope key enroll --profile {profile}`"),
            ),
            Fido2Error::RpMismatch { stored, .. } => (
                "the profile's fido2_rp_id changed after keys were enrolled",
                format!(
                    "set fido2_rp_id = \"{stored}\" again, or remove the enrolled \
                        keys and enroll them anew"
                ),
            ),
            Fido2Error::LabelTaken(_) => (
                "that label is taken",
                "choose another --label, or `cosmoscope key remove` the old key".into(),
            ),
            Fido2Error::PinNeeded => (
                "the security key has a PIN and no terminal is available to \
                    ask for it",
                "run in a terminal, or set COSMOSCOPE_FIDO2_PIN for automation".into(),
            ),
            Fido2Error::UvUnavailable => (
                "the security key cannot verify you",
                "set a PIN on the key with its vendor's tool".into(),
            ),
            Fido2Error::Task(_) => ("the security key operation failed", "retry".into()),
        };
        CommandError::runtime(message).source_chain(e).hint(hint)
    }
}

impl CommandError {
    pub(crate) fn from_key_error(e: credential::KeyError, profile: &str) -> CommandError {
        let (exit, hint) = match e {
            credential::KeyError::Store(s) => return s.into(),
            credential::KeyError::Missing { .. } => (
                Exit::Runtime,
                format!(
                    "store it with `cosmoscope account-key set --profile \
                        {profile}` (reads stdin or prompts)"
                ),
            ),
            credential::KeyError::NotBase64 => (
                Exit::Usage,
                "paste the primary or secondary key from the portal (Keys \
                    blade), unchanged"
                    .into(),
            ),
        };
        CommandError::new(exit, e.to_string()).source(e).hint(hint)
    }
}

impl From<credential::KeyError> for CommandError {
    fn from(e: credential::KeyError) -> Self {
        CommandError::from_key_error(e, "NAME")
    }
}

impl From<CosmosError> for CommandError {
    fn from(e: CosmosError) -> Self {
        let (exit, message, hint): (Exit, &str, String) = match &e {
            CosmosError::Unauthorized {
                reason: AuthFailure::LocalAuthDisabled,
                ..
            } => (
                Exit::Refused,
                "the account does not accept account keys (local authorization \
                    is disabled)",
                "use credential = \"entra\" (or a broker identity) in the \
                    profile's [cosmos] table"
                    .into(),
            ),
            CosmosError::Unauthorized {
                reason: AuthFailure::WrongAudience,
                ..
            } => (
                Exit::Refused,
                "Cosmos DB rejected the token: it was issued for another \
                    audience",
                "log in with the scope https://cosmos.azure.com/.default \
                    (scopes = [...] in the profile), then `cosmoscope login`"
                    .into(),
            ),
            CosmosError::Unauthorized {
                reason: AuthFailure::Expired,
                ..
            } => (
                Exit::Refused,
                "Cosmos DB rejected the token: it has expired",
                "run `cosmoscope login` (or check the system clock)".into(),
            ),
            CosmosError::Unauthorized { .. } => (
                Exit::Refused,
                "Cosmos DB rejected the credential",
                "for credential = \"key\", store the current key again with \
                    `cosmoscope account-key set`; otherwise check the identity's \
                    data-plane role assignment"
                    .into(),
            ),
            CosmosError::QueryShape { substatus, message } => (
                Exit::Usage,
                "this query cannot run as written",
                match *substatus {
                    crate::cosmos::error::SUBSTATUS_FAN_OUT => {
                        "it reaches more physical partitions than allowed: narrow it with \
                        --partition-key, or allow more with --max-fan-out N"
                            .to_string()
                    }
                    crate::cosmos::error::SUBSTATUS_FINITE_WINDOW => {
                        "across partitions, DISTINCT and ORDER BY on a computed value are \
                        gathered in memory and need a bound: add TOP n or OFFSET … LIMIT n, or \
                        pin one partition with --partition-key"
                            .to_string()
                    }
                    _ if message.to_ascii_lowercase().contains("hybrid")
                        || message.to_ascii_lowercase().contains("rank")
                        || message.to_ascii_lowercase().contains("vector") =>
                    {
                        "ranked (hybrid, full-text, vector) search does not run across partitions \
                         in this SDK yet: pin one partition with --partition-key"
                            .to_string()
                    }
                    _ => "pin one partition with --partition-key, or simplify the clause the \
                        cause names"
                        .to_string(),
                },
            ),
            CosmosError::Forbidden { scope, account, .. } => (
                Exit::Refused,
                "Cosmos DB refused the request",
                format!(
                    "the identity lacks a data-plane role at scope {scope} (or a firewall blocks \
                     this address). Reading, querying and listing need Cosmos DB Built-in Data \
                     Reader (…0001; listing databases needs it at \"/\", listing containers at \
                     \"/dbs/DB\"), writing items Data Contributor (…0002). The account owner can \
                     grant it: az cosmosdb sql role assignment create --account-name {account} \
                     --resource-group RG --scope \"{scope}\" --principal-id YOUR_OBJECT_ID \
                     --role-definition-id 00000000-0000-0000-0000-000000000001"
                ),
            ),
            CosmosError::Throttled { .. } => (
                Exit::Runtime,
                "Cosmos DB is throttling requests (429)",
                "retry later, narrow the query with --partition-key or \
                    --max-items, or raise the container's throughput"
                    .into(),
            ),
            CosmosError::NotFound {
                resource: Resource::Item { .. },
            } => (
                Exit::Runtime,
                "the item does not exist",
                "check the id and the --partition-key value (a wrong partition \
                    key also reads as missing)"
                    .into(),
            ),
            CosmosError::NotFound {
                resource: Resource::Container { .. },
            } => (
                Exit::Runtime,
                "the container does not exist",
                "list them with `cosmoscope ls containers`".into(),
            ),
            CosmosError::NotFound {
                resource: Resource::Database { .. },
            } => (
                Exit::Runtime,
                "the database does not exist",
                "list them with `cosmoscope ls databases`".into(),
            ),
            CosmosError::NotFound { .. } => (
                Exit::Runtime,
                "not found",
                "check the profile's endpoint".into(),
            ),
            CosmosError::Conflict { .. } => (
                Exit::Runtime,
                "the item was created by someone else meanwhile; nothing was \
                    written",
                "run the command again to review and replace it".into(),
            ),
            CosmosError::PreconditionFailed { .. } => (
                Exit::Runtime,
                "the item changed after it was read; nothing was written",
                "run the command again to review the current version".into(),
            ),
            CosmosError::CrossPartitionUnsupported { .. } => (
                Exit::Usage,
                "aggregates, GROUP BY and DISTINCT cannot run across partitions",
                "pin the query to one partition with --partition-key JSON, or \
                    drop the aggregate and aggregate the output yourself"
                    .into(),
            ),
            CosmosError::BadRequest { .. } => (
                Exit::Usage,
                "Cosmos DB rejected the query or request",
                "check the query syntax and parameters".into(),
            ),
            CosmosError::PartitionKey(_) => (
                Exit::Usage,
                "the partition key is not usable",
                "pass a JSON value: --partition-key '\"t1\"', a number, or an \
                    array for hierarchical keys"
                    .into(),
            ),
            CosmosError::Unreachable { .. } => (
                Exit::Runtime,
                "cannot reach Cosmos DB",
                "check the network and the profile's endpoint (and a proxy or \
                    firewall in between)"
                    .into(),
            ),
            CosmosError::TimedOut { .. } => (
                Exit::Runtime,
                "Cosmos DB did not answer in time",
                "every try outlived the profile's request_timeout (default \
                    60s): retry later, or raise request_timeout (at most 65s) in \
                    [profiles.NAME.cosmos]"
                    .into(),
            ),
            CosmosError::Tls { .. } => (
                Exit::Runtime,
                "the TLS connection to Cosmos DB failed",
                "the server certificate is not trusted: for an emulator or \
                    private CA, point SSL_CERT_FILE at its CA certificate"
                    .into(),
            ),
            CosmosError::Token { .. } => (
                Exit::Refused,
                "cannot get a token for Cosmos DB",
                "for credential = \"entra\" run `cosmoscope login`; for a \
                    broker identity check its configuration (see the cause)"
                    .into(),
            ),
            CosmosError::CredentialConfig(_) => (
                Exit::Usage,
                "the profile's Cosmos credential is incomplete",
                "set tenant_id / client_id in the profile's [cosmos] table and \
                    the secrets in the environment"
                    .into(),
            ),
            CosmosError::Config(_) => (
                Exit::Runtime,
                "cannot set up the Cosmos DB client",
                "check the profile's [cosmos] table".into(),
            ),
            CosmosError::Service { .. } => (
                Exit::Runtime,
                "Cosmos DB returned an error",
                "retry; if it persists, see the cause".into(),
            ),
        };
        CommandError::new(exit, message).source(e).hint(hint)
    }
}

impl From<SettingsError> for CommandError {
    fn from(e: SettingsError) -> Self {
        let err = CommandError::new(
            match e {
                SettingsError::NoDefaultProfile { .. } => Exit::Usage,
                _ => Exit::Runtime,
            },
            e.to_string(),
        );
        let err = match &e {
            SettingsError::Read { path, .. } => err.hint(format!(
                "check that {} is a readable file, or pass --config PATH",
                path.display()
            )),
            SettingsError::Invalid(file) => err.cause(file).hint(format!(
                "fix {} (or run `cosmoscope init`)",
                file.path.display()
            )),
            SettingsError::NoProfiles { .. } => err.hint("run `cosmoscope init` to add one"),
            SettingsError::NoDefaultProfile { profiles } => err
                .cause(format!("profiles: {}", profiles.join(", ")))
                .hint(
                    "pass --profile NAME, set COSMOSCOPE_PROFILE, or set \
                        default_profile in the config file",
                ),
            SettingsError::UnknownProfile {
                name,
                path,
                known,
                named_at,
            } => {
                let err = match named_at {
                    Some(at) => err.cause(at),
                    None => err,
                };
                let known = if known.is_empty() {
                    "no profiles".to_string()
                } else {
                    known.join(", ")
                };
                err.cause(format!("{} defines: {known}", path.display()))
                    .hint(format!(
                        "run `cosmoscope init --profile {name}` to create it"
                    ))
            }
            SettingsError::NoConfigDir => {
                err.hint("set HOME or XDG_CONFIG_HOME, or pass --config PATH")
            }
        };
        err.source_chain(e)
    }
}

#[cfg(test)]
mod tests {
    //! Every message, cause and hint a boundary error becomes, in one reviewed snapshot: a
    //! change of wording is a diff in `snapshots/`, not a silent edit.

    use std::fmt::Write as _;
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::cosmos::error::Resource as R;

    use crate::fido2::store::KeyStoreError;
    use crate::identity::VerifyError as Jwt;
    use crate::settings::FileError;

    fn io() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied")
    }

    fn item() -> R {
        R::Item {
            database: "shop".into(),
            container: "orders".into(),
            id: "o1".into(),
        }
    }

    fn all() -> Vec<(&'static str, CommandError)> {
        let s = |x: &str| x.to_string();
        vec![
            (
                "store/unavailable",
                StoreError::Unavailable {
                    tried: s("secret-service: no bus"),
                }
                .into(),
            ),
            (
                "store/unsupported",
                StoreError::Unsupported {
                    store: "macos-keychain",
                }
                .into(),
            ),
            (
                "store/locked",
                StoreError::Locked {
                    store: "secret-service",
                    detail: s("prompt dismissed"),
                }
                .into(),
            ),
            (
                "store/quota-exceeded",
                StoreError::QuotaExceeded { store: "keyutils" }.into(),
            ),
            (
                "store/failed-keyutils",
                StoreError::Failed {
                    store: "keyutils",
                    detail: s("EACCES"),
                }
                .into(),
            ),
            (
                "store/failed",
                StoreError::Failed {
                    store: "secret-service",
                    detail: s("bus closed"),
                }
                .into(),
            ),
            (
                "lock/timeout",
                LockError::Timeout(Duration::from_secs(30)).into(),
            ),
            (
                "lock/io",
                LockError::Io {
                    path: s("/state/locks/dev.lock"),
                    source: io(),
                }
                .into(),
            ),
            (
                "identity/unreachable",
                IdentityError::Unreachable {
                    url: s("https://idp/"),
                    detail: s("connection refused"),
                    timeout: false,
                }
                .into(),
            ),
            (
                "identity/poll-unreachable",
                IdentityError::PollUnreachable(s("connection reset")).into(),
            ),
            (
                "identity/401",
                IdentityError::HttpStatus {
                    what: "the token endpoint",
                    url: s("https://idp/token"),
                    status: 401,
                }
                .into(),
            ),
            (
                "identity/503",
                IdentityError::HttpStatus {
                    what: "discovery",
                    url: s("https://idp/.well-known"),
                    status: 503,
                }
                .into(),
            ),
            (
                "identity/404",
                IdentityError::HttpStatus {
                    what: "discovery",
                    url: s("https://idp/.well-known"),
                    status: 404,
                }
                .into(),
            ),
            (
                "identity/bad-response",
                IdentityError::BadResponse {
                    what: "discovery",
                    url: s("https://idp/"),
                    detail: s("not JSON"),
                }
                .into(),
            ),
            (
                "identity/issuer-mismatch",
                IdentityError::IssuerMismatch {
                    expected: s("https://idp"),
                    found: s("https://idp/"),
                }
                .into(),
            ),
            (
                "identity/no-device-endpoint",
                IdentityError::NoDeviceEndpoint.into(),
            ),
            (
                "identity/access-denied",
                IdentityError::AccessDenied(None).into(),
            ),
            (
                "identity/access-denied-by-policy",
                IdentityError::AccessDenied(Some(s("Policy evaluation failed for this request, please check the policy configurations."))).into(),
            ),
            ("identity/expired-token", IdentityError::ExpiredToken.into()),
            (
                "identity/bad-verification-code",
                IdentityError::BadVerificationCode.into(),
            ),
            (
                "identity/refresh-rejected",
                IdentityError::RefreshRejected(s("invalid_grant")).into(),
            ),
            (
                "identity/oauth-invalid-client",
                IdentityError::OAuth {
                    status: 401,
                    error: s("invalid_client"),
                    description: None,
                }
                .into(),
            ),
            (
                "identity/oauth-invalid-scope",
                IdentityError::OAuth {
                    status: 400,
                    error: s("invalid_scope"),
                    description: Some(s("unknown scope")),
                }
                .into(),
            ),
            (
                "identity/oauth-other",
                IdentityError::OAuth {
                    status: 400,
                    error: s("temporarily_unavailable"),
                    description: None,
                }
                .into(),
            ),
            (
                "identity/verify-audience",
                IdentityError::Verify(Jwt::Audience {
                    expected: s("cosmoscope-cli"),
                })
                .into(),
            ),
            (
                "identity/verify-expired",
                IdentityError::Verify(Jwt::Expired).into(),
            ),
            (
                "identity/client",
                IdentityError::Client(s("no TLS roots")).into(),
            ),
            (
                "identity/tenant-template",
                IdentityError::TenantTemplate(s("https://login.microsoftonline.com/{tenantid}/v2.0")).into(),
            ),
            (
                "identity/no-client-secret",
                IdentityError::NoClientSecret(s("GOOGLE_CLIENT_SECRET")).into(),
            ),
            (
                "identity/no-authorization-endpoint",
                IdentityError::NoAuthorizationEndpoint.into(),
            ),
            (
                "identity/loopback",
                IdentityError::Loopback { port: 8400, detail: s("address in use") }.into(),
            ),
            ("identity/browser-timeout", IdentityError::BrowserTimeout(300).into()),
            (
                "identity/browser-refused",
                IdentityError::BrowserRefused {
                    error: s("unauthorized_client"),
                    description: Some(s("The client is not allowed to use the authorization code grant")),
                }
                .into(),
            ),
            (
                "identity/callback-issuer",
                IdentityError::CallbackIssuer { expected: s("https://idp/"), found: s("https://evil/") }.into(),
            ),
            (
                "session/not-logged-in",
                SessionError::NotLoggedIn(s("dev")).into(),
            ),
            (
                "session/expired",
                SessionError::Expired {
                    profile: s("dev"),
                    at: s("2026-12-01T10:00:00Z"),
                }
                .into(),
            ),
            (
                "session/secret-missing",
                SessionError::SecretMissing("access").into(),
            ),
            ("session/no-identity", SessionError::NoIdentity.into()),
            (
                "session/unverified",
                SessionError::Unverified(Jwt::Signature).into(),
            ),
            (
                "session/subject-changed",
                SessionError::SubjectChanged {
                    was: s("alice"),
                    now: s("mallory"),
                }
                .into(),
            ),
            ("session/touch-required", SessionError::TouchRequired.into()),
            (
                "session/nothing-sealed",
                SessionError::NothingSealed(s("dev")).into(),
            ),
            ("session/io", SessionError::Io(io()).into()),
            (
                "fido2/no-device",
                Fido2Error::Device(DeviceError::NoDevice).into(),
            ),
            (
                "fido2/several",
                Fido2Error::Device(DeviceError::SeveralDevices {
                    devices: vec![s("/dev/hidraw1"), s("/dev/hidraw2")],
                })
                .into(),
            ),
            (
                "fido2/open",
                Fido2Error::Device(DeviceError::Open {
                    path: s("/dev/hidraw1"),
                    detail: s("EACCES"),
                })
                .into(),
            ),
            (
                "fido2/pin-invalid-3",
                Fido2Error::Device(DeviceError::PinInvalid { retries: Some(3) }).into(),
            ),
            (
                "fido2/pin-invalid-7",
                Fido2Error::Device(DeviceError::PinInvalid { retries: Some(7) }).into(),
            ),
            (
                "fido2/pin-invalid",
                Fido2Error::Device(DeviceError::PinInvalid { retries: None }).into(),
            ),
            (
                "fido2/pin-blocked",
                Fido2Error::Device(DeviceError::PinBlocked).into(),
            ),
            (
                "fido2/pin-auth-blocked",
                Fido2Error::Device(DeviceError::PinAuthBlocked).into(),
            ),
            (
                "fido2/pin-required",
                Fido2Error::Device(DeviceError::PinRequired).into(),
            ),
            (
                "fido2/touch-timeout",
                Fido2Error::Device(DeviceError::TouchTimeout).into(),
            ),
            (
                "fido2/denied",
                Fido2Error::Device(DeviceError::Denied).into(),
            ),
            (
                "fido2/no-credentials",
                Fido2Error::Device(DeviceError::NoCredentials).into(),
            ),
            (
                "fido2/already-enrolled",
                Fido2Error::Device(DeviceError::AlreadyEnrolled).into(),
            ),
            (
                "fido2/unsupported-algorithm",
                Fido2Error::Device(DeviceError::UnsupportedAlgorithm).into(),
            ),
            (
                "fido2/unsupported-extension",
                Fido2Error::Device(DeviceError::UnsupportedExtension("hmac-secret")).into(),
            ),
            (
                "fido2/ctap",
                Fido2Error::Device(DeviceError::Ctap { code: 0x06 }).into(),
            ),
            (
                "fido2/transport",
                Fido2Error::Device(DeviceError::Transport(s("stopped answering"))).into(),
            ),
            (
                "fido2/sign-count",
                Fido2Error::Verify(VerifyErrorKind::SignCountRegression {
                    stored: 9,
                    received: 3,
                })
                .into(),
            ),
            (
                "fido2/verify",
                Fido2Error::Verify(VerifyErrorKind::BadSignature).into(),
            ),
            ("fido2/seal", Fido2Error::Seal(SealError::Open).into()),
            (
                "fido2/seal-outdated",
                Fido2Error::Seal(SealError::Outdated).into(),
            ),
            (
                "fido2/store",
                Fido2Error::Store(KeyStoreError::Invalid {
                    path: PathBuf::from("/config/fido2/dev.json"),
                    detail: s("expected a list"),
                })
                .into(),
            ),
            (
                "fido2/no-hmac-secret",
                Fido2Error::NoHmacSecret {
                    device: s("/dev/hidraw1"),
                }
                .into(),
            ),
            (
                "fido2/not-enrolled",
                Fido2Error::NotEnrolled { profile: s("dev") }.into(),
            ),
            (
                "fido2/rp-mismatch",
                Fido2Error::RpMismatch {
                    stored: s("cosmoscope"),
                    configured: s("other"),
                }
                .into(),
            ),
            (
                "fido2/label-taken",
                Fido2Error::LabelTaken(s("blue")).into(),
            ),
            ("fido2/pin-needed", Fido2Error::PinNeeded.into()),
            ("fido2/uv-unavailable", Fido2Error::UvUnavailable.into()),
            ("fido2/task", Fido2Error::Task(s("panicked")).into()),
            (
                "account-key/missing",
                CommandError::from_key_error(
                    credential::KeyError::Missing { profile: s("dev") },
                    "dev",
                ),
            ),
            (
                "account-key/not-base64",
                CommandError::from_key_error(credential::KeyError::NotBase64, "dev"),
            ),
            (
                "cosmos/local-auth-disabled",
                CosmosError::Unauthorized {
                    message: s("Local Authorization is disabled"),
                    reason: AuthFailure::LocalAuthDisabled,
                }
                .into(),
            ),
            (
                "cosmos/wrong-audience",
                CosmosError::Unauthorized {
                    message: s("wrong audience"),
                    reason: AuthFailure::WrongAudience,
                }
                .into(),
            ),
            (
                "cosmos/token-expired",
                CosmosError::Unauthorized {
                    message: s("token expired"),
                    reason: AuthFailure::Expired,
                }
                .into(),
            ),
            (
                "cosmos/unauthorized",
                CosmosError::Unauthorized {
                    message: s("bad signature"),
                    reason: AuthFailure::Other,
                }
                .into(),
            ),
            (
                "cosmos/query-fan-out",
                CosmosError::QueryShape {
                    substatus: 20118,
                    message: s("operation fans out to 140 partitions, exceeding the maximum of 100"),
                }
                .into(),
            ),
            (
                "cosmos/query-window",
                CosmosError::QueryShape {
                    substatus: 20125,
                    message: s("cross-partition DISTINCT requires a finite global TOP or LIMIT"),
                }
                .into(),
            ),
            (
                "cosmos/query-ranking",
                CosmosError::QueryShape {
                    substatus: 20113,
                    message: s("unsupported query feature: hybrid search queries"),
                }
                .into(),
            ),
            (
                "cosmos/forbidden",
                CosmosError::Forbidden {
                    message: s("no role"),
                    substatus: Some(5301),
                    scope: s("/dbs/shop"),
                    account: s("acct"),
                }
                .into(),
            ),
            (
                "cosmos/throttled",
                CosmosError::Throttled {
                    tries: 5,
                    retry_after: Some(Duration::from_secs(1)),
                }
                .into(),
            ),
            (
                "cosmos/item-not-found",
                CosmosError::NotFound { resource: item() }.into(),
            ),
            (
                "cosmos/container-not-found",
                CosmosError::NotFound {
                    resource: R::Container {
                        database: s("shop"),
                        container: s("orders"),
                    },
                }
                .into(),
            ),
            (
                "cosmos/database-not-found",
                CosmosError::NotFound {
                    resource: R::Database {
                        database: s("shop"),
                    },
                }
                .into(),
            ),
            (
                "cosmos/account-not-found",
                CosmosError::NotFound {
                    resource: R::Account,
                }
                .into(),
            ),
            (
                "cosmos/conflict",
                CosmosError::Conflict { resource: item() }.into(),
            ),
            (
                "cosmos/precondition",
                CosmosError::PreconditionFailed { resource: item() }.into(),
            ),
            (
                "cosmos/cross-partition",
                CosmosError::CrossPartitionUnsupported {
                    message: s("GROUP BY"),
                }
                .into(),
            ),
            (
                "cosmos/bad-request",
                CosmosError::BadRequest {
                    message: s("Syntax error"),
                }
                .into(),
            ),
            (
                "cosmos/partition-key",
                CosmosError::PartitionKey(s("not JSON")).into(),
            ),
            (
                "cosmos/unreachable",
                CosmosError::Unreachable {
                    endpoint: s("https://acct/"),
                    detail: s("connection refused"),
                }
                .into(),
            ),
            (
                "cosmos/timed-out",
                CosmosError::TimedOut {
                    endpoint: s("https://acct/"),
                    detail: s("60s"),
                }
                .into(),
            ),
            (
                "cosmos/tls",
                CosmosError::Tls {
                    endpoint: s("https://acct/"),
                    detail: s("UnknownIssuer"),
                }
                .into(),
            ),
            (
                "cosmos/token",
                CosmosError::Token {
                    detail: s("az: not logged in"),
                }
                .into(),
            ),
            (
                "cosmos/credential-config",
                CosmosError::CredentialConfig(s("tenant_id missing")).into(),
            ),
            (
                "cosmos/config",
                CosmosError::Config(s("bad endpoint")).into(),
            ),
            (
                "cosmos/service",
                CosmosError::Service {
                    status: 500,
                    substatus: None,
                    message: s("internal"),
                }
                .into(),
            ),
            (
                "settings/read",
                SettingsError::Read {
                    path: PathBuf::from("/config/cosmoscope/config.toml"),
                    source: io(),
                }
                .into(),
            ),
            (
                "settings/invalid",
                SettingsError::Invalid(FileError {
                    path: PathBuf::from("/config/cosmoscope/config.toml"),
                    line: 3,
                    column: 9,
                    message: s("unknown key `isuer`"),
                })
                .into(),
            ),
            (
                "settings/no-profiles",
                SettingsError::NoProfiles {
                    path: PathBuf::from("/config/cosmoscope/config.toml"),
                }
                .into(),
            ),
            (
                "settings/no-default",
                SettingsError::NoDefaultProfile {
                    profiles: vec![s("dev"), s("prod")],
                }
                .into(),
            ),
            (
                "settings/unknown-profile",
                SettingsError::UnknownProfile {
                    name: s("prod"),
                    path: PathBuf::from("/config/cosmoscope/config.toml"),
                    known: vec![s("dev")],
                    named_at: None,
                }
                .into(),
            ),
            ("settings/no-config-dir", SettingsError::NoConfigDir.into()),
        ]
    }

    #[test]
    fn every_error_message_and_hint() {
        let mut text = String::new();
        for (name, e) in all() {
            let _ = write!(text, "## {name} (exit {})\n{}\n", e.exit.code(), e.render());
            assert!(!e.hints.is_empty(), "{name} has no hint");
            assert!(e.source.is_some(), "{name} keeps no source");
        }
        insta::assert_snapshot!(text);
    }
}
