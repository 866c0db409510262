//! The generator's ground truth is consistent with what it renders.

use aac_synth::{generate_case, Case, Style};

fn cases(n: usize, style: &Style, calcified_only: bool) -> Vec<Case> {
    (0..n)
        .map(|i| generate_case(7, i, style, calcified_only))
        .collect()
}

fn disc_levels(pts: &[aac_io::Point]) -> [f64; 5] {
    // Disc mid-levels from the landmarks: T12 inferior / L1 superior, ... L4 inferior / L5 superior.
    let mut l = [0.0; 5];
    l[0] = (pts[16].y + pts[17].y + pts[0].y + pts[1].y) / 4.0;
    for k in 1..4 {
        l[k] = (pts[4 * (k - 1) + 2].y + pts[4 * (k - 1) + 3].y + pts[4 * k].y + pts[4 * k + 1].y)
            / 4.0;
    }
    l[4] = (pts[14].y + pts[15].y + pts[18].y + pts[19].y) / 4.0;
    l
}

#[test]
fn same_seed_same_case() {
    let s = Style::hologic();
    let a = generate_case(3, 5, &s, false);
    let b = generate_case(3, 5, &s, false);
    assert_eq!(a.image, b.image);
    assert_eq!(a.mask, b.mask);
    assert_eq!(a.landmarks, b.landmarks);
    assert_ne!(generate_case(4, 5, &s, false).image, a.image);
}

#[test]
fn landmarks_sit_on_rendered_vertebral_corners() {
    assert_landmarks_on_corners(&cases(12, &Style::hologic(), false));
}

#[test]
fn cropped_fields_of_view_keep_landmarks_on_the_corners() {
    let random = cases(40, &Style::random(), false);
    let cropped: Vec<Case> = random
        .into_iter()
        .filter(|c| c.truth.fov.crop_top > 0 || c.truth.fov.crop_bottom > 0)
        .collect();
    assert!(cropped.len() >= 8, "only {} cropped", cropped.len());
    for c in &cropped {
        let fov = &c.truth.fov;
        assert_eq!(
            c.image.height() as usize,
            c.truth.anatomy.height - fov.crop_top - fov.crop_bottom,
            "{}",
            c.id
        );
        assert_eq!(c.mask.dimensions(), c.image.dimensions());
        assert!(c.landmarks[..20]
            .iter()
            .all(|p| p.y >= 0.0 && p.y < c.image.height() as f64));
    }
    // A lumbar-only view: the top edge within a vertebra of T12.
    assert!(cropped.iter().any(|c| {
        let t11 = c.truth.anatomy.vertebrae[aac_synth::anatomy::L1 - 2]
            .centre()
            .y;
        c.truth.fov.crop_top as f64 > t11
    }));
    assert_landmarks_on_corners(&cropped);
}

#[test]
fn dose_masks_are_flat_and_hide_their_labels_and_named_styles_have_none() {
    let masked: Vec<Case> = (0..80)
        .map(|i| generate_case(11, i, &Style::random(), true))
        .filter(|c| c.truth.fov.dose_mask.is_some())
        // Marks burned in by the software lie over everything, dose masks
        // included.
        .filter(|c| !c.truth.factors.contains(&aac_synth::Factor::BurnedIn))
        .collect();
    assert!(masked.len() >= 3, "only {} dose-masked", masked.len());
    for c in &masked {
        let m = c.truth.fov.dose_mask.unwrap();
        let w = c.image.width() as usize;
        let top = c.truth.fov.crop_top;
        let y0 = m.y0.saturating_sub(top);
        let y1 = m.y1.saturating_sub(top).min(c.image.height() as usize);
        for y in y0..y1 {
            for x in m.x0..w {
                // The mask is drawn in the facing-right frame.
                let xi = if c.truth.faces_right { x } else { w - 1 - x };
                let (xi, y) = (xi as u32, y as u32);
                assert_eq!(c.image.get_pixel(xi, y).0[0], m.value, "{}", c.id);
                assert_eq!(c.mask.get_pixel(xi, y).0[0], 0, "{}", c.id);
            }
        }
    }
    for style in [Style::hologic(), Style::lunar(), Style::legacy()] {
        for c in cases(10, &style, false) {
            assert_eq!(c.truth.fov, Default::default(), "{} {}", style.name, c.id);
        }
    }
}

