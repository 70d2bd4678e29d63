//! The process environment, read once (uv's `EnvVars`, cargo's `GlobalContext`).
//!
//! Nothing else in cosmoscope calls `std::env::var`: commands receive an [`Env`] through the app, and
//! tests build one by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Names of every environment variable cosmoscope reads.
pub mod vars {
    pub const PROFILE: &str = "COSMOSCOPE_PROFILE";
    pub const CONFIG: &str = "COSMOSCOPE_CONFIG";
    /// The system configuration (default `/etc/cosmoscope/config.toml`), for an administrator's
    /// wrapper; with `locked = true` the invoking user cannot bring another.
    pub const SYSTEM_CONFIG: &str = "COSMOSCOPE_SYSTEM_CONFIG";
    pub const CI: &str = "CI";
    pub const NO_COLOR: &str = "NO_COLOR";
    pub const HOME: &str = "HOME";
    pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
    pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
    pub const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
    pub const APPDATA: &str = "APPDATA";
    pub const LOCALAPPDATA: &str = "LOCALAPPDATA";
    pub const DISPLAY: &str = "DISPLAY";
    pub const WAYLAND_DISPLAY: &str = "WAYLAND_DISPLAY";
    pub const BROWSER: &str = "BROWSER";
    /// Set by sshd: a browser opened here would open on the remote machine, not the person's.
    pub const SSH_CONNECTION: &str = "SSH_CONNECTION";
    pub const SSH_TTY: &str = "SSH_TTY";
    pub const DBUS_SESSION_BUS_ADDRESS: &str = "DBUS_SESSION_BUS_ADDRESS";
    pub const COSMOS_DISABLE_IMDS: &str = "COSMOS_DISABLE_IMDS";
    pub const KUBERNETES_EXEC_INFO: &str = "KUBERNETES_EXEC_INFO";
    /// CI login: the client secret (never a flag), a client id override, and the CI systems'
    /// federated-token sources.
    pub const COSMOSCOPE_CLIENT_SECRET: &str = "COSMOSCOPE_CLIENT_SECRET";
    pub const COSMOSCOPE_CLIENT_ID: &str = "COSMOSCOPE_CLIENT_ID";
    pub const COSMOSCOPE_ID_TOKEN: &str = "COSMOSCOPE_ID_TOKEN";
    pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
    pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
    pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
    pub const SYSTEM_OIDCREQUESTURI: &str = "SYSTEM_OIDCREQUESTURI";
    pub const SYSTEM_ACCESSTOKEN: &str = "SYSTEM_ACCESSTOKEN";

    /// Every variable above: the only ones read from the process environment.
    pub const ALL: &[&str] = &[
        PROFILE,
        CONFIG,
        SYSTEM_CONFIG,
        CI,
        NO_COLOR,
        HOME,
        XDG_CONFIG_HOME,
        XDG_STATE_HOME,
        XDG_RUNTIME_DIR,
        APPDATA,
        LOCALAPPDATA,
        DISPLAY,
        WAYLAND_DISPLAY,
        BROWSER,
        SSH_CONNECTION,
        SSH_TTY,
        DBUS_SESSION_BUS_ADDRESS,
        COSMOS_DISABLE_IMDS,
        KUBERNETES_EXEC_INFO,
        COSMOSCOPE_CLIENT_SECRET,
        COSMOSCOPE_CLIENT_ID,
        COSMOSCOPE_ID_TOKEN,
        AZURE_FEDERATED_TOKEN_FILE,
        ACTIONS_ID_TOKEN_REQUEST_URL,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN,
        SYSTEM_OIDCREQUESTURI,
        SYSTEM_ACCESSTOKEN,
        FIDO2_DEVICE,
        FIDO2_PIN,
        AZURE_AUTHORITY_HOST,
        AZURE_TENANT_ID,
        AZURE_CLIENT_ID,
        AZURE_CLIENT_SECRET,
    ];
    /// The secrets among them: `exec` removes every one from the child's environment, which gets
    /// only the credential it was given.
    pub const SECRETS: &[&str] = &[
        COSMOSCOPE_CLIENT_SECRET,
        COSMOSCOPE_ID_TOKEN,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN,
        SYSTEM_ACCESSTOKEN,
        FIDO2_PIN,
        AZURE_CLIENT_SECRET,
    ];
    /// The security key's device path (hidraw node), when udev cannot find it or several are plugged in.
    pub const FIDO2_DEVICE: &str = "COSMOSCOPE_FIDO2_DEVICE";
    /// The security key's PIN, for automation; people get a hidden prompt.
    pub const FIDO2_PIN: &str = "COSMOSCOPE_FIDO2_PIN";
    // Broker identities (azure_identity's conventions); secrets only ever from here, never argv.
    pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
    pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
    pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
    pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
    /// Debug builds only: a named point panics with a secret in its message (the secrets audit).
    pub const DEBUG_PANIC: &str = "COSMOSCOPE_DEBUG_PANIC";
}

