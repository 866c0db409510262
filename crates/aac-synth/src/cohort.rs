//! Writing a synthetic cohort in the dataset layout of docs/data-format.md.

use crate::{generate_case, Case, Style};
use aac_io::dicom::{write_dicom_gray16, DicomWriteInfo};
use aac_io::{write_mask, write_png16, write_pts, write_string_atomic, IoError};
use rayon::prelude::*;
use std::path::Path;

/// Options of `aac synth`.
#[derive(Debug, Clone)]
pub struct CohortOptions {
    /// Number of images.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Scanner style.
    pub style: Style,
    /// Write DICOM instead of PNG images.
    pub dicom: bool,
    /// Every image has some calcification (like the paper's cohort).
    pub calcified_only: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct CohortSummary {
    /// Number of images.
    pub n: usize,
    /// Images with AAC24 = 0.
    pub zero: usize,
    /// Mean AAC24.
    pub mean_aac24: f64,
}

fn write_case(root: &Path, case: &Case, opts: &CohortOptions) -> Result<(), IoError> {
    let id = &case.id;
    if opts.dicom {
        let info = DicomWriteInfo {
            pixel_spacing_mm: [case.truth.spacing_mm; 2],
            manufacturer: opts.style.manufacturer.clone(),
            bits_stored: 12,
            id: id.clone(),
        };
        write_dicom_gray16(
            &root.join("images").join(format!("{id}.dcm")),
            &case.image,
            &info,
        )?;
    } else {
        write_png16(&root.join("images").join(format!("{id}.png")), &case.image)?;
    }
    write_pts(
        &root.join("landmarks").join(format!("{id}.pts")),
        &case.landmarks,
    )?;
    write_mask(&root.join("masks").join(format!("{id}.png")), &case.mask)?;
    write_mask(&root.join("masks2").join(format!("{id}.png")), &case.mask2)?;
    Ok(())
}

/// Generates and writes a cohort under `root` (images, landmarks, masks,
/// masks2, scores.csv, truth.json), in parallel; `tick` is called once per image.
pub fn write_cohort(
    root: &Path,
    opts: &CohortOptions,
    tick: &(dyn Fn() + Sync),
) -> Result<CohortSummary, IoError> {
    for dir in ["images", "landmarks", "masks", "masks2"] {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).map_err(|e| IoError::os(&d, e))?;
    }
    let rows: Vec<Result<(String, crate::Aac24, u32, crate::Truth), IoError>> = (0..opts.n)
        .into_par_iter()
        .map(|i| {
            let case = generate_case(opts.seed, i, &opts.style, opts.calcified_only);
            write_case(root, &case, opts)?;
            tick();
            Ok((case.id.clone(), case.score, case.visual, case.truth))
        })
        .collect();
    let rows: Vec<_> = rows.into_iter().collect::<Result<_, _>>()?;
    let mut csv = String::from(
        "id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post,aac24_visual\n",
    );
    for (id, s, visual, _) in &rows {
        let subs: Vec<String> = s.sub.iter().map(|v| v.to_string()).collect();
        csv.push_str(&format!("{id},{},{},{visual}\n", s.total, subs.join(",")));
    }
    write_string_atomic(&root.join("scores.csv"), &csv)?;
    let truths: Vec<&crate::Truth> = rows.iter().map(|r| &r.3).collect();
    let json = serde_json::to_string(&truths)
        .map_err(|e| IoError::format(root.join("truth.json"), e.to_string()))?;
    write_string_atomic(&root.join("truth.json"), &json)?;
    let zero = rows.iter().filter(|r| r.1.total == 0).count();
    let mean = rows.iter().map(|r| r.1.total as f64).sum::<f64>() / rows.len().max(1) as f64;
    Ok(CohortSummary {
        n: rows.len(),
        zero,
        mean_aac24: mean,
    })
}
