//! The command line: the one source for `--help`, completions and man pages.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    #[arg(long, global = true, env = "COSMOSCOPE_PROFILE", value_name = "NAME")]
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
    /// When to use colour on stderr (NO_COLOR is honoured)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Ndjson,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
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
    /// Sign in with the device-code flow and keep the session in the OS keyring
    #[command(after_help = "\
Examples:
  cosmoscope login                    open the browser and wait for approval
  cosmoscope login --no-browser       print the code and URL only (SSH sessions)
  cosmoscope login -o json            NDJSON events on stdout, for scripts
  cosmoscope login --refresh          renew the stored session now, without a browser")]
    Login(LoginArgs),
    /// Revoke the refresh token (where the provider supports it) and delete the stored session
    #[command(after_help = "Examples:\n  cosmoscope logout\n  cosmoscope logout --all")]
    Logout(LogoutArgs),
    /// Show who is signed in, with which roles, until when, and where the secrets are kept
    #[command(
        after_help = "Examples:\n  cosmoscope status\n  cosmoscope status -o json | jq .expires_at\n\nExits 3 when no usable session exists."
    )]
    Status,
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
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  cosmoscope completions bash > ~/.local/share/bash-completion/completions/cosmoscope\n  cosmoscope completions zsh > \"${fpath[1]}/_cosmoscope\""
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
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
    /// Do not open a browser; print the URL and code only
    #[arg(long)]
    pub no_browser: bool,
    /// Renew the stored session with its refresh token now, without a browser
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Log out of every profile in the config file
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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
