//! Scanner/site presets: resolution, field of view, contrast, noise texture,
//! blur and artefacts differ between them, so that robustness to a new site can
//! be measured by training on one style and testing on another.

use crate::factors::{classic, Factor, Factors};
use serde::{Deserialize, Serialize};

/// A scanner/site preset for the generator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Style {
    /// Preset name.
    pub name: String,
    /// Manufacturer written into DICOM files.
    pub manufacturer: String,
    /// Pixel spacing range in mm.
    pub spacing_mm: (f64, f64),
    /// Field-of-view height range in mm (covers about T4 to S1).
    pub fov_height_mm: (f64, f64),
    /// Field-of-view width range in mm.
    pub fov_width_mm: (f64, f64),
    /// Gaussian blur sigma range in pixels.
    pub blur_px: (f64, f64),
    /// White-noise standard deviation range (in attenuation units, bone ~0.5).
    pub noise: (f64, f64),
    /// Fraction of the noise that is spatially correlated (blurred) texture,
    /// drawn per image from this range.
    pub correlated_noise: (f64, f64),
    /// Probability of horizontal scan-line streaks, and their strength.
    pub streaks: (f64, f64),
    /// Probability of a flat band outside the scanned field.
    pub flat_band: f64,
    /// Probability that bowel gas overlies the aorta region.
    pub gas: f64,
    /// Probability that the lowest ribs overlie L1-L2 and the aorta.
    pub low_ribs: f64,
    /// Display gamma range applied before quantisation.
    pub gamma: (f64, f64),
    /// Probability that the patient faces right (anterior toward larger x).
    pub faces_right: f64,
    /// Range of the display window's low end (attenuation units).
    #[serde(default = "default_window_low")]
    pub window_low: (f64, f64),
    /// Range of the display window's high end (attenuation units).
    #[serde(default = "default_window_high")]
    pub window_high: (f64, f64),
    /// Probability that each end of the field of view is cut short: the top
    /// edge anywhere from T7 down through T12 (a lumbar-only view at the
    /// extreme), the bottom edge anywhere from mid-L5 to the sacrum's tip.
    #[serde(default)]
    pub crop: f64,
    /// Probability of a dose-masked flat rectangle in front of the spine
    /// (about one in four hides part of the aorta).
    #[serde(default)]
    pub dose_mask: f64,
    /// Ranges of the patient's anatomy and calcification.
    #[serde(default)]
    pub anatomy: AnatomyRanges,
    /// The parts of a real scan this style draws ([`Factor`]); a style
    /// stored without them draws the classic five.
    #[serde(default = "crate::factors::classic")]
    pub factors: Factors,
    /// Share of images that draw each of the style's factors beyond the
    /// classic five ([`Factor::CLASSIC`], drawn in every image): 1 for the
    /// named styles, 0.5 for `random`.
    #[serde(default = "every_image")]
    pub factor_share: f64,
}

fn every_image() -> f64 {
    1.0
}

fn default_window_low() -> (f64, f64) {
    (-0.06, 0.04)
}

fn default_window_high() -> (f64, f64) {
    (0.85, 1.15)
}

/// Ranges the anatomy of one image is drawn from (uniformly, per image).
/// The defaults are those of the named styles; [`Style::random`] widens them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnatomyRanges {
    /// Body size factor (1 = an average adult).
    pub size: (f64, f64),
    /// Lumbar lordosis (degrees).
    pub lordosis_deg: (f64, f64),
    /// Trabecular bone density before bone loss (attenuation units).
    pub bone_density: (f64, f64),
    /// Cortical rim thickness (mm).
    pub rim_mm: (f64, f64),
    /// Disc height factor (1 = average).
    pub disc_height: (f64, f64),
    /// Position of the spine across the image (fraction of the width).
    pub spine_x: (f64, f64),
    /// Gap between the spine's anterior border and the aorta (mm).
    pub aorta_gap_mm: (f64, f64),
    /// Aortic diameter (mm).
    pub aorta_diameter_mm: (f64, f64),
    /// Amplitude of the aorta's tortuosity (mm).
    pub tortuosity_mm: (f64, f64),
    /// Contrast of an ordinary deposit (attenuation units).
    pub deposit_contrast: (f64, f64),
    /// Probability that a deposit is very faint.
    pub faint_probability: f64,
    /// Contrast of a very faint deposit (attenuation units).
    pub faint_contrast: (f64, f64),
    /// Deposit thickness (mm).
    pub deposit_thickness_mm: (f64, f64),
    /// Probability that a vertebra is fractured, at the most severe bone loss
    /// (it scales with the patient's bone loss).
    #[serde(default = "default_fracture")]
    pub fracture: f64,
    /// Share of fractures that are crush fractures (the whole body lower,
    /// endplates more concave) rather than anterior wedges.
    #[serde(default)]
    pub crush_share: f64,
    /// Probability that a deposit is broken into dashes or a row of dots.
    #[serde(default)]
    pub broken: f64,
    /// Share of fractures that are biconcave (the middle of both endplates
    /// lost, the corners kept), drawn before the crush share.
    #[serde(default)]
    pub biconcave_share: f64,
}

