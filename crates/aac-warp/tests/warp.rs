//! Properties of the ROI warp on synthetic cases.

use aac_io::{Gray8, Point, N_SPINE};
use aac_shape::ShapeModel;
use aac_synth::{generate_case, Case, Style};
use aac_warp::augment::{augmented_map, AugmentParams};
use aac_warp::roi::{disc_points, target};
use aac_warp::warp_image::{warp_gray16, warp_points};
use aac_warp::{prepare_roi, to_source, to_warped, unwarp_labels, AortaSource, WarpMap};
use rand::SeedableRng;

fn cohort(n: usize) -> (Vec<Case>, ShapeModel) {
    let style = Style::hologic();
    let cases: Vec<Case> = (0..n).map(|i| generate_case(21, i, &style, true)).collect();
    let shapes: Vec<Vec<Point>> = cases.iter().map(|c| c.landmarks.clone()).collect();
    let model = ShapeModel::fit(&shapes, 0.98, 5).unwrap();
    (cases, model)
}

#[test]
fn control_points_land_on_their_targets() {
    let (cases, ssm) = cohort(30);
    for case in cases.iter().take(10) {
        let (prep, _) = prepare_roi(
            &ssm,
            &case.landmarks,
            AortaSource::Predicted,
            case.image.dimensions(),
        )
        .unwrap();
        let discs = disc_points(&case.landmarks);
        for (k, (post, ant)) in discs.iter().enumerate() {
            for (c, p) in [(0, post), (1, ant)] {
                let w = to_warped(&prep.roi, *p);
                assert!(
                    w.dist(&target(k, c)) < 0.5,
                    "{}: level {k} column {c} at {w:?}",
                    case.id
                );
            }
            for c in 2..4 {
                let w = to_warped(&prep.roi, prep.roi.points[k][c]);
                assert!(w.dist(&target(k, c)) < 0.5);
            }
        }
        // Warped annotated aorta points lie right of the spine, posterior wall
        // left of the anterior wall, within the predicted band.
        let warped = warp_points(&prep.roi, &case.landmarks);
        for k in 0..5 {
            let (p, a) = (warped[20 + 2 * k], warped[21 + 2 * k]);
            assert!(
                p.x > 38.0 && a.x > p.x && a.x < 127.5,
                "{}: level {k}: {p:?} {a:?}",
                case.id
            );
        }
        // With the annotated aorta, its posterior wall lands on its column at the disc rows.
        let (ann, _) = prepare_roi(
            &ssm,
            &case.landmarks,
            AortaSource::Annotated,
            case.image.dimensions(),
        )
        .unwrap();
        let warped = warp_points(&ann.roi, &case.landmarks);
        for k in 0..5 {
            assert!(
                warped[20 + 2 * k].dist(&target(k, 2)) < 0.5,
                "{}: {:?}",
                case.id,
                warped[20 + 2 * k]
            );
            assert!((warped[21 + 2 * k].y - target(k, 2).y).abs() < 0.5);
        }
    }
}

#[test]
fn forward_and_inverse_maps_agree_and_inverse_warp_restores_the_image() {
    let (cases, ssm) = cohort(20);
    let case = &cases[1];
    let (prep, _) = prepare_roi(
        &ssm,
        &case.landmarks,
        AortaSource::Predicted,
        case.image.dimensions(),
    )
    .unwrap();
    for (x, y) in [(3.0, 5.0), (60.0, 100.0), (120.0, 250.0), (39.5, 64.0)] {
        let s = to_source(&prep.roi, x, y);
        let back = to_warped(&prep.roi, s);
        assert!(back.dist(&Point::new(x, y)) < 1e-6, "({x},{y}) -> {back:?}");
    }
    // Warp then map back onto the original: the interior of the ROI matches.
    let map = WarpMap::new(&prep.roi, None);
    let warped = warp_gray16(&map, &case.image);
    let (w, h) = case.image.dimensions();
    let mut err = 0.0;
    let mut n = 0.0;
    for (x, y) in [
        (20.0, 30.0),
        (70.0, 90.0),
        (100.0, 200.0),
        (50.0, 160.0),
        (90.0, 40.0),
    ] {
        let s = to_source(&prep.roi, x, y);
        let (sx, sy) = (s.x.round() as u32, s.y.round() as u32);
        assert!(sx < w && sy < h);
        let orig = case.image.get_pixel(sx, sy).0[0] as f64;
        let back = warped.get_pixel(x as u32, y as u32).0[0] as f64;
        err += (orig - back).abs();
        n += 1.0;
    }
    assert!(
        err / n < 250.0,
        "mean abs difference {} (12-bit image)",
        err / n
    );
}

