//! `aac score`, `aac compare`, `aac agree`: AAC24 from warped label masks,
//! overlap between two sets of masks, agreement between two score tables.

use aac_io::dataset::list_images;
use aac_io::{read_image, read_mask, read_scores, write_rgb_png, ROI_HEIGHT, ROI_WIDTH};
use aac_pipeline::progress::bar;
use aac_score::metrics::{
    agreement, compare_mask_files, subscore_agreement, summarize_comparisons, Agreement,
    CompareSummary, MaskComparison, Region, SubscoreAgreement, Summary,
};
use aac_score::overlay::{render_overlay, DEFAULT_SCALE};
use aac_score::{score_labels, write_scores_csv, Grouping, ScoreError, Scored};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Score categories on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GroupingArg {
    /// The established groups: low (0-1), moderate (2-5), high (6 and above);
    /// the same cut points as UK Biobank work (alias `ukb`).
    #[value(alias = "ukb")]
    Established,
    /// none (0), mild (1-4), severe (5 and above); no published source (alias `clinical`).
    #[value(alias = "clinical")]
    NoneMildSevere,
}

impl From<GroupingArg> for Grouping {
    fn from(g: GroupingArg) -> Self {
        match g {
            GroupingArg::Established => Grouping::Established,
            GroupingArg::NoneMildSevere => Grouping::NoneMildSevere,
        }
    }
}

/// Arguments of `aac score`.
#[derive(Args)]
pub struct ScoreArgs {
    /// Warped dataset root: 128x256 label masks in ROOT/<masks>/<id>.png,
    /// optional warped images in ROOT/images/.
    #[arg(long)]
    data: PathBuf,
    /// Mask directory under the root (labels 0 none, 1 anterior, 2 posterior).
    #[arg(long, default_value = "masks")]
    masks: String,
    /// Output score table (CSV): id, aac24, the 8 sub-scores, midline_x, category.
    #[arg(long)]
    out: PathBuf,
    /// Also write a QC overlay PNG per image (<id>.png) into this directory.
    #[arg(long)]
    overlays: Option<PathBuf>,
    /// Score categories: clinical (none 0 / mild 1-4 / severe 5+) or ukb
    /// (low <2 / moderate 2-5 / high 6+).
    #[arg(long, value_enum, default_value_t = GroupingArg::Established)]
    grouping: GroupingArg,
}

/// Arguments of `aac compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// Dataset root holding both mask directories.
    #[arg(long)]
    data: PathBuf,
    /// First mask directory under the root (the reference, A).
    #[arg(long, default_value = "masks")]
    a: String,
    /// Second mask directory under the root (compared with A).
    #[arg(long, default_value = "masks2")]
    b: String,
    /// Print JSON (summary and per-image results) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `aac agree`.
#[derive(Args)]
pub struct AgreeArgs {
    /// First score table (CSV with an `id` column), the reference A.
    #[arg(long)]
    a: PathBuf,
    /// Second score table, compared with A (differences are B - A).
    #[arg(long)]
    b: PathBuf,
    /// Column compared, in both files.
    #[arg(long, default_value = "aac24")]
    col: String,
    /// Categories for kappa and accuracy (AAC24 groups).
    #[arg(long, value_enum, default_value_t = GroupingArg::Established)]
    grouping: GroupingArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Lists the `<id>.png` (or other image-extension) files of a mask directory.
fn list_masks(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: mask directory does not exist", dir.display());
    }
    Ok(list_images(dir)?)
}

/// The first error in id order, so that reports do not depend on threads.
fn first_error<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    results.into_iter().collect()
}

/// Checks an optional warped image: readable and 128 x 256.
fn check_image(path: &Path) -> Result<()> {
    let img = read_image(path)?;
    if img.dimensions() != (ROI_WIDTH, ROI_HEIGHT) {
        bail!(
            "{}: image is {}x{}, expected {ROI_WIDTH}x{ROI_HEIGHT} (warped space)",
            path.display(),
            img.width(),
            img.height()
        );
    }
    Ok(())
}

