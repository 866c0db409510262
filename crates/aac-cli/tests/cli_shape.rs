//! `aac ssm` and `aac warp` end to end, including left-facing cohorts and bad input.

use std::path::Path;

mod common;
use common::{aac, output_text as text, s};

fn synth(root: &Path, n: &str, seed: &str, style: &str) {
    let o = aac(&[
        "synth",
        "--n",
        n,
        "--seed",
        seed,
        "--style",
        style,
        "--calcified-only",
        "--out",
        s(root),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// Mirrors every image, mask and landmark file of a dataset (a cohort facing the other way).
fn mirror(root: &Path) {
    for dir in ["images", "masks", "masks2"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            let img = image::open(&p).unwrap();
            img.fliph().save(&p).unwrap();
        }
    }
    for e in std::fs::read_dir(root.join("landmarks")).unwrap() {
        let p = e.unwrap().path();
        let id = p.file_stem().unwrap().to_str().unwrap().to_string();
        let w = image::image_dimensions(root.join("images").join(format!("{id}.png")))
            .unwrap()
            .0 as f64;
        let pts = aac_io::read_pts(&p).unwrap();
        let m: Vec<aac_io::Point> = pts
            .iter()
            .map(|q| aac_io::Point::new(w - 1.0 - q.x, q.y))
            .collect();
        aac_io::write_pts(&p, &m).unwrap();
    }
}

#[test]
fn fit_eval_plot_and_warp_in_both_facing_directions() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, "24", "3", "hologic");
    let ssm = tmp.path().join("ssm.json");
    let o = aac(&["ssm", "fit", "--data", s(&raw), "--out", s(&ssm)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = aac(&["ssm", "eval", "--data", s(&raw), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["error_mm"]["mean"].as_f64().unwrap() < 8.0, "{r}");
    let fig = tmp.path().join("fig1.png");
    assert!(aac(&[
        "ssm",
        "plot",
        "--ssm",
        s(&ssm),
        "--data",
        s(&raw),
        "--out",
        s(&fig)
    ])
    .status
    .success());
    assert!(image::image_dimensions(&fig).unwrap().0 > 800);

    let mirrored = tmp.path().join("mirrored");
    synth(&mirrored, "24", "3", "hologic");
    mirror(&mirrored);
    for (src, out) in [
        (&raw, tmp.path().join("w1")),
        (&mirrored, tmp.path().join("w2")),
    ] {
        let o = aac(&["warp", "--data", s(src), "--ssm", s(&ssm), "--out", s(&out)]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            image::image_dimensions(out.join("images/synth00000.png")).unwrap(),
            (128, 256)
        );
        assert!(out.join("transforms/synth00000.json").exists());
        assert!(out.join("scores.csv").exists());
        let o = aac(&["check", s(&out)]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // Mirroring the input does not change the warped result (beyond interpolation).
    let a = image::open(tmp.path().join("w1/images/synth00005.png"))
        .unwrap()
        .to_luma16();
    let b = image::open(tmp.path().join("w2/images/synth00005.png"))
        .unwrap()
        .to_luma16();
    let diff: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64;
    assert!(diff < 30.0, "mean difference {diff}");
    let ma = image::open(tmp.path().join("w1/masks/synth00005.png"))
        .unwrap()
        .to_luma8();
    let mb = image::open(tmp.path().join("w2/masks/synth00005.png"))
        .unwrap()
        .to_luma8();
    let same = ma
        .as_raw()
        .iter()
        .zip(mb.as_raw())
        .filter(|(x, y)| x == y)
        .count();
    assert!(same as f64 > 0.995 * ma.as_raw().len() as f64);
}

#[test]
fn warp_bad_input_is_reported_per_file() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, "8", "4", "hologic");
    let ssm = tmp.path().join("ssm.json");
    assert!(aac(&["ssm", "fit", "--data", s(&raw), "--out", s(&ssm)])
        .status
        .success());
    std::fs::remove_file(raw.join("landmarks/synth00001.pts")).unwrap();
    // A degenerate shape: all points at one place.
    let flat = vec![aac_io::Point::new(10.0, 10.0); 30];
    aac_io::write_pts(&raw.join("landmarks/synth00002.pts"), &flat).unwrap();
    // An image smaller than the ROI.
    image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::new(50, 50)
        .save(raw.join("images/synth00003.png"))
        .unwrap();
    std::fs::remove_file(raw.join("masks/synth00003.png")).unwrap();
    std::fs::remove_file(raw.join("masks2/synth00003.png")).unwrap();
    let out = tmp.path().join("w");
    let o = aac(&[
        "warp",
        "--data",
        s(&raw),
        "--ssm",
        s(&ssm),
        "--out",
        s(&out),
    ]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("synth00001.pts"), "{t}");
    assert!(t.contains("synth00002") && t.contains("degenerate"), "{t}");
    assert!(
        t.contains("synth00003") && t.contains("beyond the 50x50 image"),
        "{t}"
    );
    assert!(t.contains("warped 5 of 8"), "{t}");
    assert!(!t.contains("panicked"));
    // A model file of the wrong kind.
    std::fs::write(&ssm, "{}").unwrap();
    let o = aac(&[
        "warp",
        "--data",
        s(&raw),
        "--ssm",
        s(&ssm),
        "--out",
        s(&out),
    ]);
    assert!(!o.status.success() && text(&o).contains("ssm.json"));
}
