//! Agreement between two score tables (`aac agree`): one column (AAC24 by
//! default) and, when both tables have them, the 8 sub-scores per wall.

use crate::masks::missing;
use aac_io::read_scores;
use aac_score::metrics::{agreement, subscore_agreement, Agreement, SubscoreAgreement};
use aac_score::Grouping;
use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Settings of [`agree`].
#[derive(Debug, Clone, Serialize)]
pub struct AgreeConfig {
    /// First score table (CSV with an `id` column), the reference A.
    pub a: PathBuf,
    /// Second score table, compared with A (differences are B - A).
    pub b: PathBuf,
    /// Column compared, in both files.
    pub column: String,
    /// Categories for kappa and accuracy.
    pub grouping: Grouping,
}

/// The outcome of [`agree`] (`aac agree --json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct AgreeReport {
    /// Table A.
    pub a: String,
    /// Table B.
    pub b: String,
    /// The column compared.
    pub column: String,
    /// Ids in B only.
    pub missing_in_a: Vec<String>,
    /// Ids in A only.
    pub missing_in_b: Vec<String>,
    /// Agreement of the column.
    #[serde(flatten)]
    pub agreement: Agreement,
    /// Per-wall agreement of the 8 sub-scores, when both tables have them.
    pub subscores: Option<SubscoreAgreement>,
}

/// The 8 sub-scores of every row that has all of them, by id; None when the
/// table lacks a sub-score column. A value that is not an integer 0..3 is an
/// error naming the file, the id and the column.
fn subscores_of(path: &Path, t: &aac_io::ScoreTable) -> Result<Option<BTreeMap<String, [u32; 8]>>> {
    let Some(idx) = aac_io::SUBSCORE_COLUMNS
        .iter()
        .map(|c| t.columns.iter().position(|n| n == c))
        .collect::<Option<Vec<usize>>>()
    else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (id, values) in &t.rows {
        let mut sub = [0u32; 8];
        let mut complete = true;
        for (k, &c) in idx.iter().enumerate() {
            match values[c] {
                None => complete = false,
                Some(v) if v.fract() == 0.0 && (0.0..=3.0).contains(&v) => sub[k] = v as u32,
                Some(v) => bail!(
                    "{}: id {id}: {} = {v} is not a sub-score (an integer 0..3)",
                    path.display(),
                    aac_io::SUBSCORE_COLUMNS[k]
                ),
            }
        }
        if complete {
            out.insert(id.clone(), sub);
        }
    }
    Ok(Some(out))
}

/// Agreement between two score tables, matched by id.
pub fn agree(a: &AgreeConfig) -> Result<AgreeReport> {
    let col = a.column.as_str();
    let ta = read_scores(&a.a, &[col])?;
    let tb = read_scores(&a.b, &[col])?;
    let va = ta
        .column(col)
        .ok_or_else(|| anyhow!("{}: header has no '{col}' column", a.a.display()))?;
    let vb = tb
        .column(col)
        .ok_or_else(|| anyhow!("{}: header has no '{col}' column", a.b.display()))?;
    let (xs, ys): (Vec<f64>, Vec<f64>) = va
        .iter()
        .filter_map(|(id, x)| vb.get(id).map(|y| (*x, *y)))
        .unzip();
    if xs.is_empty() {
        bail!(
            "no ids common to {} ({} rows) and {} ({} rows)",
            a.a.display(),
            va.len(),
            a.b.display(),
            vb.len()
        );
    }
    // AAC-8 columns have their own categories (0 / 1-2 / >= 3).
    let grouping = if col.starts_with("aac8") {
        aac_score::Grouping::Aac8
    } else {
        a.grouping
    };
    let agreement = agreement(&xs, &ys, grouping)?;
    let subscores = match (subscores_of(&a.a, &ta)?, subscores_of(&a.b, &tb)?) {
        (Some(sa), Some(sb)) => {
            let (x, y): (Vec<[u32; 8]>, Vec<[u32; 8]>) = sa
                .iter()
                .filter_map(|(id, s)| sb.get(id).map(|t| (*s, *t)))
                .unzip();
            subscore_agreement(&x, &y).ok()
        }
        _ => None,
    };
    Ok(AgreeReport {
        a: a.a.display().to_string(),
        b: a.b.display().to_string(),
        column: col.to_string(),
        missing_in_a: missing(&vb, &va),
        missing_in_b: missing(&va, &vb),
        agreement,
        subscores,
    })
}
