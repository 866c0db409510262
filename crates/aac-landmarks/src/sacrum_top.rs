//! The sacrum's top, found on its own: the count up from the sacrum checked
//! by a network that looks for the sacrum and nothing else.
//!
//! The finder names the levels from the whole scan; where its naming is a
//! level off, its L5 lies on L4 (a body between it and the sacrum) or on
//! the sacrum's top. [`crate::sacrum`] reads the disc below the named L5,
//! which a naming one level too high has too. This locator is a third
//! heatmap network like the coarse one (the whole scan, one map) trained on
//! the middle of the sacrum's plateau (`aac_synth::Truth::sacrum_top`); the
//! naming is in doubt where it is sure of a sacrum top that does not lie
//! about a level below the found L4/L5 disc. On 900 scans of a second
//! generator the wrong namings that no check flagged fell from 26 to 14,
//! for 24 more flagged scans; on 1,200 held-out scans of this generator
//! (with and without the iliac wing) no flag moved (docs/landmarks.md,
//! "The sacrum's top").

use crate::finder::{batched_peaks, whole_image_inputs};
use crate::frame::anchors;
use crate::regularity::level_step;
use crate::{Found, Grid, LandmarkError};
use aac_io::pts::index;
use aac_io::Point;
use aac_unet::Inference;

/// First line of the locator's block, after the finders' bytes; the
/// second gives its network's length in bytes ([`to_block`]).
pub const MAGIC: &[u8] = b"AAC-SACRUM-TOP\n";

/// The locator's block in a finder's bytes: [`MAGIC`], the network's
/// length and a newline, then the network's model-file bytes.
pub fn to_block(network: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(format!("{}\n", network.len()).into_bytes());
    out.extend_from_slice(network);
    out
}

/// The network's bytes of a block written by [`to_block`]; refused when
/// the block is not one, or is cut short or followed by other bytes.
pub fn network_of_block(block: &[u8]) -> Result<&[u8], LandmarkError> {
    let bad = |m: &str| LandmarkError::Model(format!("sacrum-top locator: {m}"));
    let rest = block
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("not its block"))?;
    let nl = rest
        .iter()
        .take(24)
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("no length"))?;
    let len: usize = std::str::from_utf8(&rest[..nl])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("a corrupt length"))?;
    let network = &rest[nl + 1..];
    if network.len() != len {
        return Err(bad(&format!(
            "{} bytes where its length says {len} (cut short, or other bytes after it)",
            network.len()
        )));
    }
    Ok(network)
}

/// Below this probability mass at its peak the locator is not sure where
/// the sacrum's top is, and says nothing. In the trial on 600 of the
/// second generator's scans, every silent wrong naming it caught had 0.7
/// or more, and the right namings it contradicted fell from 19 of 356
/// with no bar to 7 at 0.6 (4 at 0.7); 95% of held-out scans have 0.89
/// or more.
pub const MIN_MASS: f32 = 0.6;

/// Where the sacrum's top may lie below the found L4/L5 disc, in levels
/// of the found spine: about one level (L5 and the L5/S1 disc) on either
/// generator (medians 1.40 on this generator's held-out styles and 0.99 on
/// the second, whose L5/S1 disc is thinner), a naming one too high puts it
/// about two levels down, one too low about none.
pub const EXPECTED_LEVELS: (f64, f64) = (0.5, 1.8);

/// Radius (input pixels) beyond which a second response is a rival.
const RIVAL_RADIUS: f64 = 8.0;

/// The locator's answer for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SacrumTop {
    /// The sacrum's top (image pixels).
    pub at: Point,
    /// Probability mass at the peak (0-1).
    pub mass: f32,
}

/// A trained locator.
pub struct Locator {
    net: Inference,
}