/// Whether `name` can be an environment variable's name (what a profile may point at).
#[must_use]
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Clone, Default)]
pub struct Env {
    values: BTreeMap<&'static str, String>,
}

/// Some values are secrets (`COSMOSCOPE_CLIENT_SECRET`, `AZURE_CLIENT_SECRET`, the PIN): our copies
/// are wiped when the last holder drops them (the process environment itself stays as it was).
impl Drop for Env {
    fn drop(&mut self) {
        for v in self.values.values_mut() {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

/// Names only: some values are secrets (`AZURE_CLIENT_SECRET`).
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Env {
    /// Captures the variables cosmoscope cares about from the real process environment.
    #[must_use]
    pub fn from_process() -> Self {
        let values = vars::ALL
            .iter()
            .filter_map(|&name| std::env::var(name).ok().map(|v| (name, v)))
            .collect();
        Self { values }
    }

    /// A secret in the variable a profile names (`client_secret_env`): read when it is needed,
    /// never copied into the snapshot above, and never passed on to `exec`'s child.
    #[must_use]
    pub fn named_secret(name: &str) -> Option<secrecy::SecretString> {
        if !is_variable_name(name) {
            return None;
        }
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(secrecy::SecretString::from)
    }

    /// One more variable (unit tests build their environment with it).
    #[cfg(test)]
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.values.insert(name, value.into());
        self
    }

    /// A variable's value; an empty value counts as unset (as most tools treat it).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    #[must_use]
    pub fn is_truthy(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no"))
    }

    fn home(&self) -> Option<PathBuf> {
        self.get(vars::HOME).map(PathBuf::from)
    }

    /// `$XDG_CONFIG_HOME/cosmoscope` (or the platform's equivalent).
    #[must_use]
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.get(vars::XDG_CONFIG_HOME)
            .map(PathBuf::from)
            .or_else(|| self.get(vars::APPDATA).map(PathBuf::from))
            .or_else(|| self.home().map(|h| h.join(".config")))
            .map(|d| d.join("cosmoscope"))
    }

    /// `$XDG_STATE_HOME/cosmoscope`: sessions' public metadata, locks, the audit log.
    #[must_use]
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.get(vars::XDG_STATE_HOME)
            .map(PathBuf::from)
            .or_else(|| self.get(vars::LOCALAPPDATA).map(PathBuf::from))
            .or_else(|| self.home().map(|h| h.join(".local").join("state")))
            .map(|d| d.join("cosmoscope"))
    }

    /// Whether a browser opened here would be in front of the person: a graphical session (or a
    /// `BROWSER` they chose), and not an SSH login (there, `--browser` still forces it).
    #[must_use]
    pub fn browser_is_local(&self) -> bool {
        self.has_display()
            && self.get(vars::SSH_CONNECTION).is_none()
            && self.get(vars::SSH_TTY).is_none()
    }

    /// Whether a graphical session exists to open a browser in.
    #[must_use]
    pub fn has_display(&self) -> bool {
        if cfg!(any(target_os = "macos", target_os = "windows")) {
            return true;
        }
        self.get(vars::DISPLAY).is_some()
            || self.get(vars::WAYLAND_DISPLAY).is_some()
            || self.get(vars::BROWSER).is_some()
    }
}
