//! The shape model on synthetic cohorts with known aortas.

use aac_io::{Point, N_SPINE};
use aac_shape::{eval::cross_validate, ShapeModel};
use aac_synth::{generate_case, Style};

fn shapes(n: usize, seed: u64) -> (Vec<Vec<Point>>, Vec<Option<f64>>) {
    let style = Style::hologic();
    let cases: Vec<_> = (0..n)
        .map(|i| generate_case(seed, i, &style, false))
        .collect();
    (
        cases.iter().map(|c| c.landmarks.clone()).collect(),
        cases.iter().map(|c| Some(c.truth.spacing_mm)).collect(),
    )
}

#[test]
fn predicts_aorta_from_spine_with_calibrated_uncertainty() {
    let (s, mm) = shapes(60, 5);
    let r = cross_validate(&s, &mm, 5, 0.98).unwrap();
    let e = r.error_mm.as_ref().unwrap();
    eprintln!("{r:?}");
    // The aorta lies 2-10 mm in front of the spine with 15-25 mm diameter: a
    // prediction from the spine alone must do far better than that spread.
    assert!(e.mean < 6.0, "mean error {:.2} mm", e.mean);
    assert!(r.coverage_3sd > 0.93, "coverage {:.3}", r.coverage_3sd);
}

#[test]
fn facing_direction_does_not_matter() {
    let (s, _) = shapes(40, 6);
    let model = ShapeModel::fit(&s, 0.98, 0).unwrap();
    let test = &s[3];
    let mirrored: Vec<Point> = test.iter().map(|p| Point::new(1000.0 - p.x, p.y)).collect();
    let a = model.predict(&test[..N_SPINE]).unwrap();
    let b = model.predict(&mirrored[..N_SPINE]).unwrap();
    assert_ne!(a.reflected, b.reflected);
    for (p, q) in a.aorta().iter().zip(b.aorta()) {
        assert!((p.x - (1000.0 - q.x)).abs() < 1e-6 && (p.y - q.y).abs() < 1e-6);
    }
    // And the fitted spine follows the given spine closely.
    assert!(a.spine_rms_px < 4.0, "spine rms {}", a.spine_rms_px);
}

#[test]
fn save_load_round_trip_and_bad_files() {
    let (s, _) = shapes(20, 8);
    let model = ShapeModel::fit(&s, 0.95, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ssm.json");
    model.save(&p).unwrap();
    let back = ShapeModel::load(&p).unwrap();
    let a = model.predict(&s[0][..N_SPINE]).unwrap();
    let b = back.predict(&s[0][..N_SPINE]).unwrap();
    assert_eq!(a.points, b.points);
    std::fs::write(&p, "{\"format\": \"aac-rf\"}").unwrap();
    assert!(ShapeModel::load(&p)
        .unwrap_err()
        .to_string()
        .contains("ssm.json"));
    let text = serde_json::to_string(&model)
        .unwrap()
        .replace("\"version\":1", "\"version\":99");
    std::fs::write(&p, text).unwrap();
    assert!(ShapeModel::load(&p)
        .unwrap_err()
        .to_string()
        .contains("version 99"));
}

#[test]
fn degenerate_landmarks_are_refused() {
    let (s, _) = shapes(10, 9);
    let model = ShapeModel::fit(&s, 0.98, 0).unwrap();
    let flat = vec![Point::new(5.0, 5.0); 20];
    assert!(model
        .predict(&flat)
        .unwrap_err()
        .to_string()
        .contains("degenerate"));
    assert!(ShapeModel::fit(&s[..2], 0.98, 0).is_err());
}

#[test]
fn fit_refuses_degenerate_and_identical_shapes() {
    let (mut s, _) = shapes(10, 10);
    let same = vec![s[0].clone(); 10];
    let err = ShapeModel::fit(&same, 0.98, 0).unwrap_err().to_string();
    assert!(err.contains("do not vary"), "{err}");
    // Shape 3: all 30 points on one line.
    s[3] = (0..30).map(|i| Point::new(10.0, 10.0 + i as f64)).collect();
    let err = ShapeModel::fit(&s, 0.98, 0).unwrap_err().to_string();
    assert!(err.contains("shape 3"), "{err}");
}

#[test]
fn a_model_with_absurd_values_is_refused_on_load() {
    let (s, _) = shapes(20, 11);
    let model = ShapeModel::fit(&s, 0.95, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ssm.json");
    let damaged = |edit: &dyn Fn(&mut ShapeModel)| {
        let mut m = model.clone();
        edit(&mut m);
        std::fs::write(&p, serde_json::to_string(&m).unwrap()).unwrap();
        ShapeModel::load(&p).unwrap_err().to_string()
    };
    let err = damaged(&|m| m.mean.iter_mut().for_each(|v| *v *= 1e6));
    assert!(
        err.contains("ssm.json") && err.contains("mean spine has size"),
        "{err}"
    );
    let err = damaged(&|m| m.modes[0].iter_mut().for_each(|v| *v *= 50.0));
    assert!(err.contains("mode 0 is not of unit length"), "{err}");
    let err = damaged(&|m| {
        // Mirror the aorta to behind the spine.
        for k in 20..30 {
            m.mean[2 * k] = -m.mean[2 * k];
        }
    });
    assert!(err.contains("not a plausible spine"), "{err}");
}
