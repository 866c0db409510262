//! The forest learns calcification from warped synthetic ROIs.

use aac_io::Point;
use aac_rf::{choose_threshold, RfModel, RoiCase, TrainParams};
use aac_shape::ShapeModel;
use aac_synth::{generate_case, Style};
use aac_warp::warp_image::warp_gray16;
use aac_warp::{prepare_roi, AortaSource, WarpMap};

fn warped_cohort(n: usize, seed: u64) -> Vec<RoiCase> {
    let style = Style::hologic();
    let cases: Vec<_> = (0..n)
        .map(|i| generate_case(seed, i, &style, true))
        .collect();
    let shapes: Vec<Vec<Point>> = cases.iter().map(|c| c.landmarks.clone()).collect();
    let ssm = ShapeModel::fit(&shapes, 0.98, 0).unwrap();
    cases
        .iter()
        .map(|c| {
            let (prep, _) = prepare_roi(
                &ssm,
                &c.landmarks,
                AortaSource::Predicted,
                c.image.dimensions(),
            )
            .unwrap();
            let map = WarpMap::new(&prep.roi, None);
            let img = warp_gray16(&map, &c.image);
            RoiCase {
                width: 128,
                height: 256,
                image: img.as_raw().iter().map(|&v| v as f32).collect(),
                mask: Some(map.warp_labels(&c.mask)),
            }
        })
        .collect()
}

fn small_params(classes: usize) -> TrainParams {
    let mut p = TrainParams {
        patches: 1500,
        transforms: 3,
        features: 80,
        classes,
        ..Default::default()
    };
    p.forest.trees = 6;
    p
}

#[test]
fn forest_beats_chance_on_held_out_rois() {
    let cases = warped_cohort(30, 11);
    let (train, test) = cases.split_at(22);
    let mut model = RfModel::train(train, &small_params(1)).unwrap();
    model.threshold = choose_threshold(&model, &train[..6]);
    let mut total = 0.0;
    let mut chance = 0.0;
    for c in test {
        let r = model.response(&c.image, 128, 256);
        let labels = model.labels(&r, 128, 256, model.threshold);
        let truth = c.mask.as_ref().unwrap();
        total += aac_score::metrics::overlap(&labels, truth, aac_score::metrics::Region::Union)
            .unwrap()
            .dice
            .unwrap_or(1.0);
        // A random mask with the same number of positives.
        let frac =
            truth.as_raw().iter().filter(|&&v| v > 0).count() as f64 / truth.as_raw().len() as f64;
        chance += 2.0 * frac * frac / (2.0 * frac);
    }
    let (d, c) = (total / test.len() as f64, chance / test.len() as f64);
    assert!(
        d > 0.15 && d > 5.0 * c,
        "held-out Dice {d:.3} vs chance {c:.4}"
    );
}

#[test]
fn two_class_model_and_save_load_round_trip() {
    let cases = warped_cohort(12, 12);
    let model = RfModel::train(&cases[..10], &small_params(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rf.model");
    model.save(&p).unwrap();
    let back = RfModel::load(&p).unwrap();
    assert_eq!(back, model);
    let r1 = model.response(&cases[11].image, 128, 256);
    assert_eq!(r1.len(), 2);
    assert_eq!(r1, back.response(&cases[11].image, 128, 256));
    // Wrong kind, wrong version, corrupt.
    std::fs::write(&p, r#"{"format":"aac-ssm","version":1}"#).unwrap();
    assert!(RfModel::load(&p)
        .unwrap_err()
        .to_string()
        .contains("not a random-forest model"));
    let text = serde_json::to_string(&model)
        .unwrap()
        .replacen("\"version\":1", "\"version\":7", 1);
    std::fs::write(&p, text).unwrap();
    assert!(RfModel::load(&p)
        .unwrap_err()
        .to_string()
        .contains("version"));
    std::fs::write(&p, "garbage").unwrap();
    assert!(RfModel::load(&p)
        .unwrap_err()
        .to_string()
        .contains("rf.model"));
}
