//! The status of a row and the QC flags, with their names (as written in
//! `scores.csv` and `landmarks.csv`) and definitions in one place;
//! docs/predict.md lists the same (a test checks it).

/// How a row of `scores.csv` or `landmarks.csv` turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Scored, no flag.
    Ok,
    /// Scored with at least one QC flag: a reader should look.
    Flagged,
    /// Not scored; `message` says why.
    Error,
}

impl Status {
    /// The name in the `status` column.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Flagged => "flagged",
            Status::Error => "error",
        }
    }

    /// The status named `name` in a `status` column, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        [Status::Ok, Status::Flagged, Status::Error]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// `Flagged` when there are flags, else `Ok`.
    pub fn of_flags(flags: &[QcFlag]) -> Self {
        if flags.is_empty() {
            Status::Ok
        } else {
            Status::Flagged
        }
    }
}

/// A reason to look at a scored scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QcFlag {
    /// The aorta band leaves the image.
    BandOutsideImage,
    /// A constant (scanner-masked) region covers the aorta's band.
    FlatRegionInAortaBand,
    /// Shape parameters far outside the training distribution.
    UnusualShapeFit,
    /// Many pixels just below the threshold against few above it.
    LowConfidenceSegmentation,
    /// The given points do not fit the image (mirrored, another image's).
    LandmarksDisagreeWithImage,
    /// The band was laid along the spine's normal so as not to fold.
    RoiBandAdjusted,
    /// The landmark finder doubts its points.
    LandmarksUncertain,
}

impl QcFlag {
    /// Every flag, in the order they are written.
    pub const ALL: [QcFlag; 7] = [
        QcFlag::BandOutsideImage,
        QcFlag::FlatRegionInAortaBand,
        QcFlag::UnusualShapeFit,
        QcFlag::LowConfidenceSegmentation,
        QcFlag::LandmarksDisagreeWithImage,
        QcFlag::RoiBandAdjusted,
        QcFlag::LandmarksUncertain,
    ];

    /// The name in the `flags` column.
    pub fn name(self) -> &'static str {
        match self {
            QcFlag::BandOutsideImage => "band_outside_image",
            QcFlag::FlatRegionInAortaBand => "flat_region_in_aorta_band",
            QcFlag::UnusualShapeFit => "unusual_shape_fit",
            QcFlag::LowConfidenceSegmentation => "low_confidence_segmentation",
            QcFlag::LandmarksDisagreeWithImage => "landmarks_disagree_with_image",
            QcFlag::RoiBandAdjusted => "roi_band_adjusted",
            QcFlag::LandmarksUncertain => aac_landmarks::UNCERTAIN_FLAG,
        }
    }
}

/// The `flags` cell of a row: names joined by `;`.
pub fn flags_cell(flags: &[QcFlag]) -> String {
    flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(";")
}

/// The flags of a `flags` cell ([`flags_cell`] read back); the unknown name
/// when there is one.
pub fn parse_flags_cell(cell: &str) -> Result<Vec<QcFlag>, String> {
    cell.split(';')
        .filter(|n| !n.is_empty())
        .map(|n| {
            QcFlag::ALL
                .into_iter()
                .find(|f| f.name() == n)
                .ok_or_else(|| n.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_its_own_name_and_is_defined_in_the_docs() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/predict.md"),
        )
        .unwrap();
        let mut names: Vec<&str> = QcFlag::ALL.iter().map(|f| f.name()).collect();
        for n in &names {
            assert!(
                docs.contains(&format!("`{n}`")),
                "docs/predict.md does not define {n}"
            );
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), QcFlag::ALL.len());
        assert_eq!(
            flags_cell(&[QcFlag::UnusualShapeFit, QcFlag::RoiBandAdjusted]),
            "unusual_shape_fit;roi_band_adjusted"
        );
        assert_eq!(Status::of_flags(&[]).name(), "ok");
        assert_eq!(
            Status::of_flags(&[QcFlag::LandmarksUncertain]),
            Status::Flagged
        );
    }
}
