//! What an output folder already holds: complete rows, their provenance, and the
//! verdicts of the `aac landmarks` run whose points are given.

use super::*;

/// Reads the complete rows of an existing scores.csv (a torn last line from a
/// crash is dropped).
pub(super) fn read_done(path: &Path) -> Result<Vec<Row>> {
    if written_before_uncertainty(path) {
        tracing::info!(
            "{} was written by aac 0.5 or older (no uncertainty column): every row is scored again",
            path.display()
        );
        return Ok(Vec::new());
    }
    read_rows(path, &COLUMNS, "an `aac predict` scores file")?
        .into_iter()
        .map(|fields| {
            Row::from_fields(fields).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        })
        .collect()
}

/// True when `path` is a scores.csv of aac 0.5 or older: the columns of
/// today less the last, `uncertainty`.
fn written_before_uncertainty(path: &Path) -> bool {
    let Ok(text) = aac_io::read_text_capped(path, aac_io::input::MAX_TABLE_BYTES) else {
        return false;
    };
    let header = text.lines().next().unwrap_or_default();
    header == COLUMNS[..COLUMNS.len() - 1].join(",")
}

/// The columns of provenance.csv.
pub(super) const PROVENANCE_COLUMNS: [&str; 4] = ["id", "bundle", "image", "landmarks"];

/// The provenance of one row after its id: bundle checksum, image and
/// landmark fingerprints.
pub(super) fn provenance_fields(
    bundle: &str,
    image: &Path,
    landmarks: Option<&Path>,
) -> Vec<String> {
    vec![
        bundle.to_string(),
        fingerprint(image),
        landmarks.map_or_else(|| "found".into(), fingerprint),
    ]
}

/// A row's id, status and flags, for the run record's counts.
pub(super) fn row_summary(r: &Row) -> (&str, &str, String) {
    (r.id.as_str(), r.status.name(), flags_cell(&r.flags))
}

/// A row of `landmarks.csv` written by `aac landmarks`, carried into the
/// rows scored with its points.
#[derive(Debug, Clone)]
pub(super) struct FinderNote {
    pub(super) flagged: bool,
    pub(super) confidence: String,
    pub(super) message: String,
}

/// The `landmarks.csv` of a `--landmarks` folder written by `aac landmarks`
/// (empty when there is none: points from elsewhere).
pub(super) fn finder_notes(dir: Option<&Path>) -> Result<BTreeMap<String, FinderNote>> {
    let Some(path) = dir.map(|d| d.join("landmarks.csv")).filter(|p| p.is_file()) else {
        return Ok(BTreeMap::new());
    };
    let rows = read_rows(
        &path,
        &crate::landmarks::COLUMNS,
        "an `aac landmarks` table",
    )?;
    Ok(rows
        .into_iter()
        .filter(|r| r[1] != "error")
        .map(|r| {
            (
                r[0].clone(),
                FinderNote {
                    flagged: r[1] == "flagged",
                    confidence: r[2].clone(),
                    message: r[3].clone(),
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: Status) -> Vec<String> {
        let mut r = Row::error(id, String::new(), LandmarkSource::Given);
        r.status = status;
        r.fields()
    }

    #[test]
    fn formula_ids_are_guarded_in_scores_csv_and_read_back_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let id = "=HYPERLINK(\"http://x\",\"y\")";
        let fields = Row::error(id, "-bad input".into(), LandmarkSource::None).fields();
        let mut text = csv_line(&COLUMNS.map(String::from));
        text.push_str(&csv_line(&fields));
        std::fs::write(&path, &text).unwrap();
        assert!(text.contains("\"'=HYPERLINK("), "{text}");
        assert!(text.contains(",'-bad input,"), "{text}");
        let rows = read_done(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].fields(), fields);
    }

    #[test]
    fn a_scores_file_of_aac_0_5_is_scored_again_and_any_other_header_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let old = &COLUMNS[..COLUMNS.len() - 1];
        let mut text = csv_line(&old.iter().map(|c| c.to_string()).collect::<Vec<_>>());
        let mut fields = row("a", Status::Ok);
        fields.pop();
        text.push_str(&csv_line(&fields));
        std::fs::write(&path, &text).unwrap();
        assert!(read_done(&path).unwrap().is_empty());
        std::fs::write(&path, "id,aac24\na,3\n").unwrap();
        assert!(read_done(&path)
            .unwrap_err()
            .to_string()
            .contains("header differs"));
    }

    #[test]
    fn resume_keeps_complete_rows_and_drops_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let mut text = csv_line(&COLUMNS.map(String::from));
        text.push_str(&csv_line(&row("a", Status::Ok)));
        text.push_str(&csv_line(&row("b", Status::Flagged)));
        let torn = csv_line(&row("c", Status::Ok));
        text.push_str(&torn[..torn.len() / 2]);
        std::fs::write(&path, &text).unwrap();
        let ids: Vec<String> = read_done(&path)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        std::fs::write(&path, "id,something\nx,1\n").unwrap();
        assert!(read_done(&path).is_err());
    }
}
