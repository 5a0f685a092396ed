//! The one error type of the library.
//!
//! Low-level decoders return errors that know the byte offset; the layers above add the zip entry
//! and finally the file name, so a message reads
//! `model.zip: coefficients.bin: at byte 42: shape product overflows`.

use std::fmt;
use std::path::PathBuf;

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the file system failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes do not follow the format they claim to follow.
    #[error("{}{message}", fmt_offset(*offset))]
    Malformed {
        offset: Option<u64>,
        message: String,
    },
    /// Valid input that uses a feature we do not implement (e.g. COMPRESSED ND4J buffers).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The configuration JSON could not be parsed or lacks something required.
    #[error("configuration: {0}")]
    Config(String),
    /// Parameters, updater state or normalizer disagree with the configuration.
    #[error("{0}")]
    Inconsistent(String),
    /// No registered format matches, or the requested one cannot do the job.
    #[error("{0}")]
    Format(String),
    /// Refused by a safety rule (overwrite, same input and output, ...).
    #[error("{0}")]
    Refused(String),
    /// Adds the zip entry (or another named part) to an inner error.
    #[error("{entry}: {source}")]
    InEntry { entry: String, source: Box<Error> },
    /// Adds the file name to an inner error.
    #[error("{}: {source}", path.display())]
    InFile { path: PathBuf, source: Box<Error> },
}

fn fmt_offset(offset: Option<u64>) -> String {
    match offset {
        Some(o) => format!("at byte {o}: "),
        None => String::new(),
    }
}

/// Result alias used across the workspace.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn malformed(offset: u64, message: impl fmt::Display) -> Self {
        Error::Malformed {
            offset: Some(offset),
            message: message.to_string(),
        }
    }

    pub fn malformed_here(message: impl fmt::Display) -> Self {
        Error::Malformed {
            offset: None,
            message: message.to_string(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps the error with the entry it happened in.
    pub fn in_entry(self, entry: impl Into<String>) -> Self {
        Error::InEntry {
            entry: entry.into(),
            source: Box::new(self),
        }
    }

    /// Wraps the error with the file it happened in (unless it already names one).
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            e @ (Error::Io { .. } | Error::InFile { .. }) => e,
            e => Error::InFile {
                path: path.into(),
                source: Box::new(e),
            },
        }
    }
}

/// Adds context to results.
pub trait ResultExt<T> {
    fn in_entry(self, entry: &str) -> Result<T>;
    fn in_file(self, path: &std::path::Path) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn in_entry(self, entry: &str) -> Result<T> {
        self.map_err(|e| e.in_entry(entry))
    }
    fn in_file(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| e.in_file(path))
    }
}
