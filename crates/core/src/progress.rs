//! Progress of long conversions, reported in bytes to whoever shows it (the command line's bars).
//! Readers and writers report through the handle in their options; without a sink nothing
//! happens, so reporting costs one branch.

use std::sync::Arc;

/// Receives progress: the work's total size, then increments as it is done. Calls may come from
/// several threads at once (entries inflate in parallel).
pub trait ProgressSink: Send + Sync {
    /// The total number of bytes the work will process (may be called again to raise it).
    fn start(&self, total: u64);
    /// `n` more bytes done.
    fn advance(&self, n: u64);
}

/// A cheap, clonable handle to an optional sink.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn ProgressSink>>);

impl Progress {
    pub fn new(sink: Arc<dyn ProgressSink>) -> Progress {
        Progress(Some(sink))
    }

    /// No reporting.
    pub fn none() -> Progress {
        Progress(None)
    }

    pub fn start(&self, total: u64) {
        if let Some(s) = &self.0 {
            s.start(total);
        }
    }

    pub fn advance(&self, n: u64) {
        if let Some(s) = &self.0 {
            s.advance(n);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(sink)"
        } else {
            "Progress(none)"
        })
    }
}
