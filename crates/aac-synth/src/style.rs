//! Scanner/site presets: resolution, field of view, contrast, noise texture,
//! blur and artefacts differ between them, so that robustness to a new site can
//! be measured by training on one style and testing on another.

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
    /// Fraction of the noise that is spatially correlated (blurred) texture.
    pub correlated_noise: f64,
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
}

impl Style {
    /// All preset names.
    pub const NAMES: [&'static str; 3] = ["hologic", "lunar", "legacy"];

    /// A preset by name, or None.
    pub fn by_name(name: &str) -> Option<Style> {
        match name {
            "hologic" => Some(Style::hologic()),
            "lunar" => Some(Style::lunar()),
            "legacy" => Some(Style::legacy()),
            _ => None,
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
            correlated_noise: 0.3,
            streaks: (0.25, 0.012),
            flat_band: 0.0,
            gas: 0.5,
            low_ribs: 0.5,
            gamma: (0.85, 1.15),
            faces_right: 0.7,
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
            correlated_noise: 0.7,
            streaks: (0.05, 0.015),
            flat_band: 0.35,
            gas: 0.75,
            low_ribs: 0.75,
            gamma: (0.6, 0.9),
            faces_right: 0.5,
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
            correlated_noise: 0.15,
            streaks: (0.7, 0.022),
            flat_band: 0.15,
            gas: 0.5,
            low_ribs: 0.5,
            gamma: (1.0, 1.35),
            faces_right: 0.8,
        }
    }
}