#[test]
fn masks_keep_labels_and_unwarp_onto_the_original() {
    let (cases, ssm) = cohort(20);
    for case in cases.iter().take(6) {
        let (prep, _) = prepare_roi(
            &ssm,
            &case.landmarks,
            AortaSource::Predicted,
            case.image.dimensions(),
        )
        .unwrap();
        let map = WarpMap::new(&prep.roi, None);
        let wm = map.warp_labels(&case.mask);
        assert!(wm.as_raw().iter().all(|&v| v <= 2));
        let before = case.mask.as_raw().iter().filter(|&&v| v > 0).count();
        let after = wm.as_raw().iter().filter(|&&v| v > 0).count();
        assert!(
            before > 0 && after > 0,
            "{}: calcification lost in the warp",
            case.id
        );
        // Anterior labels sit right of posterior labels in warped space.
        let mean_x = |lab: u8| {
            let xs: Vec<f64> = wm
                .enumerate_pixels()
                .filter(|p| p.2 .0[0] == lab)
                .map(|p| p.0 as f64)
                .collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        };
        if let (Some(a), Some(p)) = (mean_x(1), mean_x(2)) {
            assert!(a > p, "{}: anterior {a} vs posterior {p}", case.id);
        }
        let (w, h) = case.image.dimensions();
        let back: Gray8 = unwarp_labels(&prep.roi, &wm, w, h);
        let (mut inter, mut tot) = (0usize, 0usize);
        for (a, b) in case.mask.as_raw().iter().zip(back.as_raw()) {
            inter += (*a > 0 && *b > 0) as usize;
            tot += (*a > 0) as usize + (*b > 0) as usize;
        }
        let dice = 2.0 * inter as f64 / tot.max(1) as f64;
        assert!(dice > 0.6, "{}: round-trip Dice {dice:.2}", case.id);
    }
}

#[test]
fn augmentation_is_deterministic_and_varies_between_draws() {
    let (cases, ssm) = cohort(20);
    let p = AugmentParams::default();
    let lm = &cases[2].landmarks;
    let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let a = augmented_map(&mut r1, &ssm, lm, &p).unwrap();
    let b = augmented_map(&mut r2, &ssm, lm, &p).unwrap();
    assert_eq!(a.coords, b.coords);
    let c = augmented_map(&mut r1, &ssm, lm, &p).unwrap();
    let diff: f32 = a
        .coords
        .iter()
        .zip(&c.coords)
        .map(|(p, q)| (p.0 - q.0).abs() + (p.1 - q.1).abs())
        .sum::<f32>()
        / a.coords.len() as f32;
    assert!(diff > 0.5, "two draws should differ, mean shift {diff}");
    assert!(
        diff < 60.0,
        "but stay near the same anatomy, mean shift {diff}"
    );
}

#[test]
fn bad_geometry_is_refused() {
    let (cases, ssm) = cohort(10);
    let mut lm = cases[0].landmarks.clone();
    // An image far smaller than the ROI.
    let err = prepare_roi(&ssm, &lm, AortaSource::Predicted, (40, 40))
        .unwrap_err()
        .to_string();
    assert!(err.contains("beyond the 40x40 image"), "{err}");
    // Vertebrae in the wrong order (L2 above L1).
    for i in 0..4 {
        lm.swap(i, 4 + i);
    }
    assert!(prepare_roi(&ssm, &lm[..N_SPINE], AortaSource::Predicted, (2000, 2000),).is_err());
}

/// Row lengths in mm: on an ROI that is the warped grid scaled by 2 in y and
/// 3 in x, every warped row spans 2 source pixels vertically, i.e. 0.6 mm at
/// a row spacing of 0.3 mm, whatever the column spacing.
#[test]
fn row_lengths_follow_the_warp_scale_and_pixel_spacing() {
    use aac_warp::roi::{Roi, COLUMNS, LEVELS};
    let mut points = [[Point::default(); COLUMNS]; LEVELS];
    for (k, row) in points.iter_mut().enumerate() {
        for (c, p) in row.iter_mut().enumerate() {
            let t = target(k, c);
            *p = Point::new(3.0 * t.x + 10.0, 2.0 * t.y + 5.0);
        }
    }
    let roi = Roi {
        points,
        layout: Default::default(),
    };
    for x in [10.0, 70.0, 120.0] {
        let rows = aac_warp::row_lengths_mm(&roi, x, [0.3, 0.5]);
        assert_eq!(rows.len(), 256);
        assert!(
            rows.iter().all(|r| (r - 0.6).abs() < 1e-9),
            "{:?}",
            &rows[..4]
        );
    }
}

