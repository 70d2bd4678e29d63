//! Files that hold anything about a user: private (0700 directories, 0600 files), written
//! atomically (a temporary file renamed into place), so a crash never leaves half a file, and never
//! through a symbolic link. A directory that another user owns or may write to is refused: whoever
//! can write there could swap a session, a lock or the audit log.

use std::io::Write as _;
use std::path::Path;

/// Creates `dir` (0700) if needed, then checks it and its parent: see [`check_not_shared`].
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    check_private_dir(dir)
}

/// Checks `dir` and its parent with [`check_not_shared`] (for reading what is in it).
pub fn check_private_dir(dir: &Path) -> std::io::Result<()> {
    check_not_shared(dir)?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => check_not_shared(parent),
        _ => Ok(()),
    }
}

/// Refuses `path` when it is a symbolic link, belongs to another user (root excepted), or may be
/// written by the group or by anyone (a sticky directory such as `/tmp` excepted: only an entry's
/// owner can replace it there).
pub fn check_not_shared(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::symlink_metadata(path)?;
        let shown = path.display();
        if meta.file_type().is_symlink() {
            return Err(std::io::Error::other(format!(
                "{shown} is a symbolic link; cosmoscope keeps its files only in real directories"
            )));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me && meta.uid() != 0 {
            return Err(std::io::Error::other(format!(
                "{shown} belongs to another user (uid {}); it must be yours",
                meta.uid()
            )));
        }
        let sticky = meta.is_dir() && meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o022 != 0 && !sticky {
            return Err(std::io::Error::other(format!(
                "{shown} may be written by other users (mode {:o}); run chmod go-w on it",
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// 0600, and never through a symbolic link.
pub fn private_options() -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed());
    }
    opts
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // A fresh name, created exclusively: never an existing file, never through a link.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.{}.{nanos:x}.tmp", std::process::id()));
    let result = (|| {
        let mut f = private_options().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Opens `path` for appending, creating it private.
pub fn open_private_append(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    private_options().append(true).create(true).open(path)
}

/// Lower-case hex of bytes.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