impl Locator {
    /// A locator from its network's model-file bytes (a network with one
    /// output map).
    pub fn new(bytes: &[u8]) -> Result<Locator, LandmarkError> {
        let device = aac_unet::device();
        let (net, header) =
            aac_unet::model_file::from_bytes(bytes, &device, std::path::Path::new("<sacrum top>"))
                .map_err(|e| LandmarkError::Model(e.to_string()))?;
        if header.config.classes != 1 {
            return Err(LandmarkError::Model(format!(
                "sacrum-top locator: a network of {} maps where one is expected",
                header.config.classes
            )));
        }
        Ok(Locator {
            net: Inference::new(net, device),
        })
    }

    /// The sacrum's top in each image (None where an image is too small to
    /// look at, as for the coarse network), the whole image letterboxed
    /// into the coarse network's grid.
    pub fn find(&self, images: &[(&[f32], usize, usize)]) -> Vec<Option<SacrumTop>> {
        let (frames, inputs) = whole_image_inputs(images);
        let mut peaks = batched_peaks(&self.net, 1, &inputs, RIVAL_RADIUS, Grid::FULL).into_iter();
        frames
            .iter()
            .map(|f| {
                let f = (*f)?;
                let p = peaks.next()?.into_iter().next()?;
                Some(SacrumTop {
                    at: f.to_image(p.at),
                    mass: p.mass,
                })
            })
            .collect()
    }
}

/// How far below the L4/L5 disc of `points` (the 20 spine points; the
/// disc is the middle of L4's inferior and L5's superior endplate) `p`
/// lies along the spine, in levels of `points` ([`level_step`]; negative:
/// above the disc).
pub fn levels_below_l4_l5(points: &[Point], p: Point) -> f64 {
    let [top, bottom, _] = anchors(points);
    let span = top.dist(&bottom).max(1e-9);
    let axis = ((bottom.x - top.x) / span, (bottom.y - top.y) / span);
    let corners = [
        index::inf_post(3),
        index::inf_ant(3),
        index::L5_SUP_POST,
        index::L5_SUP_ANT,
    ];
    let disc = corners.iter().fold(Point::new(0.0, 0.0), |a, &i| {
        Point::new(a.x + points[i].x / 4.0, a.y + points[i].y / 4.0)
    });
    ((p.x - disc.x) * axis.0 + (p.y - disc.y) * axis.1) / level_step(points).max(1e-9)
}