/// Landmarks mirrored in x (the image left as it is) are caught by the
/// intensity check; the true landmarks pass, in every generator style. A
/// dose-masked rectangle in front of the spine hides what the check looks
/// at, so such scans count only for the true landmarks. `random` draws narrow
/// fields with the spine near the middle, where a mirrored set can overlap
/// the true bodies: two of 30 may pass there. `ectatic`'s lordosis (20-45
/// degrees) swings the lumbar bodies towards the middle of the field the
/// same way: 6 of these 30 pass (measured, 0.7.0; docs/predict.md), so the
/// check is a weak guard against mirrored points on a strongly curved spine.
#[test]
fn mirrored_landmarks_disagree_with_their_image_and_true_ones_agree() {
    use aac_warp::check_landmarks_against_image;
    for name in Style::NAMES {
        let style = Style::by_name(name).unwrap();
        let (mut true_flagged, mut mirrored_passed) = (0, 0);
        let n = 30;
        for i in 0..n {
            let case = generate_case(5, i, &style, false);
            let spine = &case.landmarks[..N_SPINE];
            if check_landmarks_against_image(&case.image, spine).disagrees() {
                true_flagged += 1;
            }
            if case.truth.fov.dose_mask.is_some() {
                continue;
            }
            let w = f64::from(case.image.width() - 1);
            let mirrored: Vec<Point> = spine.iter().map(|p| Point::new(w - p.x, p.y)).collect();
            if !check_landmarks_against_image(&case.image, &mirrored).disagrees() {
                mirrored_passed += 1;
            }
        }
        eprintln!("{name}: true flagged {true_flagged}/{n}, mirrored passed {mirrored_passed}/{n}");
        assert!(
            true_flagged <= 1,
            "{name}: {true_flagged} of {n} true landmark sets flagged"
        );
        let limit = match name {
            "random" => 2,
            "ectatic" => 6,
            _ => 1,
        };
        assert!(
            mirrored_passed <= limit,
            "{name}: {mirrored_passed} of {n} mirrored sets passed"
        );
    }
}

/// Walls predicted in crossing directions at neighbouring levels (a spine at
/// the edge of the shape model's range) give a region of interest laid out
/// another way and marked so, never an error; a spine out of order still is.
#[test]
fn crossing_wall_directions_fall_back_to_an_unfolded_band() {
    use aac_warp::roi::{BandLayout, Roi};
    let case = generate_case(4, 0, &Style::hologic(), true);
    let spine = &case.landmarks[..N_SPINE];
    let discs = disc_points(spine);
    let right = case.landmarks[20].x > spine[0].x;
    let s = if right { 1.0 } else { -1.0 };
    let mut aorta = Vec::new();
    for (k, (_, ant)) in discs.iter().enumerate() {
        let p = Point::new(ant.x + s * 10.0, ant.y);
        // Anterior walls swing 60 px up and down alternately.
        let tilt = if k % 2 == 0 { 60.0 } else { -60.0 };
        aorta.extend([p, Point::new(p.x + s * 40.0, p.y + tilt)]);
    }
    let sd = vec![15.0; 10];
    let roi = Roi::build(spine, &aorta, &sd).expect("a valid spine gives an ROI");
    assert_ne!(roi.layout, BandLayout::AsPredicted);
    assert!(roi.layout.is_fallback());
    // The ordinary case keeps the paper's layout.
    let plain = Roi::build(spine, &case.landmarks[20..], &[2.0; 10]).unwrap();
    assert_eq!(plain.layout, BandLayout::AsPredicted);
    // Vertebrae out of order are still refused.
    let mut swapped = spine.to_vec();
    swapped.swap(0, 12);
    swapped.swap(1, 13);
    swapped.swap(2, 14);
    swapped.swap(3, 15);
    assert!(Roi::build(&swapped, &aorta, &sd).is_err());
}
