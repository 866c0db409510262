//! `aac review`: a reader checks and corrects a `predict` output in the
//! browser, most doubtful scans first, and every decision is appended to
//! `OUT/review/<reader>.csv`. Also the final table of a reviewed cohort
//! (`--export`) and the list of scans readers disagree on (`--adjudicate`).
//! The contract for scripts is in docs/review.md.

pub mod cohort;
pub mod decisions;
mod display;
pub mod export;
pub mod levels;
mod paths;
pub mod queue;
mod rescore;
pub mod review;
mod server;

pub use cohort::{Cohort, Inputs};
pub use decisions::{Action, Decision, Role, Scores};
pub use review::Review;

use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Settings of `aac review`.
#[derive(Debug, Clone)]
pub struct ReviewConfig {
    /// The `predict` output folder.
    pub out: PathBuf,
    /// The reader's name (names the decision file).
    pub reader: String,
    /// First reading or adjudication of disagreements.
    pub role: Role,
    /// Address to bind (127.0.0.1 unless asked otherwise).
    pub bind: IpAddr,
    /// Port (0: any free one).
    pub port: u16,
    /// Share of unflagged scans in the audit sample, 0-1.
    pub audit: f64,
    /// Where moved inputs are now.
    pub inputs: Inputs,
}

/// The default share of unflagged scans drawn for audit: 2%.
pub const DEFAULT_AUDIT: f64 = 0.02;

/// A running review server; stops when dropped.
pub struct Server {
    /// The page's URL with its token.
    pub url: String,
    /// The address bound.
    pub addr: SocketAddr,
    /// The decision file of this reader.
    pub log: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    /// This reader's lock on the output, held while the server runs.
    _lock: aac_io::OutputLock,
}

impl Server {
    /// Reads the output, binds and serves in the background.
    pub fn start(cfg: &ReviewConfig) -> Result<Server> {
        if !(0.0..=1.0).contains(&cfg.audit) {
            anyhow::bail!("the audit share {} is not between 0 and 1", cfg.audit);
        }
        decisions::check_reader_name(&cfg.reader)?;
        // One server per reader: two would each append to the same file
        // from their own view of it.
        let lock_dir = decisions::review_dir(&cfg.out)
            .join(".locks")
            .join(&cfg.reader);
        if let Some(holder) = aac_io::OutputLock::writer_of(&lock_dir) {
            anyhow::bail!(
                "{}: reader {} already has aac review open on this output ({holder}): use that page, or stop it first",
                cfg.out.display(),
                cfg.reader
            );
        }
        let lock = aac_io::OutputLock::acquire(&lock_dir, "aac review", aac_io::WhenHeld::Refuse)?;
        let cohort = Cohort::load(&cfg.out, &cfg.inputs, cfg.audit)?;
        let scorer = rescore::Scorer::new(cohort.run.clone());
        let review = Review::open(cohort, &cfg.reader, cfg.role)?;
        let log = review.log_path().to_path_buf();
        let listener = std::net::TcpListener::bind((cfg.bind, cfg.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{} (is another aac review running there? --port N, or --port 0 for any free port)",
                    cfg.bind, cfg.port
                )
            })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let token = format!("{:032x}", rand::random::<u128>());
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let url = format!("http://{host}:{}/?token={token}", addr.port());
        let app = Arc::new(server::App {
            review: Mutex::new(review),
            scorer,
            token,
            hosts: server::allowed_hosts(addr),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, server::router(app))
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await?;
                Ok(())
            })
        });
        Ok(Server {
            url,
            addr,
            log,
            stop: Some(stop),
            thread: Some(thread),
            _lock: lock,
        })
    }

    /// Serves until the server fails (or the process is stopped).
    pub fn wait(mut self) -> Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the review server panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