fn assert_landmarks_on_corners(cases: &[Case]) {
    for case in cases {
        let p = &case.landmarks;
        let img = &case.image;
        let at = |x: f64, y: f64| img.get_pixel(x.round() as u32, y.round() as u32).0[0] as f64;
        let right = case.truth.faces_right;
        assert_eq!(
            aac_io::dataset::faces_right(p),
            right,
            "{}: facing direction",
            case.id
        );
        for v in 0..4 {
            let c = &p[4 * v..4 * v + 4];
            // Just inside each corner (toward the body centre) is bone; just
            // outside across the endplate (into the disc) is darker.
            let cx = c.iter().map(|q| q.x).sum::<f64>() / 4.0;
            let cy = c.iter().map(|q| q.y).sum::<f64>() / 4.0;
            let mut inside = 0.0;
            let mut disc = 0.0;
            for q in c {
                let (dx, dy) = (cx - q.x, cy - q.y);
                let n = (dx * dx + dy * dy).sqrt();
                inside += at(q.x + 5.0 * dx / n, q.y + 5.0 * dy / n);
            }
            // Disc below the vertebra: midway between its inferior corners and the
            // next superior corners.
            let below = if v < 3 {
                [p[4 * v + 4], p[4 * v + 5]]
            } else {
                [p[18], p[19]]
            };
            let mid = |a: aac_io::Point, b: aac_io::Point| a.mid(&b);
            let d1 = mid(c[3], below[0]).mid(&mid(c[2], below[1]));
            disc += at(d1.x, d1.y);
            assert!(
                inside / 4.0 > disc + 150.0,
                "{} L{}: body {:.0} vs disc {:.0}",
                case.id,
                v + 1,
                inside / 4.0,
                disc
            );
        }
    }
}

#[test]
fn masks_agree_with_scores() {
    assert_masks_agree_with_scores(&cases(30, &Style::hologic(), true));
}

#[test]
fn broken_deposits_are_drawn_and_their_masks_agree_with_scores() {
    // Scans whose dose mask hides part of the aorta keep the hidden deposits
    // in their scores (the tool must flag them), so they are left out here.
    let random: Vec<Case> = cases(40, &Style::random(), true)
        .into_iter()
        .filter(|c| c.truth.fov.dose_mask.is_none_or(|m| !m.hides_aorta))
        .collect();
    // Broken deposits are pieces with 1-3 mm gaps on the same wall.
    let pieces_close = |c: &Case| {
        let mm = 1.0 / c.truth.spacing_mm;
        let d = &c.truth.anatomy.deposits;
        d.windows(2)
            .any(|w| w[0].wall == w[1].wall && (w[1].y0 - w[0].y1 - 2.0 * mm).abs() <= mm + 1e-9)
    };
    assert!(random.iter().filter(|c| pieces_close(c)).count() >= 5);
    assert_masks_agree_with_scores(&random);
}

