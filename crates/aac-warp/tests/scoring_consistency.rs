//! A warped ground-truth mask, scored with the midline method, reproduces the
//! generator's AAC24 (the warp keeps disc levels and wall sides).

use aac_io::Point;
use aac_shape::ShapeModel;
use aac_synth::{generate_case, Style};
use aac_warp::{prepare_roi, AortaSource, WarpMap};

#[test]
fn warped_truth_masks_score_like_the_generator() {
    let style = Style::hologic();
    let cases: Vec<_> = (0..60)
        .map(|i| generate_case(17, i, &style, true))
        .collect();
    let shapes: Vec<Vec<Point>> = cases.iter().map(|c| c.landmarks.clone()).collect();
    let ssm = ShapeModel::fit(&shapes, 0.98, 0).unwrap();
    let (mut exact, mut sub_agree) = (0, 0);
    for c in &cases {
        let (prep, _) = prepare_roi(
            &ssm,
            &c.landmarks,
            AortaSource::Annotated,
            c.image.dimensions(),
            0.5,
        )
        .unwrap();
        let warped = WarpMap::new(&prep.roi, None).warp_labels(&c.mask);
        let s = aac_score::score_labels(&warped).unwrap();
        exact += (s.aac24 == c.score.total) as usize;
        sub_agree += s
            .sub
            .iter()
            .zip(&c.score.sub)
            .filter(|(a, b)| a == b)
            .count();
    }
    let frac = exact as f64 / cases.len() as f64;
    let sub = sub_agree as f64 / (8 * cases.len()) as f64;
    assert!(
        frac >= 0.95 && sub >= 0.97,
        "exact AAC24 {frac:.3}, sub-scores {sub:.3}"
    );
}
