//! `aac score`, `aac compare`, `aac agree`: flags -> settings ->
//! [`aac_pipeline::masks`] and [`aac_pipeline::agree`], then printing.

use aac_pipeline::agree::{agree as run_agree, AgreeConfig};
use aac_pipeline::masks::{compare_masks, score_masks, CompareConfig, ScoreConfig};
use aac_score::metrics::{Region, SubscoreAgreement, Summary};
use aac_score::Grouping;
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
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

/// Runs `aac score`.
pub fn score(a: ScoreArgs) -> Result<ExitCode> {
    let grouping = Grouping::from(a.grouping);
    let s = score_masks(&ScoreConfig {
        data: a.data,
        masks: a.masks,
        out: a.out.clone(),
        overlays: a.overlays.clone(),
        grouping,
    })?;
    let names = grouping.names();
    eprintln!(
        "scored {} masks from {} -> {}: mean AAC24 {:.2}; {} {}, {} {}, {} {}{}",
        s.rows.len(),
        s.mask_dir.display(),
        a.out.display(),
        s.mean_aac24,
        names[0],
        s.counts[0],
        names[1],
        s.counts[1],
        names[2],
        s.counts[2],
        a.overlays
            .as_ref()
            .map(|d| format!("; overlays in {}", d.display()))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
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

fn print_missing(missing_in_a: &[String], missing_in_b: &[String]) {
    if !missing_in_b.is_empty() {
        println!(
            "missing from B: {} ({})",
            missing_in_b.len(),
            id_list(missing_in_b)
        );
    }
    if !missing_in_a.is_empty() {
        println!(
            "missing from A: {} ({})",
            missing_in_a.len(),
            id_list(missing_in_a)
        );
    }
}

fn fmt_summary(s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!("{:.3} ± {:.3} (n={})", s.mean, s.sd, s.n),
        None => "-".into(),
    }
}

/// Runs `aac compare`.
pub fn compare(a: CompareArgs) -> Result<ExitCode> {
    let report = compare_masks(&CompareConfig {
        data: a.data,
        a: a.a,
        b: a.b,
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "A = {}, B = {}: {} image pairs",
        report.a, report.b, report.summary.n_images
    );
    print_missing(&report.missing_in_a, &report.missing_in_b);
    println!(
        "{:<10} {:<26} {:<26} {:<26} both empty",
        "region", "Dice (mean ± SD)", "Jaccard (mean ± SD)", "accuracy (mean ± SD)"
    );
    for r in Region::ALL {
        let s = report.summary.get(r);
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

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

/// Runs `aac agree`.
pub fn agree(a: AgreeArgs) -> Result<ExitCode> {
    let report = run_agree(&AgreeConfig {
        a: a.a,
        b: a.b,
        column: a.col,
        grouping: a.grouping.into(),
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let ag = &report.agreement;
    println!(
        "column {}: A = {}, B = {}: {} pairs matched by id",
        report.column, report.a, report.b, ag.n
    );
    print_missing(&report.missing_in_a, &report.missing_in_b);
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
    match &report.subscores {
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
