//! The command line: the one source for `--help`, completions and man pages.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

use crate::output::credential::{ExportResource, TokenFormat};
use crate::output::{ColorChoice, OutputFormat};
use crate::settings::{CredentialKind, StoreKind};

const ABOUT: &str = "Access broker for Azure Cosmos DB: log in once, query inside your grants, hand short-lived credentials to other tools";

const LONG_ABOUT: &str = "\
cosmoscope proves who you are once — an OpenID Connect device-code login against any provider
(Auth0, Entra ID, Okta, Keycloak, …) — keeps the short-lived session in the OS keyring, and maps
your identity's claims to scoped Cosmos DB grants.";

const EXAMPLES: &str = "\
Examples:
  cosmoscope init                      set up a profile, step by step
  cosmoscope login                     sign in through your browser
  cosmoscope status                    who you are, your roles, when the session expires
  cosmoscope logout                    revoke the session and forget it

Exit codes: 0 ok · 1 error · 2 usage · 3 login required · 4 denied by policy · 5 refused by a remote
service · 130 interrupted. Configuration: $XDG_CONFIG_HOME/cosmoscope/config.toml.";

#[derive(Debug, Parser)]
#[command(name = "cosmoscope", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
#[command(propagate_version = true, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Profile to use [default: the config file's default_profile]
    #[arg(long, global = true, env = "COSMOSCOPE_PROFILE", value_name = "NAME", add = ArgValueCompleter::new(complete_profiles))]
    pub profile: Option<String>,
    /// Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]
    #[arg(long, global = true, env = "COSMOSCOPE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Output format for data on stdout
    #[arg(short = 'o', long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// Never prompt; fail with a hint instead (implied when CI=true)
    #[arg(long, global = true)]
    pub no_input: bool,
    /// Say more on stderr
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Say nothing on stderr but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colour, decided for each stream (messages on stderr, tables on stdout); NO_COLOR
    /// is honoured
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update a profile, step by step (or entirely from flags with --no-input)
    #[command(after_help = "\
Examples:
  cosmoscope init
  cosmoscope init --profile dev --no-input \\
      --issuer https://example.eu.auth0.com/ --client-id abc123 \\
      --audience https://cosmos-gateway.example --roles-claim https://example.com/roles")]
    Init(InitArgs),
    /// Sign in (in the browser, or with a device code) and keep the session in the OS keyring
    #[command(after_help = "\
Examples:
  cosmoscope login                    open the browser and wait for approval
  cosmoscope login --no-browser       print the code and URL only (SSH sessions)
  cosmoscope login -o json            NDJSON events on stdout, for scripts
  cosmoscope login --refresh          renew the stored session now, without a browser

In CI (no person):
  COSMOSCOPE_CLIENT_SECRET=… cosmoscope login --client-credentials
  cosmoscope login --federated        GitHub Actions / Azure Pipelines / GitLab OIDC token
  cosmoscope login --federated-token-file /var/run/secrets/azure/tokens/azure-identity-token")]
    Login(LoginArgs),
    /// Revoke the refresh token (where the provider supports it) and delete the stored session
    #[command(after_help = "Examples:\n  cosmoscope logout\n  cosmoscope logout --all")]
    Logout(LogoutArgs),
    /// Show who is signed in, with which roles, until when, and where the secrets are kept
    #[command(
        after_help = "Examples:\n  cosmoscope status\n  cosmoscope status -o json | jq .expires_at\n\nExits 3 when no usable session exists."
    )]
    Status,
    /// Check queries and policy files offline: parse, normalise, partition scope, decisions
    #[command(after_help = "\
Examples:
  cosmoscope policy explain \"SELECT c.id FROM c WHERE c.tenant_id = 't1'\" --partition-key-path /tenant_id
  cosmoscope policy explain -o json --queries queries.ndjson
  cosmoscope policy validate policy.toml")]
    Policy(PolicyArgs),
    /// Print a temporary credential for other tools (only when the policy allows export)
    #[command(after_help = "\
Examples:
  eval \"$(cosmoscope token --format env)\"        COSMOS_ENDPOINT, COSMOS_TOKEN, COSMOS_TOKEN_EXPIRES_AT
  cosmoscope token --format json --min-ttl 30m   a token that lives at least 30 more minutes
  cosmoscope token --resource idp               the provider's access token, for APIs behind it

