//! Progress bars for long work (hidden automatically when stderr is not a
//! terminal), and the worker pool long work runs in.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over `n` items with rate and ETA.
pub fn bar(n: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Runs `f` in a pool of `jobs` worker threads of its own (None: rayon's
/// global pool, one thread per core).
pub fn in_pool<T: Send>(
    jobs: Option<usize>,
    f: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    match jobs {
        Some(j) => rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build()
            .map_err(|e| anyhow::anyhow!("{j} worker threads cannot be started: {e}"))?
            .install(f),
        None => f(),
    }
}

/// Progress of a cohort run: the bar on a terminal and, when stderr is not
/// one (a SLURM log), a log line every [`LOG_EVERY_SECONDS`] seconds or
/// tenth of the work, with rate and ETA.
pub struct CohortProgress {
    bar: ProgressBar,
    what: String,
    total: u64,
    done: u64,
    start: std::time::Instant,
    last_log: std::time::Instant,
    last_tenth: u64,
    to_log: bool,
}

/// Seconds between progress lines when stderr is not a terminal.
pub const LOG_EVERY_SECONDS: u64 = 60;

impl CohortProgress {
    /// Progress over `total` images of the step `what`.
    pub fn new(total: u64, what: &str) -> Self {
        use std::io::IsTerminal;
        let now = std::time::Instant::now();
        CohortProgress {
            bar: bar(total, what),
            what: what.to_string(),
            total,
            done: 0,
            start: now,
            last_log: now,
            last_tenth: 0,
            to_log: !std::io::stderr().is_terminal(),
        }
    }

    /// `n` more images done.
    pub fn inc(&mut self, n: u64) {
        self.bar.inc(n);
        self.done += n;
        if !self.to_log || self.total == 0 {
            return;
        }
        let tenth = self.done * 10 / self.total;
        let due = self.last_log.elapsed().as_secs() >= LOG_EVERY_SECONDS;
        if (tenth > self.last_tenth || due) && self.done < self.total {
            self.last_tenth = tenth;
            self.last_log = std::time::Instant::now();
            tracing::info!("{}", self.line());
        }
    }

    /// "what: done/total images (p%), r images/s, ETA t".
    pub fn line(&self) -> String {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / secs;
        let eta = if rate > 0.0 {
            let left = (self.total - self.done.min(self.total)) as f64 / rate;
            format!("{:.0} min {:02.0} s", (left / 60.0).floor(), left % 60.0)
        } else {
            "-".into()
        };
        format!(
            "{}: {}/{} images ({:.0}%), {rate:.2} images/s, ETA {eta}",
            self.what,
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64
        )
    }

    /// Ends the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_has_count_share_rate_and_eta() {
        let mut p = CohortProgress::new(40, "predict");
        p.to_log = false;
        p.inc(10);
        let line = p.line();
        assert!(
            line.starts_with("predict: 10/40 images (25%), ") && line.contains("images/s, ETA "),
            "{line}"
        );
    }
}
