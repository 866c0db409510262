//! A finder trained on 64 synthetic scans (minutes of CPU; the default half-grid fine
//! network, 12 epochs): better than a fixed template,
//! as good on scans facing the other way, and no sure answer on an image
//! without a spine.

use aac_io::Point;
use aac_landmarks::frame::Frame;
use aac_landmarks::train::relative_error;
use aac_landmarks::{train_finder, Annotated, Finder, FinderTraining, LandmarkError};
use aac_synth::{generate_case, Style};
use std::sync::OnceLock;

struct Scan {
    image: Vec<f32>,
    width: usize,
    height: usize,
    points: Vec<Point>,
    sacrum_top: Option<Point>,
}

fn scans(seed: u64, n: usize) -> Vec<Scan> {
    let style = Style::hologic();
    (0..n)
        .map(|i| {
            let c = generate_case(seed, i, &style, false);
            let (w, h) = c.image.dimensions();
            Scan {
                image: c.image.as_raw().iter().map(|&v| v as f32).collect(),
                width: w as usize,
                height: h as usize,
                points: c.landmarks[..20].to_vec(),
                sacrum_top: c.truth.sacrum_top(),
            }
        })
        .collect()
}

fn annotated(s: &[Scan]) -> Vec<Annotated<'_>> {
    s.iter()
        .map(|s| Annotated {
            image: &s.image,
            width: s.width,
            height: s.height,
            points: &s.points,
            sacrum_top: s.sacrum_top,
        })
        .collect()
}

