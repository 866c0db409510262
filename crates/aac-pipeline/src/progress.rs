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
