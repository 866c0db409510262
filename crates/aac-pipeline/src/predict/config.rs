//! Settings of `aac predict`, shards, and the provenance key of a run's options.

use super::*;

/// Settings of `aac predict`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictConfig {
    /// Model bundle from `aac train bundle`.
    pub model: PathBuf,
    /// Directory of raw images (PNG, TIFF, DICOM).
    pub images: PathBuf,
    /// Directory of .pts files with at least the 20 spine points (None, or
    /// an image without a file there: the bundle's finder finds them).
    pub landmarks: Option<PathBuf>,
    /// Output directory (scores.csv, provenance.csv, index.html, overlays/).
    pub out: PathBuf,
    /// Worker threads (None: all cores).
    pub jobs: Option<usize>,
    /// Write a QC overlay per image.
    pub overlays: bool,
    /// Process only this part of the images.
    pub shard: Option<Shard>,
    /// Pixel spacing [row, column] in mm for images that do not state it;
    /// DICOM PixelSpacing / ImagerPixelSpacing takes precedence.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Probability thresholds (anterior, posterior) in place of the
    /// bundle's (None: the bundle's, chosen on its validation split). Rows
    /// scored with other thresholds are scored again on resume.
    pub threshold: Option<[aac_score::Threshold; 2]>,
    /// Wait for another run that holds `out` instead of refusing.
    #[serde(default)]
    pub wait: bool,
}

impl PredictConfig {
    /// These settings with every path made absolute (against the current
    /// folder): what the run record keeps, so that `aac review` started in
    /// another folder still finds the scans and the bundle.
    pub fn with_absolute_paths(&self) -> PredictConfig {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        PredictConfig {
            model: abs(&self.model),
            images: abs(&self.images),
            landmarks: self.landmarks.as_deref().map(abs),
            out: abs(&self.out),
            ..self.clone()
        }
    }
}

/// The provenance key of how a row was scored: the bundle's checksum, the
/// aac version (whose rules, such as the wall split, may score the same
/// bundle's output differently), then every option that changes a row or
/// its files (threshold, pixel spacing, overlays), so that a re-run with
/// another version or other options scores the rows again.
pub(super) fn run_key(checksum: &str, a: &PredictConfig) -> String {
    let mut key = format!("{checksum}@aac={}", env!("CARGO_PKG_VERSION"));
    if let Some([ant, post]) = a.threshold {
        key.push_str(&format!("@threshold={ant},{post}"));
    }
    if let Some(sp) = a.pixel_spacing {
        key.push_str(&format!("@spacing={}", spacing_cell(sp)));
    }
    if a.overlays {
        key.push_str("@overlays");
    }
    key
}

/// Part K of N of a cohort (1-based), stable by id: `3/10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This part, 1..=n.
    pub k: u64,
    /// Number of parts.
    pub n: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}': a shard looks like K/N, e.g. 2/8"))?;
        let parse = |v: &str, what: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{s}': {what} is not a whole number"))
        };
        let (k, n) = (parse(k, "K")?, parse(n, "N")?);
        if n == 0 || k == 0 || k > n {
            return Err(format!("'{s}': need 1 <= K <= N"));
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// True if `id` belongs to this shard.
    pub fn contains(&self, id: &str) -> bool {
        shard_of(id, self.n) == self.k
    }
}

/// Images per worker thread in one chunk of `aac predict` (the unit of
/// reading, finding points, the U-net's batch and appending).
pub const CHUNK_PER_THREAD: usize = 16;

/// Shard of an id: a stable hash, so shards do not depend on the file listing.
pub(super) fn shard_of(id: &str, n: u64) -> u64 {
    bundle::fnv1a(id.as_bytes(), 0xcbf2_9ce4_8422_2325) % n + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(threshold: Option<[f32; 2]>) -> PredictConfig {
        let threshold = threshold.map(|t| t.map(|v| aac_score::Threshold::new(v).unwrap()));
        PredictConfig {
            model: "m.aac".into(),
            images: "i".into(),
            landmarks: Some("l".into()),
            out: "o".into(),
            jobs: None,
            overlays: false,
            shard: None,
            pixel_spacing: None,
            threshold,
            wait: false,
        }
    }

    #[test]
    fn rows_of_other_options_have_another_provenance() {
        let plain = run_key("abc", &config(None));
        assert_eq!(plain, format!("abc@aac={}", env!("CARGO_PKG_VERSION")));
        let t = run_key("abc", &config(Some([0.2, 0.3])));
        assert_ne!(t, plain);
        assert_ne!(t, run_key("abc", &config(Some([0.2, 0.2]))));
        let mut c = config(None);
        c.overlays = true;
        let with_overlays = run_key("abc", &c);
        c.pixel_spacing = Some([0.3, 0.3]);
        let keys = [plain, t, with_overlays, run_key("abc", &c)];
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(keys[i], keys[j]);
            }
        }
    }

    #[test]
    fn the_run_record_keeps_absolute_paths_and_the_rest_as_given() {
        let here = std::env::current_dir().unwrap();
        let c = config(Some([0.2, 0.3])).with_absolute_paths();
        assert_eq!(c.images, here.join("i"));
        assert_eq!(c.model, here.join("m.aac"));
        assert_eq!(c.landmarks, Some(here.join("l")));
        assert_eq!(c.out, here.join("o"));
        assert_eq!(
            run_key("abc", &c),
            run_key("abc", &config(Some([0.2, 0.3])))
        );
        let abs = PathBuf::from("/data/scans");
        let mut given = config(None);
        given.images = abs.clone();
        assert_eq!(given.with_absolute_paths().images, abs);
    }

    #[test]
    fn shards_parse_and_split_a_cohort_into_disjoint_parts() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { k: 2, n: 8 }));
        assert_eq!(" 1 / 1 ".parse::<Shard>(), Ok(Shard { k: 1, n: 1 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let shards: Vec<Shard> = (1..=3).map(|k| Shard { k, n: 3 }).collect();
        let mut sizes = [0usize; 3];
        for i in 0..300 {
            let id = format!("case{i}");
            let owners: Vec<usize> = (0..3).filter(|&j| shards[j].contains(&id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 70), "{sizes:?}");
    }
}
