//! `cosmoscope account-key set|remove`: keeps a Cosmos account key in the OS keyring for
//! `credential = "key"` profiles. The key is read from stdin or a hidden prompt — never argv.

use std::io::{IsTerminal as _, Read as _};

use secrecy::SecretString;

use crate::app::App;
use crate::cli::AccountKeyCommand;
use crate::commands::gate::{Act, Gate};
use crate::cosmos::credential::{account_key_entry, parse_account_key};
use crate::error::{CmdResult, CommandError};
use crate::settings::{Config, CosmosSettings, CredentialKind, Profile};

pub async fn run(app: &App, command: &AccountKeyCommand) -> CmdResult {
    let (_, _, settings) = app.cosmos_settings()?;
    let action = match command {
        AccountKeyCommand::Set => Act::ACCOUNT_KEY_SET,
        AccountKeyCommand::Remove => Act::ACCOUNT_KEY_REMOVE,
    };
    Gate::run(app, action, async |gate| {
        gate.note_identity();
        gate.record.detail = Some(format!("endpoint {}", settings.endpoint));
        let (config, profile) = (&gate.config, &gate.profile);
        change(app, config, profile, &settings, command).await
    })
    .await
}

async fn change(
    app: &App,
    config: &Config,
    profile: &Profile,
    settings: &CosmosSettings,
    command: &AccountKeyCommand,
) -> CmdResult {
    let entry = account_key_entry(&profile.name, &settings.endpoint);
    match command {
        AccountKeyCommand::Set => {
            if settings.credential != CredentialKind::Key {
                app.ui.warn(format!(
                    "profile {:?} uses credential = {:?}; the key is used only with credential = \"key\"",
                    profile.name, settings.credential
                ));
            }
            let key = parse_account_key(&read_key(app)?.0)?;
            let store = app.keyring.open(profile.store)?;
            // With a security key enrolled, the account key is stored sealed to it: the keyring
            // entry alone is useless.
            let sealed = match app.fido2(config, profile, None) {
                Ok(ctx) if crate::fido2::has_keys(&ctx) => Some(
                    crate::fido2::sealing_key(&ctx, None)
                        .await?
                        .seal(crate::fido2::seal::Slot::AccountKey, &key),
                ),
                _ => None,
            };
            let how = if sealed.is_some() {
                ", sealed to your security key"
            } else {
                ""
            };
            store.set(&entry, &sealed.map_or(key, SecretString::from))?;
            app.ui.success(format!(
                "stored the account key for {} in the {} store{how}",
                settings.endpoint,
                store.kind().as_str()
            ));
        }
        AccountKeyCommand::Remove => {
            let store = app.keyring.open(profile.store)?;
            if store.delete(&entry)? {
                app.ui.success(format!(
                    "removed the account key of profile {:?}",
                    profile.name
                ));
            } else {
                app.ui.info(format!(
                    "no account key was stored for profile {:?}",
                    profile.name
                ));
            }
        }
    }
    Ok(())
}

/// A wrapper so the raw text never gets a `Debug`/`Display`; wiped when dropped.
struct RawKey(zeroize::Zeroizing<String>);

fn read_key(app: &App) -> CmdResult<RawKey> {
    if !std::io::stdin().is_terminal() {
        let mut s = zeroize::Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(RawKey(s));
    }
    if !app.ui.can_prompt() {
        return Err(CommandError::usage("no key given")
            .hint("pipe the key on stdin: `cosmoscope account-key set < keyfile`"));
    }
    let key = dialoguer::Password::new()
        .with_prompt("Account key (hidden)")
        .interact()
        .map_err(|e| CommandError::runtime("cannot read the key").cause(e))?;
    Ok(RawKey(zeroize::Zeroizing::new(key)))
}
