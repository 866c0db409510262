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
            minutes_seconds((self.total - self.done.min(self.total)) as f64 / rate)
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

/// "m min ss s": a time left, as the progress lines print it.
pub fn minutes_seconds(secs: f64) -> String {
    let secs = secs.max(0.0).round();
    format!("{:.0} min {:02.0} s", (secs / 60.0).floor(), secs % 60.0)
}

/// The time left of a training stage of known length, from the epochs run
/// so far: their mean times the epochs to go (a log line per epoch, where a
/// bar's ETA covers only the epoch under way).
pub struct EpochClock {
    epochs: usize,
    timed: usize,
    seconds: f64,
    last: std::time::Instant,
}

impl EpochClock {
    /// A stage of `epochs` epochs, starting now.
    pub fn new(epochs: usize) -> Self {
        EpochClock {
            epochs,
            timed: 0,
            seconds: 0.0,
            last: std::time::Instant::now(),
        }
    }

    /// Epoch `epoch` (1-based; later than 1 when a run is resumed) ended
    /// now: "ETA m min ss s" for the stage's epochs after it.
    pub fn epoch_done(&mut self, epoch: usize) -> String {
        let now = std::time::Instant::now();
        let took = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.record(epoch, took)
    }

    fn record(&mut self, epoch: usize, took: f64) -> String {
        self.timed += 1;
        self.seconds += took;
        let left = self.epochs.saturating_sub(epoch);
        if left == 0 {
            return "stage done".into();
        }
        let mean = self.seconds / self.timed as f64;
        format!("ETA {}", minutes_seconds(mean * left as f64))
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

    #[test]
    fn the_stage_eta_is_the_mean_epoch_times_the_epochs_left() {
        let mut clock = EpochClock::new(4);
        assert_eq!(clock.record(1, 30.0), "ETA 1 min 30 s");
        assert_eq!(clock.record(2, 50.0), "ETA 1 min 20 s");
        assert_eq!(clock.record(3, 40.0), "ETA 0 min 40 s");
        assert_eq!(clock.record(4, 40.0), "stage done");
        // A resumed run: epochs before the first timed one are not counted.
        let mut resumed = EpochClock::new(10);
        assert_eq!(resumed.record(8, 20.0), "ETA 0 min 40 s");
        assert_eq!(minutes_seconds(59.6), "1 min 00 s");
        assert_eq!(minutes_seconds(-3.0), "0 min 00 s");
    }
}