fn default_fracture() -> f64 {
    0.06
}

impl Default for AnatomyRanges {
    fn default() -> Self {
        AnatomyRanges {
            size: (0.88, 1.12),
            lordosis_deg: (6.0, 22.0),
            bone_density: (0.3, 0.4),
            rim_mm: (0.8, 1.6),
            disc_height: (0.6, 1.25),
            spine_x: (0.30, 0.42),
            aorta_gap_mm: (3.0, 8.0),
            aorta_diameter_mm: (15.0, 25.0),
            tortuosity_mm: (0.0, 3.0),
            deposit_contrast: (0.08, 0.35),
            faint_probability: 0.2,
            faint_contrast: (0.03, 0.07),
            deposit_thickness_mm: (0.8, 2.5),
            fracture: default_fracture(),
            crush_share: 0.0,
            broken: 0.0,
            biconcave_share: 0.0,
        }
    }
}

impl Style {
    /// All preset names.
    pub const NAMES: [&'static str; 6] =
        ["random", "hologic", "lunar", "legacy", "biobank", "ectatic"];

    /// The style `aac synth` uses when none is named.
    pub const DEFAULT: &'static str = "random";

    /// A preset by name, or None.
    pub fn by_name(name: &str) -> Option<Style> {
        match name {
            "random" => Some(Style::random()),
            "hologic" => Some(Style::hologic()),
            "lunar" => Some(Style::lunar()),
            "legacy" => Some(Style::legacy()),
            "biobank" => Some(Style::biobank()),
            "ectatic" => Some(Style::ectatic()),
            _ => None,
        }
    }

    /// Domain randomisation: every image draws its resolution, blur, noise
    /// level and texture, streaks, display curve, artefacts, anatomy and
    /// calcification from ranges wider than any one scanner's, and around
    /// those of the scanner styles (`hologic`, `lunar`, `legacy`,
    /// `biobank`), so that a scanner never seen falls
    /// inside the training distribution rather than beside it.
    pub fn random() -> Style {
        Style {
            name: "random".into(),
            manufacturer: "aac synthetic (randomised)".into(),
            spacing_mm: (0.25, 0.6),
            fov_height_mm: (440.0, 520.0),
            fov_width_mm: (160.0, 240.0),
            blur_px: (0.4, 2.0),
            noise: (0.015, 0.07),
            correlated_noise: (0.0, 0.8),
            streaks: (0.4, 0.022),
            flat_band: 0.25,
            gas: 0.6,
            low_ribs: 0.6,
            gamma: (0.5, 1.5),
            faces_right: 0.5,
            window_low: (-0.12, 0.06),
            window_high: (0.75, 1.3),
            anatomy: AnatomyRanges {
                size: (0.8, 1.2),
                lordosis_deg: (2.0, 30.0),
                bone_density: (0.2, 0.45),
                rim_mm: (0.5, 2.2),
                disc_height: (0.45, 1.35),
                spine_x: (0.25, 0.45),
                aorta_gap_mm: (1.5, 12.0),
                aorta_diameter_mm: (13.0, 32.0),
                tortuosity_mm: (0.0, 5.0),
                deposit_contrast: (0.05, 0.4),
                faint_probability: 0.3,
                faint_contrast: (0.02, 0.07),
                deposit_thickness_mm: (0.5, 3.0),
                fracture: 0.12,
                crush_share: 0.4,
                broken: 0.35,
                biconcave_share: 0.0,
            },
            crop: 0.3,
            dose_mask: 0.1,
            // Since 0.6.0 every factor but the opt-in ones, each in half
            // the images (neural arches since 0.9.0, the fused sacrum
            // since 0.10.0: an image without them is the same as before).
            factors: Factor::ALL
                .into_iter()
                .filter(|f| !Factor::OPT_IN.contains(f))
                .collect(),
            factor_share: 0.5,
        }
    }

    /// Like the paper's Hologic scans and one biobank's first batch: about
    /// 445 x 940 px at ~0.5 mm, moderate noise, occasional scan-line streaks.
    pub fn hologic() -> Style {
        Style {
            name: "hologic".into(),
            manufacturer: "HOLOGIC (aac synthetic)".into(),
            spacing_mm: (0.46, 0.52),
            fov_height_mm: (440.0, 490.0),
            fov_width_mm: (200.0, 230.0),
            blur_px: (0.7, 1.0),
            noise: (0.025, 0.045),
            correlated_noise: (0.3, 0.3),
            streaks: (0.25, 0.012),
            flat_band: 0.0,
            gas: 0.5,
            low_ribs: 0.5,
            gamma: (0.85, 1.15),
            faces_right: 0.7,
            window_low: default_window_low(),
            window_high: default_window_high(),
            crop: 0.0,
            dose_mask: 0.0,
            anatomy: AnatomyRanges::default(),
            factors: classic(),
            factor_share: 1.0,
        }
    }

    /// Like a GE Lunar iDXA: about 760 x 1660 px at ~0.3 mm, smoother, with
    /// correlated noise texture, flat bands outside the field, more overlying gas
    /// and ribs.
    pub fn lunar() -> Style {
        Style {
            name: "lunar".into(),
            manufacturer: "GE Healthcare (aac synthetic)".into(),
            spacing_mm: (0.29, 0.32),
            fov_height_mm: (480.0, 510.0),
            fov_width_mm: (215.0, 235.0),
            blur_px: (1.2, 1.7),
            noise: (0.02, 0.035),
            correlated_noise: (0.7, 0.7),
            streaks: (0.05, 0.015),
            flat_band: 0.35,
            gas: 0.75,
            low_ribs: 0.75,
            gamma: (0.6, 0.9),
            faces_right: 0.5,
            window_low: default_window_low(),
            window_high: default_window_high(),
            crop: 0.0,
            dose_mask: 0.0,
            anatomy: AnatomyRanges::default(),
            factors: classic(),
            factor_share: 1.0,
        }
    }

    /// An older export: about 402 x 1100-1250 px at ~0.42 mm, strong noise,
    /// frequent scan-line streaks and stair-step edges.
    pub fn legacy() -> Style {
        Style {
            name: "legacy".into(),
            manufacturer: "HOLOGIC Discovery (aac synthetic)".into(),
            spacing_mm: (0.40, 0.45),
            fov_height_mm: (460.0, 520.0),
            fov_width_mm: (165.0, 180.0),
            blur_px: (0.5, 0.8),
            noise: (0.04, 0.06),
            correlated_noise: (0.15, 0.15),
            streaks: (0.7, 0.022),
            flat_band: 0.15,
            gas: 0.5,
            low_ribs: 0.5,
            gamma: (1.0, 1.35),
            faces_right: 0.8,
            window_low: default_window_low(),
            window_high: default_window_high(),
            crop: 0.0,
            dose_mask: 0.0,
            anatomy: AnatomyRanges::default(),
            factors: classic(),
            factor_share: 1.0,
        }
    }

    /// `hologic`'s look over an anatomy reaching beyond `random`'s ranges: the aorta
    /// 8-20 mm in front of the spine and 22-36 mm wide (ectatic, as in an
    /// older cohort), lordosis 20-45 degrees. For measuring what a shape
    /// model, finder and network fitted on the generator's usual anatomy do
    /// on another, and what a site's own scans recover (docs/adapt.md).
    pub fn ectatic() -> Style {
        Style {
            name: "ectatic".into(),
            anatomy: AnatomyRanges {
                aorta_gap_mm: (8.0, 20.0),
                aorta_diameter_mm: (22.0, 36.0),
                lordosis_deg: (20.0, 45.0),
                ..AnatomyRanges::default()
            },
            ..Style::hologic()
        }
    }

    /// Like one biobank's whole-spine GE iDXA exports: about 760 x 1660 px
    /// at ~0.3 mm, edge-enhanced and contrast-stretched (bone nearly white,
    /// trabeculae crisp), level labels and morphometry marks burned in, and
    /// the anatomy of an older cohort: trabecular bodies, double endplates,
    /// osteophytes and narrowed discs, fractures (a third biconcave). The
    /// one named style with every factor but `eight_bit`.
    pub fn biobank() -> Style {
        Style {
            name: "biobank".into(),
            manufacturer: "GE Healthcare iDXA (aac synthetic)".into(),
            spacing_mm: (0.28, 0.32),
            fov_height_mm: (470.0, 510.0),
            fov_width_mm: (210.0, 235.0),
            blur_px: (0.9, 1.3),
            noise: (0.02, 0.035),
            correlated_noise: (0.5, 0.5),
            streaks: (0.05, 0.012),
            flat_band: 0.2,
            gas: 0.7,
            low_ribs: 0.7,
            gamma: (0.8, 1.0),
            faces_right: 0.5,
            window_low: (0.02, 0.1),
            window_high: (0.7, 0.85),
            crop: 0.0,
            dose_mask: 0.0,
            anatomy: AnatomyRanges {
                fracture: 0.15,
                crush_share: 0.3,
                biconcave_share: 0.35,
                ..AnatomyRanges::default()
            },
            factors: Factor::ALL
                .into_iter()
                .filter(|f| {
                    // The held-out cohort of 0.8 (no arches, no fused
                    // sacrum, no opt-in factors).
                    ![Factor::EightBit, Factor::NeuralArches, Factor::FusedSacrum].contains(f)
                        && !Factor::OPT_IN.contains(f)
                })
                .collect(),
            factor_share: 1.0,
        }
    }

    /// True when the style draws factor `f`.
    pub fn has(&self, f: Factor) -> bool {
        self.factors.contains(&f)
    }
}