/// `f` with what the sacrum's top says of its naming: a doubt where the
/// locator is sure ([`MIN_MASS`]) of a top outside [`EXPECTED_LEVELS`]
/// below the found L4/L5 disc, else a note on the cue. Nothing where the
/// locator had no answer, put the top outside the image (in the
/// letterbox's margin), or the image ends above the sacrum (the field of
/// view has said so).
pub fn checked(mut f: Found, top: Option<&SacrumTop>, width: usize, height: usize) -> Found {
    let Some(top) = top else {
        return f;
    };
    let inside =
        (0.0..width as f64).contains(&top.at.x) && (0.0..height as f64).contains(&top.at.y);
    if top.mass < MIN_MASS || !inside || !crate::view::sacrum_in_view(&f.points, width, height) {
        return f;
    }
    f.sacrum_top = Some(top.at);
    let below = levels_below_l4_l5(&f.points, top.at);
    let (low, high) = EXPECTED_LEVELS;
    if below > high {
        f.doubts.push(format!(
            "the sacrum's top lies {below:.1} levels below the L4/L5 disc (about 1 expected): a body may lie between L5 and the sacrum, every level one too high"
        ));
    } else if below < low {
        f.doubts.push(format!(
            "the sacrum's top lies {below:.1} levels below the L4/L5 disc (about 1 expected): L5 may be the sacrum, every level one too low"
        ));
    } else {
        let note = format!("the sacrum's top found {below:.2} levels below the L4/L5 disc");
        f.cue = if f.cue.is_empty() {
            note
        } else {
            format!("{}; {note}", f.cue)
        };
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four upright bodies 40 tall with 12-pixel discs from y = 100 (a
    /// level is 52 pixels), with T12's foot and L5's top.
    fn spine() -> Vec<Point> {
        let mut p = vec![Point::new(0.0, 0.0); 20];
        p[index::T12_INF_POST] = Point::new(100.0, 88.0);
        p[index::T12_INF_ANT] = Point::new(150.0, 88.0);
        for v in 0..4 {
            let y = 100.0 + 52.0 * v as f64;
            p[index::sup_post(v)] = Point::new(100.0, y);
            p[index::sup_ant(v)] = Point::new(150.0, y);
            p[index::inf_ant(v)] = Point::new(150.0, y + 40.0);
            p[index::inf_post(v)] = Point::new(100.0, y + 40.0);
        }
        p[index::L5_SUP_POST] = Point::new(100.0, 308.0);
        p[index::L5_SUP_ANT] = Point::new(150.0, 308.0);
        p
    }

    fn found() -> Found {
        Found {
            points: spine(),
            coarse: Vec::new(),
            confidence: 0.9,
            doubts: Vec::new(),
            cue: "levels checked against the sacrum".into(),
            sacrum_top: None,
        }
    }

    #[test]
    fn levels_are_counted_from_the_l4_l5_disc_along_the_spine() {
        // L4's foot is at y = 296 and L5's top at 308: the disc's middle
        // at 302; across the spine (x) does not count.
        let p = spine();
        assert!((levels_below_l4_l5(&p, Point::new(125.0, 302.0))).abs() < 1e-9);
        assert!((levels_below_l4_l5(&p, Point::new(140.0, 354.0)) - 1.0).abs() < 1e-9);
        assert!((levels_below_l4_l5(&p, Point::new(125.0, 250.0)) + 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_sure_top_two_levels_down_or_at_l5_is_a_doubt_and_one_level_down_a_note() {
        let (w, h) = (300, 600);
        let at = |levels: f64, mass: f32| SacrumTop {
            at: Point::new(125.0, 302.0 + 52.0 * levels),
            mass,
        };
        let right = checked(found(), Some(&at(1.2, 0.9)), w, h);
        assert!(right.doubts.is_empty());
        assert_eq!(right.sacrum_top, Some(at(1.2, 0.9).at));
        assert!(right
            .cue
            .ends_with("the sacrum's top found 1.20 levels below the L4/L5 disc"));
        let high = checked(found(), Some(&at(2.1, 0.9)), w, h);
        assert_eq!(high.doubts.len(), 1);
        assert!(high.doubts[0].contains("one too high"), "{:?}", high.doubts);
        let low = checked(found(), Some(&at(0.1, 0.9)), w, h);
        assert!(low.doubts[0].contains("one too low"), "{:?}", low.doubts);
        // The bars themselves are inside.
        assert!(checked(found(), Some(&at(0.51, 0.9)), w, h)
            .doubts
            .is_empty());
        assert!(checked(found(), Some(&at(1.79, 0.9)), w, h)
            .doubts
            .is_empty());
        assert!(!checked(found(), Some(&at(0.49, 0.9)), w, h)
            .doubts
            .is_empty());
        assert!(!checked(found(), Some(&at(1.81, 0.9)), w, h)
            .doubts
            .is_empty());
        // Unsure, absent, outside the image, or the image ending above the
        // sacrum: nothing.
        let outside = SacrumTop {
            at: Point::new(-5.0, 420.0),
            mass: 0.9,
        };
        assert_eq!(checked(found(), Some(&outside), w, h), found());
        assert_eq!(checked(found(), Some(&at(2.1, 0.5)), w, h), found());
        assert_eq!(checked(found(), None, w, h), found());
        assert_eq!(checked(found(), Some(&at(2.1, 0.9)), w, 320), found());
    }

    #[test]
    fn a_block_gives_back_its_network_and_refuses_cut_or_padded_bytes() {
        let block = to_block(b"NETWORK");
        assert_eq!(network_of_block(&block).unwrap(), b"NETWORK");
        assert!(network_of_block(&block[..block.len() - 1]).is_err());
        assert!(network_of_block(&[block.as_slice(), b"x"].concat()).is_err());
        assert!(network_of_block(b"AAC-SACRUM-TOP\nseven\nNETWORK").is_err());
        assert!(network_of_block(b"AAC-LANDMARKS\n7\nNETWORK").is_err());
    }
}
