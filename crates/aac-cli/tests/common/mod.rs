//! Helpers shared by the CLI tests: run the built `aac` and read its output.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `aac` with arguments to the end.
pub fn aac(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aac"))
        .args(args)
        .output()
        .expect("run aac")
}

/// Standard output and standard error together.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The output of a run that must succeed.
pub fn ok(o: Output) -> String {
    let t = output_text(&o);
    assert!(o.status.success(), "{t}");
    t
}

/// A path as an argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Training flags of a tiny bundle: a U-net of width 2 and a finder of width
/// 2, one epoch each (seconds, not a usable model).
pub const TINY: [&str; 8] = [
    "--unet-width",
    "2",
    "--epochs",
    "1",
    "--landmark-epochs",
    "1",
    "--landmark-width",
    "2",
];

/// Eight `hologic` scans in `dir/train` and a tiny bundle with a landmark
/// finder trained on them, `dir/model.aac`.
pub fn tiny_finder_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let train = dir.join("train");
    ok(aac(&[
        "synth",
        "--n",
        "8",
        "--seed",
        "1",
        "--style",
        "hologic",
        "--out",
        s(&train),
    ]));
    let model = dir.join("model.aac");
    let mut a = vec!["train", "bundle", "--data", s(&train), "--out", s(&model)];
    a.extend(TINY);
    ok(aac(&a));
    (train, model)
}

/// Ten calcified synthetic scans in `dir/train` and a tiny bundle without a
/// landmark finder trained on them, `dir/model.aac`.
pub fn tiny_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let train = calcified_training_set(dir);
    let model = dir.join("model.aac");
    ok(aac(&[
        "train",
        "bundle",
        "--data",
        s(&train),
        "--out",
        s(&model),
        "--unet-width",
        "2",
        "--epochs",
        "1",
        "--no-landmarks",
    ]));
    (train, model)
}

/// Ten calcified synthetic scans in `dir/train`, for training tiny models.
pub fn calcified_training_set(dir: &Path) -> PathBuf {
    let train = dir.join("train");
    ok(aac(&[
        "synth",
        "--n",
        "10",
        "--seed",
        "1",
        "--calcified-only",
        "--out",
        s(&train),
    ]));
    train
}
