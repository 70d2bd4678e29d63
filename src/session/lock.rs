//! The per-profile refresh lock: an advisory file lock (std's `File::lock`, flock on Unix), so it is
//! released by the kernel when a holder crashes — a stale lock file is harmless.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Held while the guard lives.
pub struct RefreshLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another cosmoscope process has been refreshing this session for over {0:?}")]
    Timeout(Duration),
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl RefreshLock {
    /// Waits up to `timeout` for the lock, polling (so a wedged holder cannot hang us forever).
    pub async fn acquire(path: &Path, timeout: Duration) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir).map_err(io)?;
        }
        let file = crate::fsutil::private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io)?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => return Err(LockError::Timeout(timeout)),
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_waits_then_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("locks/p.lock");
        let first = RefreshLock::acquire(&path, Duration::from_secs(1))
            .await
            .expect("first");
        let second = RefreshLock::acquire(&path, Duration::from_millis(50)).await;
        assert!(matches!(second, Err(LockError::Timeout(_))));
        drop(first);
        RefreshLock::acquire(&path, Duration::from_millis(50))
            .await
            .expect("after release");
    }

    /// Issue 13, finding 14: the lock is private, and never taken through a symbolic link.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_lock_file_is_private_and_never_a_link() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("locks/p.lock");
        drop(
            RefreshLock::acquire(&path, Duration::from_secs(1))
                .await
                .expect("lock"),
        );
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").expect("target");
        let linked = dir.path().join("locks/q.lock");
        std::os::unix::fs::symlink(&target, &linked).expect("symlink");
        assert!(
            RefreshLock::acquire(&linked, Duration::from_millis(50))
                .await
                .is_err()
        );
    }
}