fn assert_masks_agree_with_scores(cases: &[Case]) {
    let mut agree = 0;
    let mut total = 0;
    for case in cases {
        let levels = disc_levels(&case.landmarks);
        let (w, h) = case.mask.dimensions();
        for v in 0..4 {
            for (k, label) in [1u8, 2u8].into_iter().enumerate() {
                let (lo, hi) = (levels[v], levels[v + 1]);
                let mut rows = 0;
                for y in 0..h {
                    let yc = y as f64;
                    if yc < lo || yc >= hi {
                        continue;
                    }
                    if (0..w).any(|x| case.mask.get_pixel(x, y).0[0] == label) {
                        rows += 1;
                    }
                }
                let frac = rows as f64 / (hi - lo);
                let s = if rows == 0 {
                    0
                } else {
                    ((3.0 * frac - 1e-9).ceil() as u32).clamp(1, 3)
                };
                total += 1;
                if s == case.score.sub[2 * v + k] {
                    agree += 1;
                }
            }
        }
        assert_eq!(case.score.total, case.score.sub.iter().sum::<u32>());
    }
    assert!(
        agree as f64 >= 0.97 * total as f64,
        "{agree}/{total} sub-scores agree"
    );
}

#[test]
fn population_is_skewed_to_mild_and_calcified_only_has_no_zero() {
    let pop = cases(120, &Style::hologic(), false);
    let zero = pop.iter().filter(|c| c.score.total == 0).count() as f64 / pop.len() as f64;
    assert!((0.28..=0.55).contains(&zero), "zero fraction {zero}");
    let mild = pop
        .iter()
        .filter(|c| (1..=4).contains(&c.score.total))
        .count();
    let severe = pop.iter().filter(|c| c.score.total >= 5).count();
    assert!(mild > 0 && severe > 0);
    let calc = cases(40, &Style::hologic(), true);
    assert!(calc
        .iter()
        .all(|c| c.score.total > 0 && c.mask.as_raw().iter().any(|&v| v > 0)));
}

#[test]
fn second_reading_dice_is_like_a_real_reader() {
    let mut dices = Vec::new();
    for case in cases(40, &Style::hologic(), true) {
        let (mut inter, mut a, mut b) = (0usize, 0usize, 0usize);
        for (p, q) in case.mask.as_raw().iter().zip(case.mask2.as_raw()) {
            let (x, y) = (*p > 0, *q > 0);
            inter += (x && y) as usize;
            a += x as usize;
            b += y as usize;
        }
        if a + b > 0 {
            dices.push(2.0 * inter as f64 / (a + b) as f64);
        }
    }
    let mean = dices.iter().sum::<f64>() / dices.len() as f64;
    assert!(
        (0.78..=0.95).contains(&mean),
        "mean Dice masks vs masks2 = {mean:.3}"
    );
}

#[test]
fn styles_differ_in_size_and_texture() {
    let h = generate_case(1, 0, &Style::hologic(), false);
    let l = generate_case(1, 0, &Style::lunar(), false);
    assert!(
        l.image.width() > h.image.width() + 150,
        "lunar {} vs hologic {}",
        l.image.width(),
        h.image.width()
    );
    for s in Style::NAMES {
        let st = Style::by_name(s).unwrap();
        let c = generate_case(2, 1, &st, false);
        let (w, hh) = c.image.dimensions();
        assert!(
            (350..=850).contains(&w) && (880..=1750).contains(&hh),
            "{s}: {w}x{hh}"
        );
        assert!(
            *c.image.as_raw().iter().max().unwrap() <= 4095,
            "{s}: 12-bit range"
        );
        let mm = c.truth.spacing_mm;
        assert!((0.28..=0.53).contains(&mm));
    }
}

#[test]
fn landmarks_sit_on_the_corners_with_every_factor_drawn() {
    // Every factor of the anatomy, in a plain display and without marks:
    // the check reads brightness across the disc, which a stretched display
    // can saturate at a narrowed disc and a morphometry cross can cover
    // (that marks leave the truth alone is tests/factors.rs's).
    let mut style = Style::hologic();
    style.factors.extend(aac_synth::Factor::ALL);
    style.factors.remove(&aac_synth::Factor::EdgeEnhanced);
    style.factors.remove(&aac_synth::Factor::BurnedIn);
    let cases = cases(20, &style, false);
    assert_landmarks_on_corners(&cases);
    assert_masks_agree_with_scores(&cases);
}
