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

/// Anterior and posterior sub-score totals of a cohort.
fn wall_totals(subs: &[[u32; 8]]) -> (u32, u32) {
    let ant = subs.iter().flat_map(|s| s.iter().step_by(2)).sum();
    let post = subs.iter().flat_map(|s| s.iter().skip(1).step_by(2)).sum();
    (ant, post)
}

/// The wall split of model output, on a held-out style with the aorta the
/// shape model predicts (as `aac predict` sees it): the annotation itself,
/// and the same pixels all labelled posterior (what an under-trained 2-class
/// network gave, scoring every anterior sub-score 0), must both give anterior
/// and posterior totals within 15% of the generator's.
#[test]
fn segmentation_wall_split_survives_a_network_that_labels_one_class() {
    let style = Style::lunar();
    let cases: Vec<_> = (0..60)
        .map(|i| generate_case(23, i, &style, true))
        .collect();
    let shapes: Vec<Vec<Point>> = cases.iter().map(|c| c.landmarks.clone()).collect();
    let ssm = ShapeModel::fit(&shapes, 0.98, 0).unwrap();
    let (mut truth, mut as_is, mut one_class, mut paper_rule) = (vec![], vec![], vec![], vec![]);
    for c in &cases {
        let spine = &c.landmarks[..20];
        let (prep, _) =
            prepare_roi(&ssm, spine, AortaSource::Predicted, c.image.dimensions()).unwrap();
        let warped = WarpMap::new(&prep.roi, None).warp_labels(&c.mask);
        let mut posterior_only = warped.clone();
        posterior_only
            .pixels_mut()
            .filter(|p| p.0[0] != 0)
            .for_each(|p| p.0[0] = aac_io::LABEL_POSTERIOR);
        let prior = prep.aorta_centre_x();
        assert!(
            (56.0..127.0).contains(&prior),
            "{}: centre line at {prior}",
            c.id
        );
        truth.push(c.score.sub);
        as_is.push(aac_score::score_segmentation(&warped, prior).unwrap().sub);
        one_class.push(
            aac_score::score_segmentation(&posterior_only, prior)
                .unwrap()
                .sub,
        );
        paper_rule.push(aac_score::score_labels(&posterior_only).unwrap().sub);
    }
    let (ta, tp) = wall_totals(&truth);
    assert!(ta > 40 && tp > 40, "cohort too mild: {ta} / {tp}");
    for (name, subs) in [
        ("annotation", &as_is),
        ("posterior-only labels", &one_class),
    ] {
        let (a, p) = wall_totals(subs);
        for (wall, got, want) in [("anterior", a, ta), ("posterior", p, tp)] {
            let rel = (f64::from(got) - f64::from(want)).abs() / f64::from(want);
            assert!(
                rel <= 0.15,
                "{name}: {wall} total {got} vs truth {want} ({:.0}% off)",
                100.0 * rel
            );
        }
    }
    // The defect this guards against: eq. 1 alone on one-class labels.
    assert_eq!(wall_totals(&paper_rule).0, 0);
}
