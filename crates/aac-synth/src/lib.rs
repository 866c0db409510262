//! A realistic synthetic generator of lateral DXA vertebral fracture assessment
//! (VFA) scans with full ground truth: 30 landmarks, calcification masks, a
//! second reading, geometric and visual AAC24 scores, and the generating
//! geometry. It is the embedded default data of aac.

pub mod anatomy;
pub mod arches;
pub mod factors;
pub mod field;
pub mod fov;
pub mod marks;
pub mod render;
pub mod sacrum;
pub mod scan;
pub mod shadow;
pub mod style;
pub mod truth;

use aac_io::{Gray16, Gray8, Point};
use anatomy::{disc_levels, draw_anatomy, Anatomy, Frame, Wall, L1};
pub use factors::{Factor, Factors};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
pub use style::{AnatomyRanges, Style};
pub use truth::Aac24;

mod cohort;
pub use cohort::{write_cohort, CohortOptions, CohortSummary};

/// One generated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Image id.
    pub id: String,
    /// The 12-bit image.
    pub image: Gray16,
    /// The 30 landmarks in contract order.
    pub landmarks: Vec<Point>,
    /// Ground-truth labels.
    pub mask: Gray8,
    /// A second reading by the same annotator.
    pub mask2: Gray8,
    /// Geometric AAC24 and sub-scores.
    pub score: Aac24,
    /// Simulated radiologist's visual AAC24.
    pub visual: u32,
    /// Everything needed to reproduce and check the case.
    pub truth: Truth,
}

/// The generating geometry and scan parameters of a case (`truth.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    /// Image id.
    pub id: String,
    /// Style preset name.
    pub style: String,
    /// True if anterior is toward larger x in the written image.
    pub faces_right: bool,
    /// Pixel spacing (mm).
    pub spacing_mm: f64,
    /// Geometry in the facing-right frame (mirror x for left-facing images).
    pub anatomy: Anatomy,
    /// Acquisition parameters.
    pub scan: scan::ScanParams,
    /// What of the rendered scene reaches the image (crops, dose mask).
    #[serde(default)]
    pub fov: fov::FieldOfView,
    /// Geometric AAC24.
    pub aac24: Aac24,
    /// Simulated visual score.
    pub aac24_visual: u32,
    /// The factors the case was drawn with ([`Factor`]; absent in a
    /// `truth.json` of before 0.5.0: the classic five).
    #[serde(default = "factors::classic")]
    pub factors: Factors,
}

impl Truth {
    /// Where the lowest rib meets the spine (the head of the last rib:
    /// the posterior end of the lowest rib drawn), in the written image's
    /// pixels; None when the image draws no rib or that point lies outside
    /// it. With [`Factor::AttachedRibs`] this is the costovertebral joint of
    /// the last rib-bearing vertebra (T12 in a normal spine); without, the
    /// ribs are bands placed by height and it lies at T12 or L2.
    pub fn lowest_rib_head(&self) -> Option<Point> {
        let a = &self.anatomy;
        let head = a
            .ribs
            .iter()
            .map(|r| Point::new(r.x0, r.y_at(r.x0)))
            .max_by(|p, q| p.y.total_cmp(&q.y))?;
        self.in_written_image(head)
    }

    /// The top of the iliac crest (the highest point of the iliac wing's
    /// upper rim) in the written image's pixels; None when the image draws
    /// no iliac wing or that point lies outside it. Readers expect it
    /// near L4-L5; this generator puts it from 1.1 levels above to 0.7
    /// below the L4/L5 disc (docs/synthetic.md).
    pub fn iliac_crest_top(&self) -> Option<Point> {
        if !self.factors.contains(&Factor::IliacCrest) {
            return None;
        }
        let (centre, _, ry) = self.anatomy.iliac;
        self.in_written_image(Point::new(centre.x, centre.y - ry))
    }

    /// The middle of the sacrum's top (S1's plateau: the bone below the
    /// disc under L5, by the naming convention of transitional anatomy) in
    /// the written image's pixels; None when it lies outside the image.
    /// Readers count the lumbar bodies up from it.
    pub fn sacrum_top(&self) -> Option<Point> {
        let [post, ant, ..] = self.anatomy.sacrum;
        self.in_written_image(post.mid(&ant))
    }

    /// A point of the facing-right scene in the written image's pixels
    /// (mirrored when the patient faces left, shifted by the crop), or None
    /// outside it.
    fn in_written_image(&self, p: Point) -> Option<Point> {
        let a = &self.anatomy;
        let y = p.y - self.fov.crop_top as f64;
        let x = if self.faces_right {
            p.x
        } else {
            (a.width - 1) as f64 - p.x
        };
        let height = self.fov.height(a.height) as f64;
        (x >= 0.0 && y >= 0.0 && x <= (a.width - 1) as f64 && y <= height - 1.0)
            .then(|| Point::new(x, y))
    }
}