Formats: raw, json ({\"version\":1,\"token\",\"expires_at\",\"resource\",\"endpoint\"}), env (export
lines, quoted for sh/bash/zsh), exec-credential (Kubernetes client.authentication.k8s.io, honouring
KUBERNETES_EXEC_INFO), azure-cli (the shape of `az account get-access-token`). In the JSON formats an
error is JSON on stdout too. Every export is audited.")]
    Token(TokenArgs),
    /// Run a command with a temporary credential in its environment (never in its arguments)
    #[command(after_help = "\
Examples:
  cosmoscope exec -- python migrate.py
  cosmoscope exec --min-ttl 1h -- ./long-job.sh

The child gets COSMOS_ENDPOINT, COSMOS_TOKEN, COSMOS_TOKEN_EXPIRES_AT and COSMOSDB_SHELL_TOKEN.
Signals are forwarded to it, and cosmoscope exits with its exit code.")]
    Exec(ExecArgs),
    /// Check the configuration, the provider (and the clock), the keyring and the session
    #[command(
        after_help = "Examples:\n  cosmoscope doctor\n  cosmoscope doctor -o json\n\nPrints ✓/✗ per check with the fix for each ✗; exits 1 when any check fails."
    )]
    Doctor,
    /// FIDO2 security keys of cosmoscope's own relying party: enroll, list, remove
    #[command(
        subcommand,
        after_help = "\
Examples:
  cosmoscope key enroll --label yubikey-blue
  cosmoscope key enroll --device /dev/hidraw3 --alg ed25519
  cosmoscope key list -o json
  cosmoscope key remove yubikey-blue"
    )]
    Key(KeyCommand),
    /// Run a query inside your grants: checked by the policy, pinned to your partitions, audited
    #[command(after_help = "\
Examples:
  cosmoscope query --container orders \"SELECT c.id, c.total FROM c WHERE c.status = 'open'\"
  cosmoscope query --container orders -o ndjson --file report.sql > out.ndjson
  cosmoscope query --container orders --param tenant='\"t1\"' \"SELECT * FROM c WHERE c.tenant_id = @tenant\"
  echo \"SELECT VALUE COUNT(1) FROM c\" | cosmoscope query --container orders --partition-key '\"t1\"' -

Results stream page by page (memory stays flat); the item count and RU charge go to stderr.
Exits 4 when the policy denies the query (every failed rule is listed), 2 on a syntax error.")]
    Query(QueryArgs),
    /// Point operations on one item: get, upsert (create or replace), delete
    #[command(
        subcommand,
        after_help = "Examples:\n  cosmoscope item get --container customers --partition-key '\"t1\"' c1\n  cosmoscope item upsert --container customers --partition-key '\"t1\"' c1 --file c1.json\n  cosmoscope item delete --container customers --partition-key '\"t1\"' c1 --yes"
    )]
    Item(ItemCommand),
    /// List databases, or the containers of a database
    #[command(
        after_help = "Examples:\n  cosmoscope ls databases\n  cosmoscope ls containers --database shop -o json"
    )]
    Ls(LsArgs),
    /// Keep a Cosmos DB account key in the OS keyring for credential = "key" profiles
    #[command(
        subcommand,
        name = "account-key",
        after_help = "The key is read from stdin or a hidden prompt, never from the command line.\n\nExamples:\n  cosmoscope account-key set < key.txt\n  cosmoscope account-key set            (prompts, hidden)\n  cosmoscope account-key remove"
    )]
    AccountKey(AccountKeyCommand),
    /// Read the local audit log: who did what, and why something was denied
    #[command(
        after_help = "Examples:\n  cosmoscope audit --denied --since 24h\n  cosmoscope audit -o ndjson | jq 'select(.action == \"query\")'"
    )]
    Audit(AuditArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  cosmoscope completions bash > ~/.local/share/bash-completion/completions/cosmoscope\n  cosmoscope completions zsh > \"${fpath[1]}/_cosmoscope\""
    )]
    Completions(CompletionsArgs),
    /// Run the gateway: the policy enforced on a server that holds the Cosmos DB credential
    #[command(after_help = "\
Examples:
  COSMOSCOPE_GATEWAY_ACCOUNT_KEY=… cosmoscope serve --config gateway.toml
  cosmoscope serve --config gateway.toml --check     # validate before a rollout
  curl -H \"Authorization: Bearer $(cosmoscope token --resource gateway --format raw)\" \\
       https://gateway.example/v1/whoami

