//! Score tables (`scores.csv`): a header row with at least `id` and one score
//! column, numeric values per image.

use crate::error::{IoError, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The eight Kauppila sub-score columns, in contract order.
pub const SUBSCORE_COLUMNS: [&str; 8] = [
    "l1_ant", "l1_post", "l2_ant", "l2_post", "l3_ant", "l3_post", "l4_ant", "l4_post",
];

/// A table of numeric score columns keyed by image id.
#[derive(Debug, Clone, Default)]
pub struct ScoreTable {
    /// Column names other than `id`, in file order.
    pub columns: Vec<String>,
    /// Per image id, the value of each column (None where empty or not numeric).
    pub rows: BTreeMap<String, Vec<Option<f64>>>,
}

impl ScoreTable {
    /// Values of one column by id (ids whose value is missing are left out).
    pub fn column(&self, name: &str) -> Option<BTreeMap<String, f64>> {
        let c = self.columns.iter().position(|n| n == name)?;
        Some(
            self.rows
                .iter()
                .filter_map(|(id, v)| v[c].map(|x| (id.clone(), x)))
                .collect(),
        )
    }
    /// True if the table has a column of that name.
    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|n| n == name)
    }
}

/// Reads a score CSV. `required` columns (besides `id`) must be present and
/// numeric in every row, except in rows whose `status` is `error` (an image
/// `aac predict` could not score) or `unreadable` (a reader's verdict in
/// `aac review --export`): their values are left missing; other
/// columns are read where numeric.
pub fn read_scores(path: &Path, required: &[&str]) -> Result<ScoreTable> {
    let text = crate::input::read_capped(path, crate::input::MAX_TABLE_BYTES)?;
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_slice());
    let headers = rdr.headers().map_err(|e| csv_err(path, e))?.clone();
    let id_col = headers
        .iter()
        .position(|h| h == "id")
        .ok_or_else(|| IoError::format(path, "header has no 'id' column"))?;
    let columns: Vec<String> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != id_col)
        .map(|(_, h)| h.to_string())
        .collect();
    if let Some((_, c)) = columns
        .iter()
        .enumerate()
        .find(|(i, c)| columns[..*i].contains(c) || c.as_str() == "id")
    {
        return Err(IoError::format(
            path,
            format!("column '{c}' appears twice in the header"),
        ));
    }
    for r in required {
        if !columns.iter().any(|c| c == r) {
            return Err(IoError::format(path, format!("header has no '{r}' column")));
        }
    }
    let status_col = headers.iter().position(|h| h == "status");
    let mut rows = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| csv_err(path, e))?;
        let failed = matches!(
            status_col.and_then(|c| rec.get(c)),
            Some("error" | "unreadable")
        );
        let id = crate::unguard_cell(rec.get(id_col).unwrap_or("")).to_string();
        if id.is_empty() {
            return Err(IoError::format(path, format!("line {line}: empty id")));
        }
        let mut values = Vec::with_capacity(columns.len());
        for (j, h) in headers.iter().enumerate() {
            if j == id_col {
                continue;
            }
            let cell = rec.get(j).unwrap_or("");
            let v = cell.parse::<f64>().ok().filter(|v| v.is_finite());
            if v.is_none() && required.contains(&h) && !failed {
                return Err(IoError::format(
                    path,
                    format!("line {line}: column '{h}' is not a number: {cell:?}"),
                ));
            }
            values.push(v);
        }
        if rows.insert(id.clone(), values).is_some() {
            return Err(IoError::format(
                path,
                format!("line {line}: duplicate id {id:?}"),
            ));
        }
    }
    Ok(ScoreTable { columns, rows })
}

fn csv_err(path: &Path, e: csv::Error) -> IoError {
    match e.kind() {
        csv::ErrorKind::Io(_) => IoError::format(path, format!("cannot read: {e}")),
        _ => IoError::format(path, format!("malformed CSV: {e}")),
    }
}
