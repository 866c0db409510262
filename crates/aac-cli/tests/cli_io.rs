//! End-to-end tests of the I/O commands through the `aac` binary.

use std::path::Path;

mod common;
use common::{aac, output_text as text};

fn samples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dicom-samples")
}

#[test]
fn synth_then_check_passes_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for out in [&a, &b] {
        let o = aac(&[
            "synth",
            "--n",
            "3",
            "--seed",
            "9",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = aac(&["check", a.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "images/synth00001.png",
        "landmarks/synth00001.pts",
        "masks/synth00002.png",
        "scores.csv",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let scores = std::fs::read_to_string(a.join("scores.csv")).unwrap();
    assert!(scores.starts_with(
        "id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post,aac24_visual"
    ));
}

#[test]
fn synth_dicom_cohort_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    let o = aac(&[
        "synth",
        "--n",
        "2",
        "--dicom",
        "--style",
        "lunar",
        "--out",
        root.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = aac(&[
        "info",
        "--json",
        root.join("images/synth00000.dcm").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["bits_stored"], 12);
    assert_eq!(v["modality"], "DX");
    assert!(v["pixel_spacing_mm"][0].as_f64().unwrap() > 0.25);
    assert_eq!(v["transfer_syntax"]["uid"], "1.2.840.10008.1.2.1");
    assert!(aac(&["check", root.to_str().unwrap()]).status.success());
    assert!(aac(&["check", "--data", root.to_str().unwrap()])
        .status
        .success());
}

#[test]
fn check_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    assert!(aac(&["synth", "--n", "4", "--out", root.to_str().unwrap()])
        .status
        .success());
    // 29 points; garbage .pts; a missing mask; a wrong-sized mask; a label 7.
    let pts = std::fs::read_to_string(root.join("landmarks/synth00000.pts")).unwrap();
    let mut lines: Vec<&str> = pts.lines().collect();
    lines.remove(5);
    let short = lines.join("\n").replace("n_points: 30", "n_points: 29");
    std::fs::write(root.join("landmarks/synth00000.pts"), short).unwrap();
    std::fs::write(root.join("landmarks/synth00001.pts"), "garbage").unwrap();
    std::fs::remove_file(root.join("masks/synth00002.png")).unwrap();
    image::GrayImage::new(10, 10)
        .save(root.join("masks/synth00003.png"))
        .unwrap();
    let mut m = image::open(root.join("masks2/synth00003.png"))
        .unwrap()
        .to_luma8();
    m.put_pixel(1, 1, image::Luma([7]));
    m.save(root.join("masks2/synth00003.png")).unwrap();
    let o = aac(&["check", root.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = text(&o);
    for want in [
        "synth00000.pts: expected 30 points, found 29",
        "synth00001.pts",
        "synth00002.png: mask file does not exist",
        "synth00003.png: mask is 10x10",
        "label 7 at (x=1, y=1)",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn info_and_convert_on_real_dicom() {
    let dir = samples();
    let o = aac(&[
        "info",
        "--json",
        dir.join("MR_small_jpeg_ls_lossless.dcm").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["transfer_syntax"]["uid"], "1.2.840.10008.1.2.4.80");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ct.png");
    let o = aac(&[
        "convert",
        dir.join("CT_small.dcm").to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let img = image::open(&out).unwrap();
    assert_eq!(img.color(), image::ColorType::L16);
    // --invert writes the negative within the image's own range.
    let neg = tmp.path().join("ct-negative.png");
    let o = aac(&[
        "convert",
        dir.join("CT_small.dcm").to_str().unwrap(),
        neg.to_str().unwrap(),
        "--invert",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (a, b) = (img.to_luma16(), image::open(&neg).unwrap().to_luma16());
    let (lo, hi) = (
        *a.as_raw().iter().min().unwrap(),
        *a.as_raw().iter().max().unwrap(),
    );
    assert!(hi > lo);
    assert!(a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .all(|(&x, &y)| u32::from(x) + u32::from(y) == u32::from(lo) + u32::from(hi)));
}

#[test]
fn bad_inputs_fail_cleanly_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.png");
    let o = aac(&[
        "convert",
        samples().join("MR_truncated.dcm").to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("MR_truncated.dcm"), "{}", text(&o));
    assert!(!out.exists(), "no output on failure");
    let o = aac(&["info", tmp.path().join("missing.dcm").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("missing.dcm"));
    let o = aac(&[
        "synth",
        "--n",
        "1",
        "--style",
        "nope",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("'nope'") && text(&o).contains("random, hologic, lunar, legacy"),
        "{}",
        text(&o)
    );
    let o = aac(&["check", tmp.path().join("nothing").to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(!text(&o).contains("panicked"));
}

/// `aac synth` into a directory that holds something refuses (stale images
/// of an earlier cohort would pass `aac check`); `--force` replaces the
/// dataset and leaves other files alone.
#[test]
fn synth_refuses_a_non_empty_output_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    let r = root.to_str().unwrap();
    assert!(aac(&["synth", "--n", "3", "--out", r]).status.success());
    std::fs::write(root.join("notes.txt"), "mine").unwrap();
    let o = aac(&["synth", "--n", "2", "--seed", "5", "--out", r]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("not empty") && t.contains("--force") && !t.contains("panicked"),
        "{t}"
    );
    assert_eq!(std::fs::read_dir(root.join("images")).unwrap().count(), 3);
    let o = aac(&["synth", "--n", "2", "--seed", "5", "--out", r, "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_dir(root.join("images")).unwrap().count(), 2);
    assert_eq!(
        std::fs::read_to_string(root.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(aac(&["check", r]).status.success());
}

/// A full or closed standard output is an error exit, never a panic.
#[cfg(target_os = "linux")]
#[test]
fn full_stdout_is_an_error_not_a_panic() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else {
        return; // no /dev/full in this environment
    };
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_aac"))
        .args(["info", samples().join("CT_small.dcm").to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
}

/// `aac check` catches inconsistent score tables and landmark files that
/// would score wrongly later: aac24 not the sum of its sub-scores, fractional
/// scores, an image without a row, a duplicated column, collinear points, and
/// anterior/posterior corners swapped on one vertebra or on all of them.
#[test]
fn check_catches_inconsistent_scores_and_landmarks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    let r = root.to_str().unwrap();
    assert!(aac(&["synth", "--n", "6", "--out", r]).status.success());
    let head = "id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post\n";
    std::fs::write(
        root.join("scores.csv"),
        format!(
            "{head}synth00000,5,1,0,0,0,0,0,0,0\nsynth00001,1.5,0,0,0,0,0,0,0,0\n\
             synth00002,0,0,0,0,0,0,0,0,0\nsynth00003,0,0,0,0,0,0,0,0,0\nsynth00004,0,0,0,0,0,0,0,0,0\n"
        ),
    )
    .unwrap();
    let lm = |i: usize| root.join(format!("landmarks/synth0000{i}.pts"));
    let mut pts = aac_io::read_pts(&lm(2)).unwrap();
    for (k, p) in pts.iter_mut().enumerate() {
        *p = aac_io::Point::new(10.0 + k as f64, 20.0 + 3.0 * k as f64);
    }
    aac_io::write_pts(&lm(2), &pts).unwrap();
    let mut pts = aac_io::read_pts(&lm(3)).unwrap();
    pts.swap(4, 5); // L2: superior corners swapped
    pts.swap(6, 7); // and inferior
    aac_io::write_pts(&lm(3), &pts).unwrap();
    let mut pts = aac_io::read_pts(&lm(4)).unwrap();
    for v in 0..4 {
        pts.swap(4 * v, 4 * v + 1);
        pts.swap(4 * v + 2, 4 * v + 3);
    }
    aac_io::write_pts(&lm(4), &pts).unwrap();
    let o = aac(&["check", r]);
    assert!(!o.status.success());
    let t = text(&o);
    for want in [
        "synth00000: aac24 = 5 but its 8 sub-scores sum to 1",
        "synth00001: aac24 = 1.5 is not an integer",
        "image \"synth00005\" has no row",
        "synth00002.pts: vertebra L1 is degenerate (its corners are collinear)",
        "synth00003.pts: the corners of L2 run the other way round",
        "synth00004.pts: the aorta points lie behind",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
    std::fs::write(root.join("scores.csv"), "id,aac24,aac24\nsynth00000,0,0\n").unwrap();
    let t = text(&aac(&["check", r]));
    assert!(t.contains("column 'aac24' appears twice"), "{t}");
}

#[test]
fn synth_help_names_every_factor_and_refuses_an_unknown_one() {
    let help = text(&aac(&["synth", "--help"]))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for f in aac_synth::Factor::ALL {
        assert!(
            help.contains(f.name()),
            "`aac synth --help` does not name {}",
            f.name()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    let o = aac(&[
        "synth",
        "--n",
        "1",
        "--with",
        "neural_arch",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("unknown factor 'neural_arch'") && t.contains("l1l4_crop"),
        "{t}"
    );
    assert!(!out.exists(), "a refused run wrote {}", out.display());
}
