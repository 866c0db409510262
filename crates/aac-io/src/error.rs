//! The one error type of the I/O layer: every variant names the file it is about.

use std::path::PathBuf;

/// An I/O or format problem with a named file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file could not be opened, read or written.
    ///
    /// The operating-system error is part of the message, not a separate
    /// cause, so that a printed error chain does not say it twice.
    #[error("{path}: {error}")]
    Os {
        /// The file concerned.
        path: PathBuf,
        /// The underlying operating-system error.
        error: std::io::Error,
    },
    /// The file exists but its content is not what the contract requires.
    #[error("{path}: {message}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, in words.
        message: String,
    },
}

impl IoError {
    /// A format error for `path` with a message.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IoError::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An operating-system error for `path`.
    pub fn os(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        IoError::Os {
            path: path.into(),
            error,
        }
    }
}

/// Result alias for the I/O layer.
pub type Result<T> = std::result::Result<T, IoError>;
