//! End-to-end tests of `aac score`, `aac compare` and `aac agree`.

use aac_io::{write_mask, write_png16, Gray16, Gray8};
use std::path::Path;
use std::process::Output;

mod common;
use common::{aac, output_text as text, s};

/// A 128x256 mask: posterior wall at x = 60 on `post` rows, anterior wall at
/// x = 90 on `ant` rows.
fn wall_mask(ant: std::ops::Range<u32>, post: std::ops::Range<u32>) -> Gray8 {
    let mut m = Gray8::new(128, 256);
    for y in post {
        m.put_pixel(60, y, image::Luma([2]));
    }
    for y in ant {
        m.put_pixel(90, y, image::Luma([1]));
    }
    m
}

/// A warped dataset: masks a (anterior 22 rows in L2, posterior all of L1),
/// b (empty), c (anterior 43 rows in L3, posterior 21 rows in L4); an image
/// for a only.
fn dataset(root: &Path) {
    write_mask(&root.join("masks/a.png"), &wall_mask(70..92, 0..64)).unwrap();
    write_mask(&root.join("masks/b.png"), &Gray8::new(128, 256)).unwrap();
    write_mask(&root.join("masks/c.png"), &wall_mask(130..173, 192..213)).unwrap();
    let img = Gray16::from_fn(128, 256, |x, y| image::Luma([(x * 200 + y * 50) as u16]));
    write_png16(&root.join("images/a.png"), &img).unwrap();
}

