//! The final table of a reviewed cohort (`aac review OUT --export FILE`):
//! per scan the model's scores, a reader's, or an adjudicator's, with a
//! `source` column; a score table `aac agree` reads. And the scans first
//! readers disagree on (`--adjudicate`).

use crate::decisions::{read_all, readers_disagree, Decision, Role};
use aac_pipeline::predict::read_scores;
use aac_pipeline::table::table_text;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// The columns of the final table: id, AAC24, the 8 sub-scores
/// ([`aac_io::scores::SUBSCORE_COLUMNS`]), then how each row was settled.
pub const EXPORT_COLUMNS: [&str; 16] = {
    let sub = aac_io::scores::SUBSCORE_COLUMNS;
    let tail = [
        "category",
        "status",
        "source",
        "reader",
        "decision",
        "readers_disagree",
    ];
    let mut out = [""; 16];
    out[0] = "id";
    out[1] = "aac24";
    let mut i = 0;
    while i < sub.len() {
        out[2 + i] = sub[i];
        i += 1;
    }
    let mut j = 0;
    while j < tail.len() {
        out[2 + sub.len() + j] = tail[j];
        j += 1;
    }
    out
};

/// What an export wrote, for the command's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// Rows with the model's scores (no decision).
    pub model: usize,
    /// Rows with a reader's scores.
    pub reader: usize,
    /// Rows settled by an adjudicator.
    pub adjudicated: usize,
    /// Rows whose readers disagree and no adjudicator has decided.
    pub unsettled: usize,
}

/// Every reader's latest decision per scan id, first readers and
/// adjudicators apart.
fn latest(out: &Path) -> Result<BTreeMap<String, Vec<Decision>>> {
    let mut by_id: BTreeMap<String, BTreeMap<String, Decision>> = BTreeMap::new();
    for (reader, decisions) in read_all(out)? {
        for d in decisions {
            by_id
                .entry(d.id.clone())
                .or_default()
                .insert(reader.clone(), d);
        }
    }
    Ok(by_id
        .into_iter()
        .map(|(id, m)| (id, m.into_values().collect()))
        .collect())
}

/// The scans first readers disagree on, each with their decisions, and
/// whether an adjudicator has settled it.
pub fn disagreements(out: &Path) -> Result<Vec<(String, Vec<Decision>, bool)>> {
    Ok(latest(out)?
        .into_iter()
        .filter_map(|(id, ds)| {
            let readers: Vec<&Decision> = ds.iter().filter(|d| d.role == Role::Reader).collect();
            if !readers_disagree(&readers) {
                return None;
            }
            let settled = ds.iter().any(|d| d.role == Role::Adjudicator);
            let readers = readers.into_iter().cloned().collect();
            Some((id, readers, settled))
        })
        .collect())
}

/// Writes the final table of output `out` to `path` (atomically); with
/// `only_reader`, that reader's own decisions on the scans they reviewed
/// (for `aac agree` between readers, or between a reader and the model on
/// the reviewed scans).
pub fn export(out: &Path, path: &Path, only_reader: Option<&str>) -> Result<ExportCounts> {
    let rows = read_scores(out)?;
    let decided = latest(out)?;
    let mut counts = ExportCounts::default();
    let mut table = Vec::with_capacity(rows.len());
    for row in &rows {
        let ds = decided.get(&row.id).map(Vec::as_slice).unwrap_or_default();
        let readers: Vec<&Decision> = ds.iter().filter(|d| d.role == Role::Reader).collect();
        let adjudicated = ds
            .iter()
            .filter(|d| d.role == Role::Adjudicator)
            .max_by(|a, b| a.time_utc.cmp(&b.time_utc));
        if let Some(name) = only_reader {
            let Some(mine) = ds.iter().find(|d| d.reader == name) else {
                continue;
            };
            counts.reader += 1;
            table.push(export_row(
                row,
                mine.after,
                mine.after.is_some(),
                "reader",
                Some(mine),
                readers_disagree(&readers),
            ));
            continue;
        }
        let disagree = readers_disagree(&readers);
        // The adjudicator's word, else the latest first reading.
        let chosen = adjudicated.or_else(|| {
            readers
                .iter()
                .copied()
                .max_by(|a, b| a.time_utc.cmp(&b.time_utc))
        });
        let (source, scores, status) = match chosen {
            Some(d) if d.role == Role::Adjudicator => {
                counts.adjudicated += 1;
                ("adjudicated", d.after, d.after.is_some())
            }
            Some(d) => {
                counts.reader += 1;
                counts.unsettled += usize::from(disagree);
                ("reader", d.after, d.after.is_some())
            }
            None => {
                counts.model += 1;
                let s = row
                    .score_values()
                    .and_then(|(_, sub)| crate::decisions::Scores::from_sub(sub).ok());
                ("model", s, true)
            }
        };
        table.push(export_row(row, scores, status, source, chosen, disagree));
    }
    aac_io::write_string_atomic(path, &table_text(&EXPORT_COLUMNS, &table))?;
    Ok(counts)
}

/// One line of the final table ([`EXPORT_COLUMNS`]): `readable` false for
/// a scan a reader found unreadable.
fn export_row(
    row: &aac_pipeline::predict::Row,
    scores: Option<crate::decisions::Scores>,
    readable: bool,
    source: &str,
    chosen: Option<&Decision>,
    disagree: bool,
) -> Vec<String> {
    let names = aac_score::Grouping::default().names();
    let mut f = vec![row.id.clone()];
    match scores {
        Some(s) => {
            f.push(s.aac24.to_string());
            f.extend(s.sub.iter().map(u32::to_string));
            f.push(names[s.category()].to_string());
        }
        None => f.extend(std::iter::repeat_n(String::new(), 10)),
    }
    f.push(if readable {
        row.status.name().to_string()
    } else {
        "unreadable".to_string()
    });
    f.push(source.to_string());
    f.push(chosen.map(|d| d.reader.clone()).unwrap_or_default());
    f.push(
        chosen
            .map(|d| d.action.name().to_string())
            .unwrap_or_default(),
    );
    f.push(disagree.to_string());
    f
}

/// Writes the scans readers disagree on to `path`: one line per scan and
/// reader (id, reader, action, aac24, sub-scores, category, settled).
pub fn write_disagreements(out: &Path, path: &Path) -> Result<usize> {
    let list = disagreements(out)?;
    let names = aac_score::Grouping::default().names();
    let mut rows = Vec::new();
    for (id, ds, settled) in &list {
        for d in ds {
            rows.push(vec![
                id.clone(),
                d.reader.clone(),
                d.action.name().to_string(),
                d.after.map(|s| s.aac24.to_string()).unwrap_or_default(),
                d.after
                    .map(|s| s.sub.map(|v| v.to_string()).join(" "))
                    .unwrap_or_default(),
                d.after
                    .map(|s| names[s.category()].to_string())
                    .unwrap_or_else(|| "unreadable".into()),
                settled.to_string(),
            ]);
        }
    }
    let columns = [
        "id",
        "reader",
        "action",
        "aac24",
        "subscores",
        "category",
        "settled",
    ];
    aac_io::write_string_atomic(path, &table_text(&columns, &rows))?;
    Ok(list.len())
}
