//! Trains our forest on a feature matrix exported by `aac train rf
//! --export-features DIR` and prints JSON: training time, held-out accuracy and
//! AUC (last 20% of rows), and the time to classify 32,768 rows (one 128x256
//! ROI) from precomputed features. Used by bench/rf_vs_sklearn.py.

use aac_rf::forest::{Data, Forest, ForestParams};
use std::time::Instant;

fn auc(scores: &[f32], labels: &[u8]) -> f64 {
    let mut v: Vec<(f32, u8)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut pos, mut i) = (0.0, 0.0, 0);
    while i < v.len() {
        let mut j = i;
        while j < v.len() && v[j].0 == v[i].0 {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        for item in &v[i..j] {
            if item.1 > 0 {
                rank_sum += avg;
                pos += 1.0;
            }
        }
        i = j;
    }
    let neg = v.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg).max(1.0)
}

fn main() {
    let Some(dir) = std::env::args().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: rf_matrix_bench DIR");
        std::process::exit(2);
    };
    let shape: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("shape.json")).expect("shape.json"))
            .expect("json");
    let (rows, cols) = (
        shape["rows"].as_u64().unwrap_or(0) as usize,
        shape["cols"].as_u64().unwrap_or(0) as usize,
    );
    let raw = std::fs::read(dir.join("features.f32")).expect("features.f32");
    let x: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let y: Vec<u8> = std::fs::read(dir.join("labels.u8"))
        .expect("labels.u8")
        .iter()
        .map(|&v| (v > 0) as u8)
        .collect();
    assert_eq!(x.len(), rows * cols);
    // Every 5th sample is held out (rows are grouped by class).
    let held: Vec<usize> = (0..rows).filter(|i| i % 5 == 4).collect();
    let train: Vec<usize> = (0..rows).filter(|i| i % 5 != 4).collect();
    let xt: Vec<f32> = train
        .iter()
        .flat_map(|&i| x[i * cols..(i + 1) * cols].iter().copied())
        .collect();
    let yt: Vec<u8> = train.iter().map(|&i| y[i]).collect();
    let yh: Vec<u8> = held.iter().map(|&i| y[i]).collect();
    let t = Instant::now();
    let forest = Forest::train(
        &Data {
            x: &xt,
            y: &yt,
            n_features: cols,
        },
        2,
        &ForestParams::default(),
    );
    let train_s = t.elapsed().as_secs_f64();
    let scores: Vec<f32> = held
        .iter()
        .map(|&i| forest.votes(|f| x[i * cols + f])[1])
        .collect();
    let acc = scores
        .iter()
        .zip(&yh)
        .filter(|(s, l)| (**s >= 0.5) == (**l > 0))
        .count() as f64
        / scores.len() as f64;
    let roi = 128 * 256;
    let t = Instant::now();
    let mut sink = 0.0f32;
    for k in 0..roi {
        let i = held[k % held.len()];
        sink += forest.votes(|f| x[i * cols + f])[1];
    }
    let predict_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"train_s": train_s, "accuracy": acc, "auc": auc(&scores, &yh), "predict_roi_s": predict_s, "sink": sink})
    );
}
