//! `aac calibrate` end to end: a calibrated bundle that `predict` reads,
//! and refusals of too little to calibrate on.

mod common;
use common::{aac, ok, output_text, s, tiny_bundle};

/// A reader's score table over the first `n` scans of `data`, every scan
/// with the sub-scores `sub(i)`.
fn reader_table(data: &std::path::Path, n: usize, sub: impl Fn(usize) -> [u32; 8]) -> String {
    let ids: Vec<String> = std::fs::read_dir(data.join("images"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            p.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    let mut t =
        String::from("id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post\n");
    for (i, id) in ids.iter().take(n).enumerate() {
        let v = sub(i);
        let cells: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        t.push_str(&format!(
            "{id},{},{}\n",
            v.iter().sum::<u32>(),
            cells.join(",")
        ));
    }
    t
}

#[test]
fn calibration_writes_a_bundle_predict_uses_and_refuses_too_little() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_bundle(dir.path());
    let data = dir.path().join("reader");
    ok(aac(&[
        "synth",
        "--n",
        "22",
        "--seed",
        "4",
        "--calcified-only",
        "--out",
        s(&data),
    ]));
    let scores = dir.path().join("reader.csv");
    let out = dir.path().join("cal.aac");
    let run = |table: &str| {
        std::fs::write(&scores, table).unwrap();
        aac(&[
            "calibrate",
            "--model",
            s(&model),
            "--images",
            s(&data.join("images")),
            "--landmarks",
            s(&data.join("landmarks")),
            "--scores",
            s(&scores),
            "--out",
            s(&out),
        ])
    };
    // Too few scans.
    let few = run(&reader_table(&data, 12, |i| {
        [(i % 4) as u32, 0, 0, 0, 0, 0, 0, 1]
    }));
    let t = output_text(&few);
    assert!(!few.status.success() && t.contains("at least 20"), "{t}");
    assert!(!out.exists());
    // No variation.
    let flat = run(&reader_table(&data, 22, |_| [1, 0, 0, 0, 0, 0, 0, 0]));
    let t = output_text(&flat);
    assert!(
        !flat.status.success() && t.contains("same on every scan"),
        "{t}"
    );
    assert!(!out.exists());
    // A sub-score out of range is named.
    let bad = run(&reader_table(&data, 22, |i| {
        [(i % 5) as u32, 0, 0, 0, 0, 0, 0, 0]
    }));
    let t = output_text(&bad);
    assert!(!bad.status.success() && t.contains("0-3"), "{t}");
    // Enough: a bundle recording its base and the reader's table.
    let good = ok(run(&reader_table(&data, 22, |i| {
        [(i % 4) as u32, 0, (i % 3) as u32, 0, 0, 1, 0, 0]
    })));
    assert!(
        good.contains("AAC24 MAE")
            && good.contains("chosen on all")
            && good.contains("lengths read"),
        "{good}"
    );
    let pred = dir.path().join("pred");
    ok(aac(&[
        "predict",
        "--model",
        s(&out),
        "--images",
        s(&data.join("images")),
        "--landmarks",
        s(&data.join("landmarks")),
        "--out",
        s(&pred),
    ]));
    let record = std::fs::read_to_string(pred.join("run.json")).unwrap();
    assert!(
        record.contains("\"calibration\"") && record.contains("base_checksum"),
        "{record}"
    );
}

#[test]
fn train_bundle_help_states_the_defaults_of_the_code() {
    use aac_pipeline::defaults as d;
    let help = ok(aac(&["train", "bundle", "--help"]));
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for stated in [
        format!("[default: {}", d::EPOCHS),
        format!("{} when fine-tuning", d::FINETUNE_EPOCHS),
        format!("[default: {}", d::LR),
        format!("{} when fine-tuning", d::FINETUNE_LR),
        format!(
            "[default: {}; {} when fine-tuning]",
            aac_landmarks::FinderTraining::default().epochs,
            d::FINETUNE_LANDMARK_EPOCHS
        ),
    ] {
        assert!(
            help.contains(&stated),
            "`aac train bundle --help` does not say {stated:?}"
        );
    }
}
