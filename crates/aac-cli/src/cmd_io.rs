//! `aac info`, `aac convert`, `aac check`.

use aac_io::{check_dataset, info::image_info, read_image, write_png16};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `aac info`.
#[derive(Args)]
pub struct InfoArgs {
    /// Print JSON (one object per file, in an array when several).
    #[arg(long)]
    json: bool,
    /// Image or DICOM files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Arguments of `aac convert`.
#[derive(Args)]
pub struct ConvertArgs {
    /// Input image (PNG, TIFF, DICOM).
    input: PathBuf,
    /// Output 16-bit PNG.
    output: PathBuf,
    /// Write the negative (each value mirrored within the image's range):
    /// for scans stored inverted, bone dark, which the finder reports
    /// ("the scan looks stored inverted").
    #[arg(long)]
    invert: bool,
}

/// Arguments of `aac check`.
#[derive(Args)]
pub struct CheckArgs {
    /// Dataset root (or `--data ROOT`, as the other commands take it).
    #[arg(required_unless_present = "data", conflicts_with = "data")]
    root: Option<PathBuf>,
    /// Dataset root.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Runs `aac info`.
pub fn info(a: InfoArgs) -> Result<ExitCode> {
    let mut infos = Vec::new();
    let mut failed = false;
    for f in &a.files {
        match image_info(f) {
            Ok(i) => infos.push(i),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if a.json {
        let text = if a.files.len() == 1 {
            infos
                .first()
                .map(serde_json::to_string_pretty)
                .transpose()?
                .unwrap_or_default()
        } else {
            serde_json::to_string_pretty(&infos)?
        };
        if !text.is_empty() {
            println!("{text}");
        }
    } else {
        for i in &infos {
            println!("{}", i.file);
            println!("  size: {} x {}", i.width, i.height);
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            println!(
                "  bits_stored: {}",
                i.bits_stored.map(|b| b.to_string()).unwrap_or("-".into())
            );
            println!("  photometric: {}", opt(&i.photometric));
            if let Some(ts) = &i.transfer_syntax {
                println!(
                    "  transfer_syntax: {} ({})",
                    ts.uid,
                    ts.name.clone().unwrap_or("unknown".into())
                );
            }
            println!("  modality: {}", opt(&i.modality));
            println!("  manufacturer: {}", opt(&i.manufacturer));
            match i.pixel_spacing_mm {
                Some([r, c]) => println!("  pixel_spacing_mm: {r} x {c}"),
                None => println!("  pixel_spacing_mm: -"),
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `aac convert`.
pub fn convert(a: ConvertArgs) -> Result<ExitCode> {
    let mut img = read_image(&a.input)?;
    if a.invert {
        img = aac_io::image_io::negative_image(&img);
    }
    write_png16(&a.output, &img).with_context(|| format!("writing {}", a.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `aac check`.
pub fn check(a: CheckArgs) -> Result<ExitCode> {
    let Some(root) = a.root.or(a.data) else {
        bail!("give the dataset root: aac check --data ROOT");
    };
    let problems = check_dataset(&root);
    if problems.is_empty() {
        let n = aac_io::Dataset::open(&root)?.images.len();
        println!("{}: OK ({n} images)", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("{p}");
    }
    bail!("{}: {} problem(s) found", root.display(), problems.len())
}
