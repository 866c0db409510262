//! `aac eval` end to end on a tiny cohort with tiny models.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

#[test]
fn eval_writes_the_report_and_never_tests_on_training_images() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("report");
    let aac = env!("CARGO_BIN_EXE_aac");
    let o = Command::new(aac)
        .args([
            "synth",
            "--n",
            "12",
            "--seed",
            "4",
            "--calcified-only",
            "--out",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = Command::new(aac)
        .args([
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--folds",
            "2",
            "--unet-width",
            "2",
            "--epochs",
            "1",
            "--augment",
            "1",
            "--rf-patches",
            "300",
            "--rf-trees",
            "2",
            "--rf-transforms",
            "1",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("Table 1")
            && text.contains("Random forest")
            && text.contains("U-net (2-class)"),
        "{text}"
    );
    for f in [
        "index.html",
        "metrics.json",
        "predictions.csv",
        "folds.csv",
        "fig1.png",
        "fig2.png",
        "fig3.png",
        "fig4.png",
        "loss.png",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("data:image/png;base64,") && !html.contains("src=\"fig"),
        "figures must be embedded"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["no_test_image_in_training"], true);
    let methods: Vec<&str> = m["table1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "Random forest",
            "U-net (binary)",
            "U-net (2-class)",
            "U-net (2-class), anterior class",
            "U-net (2-class), posterior class",
            "Intra-rater (masks vs masks2)"
        ]
    );
    // Per-wall agreement next to the AAC24 agreement, with the grouping named.
    let sub = &m["subscore_agreement"];
    assert!(sub["n"].as_u64().unwrap() > 0, "{sub}");
    assert!(sub["anterior_total"].is_array() && sub["posterior_total"].is_array());
    assert!(m["grouping"].as_str().unwrap().contains("low 0-1"));
    assert!(html.contains("Sub-score agreement per wall"));
    // AAC-8 beside AAC24, on the same scans.
    let aac8 = &m["aac8_agreement"];
    assert_eq!(aac8["n"], sub["n"], "{aac8}");
    assert_eq!(
        aac8["categories"],
        serde_json::json!(["none", "low", "high"])
    );
    assert!(html.contains("AAC-8 agreement"));
    let preds = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
    assert!(preds.starts_with(
        "id,fold,aac24_annotation,aac24_predicted,aac24_continuous_annotation,aac24_continuous_predicted,"
    ));
    // Check the fold file ourselves: every image is tested exactly once, never trained on in that fold.
    let folds = std::fs::read_to_string(out.join("folds.csv")).unwrap();
    let mut roles: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut tested: BTreeMap<String, usize> = BTreeMap::new();
    for line in folds.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        roles
            .entry((f[1].to_string(), f[2].to_string()))
            .or_default()
            .insert(f[0].to_string());
        if f[2] == "test" {
            *tested.entry(f[0].to_string()).or_default() += 1;
        }
    }
    assert_eq!(tested.len(), 12);
    assert!(tested.values().all(|&n| n == 1));
    for fold in ["0", "1"] {
        let test = &roles[&(fold.to_string(), "test".to_string())];
        for role in ["train", "val"] {
            assert!(
                roles[&(fold.to_string(), role.to_string())].is_disjoint(test),
                "fold {fold}: {role} overlaps test"
            );
        }
    }
    let preds = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
    assert_eq!(preds.lines().count(), 13);
}
