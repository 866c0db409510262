//! `OUT/run.json`: the record of the run that wrote an output folder. It is
//! written as `running` when a run starts and as `complete` when it ends, so
//! a folder whose run was killed, or is still going, is known as unfinished
//! (`aac merge` refuses it); it carries the shard, the options and counts.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The record's file name in an output folder.
pub const RUN_FILE: &str = "run.json";

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Started and not finished (or killed).
    Running,
    /// Every row of its part was written.
    Complete,
}

/// The run record of an output folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Always "aac-run".
    pub format: String,
    /// The aac version that wrote it.
    pub aac_version: String,
    /// The command, e.g. `predict`.
    pub command: String,
    /// Where the run stands.
    pub state: RunState,
    /// The parts of the cohort this folder holds (several when runs of
    /// different shards shared it, one after another); empty: the whole
    /// cohort.
    pub shards: Vec<crate::predict::Shard>,
    /// Bundle checksum (with the threshold when overridden).
    pub bundle: Option<String>,
    /// Every option of the run, as given.
    pub options: serde_json::Value,
    /// Host the run ran on.
    pub host: String,
    /// The machine: operating system, architecture, logical CPUs.
    pub machine: Machine,
    /// What the bundle says of its training (None for commands without
    /// one).
    pub bundle_training: Option<serde_json::Value>,
    /// Start, seconds since the Unix epoch.
    pub started_unix: u64,
    /// End, seconds since the Unix epoch (None while running).
    pub finished_unix: Option<u64>,
    /// Rows in the folder's table by status.
    pub counts: BTreeMap<String, usize>,
    /// Rows by QC flag.
    pub flags: BTreeMap<String, usize>,
    /// Ids whose row is an error.
    pub failed_ids: Vec<String>,
}

/// The machine a run ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Operating system (`linux`, `macos`, `windows`).
    pub os: String,
    /// CPU architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
}

impl Machine {
    /// This machine.
    pub fn this() -> Self {
        Machine {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RunRecord {
    /// A record of a run starting now.
    pub fn start(
        command: &str,
        shards: Vec<crate::predict::Shard>,
        options: &impl Serialize,
    ) -> Self {
        RunRecord {
            format: "aac-run".into(),
            aac_version: env!("CARGO_PKG_VERSION").into(),
            command: command.into(),
            state: RunState::Running,
            shards,
            bundle: None,
            options: serde_json::to_value(options).unwrap_or_default(),
            host: aac_io::lock::host_name(),
            machine: Machine::this(),
            bundle_training: None,
            started_unix: now_unix(),
            finished_unix: None,
            counts: BTreeMap::new(),
            flags: BTreeMap::new(),
            failed_ids: Vec::new(),
        }
    }

    /// Marks the run complete with the counts of the rows it leaves:
    /// (id, status, flags separated by ';').
    pub fn finish<I, A, B, C>(&mut self, rows: I)
    where
        I: IntoIterator<Item = (A, B, C)>,
        A: AsRef<str>,
        B: AsRef<str>,
        C: AsRef<str>,
    {
        self.state = RunState::Complete;
        self.finished_unix = Some(now_unix());
        self.counts.clear();
        self.flags.clear();
        self.failed_ids.clear();
        for (id, status, flags) in rows {
            let (id, status, flags) = (id.as_ref(), status.as_ref(), flags.as_ref());
            *self.counts.entry(status.to_string()).or_default() += 1;
            for f in flags.split(';').filter(|f| !f.is_empty()) {
                *self.flags.entry(f.to_string()).or_default() += 1;
            }
            if status == "error" {
                self.failed_ids.push(id.to_string());
            }
        }
    }

    /// The shards an output folder holds once a run of `shard` (None: the
    /// whole cohort) finishes in it, given the record found there: the
    /// finished earlier runs' shards of the same split and this one, or none
    /// (the whole cohort) when they cover it.
    pub fn shards_after(
        previous: Option<&RunRecord>,
        shard: Option<crate::predict::Shard>,
    ) -> Vec<crate::predict::Shard> {
        let Some(shard) = shard else {
            return Vec::new();
        };
        let mut shards: Vec<crate::predict::Shard> = match previous {
            Some(p) if p.state == RunState::Complete && p.command == "predict" => {
                if p.shards.is_empty() {
                    return Vec::new();
                }
                p.shards
                    .iter()
                    .filter(|s| s.n == shard.n)
                    .copied()
                    .collect()
            }
            _ => Vec::new(),
        };
        shards.push(shard);
        shards.sort_by_key(|s| s.k);
        shards.dedup();
        if shards.len() as u64 == shard.n {
            Vec::new()
        } else {
            shards
        }
    }

    /// Writes the record into output folder `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("run record")?;
        aac_io::write_string_atomic(&dir.join(RUN_FILE), &(text + "\n"))?;
        Ok(())
    }

    /// The record of output folder `dir`: None when it has none (an output
    /// of an aac before 0.2, or not an output at all).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(RUN_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = aac_io::read_text_capped(&path, aac_io::input::MAX_SMALL_TEXT_BYTES)?;
        let r: RunRecord = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a run record", path.display()))?;
        Ok(Some(r))
    }
}
