//! Progress bars on stderr for long conversions: one per phase (reading, writing), shown only
//! when stderr is a terminal and the phase has run for about a second, so quick runs and
//! pipelines print nothing extra.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use dl4j_core::{Progress, ProgressSink};

/// How long a phase runs before its bar appears.
const DELAY: Duration = Duration::from_secs(1);

struct Bar {
    bar: ProgressBar,
    started: Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl ProgressSink for Bar {
    fn start(&self, total: u64) {
        self.bar.set_length(total);
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
        if self.started.elapsed() >= DELAY
            && !self.shown.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A progress handle for a phase called `label`: a bar when `enabled` and stderr is a terminal,
/// otherwise nothing.
pub fn phase(label: &str, enabled: bool) -> Progress {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return Progress::none();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    let style = ProgressStyle::with_template(
        "{msg:8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_string());
    Progress::new(Arc::new(Bar {
        bar,
        started: Instant::now(),
        shown: std::sync::atomic::AtomicBool::new(false),
    }))
}