#[test]
fn score_writes_table_and_overlays() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("w");
    dataset(&root);
    let out = dir.path().join("out/scores.csv");
    let ov = dir.path().join("ov");
    let o = aac(&[
        "score",
        "--data",
        s(&root),
        "--out",
        s(&out),
        "--overlays",
        s(&ov),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post,midline_x,category,\
         aac24_continuous,ant_length_mm,post_length_mm,aac8,aac8_ant,aac8_post"
    );
    // a: L1 post 64 rows -> 3, L2 ant 22 rows -> 2: AAC24 5, moderate;
    // continuous 3 * (64 + 22) / 64 = 4.03; warped masks carry no lengths.
    // AAC-8: anterior 22 rows (up to one height) 1, posterior 64 rows 1: 2.
    assert!(lines[1].starts_with("a,5,0,3,2,0,0,0,0,0,"), "{}", lines[1]);
    assert!(
        lines[1].ends_with(",moderate,4.0312,,,2,1,1"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "b,0,0,0,0,0,0,0,0,0,,low,0.0000,,,0,0,0");
    // c: L3 ant 43 rows -> 3, L4 post 21 rows -> 1: AAC24 4, moderate.
    assert!(lines[3].starts_with("c,4,0,0,0,0,3,0,0,1,"), "{}", lines[3]);
    assert!(
        lines[3].ends_with(",moderate,3.0000,,,2,1,1"),
        "{}",
        lines[3]
    );
    for id in ["a", "b", "c"] {
        let p = ov.join(format!("{id}.png"));
        let img = image::open(&p).unwrap();
        assert_eq!(img.height(), 256 * 3 + 24, "{}", p.display());
    }
    // The grouping of version 0.1, by name and by its old alias.
    for name in ["none-mild-severe", "clinical"] {
        let o = aac(&[
            "score",
            "--data",
            s(&root),
            "--out",
            s(&out),
            "--grouping",
            name,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let csv = std::fs::read_to_string(&out).unwrap();
        assert!(
            csv.contains(",severe,4.0312,")
                && csv.contains(",,none,")
                && csv.contains(",mild,3.0000,"),
            "{csv}"
        );
    }
}

fn assert_fails(o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "should fail: {}", text(o));
    let t = text(o);
    assert!(!t.contains("panicked"), "{t}");
    for n in needles {
        assert!(t.contains(n), "missing {n:?} in: {t}");
    }
}

#[test]
fn score_bad_input_fails_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("w");
    dataset(&root);
    let out = dir.path().join("scores.csv");

    // Wrong size.
    write_mask(&root.join("masks/d.png"), &Gray8::new(100, 100)).unwrap();
    let o = aac(&["score", "--data", s(&root), "--out", s(&out)]);
    assert_fails(&o, &["d.png", "128x256"]);
    assert!(!out.exists());

    // Label outside 0..2; an existing table stays as it was.
    std::fs::write(&out, "old").unwrap();
    let mut m = Gray8::new(128, 256);
    m.put_pixel(3, 4, image::Luma([7]));
    write_mask(&root.join("masks/d.png"), &m).unwrap();
    let o = aac(&["score", "--data", s(&root), "--out", s(&out)]);
    assert_fails(&o, &["d.png", "label 7"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");

    // Not a PNG.
    std::fs::write(root.join("masks/d.png"), "not a png").unwrap();
    let o = aac(&["score", "--data", s(&root), "--out", s(&out)]);
    assert_fails(&o, &["d.png"]);
    std::fs::remove_file(root.join("masks/d.png")).unwrap();

    // An image without a mask.
    write_png16(&root.join("images/e.png"), &Gray16::new(128, 256)).unwrap();
    let o = aac(&["score", "--data", s(&root), "--out", s(&out)]);
    assert_fails(&o, &["e.png", "does not exist"]);
    std::fs::remove_file(root.join("images/e.png")).unwrap();

    // A wrong-size image, with overlays requested: no overlay is written.
    write_png16(&root.join("images/c.png"), &Gray16::new(50, 50)).unwrap();
    let ov = dir.path().join("ov");
    let o = aac(&[
        "score",
        "--data",
        s(&root),
        "--out",
        s(&out),
        "--overlays",
        s(&ov),
    ]);
    assert_fails(&o, &["c.png", "128x256"]);
    assert!(!ov.exists());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");

    // Missing mask directory.
    let o = aac(&[
        "score",
        "--data",
        s(&root),
        "--masks",
        "nothere",
        "--out",
        s(&out),
    ]);
    assert_fails(&o, &["nothere"]);
}

#[test]
fn compare_masks_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("w");
    // a: A anterior rows 0..10, B rows 0..5 -> Dice 2*5/(10+5) = 2/3, Jaccard 1/2.
    write_mask(&root.join("masks/a.png"), &wall_mask(0..10, 0..0)).unwrap();
    write_mask(&root.join("masks2/a.png"), &wall_mask(0..5, 0..0)).unwrap();
    // b: both empty.
    write_mask(&root.join("masks/b.png"), &Gray8::new(128, 256)).unwrap();
    write_mask(&root.join("masks2/b.png"), &Gray8::new(128, 256)).unwrap();
    // c only in A.
    write_mask(&root.join("masks/c.png"), &Gray8::new(128, 256)).unwrap();
    let o = aac(&[
        "compare",
        "--data",
        s(&root),
        "--a",
        "masks",
        "--b",
        "masks2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("0.667 ± 0.000 (n=1)"), "{t}");
    assert!(t.contains("missing from B: 1 (c)"), "{t}");

    let o = aac(&["compare", "--data", s(&root), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let u = &v["summary"]["union"];
    assert!((u["dice"]["mean"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((u["jaccard"]["mean"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(u["accuracy"]["n"], 2);
    assert_eq!(u["both_empty"], serde_json::json!(["b"]));
    assert_eq!(v["summary"]["posterior"]["dice"], serde_json::Value::Null);
    assert_eq!(v["missing_in_b"], serde_json::json!(["c"]));
    assert_eq!(v["images"][1]["union"]["dice"], serde_json::Value::Null);

    // Size mismatch names the file; missing directory names it.
    write_mask(&root.join("masks2/a.png"), &Gray8::new(10, 10)).unwrap();
    let o = aac(&["compare", "--data", s(&root)]);
    assert_fails(&o, &["masks2", "a.png", "10x10"]);
    let o = aac(&["compare", "--data", s(&root), "--b", "masks3"]);
    assert_fails(&o, &["masks3"]);
}

#[test]
fn agree_by_hand_and_bad_csv() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    // The hand-computed case of aac-score's metrics tests (x = a, y = b):
    // ICC(2,1) 0.625, kappa 6/11, R² 0.6, MAE 1, bias 1.
    std::fs::write(
        &a,
        "id,aac24,other\ni1,1,0\ni2,2,0\ni3,3,0\ni4,4,0\ni5,5,0\nonly_a,9,0\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "id,aac24,other\ni5,5,1\ni4,4,1\ni3,5,1\ni2,4,1\ni1,2,1\nonly_b,0,1\n",
    )
    .unwrap();
    let o = aac(&[
        "agree",
        "--a",
        s(&a),
        "--b",
        s(&b),
        "--grouping",
        "none-mild-severe",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = |k: &str| v[k].as_f64().unwrap();
    assert_eq!(v["n"], 5);
    assert!((f("icc_2_1") - 0.625).abs() < 1e-12);
    assert!((f("kappa_linear") - 6.0 / 11.0).abs() < 1e-12);
    assert!((f("mae") - 1.0).abs() < 1e-12);
    assert!((v["linear"]["r2"].as_f64().unwrap() - 0.6).abs() < 1e-12);
    assert!((v["bland_altman"]["bias"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(v["missing_in_b"], serde_json::json!(["only_a"]));
    assert_eq!(v["missing_in_a"], serde_json::json!(["only_b"]));
    assert_eq!(
        v["confusion"],
        serde_json::json!([[0, 0, 0], [0, 3, 1], [0, 0, 1]])
    );

    let o = aac(&["agree", "--a", s(&a), "--b", s(&b)]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("ICC(2,1)") && t.contains("0.625"), "{t}");
    assert!(t.contains("established groups: low 0-1"), "{t}");
    assert!(t.contains("sub-scores: not compared"), "{t}");
    assert!(t.contains("missing from B: 1 (only_a)"), "{t}");

    // --col and --grouping: 'other' is constant in both: correlations undefined.
    let o = aac(&[
        "agree",
        "--a",
        s(&a),
        "--b",
        s(&b),
        "--col",
        "other",
        "--grouping",
        "ukb",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pearson"], serde_json::Value::Null);
    assert_eq!(
        v["categories"],
        serde_json::json!(["low", "moderate", "high"])
    );

    // Bad input.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,aac24\ni1,1\ni2,1,7\n").unwrap();
    assert_fails(&aac(&["agree", "--a", s(&a), "--b", s(&bad)]), &["bad.csv"]);
    std::fs::write(&bad, "id,aac24\ni1,abc\n").unwrap();
    assert_fails(
        &aac(&["agree", "--a", s(&bad), "--b", s(&b)]),
        &["bad.csv", "not a number"],
    );
    assert_fails(
        &aac(&["agree", "--a", s(&a), "--b", s(&b), "--col", "nope"]),
        &["a.csv", "nope"],
    );
    let missing = dir.path().join("missing.csv");
    assert_fails(
        &aac(&["agree", "--a", s(&a), "--b", s(&missing)]),
        &["missing.csv"],
    );
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "id,aac24\nzz,1\n").unwrap();
    assert_fails(
        &aac(&["agree", "--a", s(&a), "--b", s(&other)]),
        &["no ids common"],
    );
}

#[test]
fn agree_reports_per_wall_subscore_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let head = "id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post\n";
    // The case of aac-score's subscore_agreement_by_hand: B lost every
    // anterior sub-score of image 2 (anterior totals 11 vs 6).
    std::fs::write(
        &a,
        format!("{head}i1,10,1,0,2,1,0,0,3,3\ni2,9,2,1,2,1,1,0,0,2\n"),
    )
    .unwrap();
    std::fs::write(
        &b,
        format!("{head}i1,10,1,0,2,1,0,0,3,3\ni2,4,0,1,0,1,0,0,0,2\n"),
    )
    .unwrap();
    let o = aac(&["agree", "--a", s(&a), "--b", s(&b), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sub = &v["subscores"];
    assert_eq!(sub["anterior_total"], serde_json::json!([11, 6]));
    assert_eq!(sub["posterior_total"], serde_json::json!([8, 8]));
    assert!((sub["exact"].as_f64().unwrap() - 13.0 / 16.0).abs() < 1e-12);
    assert_eq!(sub["exact_per_subscore"][0], 0.5);
    let t = text(&aac(&["agree", "--a", s(&a), "--b", s(&b)]));
    assert!(
        t.contains("anterior total (A, B)") && t.contains("11, 6"),
        "{t}"
    );
    // A sub-score outside 0..3 is refused, naming file, id and column.
    std::fs::write(&b, format!("{head}i1,10,1,0,2,1,0,0,3,4\n")).unwrap();
    assert_fails(
        &aac(&["agree", "--a", s(&a), "--b", s(&b)]),
        &["b.csv", "i1", "l4_post"],
    );
}
