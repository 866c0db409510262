//! One run at a time per output folder: an advisory lock on `OUT/.aac-lock`
//! that records who holds it (pid, host, command, start time).
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on
//! Windows, through `std::fs::File::lock`), so it is released when its process
//! ends, however it ends: a run killed with SIGKILL leaves no lock behind,
//! only its note in the file, which the next run reports as taken over. On
//! network file systems without working locks the guard is only as good as
//! the file system's; docs/predict.md says so.

use crate::error::{IoError, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside an output folder.
pub const LOCK_FILE: &str = ".aac-lock";

/// Who holds (or last held) an output folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// The command, e.g. `aac predict`.
    pub command: String,
    /// When it took the lock, seconds since the Unix epoch.
    pub since_unix: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (pid {} on host {}, since {} s ago)",
            self.command,
            self.pid,
            self.host,
            now_unix().saturating_sub(self.since_unix)
        )
    }
}

/// How a run meets an output folder held by another run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenHeld {
    /// Fail at once, naming the holder.
    Refuse,
    /// Wait until the holder ends.
    Wait,
}

impl WhenHeld {
    /// [`WhenHeld::Wait`] for a `--wait` flag that is set, else
    /// [`WhenHeld::Refuse`].
    pub fn from_wait(wait: bool) -> Self {
        if wait {
            WhenHeld::Wait
        } else {
            WhenHeld::Refuse
        }
    }
}

/// An output folder owned by this run until dropped.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This machine's name: the kernel's on Linux, else the environment's.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The holder recorded in an open lock file, if any.
fn recorded_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64 << 10).read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

impl OutputLock {
    /// Takes the lock of output folder `dir` (created if needed) for
    /// `command`; when another live run holds it, refuses with a message
    /// naming it or waits, as `when_held` says. A note left by a run that
    /// ended without releasing (killed) is reported and taken over.
    pub fn acquire(dir: &Path, command: &str, when_held: WhenHeld) -> Result<Self> {
        if dir.exists() && !dir.is_dir() {
            return Err(IoError::format(
                dir,
                "is not a directory: an output folder is needed here",
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| IoError::os(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| IoError::os(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = recorded_holder(&mut file)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "another run".into());
                match when_held {
                    WhenHeld::Refuse => {
                        return Err(IoError::format(
                            dir,
                            format!(
                                "this output folder is in use by {holder}; wait for it to finish \
                                 (or pass --wait), or give each run its own --out (then `aac merge`)"
                            ),
                        ))
                    }
                    WhenHeld::Wait => {
                        tracing::info!("{}: waiting for {holder} to finish", dir.display());
                        file.lock().map_err(|e| IoError::os(&path, e))?;
                    }
                }
            }
            Err(TryLockError::Error(e)) => return Err(IoError::os(&path, e)),
        }
        if let Some(old) = recorded_holder(&mut file) {
            tracing::warn!(
                "{}: took over the lock of {old}, which ended without releasing it (killed?); \
                 its rows are checked as on any resume",
                dir.display()
            );
        }
        let me = Holder {
            pid: std::process::id(),
            host: host_name(),
            command: command.to_string(),
            since_unix: now_unix(),
        };
        let line = serde_json::to_string(&me).unwrap_or_default();
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(line.as_bytes()))
            .and_then(|_| file.sync_data())
            .map_err(|e| IoError::os(&path, e))?;
        Ok(OutputLock { file, path })
    }

    /// The run now writing into `dir`, if one is: for readers of an output
    /// (`aac merge`) that must not take a half-written folder.
    pub fn writer_of(dir: &Path) -> Option<String> {
        let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                None
            }
            Err(TryLockError::WouldBlock) => Some(
                recorded_holder(&mut file)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "another run".into()),
            ),
            Err(TryLockError::Error(_)) => None,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // An empty file means "released cleanly"; the OS lock goes with the
        // file handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_holder_named_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = OutputLock::acquire(&out, "aac predict", WhenHeld::Refuse).unwrap();
        assert!(OutputLock::writer_of(&out).unwrap().contains("aac predict"));
        let e = OutputLock::acquire(&out, "aac merge", WhenHeld::Refuse)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("in use by `aac predict`")
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        assert!(OutputLock::writer_of(&out).is_none());
        assert_eq!(std::fs::read(out.join(LOCK_FILE)).unwrap().len(), 0);
        let _again = OutputLock::acquire(&out, "aac merge", WhenHeld::Refuse).unwrap();
    }

    #[test]
    fn a_note_left_by_a_dead_run_is_taken_over_and_a_file_is_not_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let stale = Holder {
            pid: 999_999,
            host: "elsewhere".into(),
            command: "aac predict".into(),
            since_unix: 1,
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&stale).unwrap(),
        )
        .unwrap();
        let lock = OutputLock::acquire(dir.path(), "aac landmarks", WhenHeld::Refuse).unwrap();
        let now: Holder = serde_json::from_slice(&std::fs::read(lock.path()).unwrap()).unwrap();
        assert_eq!(now.pid, std::process::id());
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = OutputLock::acquire(&file, "aac predict", WhenHeld::Refuse)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a directory"), "{e}");
    }
}
