//! `run_eval` called as a library, on a tiny cohort with tiny models.

use aac_pipeline::eval::{run_eval, EvalConfig, Method};
use aac_synth::{write_cohort, CohortOptions, Style};

#[test]
fn run_eval_as_a_library_reports_every_method_without_leaks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let opts = CohortOptions {
        n: 10,
        seed: 6,
        style: Style::hologic(),
        dicom: false,
        calcified_only: true,
    };
    write_cohort(&data, &opts, &|| ()).unwrap();
    let mut cfg = EvalConfig::new(data, tmp.path().join("report"));
    cfg.folds = 2;
    cfg.methods = vec![Method::Rf, Method::Unet2];
    cfg.unet.width = 2;
    cfg.unet.epochs = 1;
    cfg.rf_patches = 300;
    cfg.rf_trees = 2;
    cfg.rf_transforms = 1;
    let out = run_eval(&cfg).unwrap();
    let m = &out.metrics;
    assert_eq!((m.n_images, m.folds), (10, 2));
    assert!(m.no_test_image_in_training);
    let methods: Vec<&str> = m.table1.iter().map(|r| r.method.as_str()).collect();
    assert!(methods.contains(&"Random forest"), "{methods:?}");
    assert!(methods.contains(&"U-net (2-class)"), "{methods:?}");
    assert!(!methods.contains(&"U-net (binary)"), "{methods:?}");
    assert_eq!(m.settings["methods"], "rf,unet2");
    assert!(out.index.exists());
    // A config round-trips through JSON, as saved beside a report.
    let text = serde_json::to_string(&cfg).unwrap();
    let back: EvalConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back.methods, cfg.methods);
}