/// Image id of case `index`.
pub fn case_id(index: usize) -> String {
    format!("synth{index:05}")
}

/// The 30 landmarks of an anatomy (facing-right frame), in contract order.
pub fn landmarks(a: &Anatomy) -> Vec<Point> {
    let mut pts = Vec::with_capacity(30);
    for v in 0..4 {
        pts.extend_from_slice(&a.vertebrae[L1 + v].corners);
    }
    let t12 = &a.vertebrae[L1 - 1];
    pts.push(t12.corners[3]);
    pts.push(t12.corners[2]);
    let l5 = &a.vertebrae[L1 + 4];
    pts.push(l5.corners[0]);
    pts.push(l5.corners[1]);
    for y in disc_levels(&a.vertebrae) {
        pts.push(Point::new(a.aorta.wall_x(Wall::Posterior, y), y));
        pts.push(Point::new(a.aorta.wall_x(Wall::Anterior, y), y));
    }
    pts
}

/// Generates case `index` of a cohort with seed `seed`. Each case has its own
/// random stream, so the result does not depend on thread scheduling.
pub fn generate_case(seed: u64, index: usize, style: &Style, calcified_only: bool) -> Case {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // Which of the style's factors this image draws: its own stream, so
    // that the rest of the image does not depend on the draw.
    let mut own = ChaCha8Rng::seed_from_u64(
        seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6661_6374_6f72_7300,
    );
    let style = &Style {
        factors: style
            .factors
            .iter()
            .copied()
            .filter(|f| Factor::CLASSIC.contains(f) || own.random::<f64>() < style.factor_share)
            .collect(),
        ..style.clone()
    };
    let spacing = rng.random_range(style.spacing_mm.0..style.spacing_mm.1);
    let fov_h = rng.random_range(style.fov_height_mm.0..style.fov_height_mm.1);
    let fov_w = rng.random_range(style.fov_width_mm.0..style.fov_width_mm.1);
    let frame = Frame {
        width: (fov_w / spacing).round() as usize,
        height: (fov_h / spacing).round() as usize,
        spacing_mm: spacing,
    };
    let anatomy = draw_anatomy(&mut rng, &frame, calcified_only, style);
    let (canvas, mask) = render::render(&mut rng, &anatomy, &style.factors);
    let params = scan::draw_params(&mut rng, style, frame.width);
    let mut pixels = scan::acquire(&mut rng, canvas, &params);
    let deposits2 = truth::second_reading(&mut rng, &anatomy.deposits);
    let mut mask2 = vec![0u8; frame.width * frame.height];
    render::label_deposits(&anatomy, &deposits2, &mut mask2);
    let score = truth::geometric_aac24(&anatomy, &anatomy.deposits);
    let visual = truth::visual_score(&mut rng, &anatomy, &anatomy.deposits);
    let faces_right = rng.random::<f64>() < style.faces_right;
    let fov = fov::FieldOfView::draw(&mut rng, style, &anatomy);
    let mut mask = mask;
    fov.mask_pixels(frame.width, &mut pixels, &mut [&mut mask, &mut mask2]);
    let (pixels, mask, mask2) = (
        fov.crop(frame.width, frame.height, &pixels),
        fov.crop(frame.width, frame.height, &mask),
        fov.crop(frame.width, frame.height, &mask2),
    );

    let (w, h) = (frame.width as u32, fov.height(frame.height) as u32);
    let mut image = Gray16::from_raw(w, h, pixels).expect("buffer matches frame");
    let mut mask = Gray8::from_raw(w, h, mask).expect("buffer matches frame");
    let mut mask2 = Gray8::from_raw(w, h, mask2).expect("buffer matches frame");
    let mut pts = landmarks(&anatomy);
    for p in pts.iter_mut() {
        p.y -= fov.crop_top as f64;
    }
    if !faces_right {
        image::imageops::flip_horizontal_in_place(&mut image);
        image::imageops::flip_horizontal_in_place(&mut mask);
        image::imageops::flip_horizontal_in_place(&mut mask2);
        for p in pts.iter_mut() {
            p.x = (w - 1) as f64 - p.x;
        }
    }
    if style.has(Factor::BurnedIn) {
        // Its own stream: the scan is the same with or without the marks.
        let mut own = ChaCha8Rng::seed_from_u64(seed ^ (index as u64) ^ 0x6d61_726b_7300_0000);
        let at = marks::Placement {
            crop_top: fov.crop_top,
            faces_right,
        };
        marks::burn_in(&mut own, &mut image, &anatomy, &at);
    }
    let id = case_id(index);
    Case {
        id: id.clone(),
        image,
        landmarks: pts,
        mask,
        mask2,
        score,
        visual,
        truth: Truth {
            id,
            style: style.name.clone(),
            faces_right,
            spacing_mm: spacing,
            anatomy,
            scan: params,
            fov,
            aac24: score,
            aac24_visual: visual,
            factors: style.factors.clone(),
        },
    }
}