fn score_one(path: &Path) -> Result<Scored> {
    let labels = read_mask(path, None)?;
    score_labels(&labels).map_err(|e| match e {
        ScoreError::Io(e) => anyhow!(e),
        other => anyhow!("{}: {other}", path.display()),
    })
}

/// Runs `aac score`.
pub fn score(a: ScoreArgs) -> Result<ExitCode> {
    let grouping = Grouping::from(a.grouping);
    let mask_dir = a.data.join(&a.masks);
    let masks = list_masks(&mask_dir)?;
    let image_dir = a.data.join("images");
    let images = if image_dir.is_dir() {
        list_images(&image_dir)?
    } else {
        BTreeMap::new()
    };
    // Every image needs a mask; masks without an image are scored on their own.
    for (id, img) in &images {
        if !masks.contains_key(id) {
            bail!(
                "{}: mask file does not exist (needed for image {})",
                mask_dir.join(format!("{id}.png")).display(),
                img.display()
            );
        }
    }
    if masks.is_empty() {
        bail!("{}: no masks (.png) found", mask_dir.display());
    }
    let jobs: Vec<(String, PathBuf)> = masks.into_iter().collect();

    // 1. Read and score everything before writing anything.
    let pb = bar(jobs.len() as u64, "score");
    let results: Vec<Result<(String, Scored)>> = jobs
        .par_iter()
        .map(|(id, path)| {
            let s = score_one(path)?;
            if a.overlays.is_some() {
                if let Some(img) = images.get(id) {
                    check_image(img)?;
                }
            }
            pb.inc(1);
            Ok((id.clone(), s))
        })
        .collect();
    pb.finish_and_clear();
    let rows = first_error(results)?;

    // 2. The table, atomically.
    let table: Vec<(String, Scored, Option<[f64; 2]>)> =
        rows.iter().map(|(id, s)| (id.clone(), *s, None)).collect();
    write_scores_csv(&a.out, &table, grouping)?;

    // 3. Overlays, each file atomically.
    if let Some(dir) = &a.overlays {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let pb = bar(jobs.len() as u64, "overlays");
        let results: Vec<Result<()>> = jobs
            .par_iter()
            .zip(&rows)
            .map(|((id, path), (_, scored))| {
                let labels = read_mask(path, None)?;
                let image = images.get(id).map(|p| read_image(p)).transpose()?;
                let rgb = render_overlay(image.as_ref(), &labels, scored, DEFAULT_SCALE);
                write_rgb_png(&dir.join(format!("{id}.png")), &rgb)?;
                pb.inc(1);
                Ok(())
            })
            .collect();
        pb.finish_and_clear();
        first_error(results)?;
    }

    let mut counts = [0usize; 3];
    for (_, s) in &rows {
        counts[grouping.index(f64::from(s.aac24))] += 1;
    }
    let mean = rows.iter().map(|(_, s)| f64::from(s.aac24)).sum::<f64>() / rows.len() as f64;
    let names = grouping.names();
    eprintln!(
        "scored {} masks from {} -> {}: mean AAC24 {mean:.2}; {} {}, {} {}, {} {}{}",
        rows.len(),
        mask_dir.display(),
        a.out.display(),
        names[0],
        counts[0],
        names[1],
        counts[1],
        names[2],
        counts[2],
        a.overlays
            .as_ref()
            .map(|d| format!("; overlays in {}", d.display()))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// Ids of `a` missing from `b`.
fn missing<V, W>(a: &BTreeMap<String, V>, b: &BTreeMap<String, W>) -> Vec<String> {
    a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
}

/// A short list of ids for a table.
fn id_list(ids: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut s = ids
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        s.push_str(&format!(", ... and {} more", ids.len() - SHOWN));
    }
    s
}

fn print_missing(what_a: &str, what_b: &str, missing_in_a: &[String], missing_in_b: &[String]) {
    if !missing_in_b.is_empty() {
        println!(
            "missing from {what_b}: {} ({})",
            missing_in_b.len(),
            id_list(missing_in_b)
        );
    }
    if !missing_in_a.is_empty() {
        println!(
            "missing from {what_a}: {} ({})",
            missing_in_a.len(),
            id_list(missing_in_a)
        );
    }
}

/// One image's result in `aac compare --json`.
#[derive(Serialize)]
struct ImageComparison<'a> {
    id: &'a str,
    #[serde(flatten)]
    comparison: &'a MaskComparison,
}

