//! The parts of a real scan the generator draws, each a named factor that a
//! style turns on or off, so that an experiment can leave one out of
//! training and test on it (docs/synth.md). Ground truth never depends on a
//! factor: the 20 spine points are the bodies' real corners whatever is
//! drawn over or around them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One part of what a real scan shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// Ribs crossing the thoracic and upper lumbar spine and the aorta.
    Ribs,
    /// Bowel gas: dark patches in front of the lumbar spine.
    BowelGas,
    /// The iliac wing, its crest over L4-L5.
    IliacCrest,
    /// Pedicles, arches and spinous processes behind every body.
    PosteriorElements,
    /// Wedge and crush fractures (and biconcave ones where the style has
    /// them), more with bone loss.
    Fractures,
    /// Bodies as a thin bright cortical shell around a darker, coarse
    /// trabecular texture with a vertical grain, rather than bright blocks.
    Trabecular,
    /// Each endplate seen twice, a few pixels apart (rotation, beam
    /// divergence), most towards the ends of the field.
    DoubleEndplates,
    /// Osteophytes at the anterior endplate corners, narrowed discs.
    Degeneration,
    /// Text and marks burned in by the scanner software: level labels,
    /// morphometry points and lines, a ruler, a corner text block.
    BurnedIn,
    /// An edge-enhanced, contrast-stretched export (bone nearly white,
    /// crisp trabeculae).
    EdgeEnhanced,
    /// An 8-bit export: 256 grey levels.
    EightBit,
    /// The sacrum as five fused segments, S1 drawn like a body with its
    /// plateau, rather than one bright wedge.
    SacralSegments,
    /// Ribs that leave the spine at their own vertebrae, the twelfth at
    /// T12 (the last rib-bearing vertebra a reader checks the levels
    /// against), low ones reaching over L1-L3 by their slope, rather than
    /// bands placed by height.
    AttachedRibs,
    /// Transitional anatomy in a quarter of the images that draw it: 11 or
    /// 13 rib pairs, a lumbarised S1 or a sacralised L5 (levels named by
    /// counting up from the sacrum; docs/synthetic.md).
    Transitional,
    /// The neural arch of every vertebra as real scans show it: pedicle,
    /// articular pillar with facets overlapping the next level's, lamina
    /// and spinous process in bright cortical bone, the foramina dark
    /// between them (in place of the classic faint posterior elements).
    NeuralArches,
    /// A field of view cut to L1-L4: the top edge through T12, the bottom
    /// through L5, a little beyond the 20 points, so that neither the
    /// sacrum nor the last rib is in view (an exported crop).
    L1L4Crop,
    /// The sacrum as one fused bone curving back: S1's body with its
    /// plateau, no disc below it, S2-S5 tapering with faint fusion
    /// ridges, the alae a veil over S1 (in place of the wedge or the
    /// stacked segments).
    FusedSacrum,
    /// The uncalcified aorta as a faint soft-tissue shadow: a pale tube in
    /// front of the spine whose smooth walls an edge-enhanced export turns
    /// into thin lines, sometimes a darker rim of fat outside (no deposit:
    /// nothing to score).
    AorticShadow,
}

/// A set of factors.
pub type Factors = BTreeSet<Factor>;

impl Factor {
    /// Every factor, in the order they are listed.
    pub const ALL: [Factor; 18] = [
        Factor::Ribs,
        Factor::BowelGas,
        Factor::IliacCrest,
        Factor::PosteriorElements,
        Factor::Fractures,
        Factor::Trabecular,
        Factor::DoubleEndplates,
        Factor::Degeneration,
        Factor::BurnedIn,
        Factor::EdgeEnhanced,
        Factor::EightBit,
        Factor::SacralSegments,
        Factor::AttachedRibs,
        Factor::Transitional,
        Factor::NeuralArches,
        Factor::L1L4Crop,
        Factor::FusedSacrum,
        Factor::AorticShadow,
    ];

    /// Factors drawn only where asked for (`aac synth --with`), in no
    /// style, `random` included: a training cohort of crops alone would
    /// teach a finder nothing of the sacrum (docs/landmarks.md measures
    /// the crop as a factor left out of training); a U-net trained with
    /// the aortic shadow in half its images called fewer false deposits
    /// but read real ones shorter, and its categories were no better
    /// (docs/segmentation.md, "An aortic shadow").
    pub const OPT_IN: [Factor; 2] = [Factor::L1L4Crop, Factor::AorticShadow];

    /// The factors every style drew before factors were named (0.4.0): the
    /// named styles and `random` keep exactly these, so their cohorts are
    /// unchanged.
    pub const CLASSIC: [Factor; 5] = [
        Factor::Ribs,
        Factor::BowelGas,
        Factor::IliacCrest,
        Factor::PosteriorElements,
        Factor::Fractures,
    ];

    /// The name on the command line and in `truth.json`.
    pub fn name(self) -> &'static str {
        match self {
            Factor::Ribs => "ribs",
            Factor::BowelGas => "bowel_gas",
            Factor::IliacCrest => "iliac_crest",
            Factor::PosteriorElements => "posterior_elements",
            Factor::Fractures => "fractures",
            Factor::Trabecular => "trabecular",
            Factor::DoubleEndplates => "double_endplates",
            Factor::Degeneration => "degeneration",
            Factor::BurnedIn => "burned_in",
            Factor::EdgeEnhanced => "edge_enhanced",
            Factor::EightBit => "eight_bit",
            Factor::SacralSegments => "sacral_segments",
            Factor::AttachedRibs => "attached_ribs",
            Factor::Transitional => "transitional",
            Factor::NeuralArches => "neural_arches",
            Factor::L1L4Crop => "l1l4_crop",
            Factor::FusedSacrum => "fused_sacrum",
            Factor::AorticShadow => "aortic_shadow",
        }
    }

    /// The factor named `name`, or a message listing the names.
    pub fn by_name(name: &str) -> Result<Factor, String> {
        Factor::ALL
            .into_iter()
            .find(|f| f.name() == name.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Factor::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown factor '{}' (one of: {})",
                    name.trim(),
                    names.join(", ")
                )
            })
    }

    /// The factors of a comma-separated list (`all` for every one).
    pub fn parse_list(s: &str) -> Result<Factors, String> {
        if s.trim() == "all" {
            return Ok(Factor::ALL.into_iter().collect());
        }
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Factor::by_name)
            .collect()
    }
}

/// The classic factors, as a set (the serde default of a style without
/// `factors`).
pub fn classic() -> Factors {
    Factor::CLASSIC.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let names: BTreeSet<&str> = Factor::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Factor::ALL.len());
        for f in Factor::ALL {
            assert_eq!(Factor::by_name(f.name()), Ok(f));
        }
        let set = Factor::parse_list("ribs, burned_in").unwrap();
        assert_eq!(set, [Factor::Ribs, Factor::BurnedIn].into_iter().collect());
        assert_eq!(Factor::parse_list("all").unwrap().len(), Factor::ALL.len());
        let err = Factor::parse_list("ribs,spleen").unwrap_err();
        assert!(err.contains("spleen") && err.contains("eight_bit"), "{err}");
    }
}