The server verifies every caller's bearer token (issuer, the gateway's audience, expiry, the
provider's keys) and decides on its claims alone. API: /v1/whoami, /v1/query, /v1/explain,
/v1/databases[/{db}/containers], /v1/databases/{db}/containers/{c}/items/{id}; described at
/v1/openapi.json. /healthz, /readyz and /metrics for operations. Logs are JSON lines on stderr;
one audit record per request on stdout (or the configured file). SIGHUP reloads the policy;
SIGTERM or Ctrl-C stops it after in-flight streams finish (20 s at most).
See the README, \"Run a gateway\", for the configuration keys.")]
    Serve(ServeArgs),
    /// Serve AI agents over the Model Context Protocol (stdio), inside the session's grants
    #[command(after_help = "\
Examples:
  cosmoscope mcp                       # started by an MCP client (Claude, VS Code, Cursor …)
  cosmoscope --profile work mcp --max-items 50

Every tool call is checked by the profile's policy on the signed-in session — pinned, capped,
denied fields refused — and audited with \"via\": \"mcp\" and the client's name and version.
stdout carries protocol messages only; the server ends when stdin closes. Tools: whoami,
list_containers, explain_query, query, get_item; with --allow-writes also upsert_item and
delete_item, each confirmed by the person through the client (MCP elicitation) or refused.
See the README, \"AI agents (MCP)\".")]
    Mcp(McpArgs),
}

impl Command {
    /// The `-o` formats this command can give; any other is a usage error before it runs.
    #[must_use]
    pub fn formats(&self) -> &'static [OutputFormat] {
        match self {
            Command::Query(_) | Command::Item(_) | Command::Ls(_) | Command::Audit(_) => {
                OutputFormat::ALL
            }
            Command::Key(KeyCommand::List) => OutputFormat::ALL,
            Command::Key(KeyCommand::Enroll(_))
            | Command::Status
            | Command::Policy(_)
            | Command::Login(_)
            | Command::Doctor => OutputFormat::OBJECT,
            // `--check` prints its summary; the server itself prints JSON log lines only.
            Command::Serve(args) if args.check => OutputFormat::OBJECT,
            Command::Key(KeyCommand::Remove(_))
            | Command::Init(_)
            | Command::Logout(_)
            | Command::Token(_)
            | Command::Exec(_)
            | Command::AccountKey(_)
            | Command::Serve(_)
            | Command::Mcp(_)
            | Command::Completions(_) => OutputFormat::NONE,
        }
    }
}

/// Identity providers `init` knows the settings of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderPreset {
    /// Microsoft Entra ID (--tenant: the tenant id, or organizations with --allowed-tenant)
    Entra,
    /// Auth0 (--tenant: the tenant's domain, e.g. example.eu.auth0.com)
    Auth0,
    /// Okta (--tenant: the org's domain; the default authorization server)
    Okta,
    /// Keycloak (--issuer: the realm's URL; realm roles from the access token)
    Keycloak,
    /// Google (installed app; the client secret from GOOGLE_CLIENT_SECRET)
    Google,
    /// Any OpenID provider (--issuer)
    Generic,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Fill in the issuer, scopes, roles claim and Cosmos credential for this provider
    #[arg(long, value_enum, value_name = "PROVIDER")]
    pub provider: Option<ProviderPreset>,
    /// The provider's tenant: Entra's tenant id (or organizations), Auth0's or Okta's domain
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Entra multi-tenant (--tenant organizations): a tenant whose people may sign in; repeat
    #[arg(long = "allowed-tenant", value_name = "TENANT_ID")]
    pub allowed_tenants: Vec<String>,
    /// OpenID issuer URL (discovery at <issuer>/.well-known/openid-configuration)
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Public client id registered with the provider (device-code grant enabled)
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// API audience to request (Auth0 needs it for JWT access tokens)
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// Scope to request; repeat for several [default: openid profile offline_access]
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Claim holding the roles: a claim name, or a JSON pointer starting with /
    #[arg(long, value_name = "CLAIM")]
    pub roles_claim: Option<String>,
    /// Where to keep the session's secrets
    #[arg(long, value_enum, value_name = "STORE")]
    pub store: Option<StoreKind>,
    /// Cosmos DB account endpoint
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Default Cosmos DB database
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// How cosmoscope authenticates to Cosmos DB
    #[arg(long, value_enum, value_name = "KIND")]
    pub credential: Option<CredentialKind>,
    /// Policy file, relative to the config file
    #[arg(long, value_name = "PATH")]
    pub policy_file: Option<String>,
    /// Replace the profile if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Sign in in the browser (authorization code + PKCE, answered on a loopback port), whatever
    /// the profile's login_flow says
    #[arg(long, conflicts_with_all = ["device_code", "refresh", "fido2", "client_credentials", "federated"])]
    pub browser: bool,
    /// Sign in with a device code (another device's browser), whatever the profile's login_flow says
    #[arg(long, conflicts_with_all = ["refresh", "fido2", "client_credentials", "federated"])]
    pub device_code: bool,
    /// Do not open a browser: print the URL (and the code) for you to open
    #[arg(long)]
    pub no_browser: bool,
    /// How long the browser sign-in waits for the provider's answer
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Renew the stored session with its refresh token now, without a browser
    #[arg(long, conflicts_with_all = ["client_credentials", "federated"])]
    pub refresh: bool,
    /// Log in with a touch of your security key: unseal the stored refresh token and renew the
    /// session, no browser (run a device-code login once first; with a key enrolled it seals)
    #[arg(long, conflicts_with_all = ["refresh", "client_credentials", "federated"])]
    pub fido2: bool,
    /// The security key's device path (hidraw node) [env: COSMOSCOPE_FIDO2_DEVICE]
    #[arg(long, value_name = "PATH")]
    pub device: Option<String>,
    /// CI: log in as the profile's confidential client; the secret comes from
    /// COSMOSCOPE_CLIENT_SECRET or, with --client-secret-stdin, from stdin (never from a flag)
    #[arg(long, conflicts_with = "federated")]
    pub client_credentials: bool,
    /// Read the client secret from stdin
    #[arg(long, requires = "client_credentials")]
    pub client_secret_stdin: bool,
    /// CI: exchange the CI system's own OIDC token (GitHub Actions, Azure Pipelines, GitLab
    /// COSMOSCOPE_ID_TOKEN, AZURE_FEDERATED_TOKEN_FILE) for a session — workload identity federation
    #[arg(long)]
    pub federated: bool,
    /// CI: the federated token is in this file (implies --federated)
    #[arg(long, value_name = "PATH")]
    pub federated_token_file: Option<PathBuf>,
    /// How the federated token is presented to the provider
    #[arg(long, value_enum, default_value_t = Exchange::ClientAssertion, value_name = "HOW")]
    pub exchange: Exchange,
    /// Audience to request for the CI system's token
    #[arg(long, value_name = "AUD", default_value = crate::identity::ci::DEFAULT_AUDIENCE)]
    pub federated_audience: String,
}