/// The JSON report of `aac compare`.
#[derive(Serialize)]
struct CompareReport<'a> {
    a: String,
    b: String,
    missing_in_a: &'a [String],
    missing_in_b: &'a [String],
    summary: &'a CompareSummary,
    images: Vec<ImageComparison<'a>>,
}

fn fmt_summary(s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!("{:.3} ± {:.3} (n={})", s.mean, s.sd, s.n),
        None => "-".into(),
    }
}

/// Runs `aac compare`.
pub fn compare(a: CompareArgs) -> Result<ExitCode> {
    let dir_a = a.data.join(&a.a);
    let dir_b = a.data.join(&a.b);
    let masks_a = list_masks(&dir_a)?;
    let masks_b = list_masks(&dir_b)?;
    let missing_in_b = missing(&masks_a, &masks_b);
    let missing_in_a = missing(&masks_b, &masks_a);
    let pairs: Vec<(String, PathBuf, PathBuf)> = masks_a
        .iter()
        .filter_map(|(id, pa)| {
            masks_b
                .get(id)
                .map(|pb| (id.clone(), pa.clone(), pb.clone()))
        })
        .collect();
    if pairs.is_empty() {
        bail!(
            "no mask ids common to {} ({} masks) and {} ({} masks)",
            dir_a.display(),
            masks_a.len(),
            dir_b.display(),
            masks_b.len()
        );
    }
    let results: Vec<Result<(String, MaskComparison)>> = pairs
        .par_iter()
        .map(|(id, pa, pb)| Ok((id.clone(), compare_mask_files(pa, pb)?)))
        .collect();
    let items = first_error(results)?;
    let summary = summarize_comparisons(&items);

    if a.json {
        let report = CompareReport {
            a: dir_a.display().to_string(),
            b: dir_b.display().to_string(),
            missing_in_a: &missing_in_a,
            missing_in_b: &missing_in_b,
            summary: &summary,
            images: items
                .iter()
                .map(|(id, c)| ImageComparison { id, comparison: c })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "A = {}, B = {}: {} image pairs",
        dir_a.display(),
        dir_b.display(),
        summary.n_images
    );
    print_missing("A", "B", &missing_in_a, &missing_in_b);
    println!(
        "{:<10} {:<26} {:<26} {:<26} both empty",
        "region", "Dice (mean ± SD)", "Jaccard (mean ± SD)", "accuracy (mean ± SD)"
    );
    for r in Region::ALL {
        let s = summary.get(r);
        println!(
            "{:<10} {:<26} {:<26} {:<26} {}",
            r.name(),
            fmt_summary(&s.dice),
            fmt_summary(&s.jaccard),
            fmt_summary(&s.accuracy),
            s.both_empty.len()
        );
    }
    println!("(Dice and Jaccard leave out the images where both masks are empty.)");
    Ok(ExitCode::SUCCESS)
}

/// The JSON report of `aac agree`.
#[derive(Serialize)]
struct AgreeReport<'a> {
    a: String,
    b: String,
    column: &'a str,
    missing_in_a: &'a [String],
    missing_in_b: &'a [String],
    #[serde(flatten)]
    agreement: &'a Agreement,
    /// Per-wall agreement of the 8 sub-scores, when both tables have them.
    subscores: Option<&'a SubscoreAgreement>,
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

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

/// Runs `aac agree`.
pub fn agree(a: AgreeArgs) -> Result<ExitCode> {
    let col = a.col.as_str();
    let ta = read_scores(&a.a, &[col])?;
    let tb = read_scores(&a.b, &[col])?;
    let va = ta
        .column(col)
        .ok_or_else(|| anyhow!("{}: header has no '{col}' column", a.a.display()))?;
    let vb = tb
        .column(col)
        .ok_or_else(|| anyhow!("{}: header has no '{col}' column", a.b.display()))?;
    let missing_in_b = missing(&va, &vb);
    let missing_in_a = missing(&vb, &va);
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
    let ag = agreement(&xs, &ys, a.grouping.into())?;
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

    if a.json {
        let report = AgreeReport {
            a: a.a.display().to_string(),
            b: a.b.display().to_string(),
            column: col,
            missing_in_a: &missing_in_a,
            missing_in_b: &missing_in_b,
            agreement: &ag,
            subscores: subscores.as_ref(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "column {col}: A = {}, B = {}: {} pairs matched by id",
        a.a.display(),
        a.b.display(),
        ag.n
    );
    print_missing("A", "B", &missing_in_a, &missing_in_b);
    let row = |name: &str, value: String| println!("  {name:<38} {value}");
    match &ag.linear {
        Some(f) => row(
            "R² (linear fit with intercept)",
            format!("{}   B = {:.3} + {:.3} A", opt(f.r2), f.intercept, f.slope),
        ),
        None => row("R² (linear fit with intercept)", "-".into()),
    }
    match &ag.origin {
        Some(f) => row(
            "R² (through origin, uncentred)",
            format!("{}   B = {:.3} A", opt(f.r2), f.slope),
        ),
        None => row("R² (through origin, uncentred)", "-".into()),
    }
    row("Pearson r", opt(ag.pearson));
    row("Spearman rho", opt(ag.spearman));
    row("ICC(2,1) absolute agreement", opt(ag.icc_2_1));
    row("mean absolute error", opt(ag.mae));
    match &ag.bland_altman {
        Some(b) => row(
            "Bland-Altman bias (B - A)",
            format!(
                "{:.3}, limits {:.3} .. {:.3} (± 1.96 SD, SD {:.3})",
                b.bias, b.lower, b.upper, b.sd
            ),
        ),
        None => row("Bland-Altman bias (B - A)", "-".into()),
    }
    row(
        "weighted kappa (linear, 3 categories)",
        opt(ag.kappa_linear),
    );
    row("category accuracy", opt(ag.category_accuracy));
    println!("  confusion matrix (rows A, columns B):");
    let names = ag.categories;
    println!(
        "    {:>10} {:>8} {:>8} {:>8}",
        "", names[0], names[1], names[2]
    );
    for (name, r) in names.iter().zip(&ag.confusion) {
        println!("    {name:>10} {:>8} {:>8} {:>8}", r[0], r[1], r[2]);
    }
    println!("  categories: {}", ag.grouping.describe());
    match &subscores {
        Some(s) => print_subscores(s),
        None => println!("sub-scores: not compared (a table lacks the 8 sub-score columns)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the per-wall sub-score agreement of `aac agree`.
fn print_subscores(s: &SubscoreAgreement) {
    println!(
        "sub-scores (8 per image, {} images with all 8 in both):",
        s.n
    );
    let row = |name: &str, value: String| println!("  {name:<38} {value}");
    row("weighted kappa (linear, 0-3, pooled)", opt(s.kappa_linear));
    row("exact agreement (pooled)", opt(s.exact));
    row(
        "anterior total (A, B)",
        format!("{}, {}", s.anterior_total.0, s.anterior_total.1),
    );
    row(
        "posterior total (A, B)",
        format!("{}, {}", s.posterior_total.0, s.posterior_total.1),
    );
    println!("  exact agreement per sub-score:");
    for (name, v) in aac_score::metrics::SUBSCORE_NAMES
        .iter()
        .zip(s.exact_per_subscore)
    {
        println!("    {name:<8} {v:.3}");
    }
}
