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
complete -c cosmoscope -n "__fish_cosmoscope_needs_command" -f -a "key" -d 'FIDO2 security keys of cosmoscope\'s own relying party: enroll, list, remove'
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
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -f -a "enroll" -d 'Create a credential on a security key (one touch, and its PIN if it has one) and remember it'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -f -a "list" -d 'List the keys enrolled for the profile'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -f -a "remove" -d 'Forget an enrolled key (by label or ID from `key list`); the key itself is not changed'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and not __fish_seen_subcommand_from enroll list remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -l label -d 'A name for the key [default: key-N]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -l device -d 'The key\'s HID device path (e.g. /dev/hidraw3) [default: the only key connected]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -l alg -d 'Signature algorithm of the new credential' -r -f -a "es256\t'ECDSA P-256 with SHA-256 (COSE -7): every FIDO2 key has it'
ed25519\t'Ed25519 (COSE -8): newer keys'"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from enroll" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -l profile -d 'Profile to use [default: the config file\'s default_profile]' -r
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/cosmoscope/config.toml]' -r -F
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -s o -l output -d 'Output format for data on stdout' -r -f -a "table\t''
json\t''
ndjson\t''
csv\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -l color -d 'When to use colour on stderr (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -l no-input -d 'Never prompt; fail with a hint instead (implied when CI=true)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'Say more on stderr'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Say nothing on stderr but errors'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "enroll" -d 'Create a credential on a security key (one touch, and its PIN if it has one) and remember it'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the keys enrolled for the profile'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Forget an enrolled key (by label or ID from `key list`); the key itself is not changed'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
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
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status key completions help" -f -a "init" -d 'Create or update a profile, step by step (or entirely from flags with --no-input)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status key completions help" -f -a "login" -d 'Sign in with the device-code flow and keep the session in the OS keyring'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status key completions help" -f -a "logout" -d 'Revoke the refresh token (where the provider supports it) and delete the stored session'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status key completions help" -f -a "status" -d 'Show who is signed in, with which roles, until when, and where the secrets are kept'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status key completions help" -f -a "key" -d 'FIDO2 security keys of cosmoscope\'s own relying party: enroll, list, remove'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status key completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and not __fish_seen_subcommand_from init login logout status key completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "enroll" -d 'Create a credential on a security key (one touch, and its PIN if it has one) and remember it'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "list" -d 'List the keys enrolled for the profile'
complete -c cosmoscope -n "__fish_cosmoscope_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "remove" -d 'Forget an enrolled key (by label or ID from `key list`); the key itself is not changed'
