//! The appendable CSV tables of an output folder (`scores.csv`,
//! `landmarks.csv`, `provenance.csv`): one line per record, cells guarded
//! against spreadsheet formulas, complete lines only on reading (a torn last
//! line from a crash is dropped, so its record is made again on resume).

use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The provenance table's name, beside the table it describes.
pub const PROVENANCE_FILE: &str = "provenance.csv";

/// One CSV line (with its newline) of guarded cells.
pub fn csv_line(fields: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = w.write_record(fields.iter().map(|f| aac_io::guard_cell(f).into_owned()));
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A header line and records, as text ready to write.
pub fn table_text<R: AsRef<[String]>>(
    columns: &[&str],
    rows: impl IntoIterator<Item = R>,
) -> String {
    let mut text = csv_line(&columns.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    for r in rows {
        text.push_str(&csv_line(r.as_ref()));
    }
    text
}

/// The complete records of a table with exactly `columns` as its header
/// (none when the file does not exist). `what` names the table in the error
/// when its header is another's, e.g. "an `aac predict` scores file".
pub fn read_rows(path: &Path, columns: &[&str], what: &str) -> Result<Vec<Vec<String>>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = aac_io::read_text_capped(path, aac_io::input::MAX_TABLE_BYTES)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = rdr.headers().ok().cloned().unwrap_or_default();
    if header.iter().collect::<Vec<_>>() != columns {
        bail!("{}: is not {what} (its header differs)", path.display());
    }
    let complete_last_line = text.ends_with('\n');
    let records: Vec<csv::StringRecord> = rdr.records().filter_map(|r| r.ok()).collect();
    let n = records.len();
    Ok(records
        .into_iter()
        .enumerate()
        .filter(|(i, r)| r.len() == columns.len() && (complete_last_line || *i + 1 < n))
        .map(|(_, r)| {
            r.iter()
                .map(|f| aac_io::unguard_cell(f).to_string())
                .collect()
        })
        .collect())
}

/// Size and modification time of a file ("missing" when it cannot be read):
/// a changed input shows as a changed fingerprint.
pub fn fingerprint(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!("{}:{mtime}", m.len())
        }
        Err(_) => "missing".into(),
    }
}

/// The provenance records of a table with `columns` (the first is `id`) by
/// id, each without its id; empty when there is no file. A torn last line is
/// ignored, so its record is made again.
pub fn read_provenance(path: &Path, columns: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
    Ok(read_rows(path, columns, "a provenance table")?
        .into_iter()
        .map(|mut r| {
            let id = r.remove(0);
            (id, r)
        })
        .collect())
}

/// An open table that grows by whole, synced lines.
pub struct Appender {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl Appender {
    /// Opens an existing table for appending.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| aac_io::IoError::os(path, e))?;
        Ok(Appender {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends lines (each with its newline) and syncs them to disk.
    pub fn append(&mut self, lines: &str) -> Result<()> {
        self.file
            .write_all(lines.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| aac_io::IoError::os(&self.path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_rows_are_read_and_a_torn_last_line_or_another_header_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let rows = vec![
            vec!["a".to_string(), "=1+1".to_string()],
            vec!["b".to_string(), "2".to_string()],
        ];
        let mut text = table_text(&["id", "v"], &rows);
        assert!(text.contains("'=1+1"), "{text}");
        let torn = csv_line(&["c".into(), "3".into()]);
        text.push_str(&torn[..2]);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_rows(&path, &["id", "v"], "t").unwrap(), rows);
        let e = read_rows(&path, &["id", "w"], "a W table").unwrap_err();
        assert!(format!("{e}").contains("is not a W table"), "{e}");
        assert!(read_rows(&dir.path().join("none.csv"), &["id"], "t")
            .unwrap()
            .is_empty());
        let mut app = Appender::open(&path).unwrap();
        std::fs::write(&path, table_text(&["id", "v"], &rows)).unwrap();
        app.append(&csv_line(&["c".into(), "3".into()])).unwrap();
        assert_eq!(read_rows(&path, &["id", "v"], "t").unwrap().len(), 3);
    }
}
