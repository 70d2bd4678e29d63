# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_cosmoscope_global_optspecs
    string join \n profile= config= o/output= no-input v/verbose q/quiet color= h/help V/version
end

function __fish_cosmoscope_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_cosmoscope_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_cosmoscope_using_subcommand
    set -l cmd (__fish_cosmoscope_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "init" -d 'Create or update a profile, step by step (or entirely from flags with --no-input)'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "login" -d 'Sign in with the device-code flow and keep the session in the OS keyring'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "logout" -d 'Revoke the refresh token (where the provider supports it) and delete the stored session'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "status" -d 'Show who is signed in, with which roles, until when, and where the secrets are kept'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "policy" -d 'Check queries and policy files offline: parse, normalise, partition scope, decisions'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "token" -d 'Print a temporary credential for other tools (only when the policy allows export)'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "exec" -d 'Run a command with a temporary credential in its environment (never in its arguments)'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "doctor" -d 'Check the configuration, the provider (and the clock), the keyring and the session'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l issuer -d 'OpenID issuer URL (discovery at <issuer>/.well-known/openid-configuration)' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l client-id -d 'Public client id registered with the provider (device-code grant enabled)' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l audience -d 'API audience to request (Auth0 needs it for JWT access tokens)' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l scope -d 'Scope to request; repeat for several [default: openid profile offline_access]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l roles-claim -d 'Claim holding the roles: a claim name, or a JSON pointer starting with /' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l store -d 'Where to keep the session\'s secrets' -r -f -a "auto\t'Secret Service on Linux (falling back to kernel keyutils), Keychain on macOS, Credential Manager on Windows'
secret-service\t''
keyutils\t''
macos-keychain\t''
windows-credential\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l endpoint -d 'Cosmos DB account endpoint' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l database -d 'Default Cosmos DB database' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l credential -d 'How cosmoscope authenticates to Cosmos DB' -r -f -a "entra\t''
key\t''
azure-cli\t''
managed-identity\t''
workload-identity\t''
client-secret\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l policy-file -d 'Policy file, relative to the config file' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l force -d 'Replace the profile if it exists'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand init" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l federated-token-file -d 'CI: the federated token is in this file (implies --federated)' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l exchange -d 'How the federated token is presented to the provider' -r -f -a "client-assertion\t''
jwt-bearer\t''
token-exchange\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l federated-audience -d 'Audience to request for the CI system\'s token' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l no-browser -d 'Do not open a browser; print the URL and code only'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l refresh -d 'Renew the stored session with its refresh token now, without a browser'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l client-credentials -d 'CI: log in as the profile\'s confidential client; the secret comes from COSMOSCOPE_CLIENT_SECRET or, with --client-secret-stdin, from stdin (never from a flag)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l client-secret-stdin -d 'Read the client secret from stdin'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l federated -d 'CI: exchange the CI system\'s own OIDC token (GitHub Actions, Azure Pipelines, GitLab COSMOSCOPE_ID_TOKEN, AZURE_FEDERATED_TOKEN_FILE) for a session — workload identity federation'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand login" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -l all -d 'Log out of every profile in the config file'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand logout" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand status" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -f -a "explain" -d 'Parse a query, print its normalised form and the partitions it can touch; with a session and a policy file, also whether you may run it and why'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -f -a "validate" -d 'Check a policy file (default: the profile\'s); problems are reported as file:line:column'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and not __fish_seen_subcommand_from explain validate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l file -d 'Read the query from a file' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l partition-key-path -d 'The container\'s partition-key path; repeat for hierarchical keys' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l param -d 'Query parameter as NAME=JSON, e.g. --param tenant=\'"t1"\'' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l container -d 'Container the query would run against (for the decision)' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l database -d 'Database [default: the profile\'s]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l queries -d 'Explain many queries: NDJSON lines in, one JSON line out per query' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from explain" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from validate" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "explain" -d 'Parse a query, print its normalised form and the partitions it can touch; with a session and a policy file, also whether you may run it and why'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "validate" -d 'Check a policy file (default: the profile\'s); problems are reported as file:line:column'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand policy; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -l format -d 'Output format' -r -f -a "raw\t''
json\t''
env\t''
exec-credential\t''
azure-cli\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -l resource -d 'Which credential' -r -f -a "cosmos\t'The token Cosmos DB accepts for this profile'
idp\t'The identity provider\'s access token'"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -l min-ttl -d 'The credential must live at least this long (e.g. 30m, 2h); refreshes first if needed' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand token" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -l resource -d 'Which credential' -r -f -a "cosmos\t'The token Cosmos DB accepts for this profile'
idp\t'The identity provider\'s access token'"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -l min-ttl -d 'The credential must live at least this long (e.g. 30m, 2h); refreshes first if needed' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand exec" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand completions" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "init" -d 'Create or update a profile, step by step (or entirely from flags with --no-input)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "login" -d 'Sign in with the device-code flow and keep the session in the OS keyring'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "logout" -d 'Revoke the refresh token (where the provider supports it) and delete the stored session'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "status" -d 'Show who is signed in, with which roles, until when, and where the secrets are kept'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "policy" -d 'Check queries and policy files offline: parse, normalise, partition scope, decisions'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "token" -d 'Print a temporary credential for other tools (only when the policy allows export)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "exec" -d 'Run a command with a temporary credential in its environment (never in its arguments)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "doctor" -d 'Check the configuration, the provider (and the clock), the keyring and the session'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status policy token exec doctor completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "explain" -d 'Parse a query, print its normalised form and the partitions it can touch; with a session and a policy file, also whether you may run it and why'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and __fish_seen_subcommand_from policy" -f -a "validate" -d 'Check a policy file (default: the profile\'s); problems are reported as file:line:column'