/// RFC 7523 client assertion (Entra ID), RFC 7523 JWT-bearer grant, or RFC 8693 token exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Exchange {
    ClientAssertion,
    JwtBearer,
    TokenExchange,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Log out of every profile in the config file
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a credential on a security key (one touch, and its PIN if it has one) and remember it
    Enroll(KeyEnrollArgs),
    /// List the keys enrolled for the profile
    List,
    /// Forget an enrolled key (by label or ID from `key list`); the key itself is not changed
    Remove(KeyRemoveArgs),
}

#[derive(Debug, Args)]
pub struct KeyEnrollArgs {
    /// A name for the key [default: key-N]
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// The key's HID device path (e.g. /dev/hidraw3) [default: the only key connected]
    #[arg(long, env = "COSMOSCOPE_FIDO2_DEVICE", value_name = "PATH")]
    pub device: Option<String>,
    /// Signature algorithm of the new credential
    #[arg(long, value_enum, default_value_t = crate::fido2::Algorithm::Es256, value_name = "ALG")]
    pub alg: crate::fido2::Algorithm,
}

#[derive(Debug, Args)]
pub struct KeyRemoveArgs {
    /// The key's label or ID (as `key list` shows it)
    #[arg(value_name = "ID_OR_LABEL")]
    pub key: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The gateway's configuration file: a [server] table (listen, TLS, issuer, audience, policy,
    /// audit, limits) and [server.cosmos] (endpoint, database, the gateway's own credential)
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/cosmoscope/server.toml"
    )]
    pub config: std::path::PathBuf,
    /// Check the configuration and the policy, print what would be served, and exit (no network)
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The most items one query call returns (the grant's max_items applies too)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_items: u64,
    /// Offer upsert_item and delete_item, each confirmed by the person through the client
    #[arg(long)]
    pub allow_writes: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse a query, print its normalised form and the partitions it can touch; with a session and
    /// a policy file, also whether you may run it and why
    #[command(after_help = "\
Works offline: no config and no login needed. With a logged-in profile whose config names a policy
file (and --container), it adds the decision and every reason.

--queries FILE reads NDJSON lines {\"query\":…,\"partition_key_paths\":[\"/a\"]} (\"-\" for stdin) and
answers one JSON line each, streaming.

Exits 2 on a syntax error (the JSON still says where).")]
    Explain(PolicyExplainArgs),
    /// Check a policy file (default: the profile's); problems are reported as file:line:column
    Validate(PolicyValidateArgs),
}

#[derive(Debug, Args)]
pub struct PolicyExplainArgs {
    /// The query text ("-" reads it from stdin)
    #[arg(value_name = "SQL", conflicts_with = "queries")]
    pub sql: Option<String>,
    /// Read the query from a file
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sql", "queries"])]
    pub file: Option<PathBuf>,
    /// The container's partition-key path; repeat for hierarchical keys
    #[arg(long = "partition-key-path", value_name = "/PATH")]
    pub partition_key_paths: Vec<String>,
    /// Query parameter as NAME=JSON, e.g. --param tenant='"t1"'
    #[arg(long = "param", value_name = "NAME=JSON")]
    pub params: Vec<String>,
    /// Container the query would run against (for the decision)
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Database [default: the profile's]
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Explain many queries: NDJSON lines in, one JSON line out per query
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyValidateArgs {
    /// The policy file [default: the profile's policy file]
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = TokenFormat::Raw)]
    pub format: TokenFormat,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// Which credential
    #[arg(long, value_enum, default_value_t = ExportResource::Cosmos)]
    pub resource: ExportResource,
    /// The credential must live at least this long (e.g. 30m, 2h); refreshes first if needed
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub min_ttl: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub credential: CredentialArgs,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 90s, 30m, 2h)"))
}