/// The training scans and the finder trained on them (once per test binary).
fn trained() -> &'static (Vec<Scan>, Vec<u8>) {
    static T: OnceLock<(Vec<Scan>, Vec<u8>)> = OnceLock::new();
    T.get_or_init(|| {
        let train = scans(1, 64);
        let cfg = FinderTraining {
            width: 16,
            coarse_width: 8,
            epochs: 12,
            coarse_epochs: 8,
            batch: 4,
            members: 1,
            sacrum_epochs: 8,
            ..FinderTraining::default()
        };
        let bytes = train_finder(&cfg, &annotated(&train), &[], &mut |_| {}).unwrap();
        (train, bytes)
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median relative point error of found points over scans (and, for
/// failure messages, of the coarse anchors).
fn finder_error(finder: &Finder, test: &[Scan]) -> (f64, f64) {
    let inputs: Vec<(&[f32], usize, usize)> = test
        .iter()
        .map(|s| (s.image.as_slice(), s.width, s.height))
        .collect();
    let (mut errors, mut anchor_errors) = (Vec::new(), Vec::new());
    for (found, s) in finder.find(&inputs).into_iter().zip(test) {
        // Points that cannot be bodies are refused: count them as missed
        // by the whole T12-L5 span.
        let f = match found {
            Err(LandmarkError::NotVertebrae(_)) => {
                errors.extend([1.0; 20]);
                continue;
            }
            r => r.unwrap(),
        };
        anchor_errors.extend(
            f.coarse
                .iter()
                .zip(aac_landmarks::frame::anchors(&s.points))
                .map(|(p, t)| relative_error(p, &t, &s.points)),
        );
        errors.extend(
            f.points
                .iter()
                .zip(&s.points)
                .map(|(p, t)| relative_error(p, t, &s.points)),
        );
    }
    (median(errors), median(anchor_errors))
}

fn mirrored(s: &Scan) -> Scan {
    let mut image = s.image.clone();
    for row in image.chunks_mut(s.width) {
        row.reverse();
    }
    Scan {
        image,
        width: s.width,
        height: s.height,
        points: s
            .points
            .iter()
            .map(|p| Point::new((s.width - 1) as f64 - p.x, p.y))
            .collect(),
        sacrum_top: s
            .sacrum_top
            .map(|p| Point::new((s.width - 1) as f64 - p.x, p.y)),
    }
}

#[test]
fn a_finder_trained_on_64_scans_beats_a_fixed_template_either_way_round() {
    let (train, bytes) = trained();
    let finder = Finder::from_bytes(bytes).unwrap();
    let test = scans(7, 6);
    // The template: each point's mean position in the letterboxed scan.
    let mut template = vec![Point::default(); 20];
    for s in train {
        let f = Frame::whole_image(s.width, s.height);
        for (t, p) in template.iter_mut().zip(&s.points) {
            let q = f.to_input(*p);
            t.x += q.x / train.len() as f64;
            t.y += q.y / train.len() as f64;
        }
    }
    let template_error = median(
        test.iter()
            .flat_map(|s| {
                let f = Frame::whole_image(s.width, s.height);
                template
                    .iter()
                    .zip(&s.points)
                    .map(|(t, p)| relative_error(&f.to_image(*t), p, &s.points))
                    .collect::<Vec<_>>()
            })
            .collect(),
    );
    let (found, anchors) = finder_error(&finder, &test);
    assert!(
        found < 0.75 * template_error,
        "finder {found:.4} (coarse anchors {anchors:.4}) against template {template_error:.4} (relative to the T12-L5 span)"
    );
    // The same scans facing the other way.
    let flipped: Vec<Scan> = test.iter().map(mirrored).collect();
    let (found_flipped, anchors) = finder_error(&finder, &flipped);
    assert!(
        found_flipped < 0.75 * template_error && found_flipped < 1.5 * found + 0.02,
        "mirrored: finder {found_flipped:.4} (coarse anchors {anchors:.4}) against template {template_error:.4}, unmirrored {found:.4}"
    );
}

#[test]
fn an_image_without_a_spine_is_refused_or_flagged_and_tiny_images_are_refused() {
    let (_, bytes) = trained();
    let finder = Finder::from_bytes(bytes).unwrap();
    let flat = vec![1000.0f32; 300 * 700];
    let noise: Vec<f32> = (0..300 * 700)
        .map(|i| ((i as u64 * 2_654_435_761) % 4096) as f32)
        .collect();
    let tiny = vec![5.0f32; 8 * 8];
    let out = finder.find(&[(&flat, 300, 700), (&noise, 300, 700), (&tiny, 8, 8)]);
    // Every pixel the same: said as such, never a spine.
    assert!(
        matches!(out[0], Err(LandmarkError::Blank(v)) if v == 1000.0),
        "{:?}",
        out[0].as_ref().err()
    );
    for r in &out[1..2] {
        match r {
            Err(LandmarkError::NoSpine(_) | LandmarkError::NotVertebrae(_)) => {}
            Ok(f) => assert!(f.uncertain(), "a sure spine in an empty image: {f:?}"),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(matches!(out[2], Err(LandmarkError::TooSmall(8, 8))));
}

#[test]
fn damaged_finder_bytes_are_refused_without_panic() {
    let (_, bytes) = trained();
    assert!(Finder::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    assert!(Finder::from_bytes(b"AAC-LANDMARKS\n{}\n").is_err());
    assert!(Finder::from_bytes(b"something else").is_err());
}

#[test]
fn a_finder_with_itself_as_second_opinion_agrees_with_itself() {
    let (_, bytes) = trained();
    // The finder twice, then the locator that follows the finders.
    let member = Finder::member_bytes(bytes).unwrap()[0];
    let locator = Finder::locator_bytes(bytes).unwrap().expect("a locator");
    let twice: Vec<u8> = [member, member, locator].concat();
    let one = Finder::from_bytes(bytes).unwrap();
    let two = Finder::from_bytes(&twice).unwrap();
    assert_eq!((one.members(), two.members()), (1, 2));
    let test = scans(9, 6);
    let inputs: Vec<(&[f32], usize, usize)> = test
        .iter()
        .map(|s| (s.image.as_slice(), s.width, s.height))
        .collect();
    for (a, b) in one.find(&inputs).into_iter().zip(two.find(&inputs)) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the same naming adds no doubt"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{:?} against {:?}", a.err(), b.err()),
        }
    }
}

#[test]
fn the_sacrum_top_locator_is_kept_after_the_finders_and_finds_the_sacrum() {
    use aac_landmarks::sacrum_top::{levels_below_l4_l5, Locator};
    let (_, bytes) = trained();
    let finder = Finder::from_bytes(bytes).unwrap();
    assert!(
        finder.has_locator(),
        "trained on scans with known sacrum tops"
    );
    let locator = Finder::locator_bytes(bytes).unwrap().unwrap();
    assert!(locator.starts_with(aac_landmarks::sacrum_top::MAGIC));
    assert_eq!(Finder::member_bytes(bytes).unwrap().len(), 1);
    let network = aac_landmarks::sacrum_top::network_of_block(locator).unwrap();
    // A locator cut short, or followed by other bytes, is refused.
    assert!(Finder::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(Finder::from_bytes(&[bytes.as_slice(), b"x"].concat()).is_err());
    // Unseen scans, either way round: found near the true top, within
    // half a level along the spine.
    let test: Vec<Scan> = scans(7, 6)
        .iter()
        .map(mirrored)
        .chain(scans(7, 6))
        .collect();
    let inputs: Vec<(&[f32], usize, usize)> = test
        .iter()
        .map(|s| (s.image.as_slice(), s.width, s.height))
        .collect();
    let tops = Locator::new(network).unwrap().find(&inputs);
    let off: Vec<f64> = tops
        .iter()
        .zip(&test)
        .filter_map(|(top, s)| {
            let (top, truth) = (top.expect("an answer"), s.sacrum_top?);
            Some(
                (levels_below_l4_l5(&s.points, top.at) - levels_below_l4_l5(&s.points, truth))
                    .abs(),
            )
        })
        .collect();
    assert!(
        off.len() >= 8,
        "{} scans with the sacrum in view",
        off.len()
    );
    assert!(median(off.clone()) < 0.5, "levels off: {off:?}");
    // The finder checks its naming against it: where it is sure, the top
    // is kept with the points and the message says what it found.
    let mut seen = 0;
    for f in finder.find(&inputs).into_iter().flatten() {
        if f.sacrum_top.is_some() {
            seen += 1;
            let said = f.cue.contains("the sacrum's top found")
                || f.doubts.iter().any(|d| d.contains("the sacrum's top lies"));
            assert!(said, "{f:?}");
        } else {
            assert!(!f.cue.contains("the sacrum's top"), "{f:?}");
        }
    }
    assert!(seen > 0, "no naming checked against the sacrum's top");
    // A finder without it says so.
    let mut no_locator = Vec::new();
    for m in Finder::member_bytes(bytes).unwrap() {
        no_locator.extend_from_slice(m);
    }
    assert!(!Finder::from_bytes(&no_locator).unwrap().has_locator());
}
