//! One row of predict's scores.csv, typed: written by the scoring stage,
//! read back by resume, merge, the QC page and the run record.

use super::COLUMNS;
use crate::qc::{flags_cell, parse_flags_cell, QcFlag, Status};

/// Where a row's spine points came from (the `landmarks` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandmarkSource {
    /// A `.pts` file given with `--landmarks` (not one written by `aac landmarks`).
    Given,
    /// Found by the bundle's finder, in this run or by `aac landmarks`.
    Found,
    /// The image failed before any points were had.
    None,
}

impl LandmarkSource {
    const ALL: [LandmarkSource; 3] = [
        LandmarkSource::Given,
        LandmarkSource::Found,
        LandmarkSource::None,
    ];

    /// The name in the `landmarks` column.
    pub fn name(self) -> &'static str {
        match self {
            LandmarkSource::Given => "given",
            LandmarkSource::Found => "found",
            LandmarkSource::None => "none",
        }
    }
}

/// The number of score-table cells after the id.
const SCORE_CELLS: usize = aac_score::SCORE_CSV_HEADER.len() - 1;

/// One scored (or failed) image: a row of scores.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The image's id.
    pub id: String,
    /// The score table's cells after the id, in
    /// [`aac_score::SCORE_CSV_HEADER`] order; empty on an error row.
    pub scores: Vec<String>,
    /// How the image turned out.
    pub status: Status,
    /// Why, in words: the error, or the reasons of the flags.
    pub message: String,
    /// The QC flags raised.
    pub flags: Vec<QcFlag>,
    /// Where the spine points came from.
    pub landmarks: LandmarkSource,
    /// The finder's confidence, when the points were found.
    pub landmark_confidence: String,
    /// The pixel spacing used (mm; `ROWxCOL` when not square), when known.
    pub pixel_spacing_mm: String,
    /// How likely the scan's category is wrong, 0-1 ([`super::uncertainty`]);
    /// empty on an error row.
    pub uncertainty: String,
}

impl Row {
    /// The row of an image that could not be scored.
    pub fn error(id: &str, message: String, landmarks: LandmarkSource) -> Row {
        Row {
            id: id.to_string(),
            scores: vec![String::new(); SCORE_CELLS],
            status: Status::Error,
            message,
            flags: Vec::new(),
            landmarks,
            landmark_confidence: String::new(),
            pixel_spacing_mm: String::new(),
            uncertainty: String::new(),
        }
    }

    /// The AAC24 and the 8 sub-scores, when the row was scored.
    pub fn score_values(&self) -> Option<(u32, [u32; 8])> {
        let aac24 = self.scores.first()?.parse().ok()?;
        let mut sub = [0u32; 8];
        for (k, v) in sub.iter_mut().enumerate() {
            *v = self.scores.get(k + 1)?.parse().ok()?;
        }
        Some((aac24, sub))
    }

    /// The cells as written, in [`COLUMNS`] order.
    pub fn fields(&self) -> Vec<String> {
        let mut f = Vec::with_capacity(COLUMNS.len());
        f.push(self.id.clone());
        f.extend(self.scores.iter().cloned());
        f.extend([
            self.status.name().to_string(),
            self.message.clone(),
            flags_cell(&self.flags),
            self.landmarks.name().to_string(),
            self.landmark_confidence.clone(),
            self.pixel_spacing_mm.clone(),
            self.uncertainty.clone(),
        ]);
        f
    }

    /// A row read back from its cells ([`COLUMNS`] order); what is wrong
    /// with them otherwise.
    pub fn from_fields(fields: Vec<String>) -> Result<Row, String> {
        if fields.len() != COLUMNS.len() {
            return Err(format!(
                "{} cells where {} were expected",
                fields.len(),
                COLUMNS.len()
            ));
        }
        let mut cells = fields.into_iter();
        let mut next = || cells.next().unwrap_or_default();
        let id = next();
        let scores: Vec<String> = (0..SCORE_CELLS).map(|_| next()).collect();
        let status_cell = next();
        let status = Status::from_name(&status_cell)
            .ok_or_else(|| format!("{id}: unknown status {status_cell:?}"))?;
        let message = next();
        let flags =
            parse_flags_cell(&next()).map_err(|f| format!("{id}: unknown QC flag {f:?}"))?;
        let source_cell = next();
        let landmarks = LandmarkSource::ALL
            .into_iter()
            .find(|s| s.name() == source_cell)
            .ok_or_else(|| format!("{id}: unknown landmark source {source_cell:?}"))?;
        Ok(Row {
            id,
            scores,
            status,
            message,
            flags,
            landmarks,
            landmark_confidence: next(),
            pixel_spacing_mm: next(),
            uncertainty: next(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_as_it_was_written_and_bad_cells_are_named() {
        let mut r = Row::error("a", "bad".into(), LandmarkSource::None);
        assert_eq!(Row::from_fields(r.fields()).unwrap(), r);
        r.status = Status::Flagged;
        r.flags = vec![QcFlag::UnusualShapeFit, QcFlag::LandmarksUncertain];
        r.landmarks = LandmarkSource::Found;
        r.scores = (0..SCORE_CELLS).map(|i| i.to_string()).collect();
        let f = r.fields();
        assert_eq!(f.len(), COLUMNS.len());
        assert_eq!(Row::from_fields(f.clone()).unwrap(), r);
        let mut bad = f.clone();
        bad[SCORE_CELLS + 1] = "fine".into();
        assert!(Row::from_fields(bad).unwrap_err().contains("status"));
        let mut bad = f.clone();
        bad[SCORE_CELLS + 3] = "odd_flag".into();
        assert!(Row::from_fields(bad).unwrap_err().contains("odd_flag"));
        assert!(Row::from_fields(f[1..].to_vec()).is_err());
    }
}