/// The environment variable through which the shell asks cosmoscope for completions.
pub const COMPLETE_VAR: &str = "COSMOSCOPE_COMPLETE";

/// Completes `--profile` with the names in the config file (dynamic completion: the shell calls
/// back into cosmoscope, so new profiles complete without regenerating anything).
fn complete_profiles(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    let env = crate::env::Env::from_process();
    let explicit = env.get(crate::env::vars::CONFIG).map(PathBuf::from);
    let Ok(path) = crate::settings::config_path(explicit.as_deref(), &env) else {
        return Vec::new();
    };
    let Ok(Some(config)) = crate::settings::Config::load(&path) else {
        return Vec::new();
    };
    let prefix = current.to_string_lossy();
    config
        .profile_names()
        .into_iter()
        .filter(|n| n.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

#[derive(Debug, Subcommand)]
pub enum ItemCommand {
    /// Print one item
    Get(ItemTarget),
    /// Create the item, or replace it after confirmation (the document from --file or stdin)
    Upsert(UpsertArgs),
    /// Delete one item (asks first unless --yes)
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct ItemTarget {
    /// The item's id
    #[arg(value_name = "ID")]
    pub id: String,
    /// Container holding the item
    #[arg(long, short = 'c', value_name = "NAME")]
    pub container: String,
    /// The item's partition-key value as JSON ('"t1"', 42, or an array for hierarchical keys)
    #[arg(long, value_name = "JSON", allow_hyphen_values = true)]
    pub partition_key: String,
    /// Database [default: the profile's database]
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpsertArgs {
    #[command(flatten)]
    pub target: ItemTarget,
    /// Read the document from this file (`-` for stdin) [default: stdin]
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Replace an existing item without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: ItemTarget,
    /// Delete without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// What to list [default: containers when a database is known, else databases]
    #[arg(value_enum)]
    pub what: Option<LsWhat>,
    /// Database whose containers to list [default: the profile's database]
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LsWhat {
    Databases,
    Containers,
}

#[derive(Debug, Subcommand)]
pub enum AccountKeyCommand {
    /// Store the profile's account key (from stdin, or a hidden prompt)
    Set,
    /// Delete the profile's account key from the keyring
    Remove,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The query ("-" reads it from stdin)
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,
    /// Read the query from a file
    #[arg(long, value_name = "FILE", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// Database [default: the profile's]
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Container to query
    #[arg(long, short = 'c', value_name = "NAME")]
    pub container: String,
    /// Run in one partition: a JSON value (an array for hierarchical keys)
    #[arg(long, value_name = "JSON")]
    pub partition_key: Option<String>,
    /// Query parameter as NAME=JSON, e.g. --param tenant='"t1"'
    #[arg(long = "param", value_name = "NAME=JSON")]
    pub params: Vec<String>,
    /// Stop after this many items (the grant's max_items also applies)
    #[arg(long, value_name = "N")]
    pub max_items: Option<u64>,
    /// Let a query across partitions reach up to N physical partitions [default: the SDK's 100]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_fan_out: Option<u32>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only denials
    #[arg(long)]
    pub denied: bool,
    /// Only records newer than this (e.g. 30m, 24h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
}
