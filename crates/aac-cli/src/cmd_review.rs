//! `aac review`: flags -> [`aac_review::ReviewConfig`], then the server (or
//! the export, or the list of disagreements).

use aac_review::{Inputs, ReviewConfig, Role, Server};
use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `aac review`.
#[derive(Args)]
pub struct ReviewArgs {
    /// The `aac predict` output folder to review.
    out: PathBuf,
    /// The reader's name: decisions go to OUT/review/<reader>.csv
    /// (default: $USER, else "reader"; "adjudicator" with --adjudicate).
    #[arg(long)]
    reader: Option<String>,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Address to listen on; anything but loopback lets other machines
    /// reach the page (the token is still needed).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Percent of the unflagged scans drawn at random for audit, so that a
    /// study can report the error of what no one would otherwise look at.
    #[arg(long, default_value_t = 100.0 * aac_review::DEFAULT_AUDIT)]
    audit: f64,
    /// The scans, when they have moved since `aac predict` (default: the
    /// run's --images).
    #[arg(long)]
    images: Option<PathBuf>,
    /// The bundle, when it has moved since `aac predict` (default: the
    /// run's --model); needed to move levels.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Settle the scans first readers disagree on: write
    /// OUT/review/_disagreements.csv, then review those scans as adjudicator.
    #[arg(long, conflicts_with = "export")]
    adjudicate: bool,
    /// Write the final table (model, reader or adjudicated scores per scan,
    /// with a `source` column) to this file and exit; with --reader, only
    /// that reader's decisions on the scans they reviewed.
    #[arg(long, value_name = "FINAL.csv")]
    export: Option<PathBuf>,
}

/// Runs `aac review`.
pub fn review(a: ReviewArgs) -> Result<ExitCode> {
    if let Some(r) = &a.reader {
        aac_review::decisions::check_reader_name(r)?;
    }
    if !(0.0..=100.0).contains(&a.audit) {
        anyhow::bail!("--audit {}: a percent from 0 to 100", a.audit);
    }
    if let Some(path) = &a.export {
        let c = aac_review::export::export(&a.out, path, a.reader.as_deref())?;
        match &a.reader {
            Some(r) => eprintln!(
                "wrote {}: the {} scans {r} reviewed",
                path.display(),
                c.reader
            ),
            None => eprintln!(
                "wrote {}: {} scans with the model's scores, {} a reader's, {} adjudicated",
                path.display(),
                c.model,
                c.reader,
                c.adjudicated
            ),
        }
        if c.unsettled > 0 && a.reader.is_none() {
            eprintln!(
                "warning: on {} scans readers disagree and no one has adjudicated (their latest reading is exported): aac review {} --adjudicate",
                c.unsettled,
                a.out.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let role = if a.adjudicate {
        Role::Adjudicator
    } else {
        Role::Reader
    };
    if a.adjudicate {
        let path = aac_review::decisions::review_dir(&a.out).join("_disagreements.csv");
        let n = aac_review::export::write_disagreements(&a.out, &path)?;
        eprintln!("{n} scans where readers disagree: {}", path.display());
    }
    let reader = a.reader.unwrap_or_else(|| match role {
        Role::Adjudicator => "adjudicator".into(),
        Role::Reader => std::env::var("USER")
            .ok()
            .filter(|u| aac_review::decisions::check_reader_name(u).is_ok())
            .unwrap_or_else(|| "reader".into()),
    });
    let server = Server::start(&ReviewConfig {
        out: a.out,
        reader,
        role,
        bind: a.bind,
        port: a.port,
        audit: a.audit / 100.0,
        inputs: Inputs {
            images: a.images,
            model: a.model,
        },
    })?;
    // The contract for scripts: the URL is the first line on stdout.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", server.url)?;
    stdout.flush()?;
    eprintln!(
        "reviewing; decisions go to {} (Ctrl-C to stop: every decision is already on disk)",
        server.log.display()
    );
    server.wait()?;
    Ok(ExitCode::SUCCESS)
}
