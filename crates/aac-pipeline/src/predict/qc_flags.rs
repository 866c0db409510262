//! The QC flags of a scored scan, with the messages that explain them.

use super::*;

/// QC: flags for doubtful predictions.
pub(super) fn flags_for(
    fraction_inside: f64,
    mahalanobis: f64,
    n_modes: usize,
    flat: &crate::flat::FlatRegions,
    planes: &[Vec<f32>],
    threshold: f32,
) -> (Vec<QcFlag>, Vec<String>) {
    let mut flags = Vec::new();
    let mut messages = Vec::new();
    if fraction_inside < 0.995 {
        flags.push(QcFlag::BandOutsideImage);
        messages.push(format!(
            "band outside the image: {:.1}% of the warped aortic band lies outside the scan",
            100.0 * (1.0 - fraction_inside)
        ));
    }
    if flat.covers_aorta_band() {
        flags.push(QcFlag::FlatRegionInAortaBand);
        messages.push(
            "flat region in the aortic band: part of the band is a flat (masked or saturated) region where nothing can be seen"
                .to_string(),
        );
    }
    // Unusual shape: b far outside the training distribution (chi-square tail).
    let k = n_modes.max(1) as f64;
    let limit = k + 5.0 * (2.0 * k).sqrt();
    if mahalanobis * mahalanobis > limit {
        flags.push(QcFlag::UnusualShapeFit);
        messages.push(format!(
            "unusual shape fit: the spine's shape is {:.1} SD from the shape model's mean (more than {:.1} over {n_modes} modes)",
            mahalanobis,
            limit.sqrt()
        ));
    }
    // Low confidence: many pixels near the threshold relative to those above it.
    let (mut unsure, mut sure) = (0usize, 0usize);
    for p in planes.iter().flatten() {
        if *p >= threshold * 0.5 && *p < threshold {
            unsure += 1;
        } else if *p >= threshold {
            sure += 1;
        }
    }
    if unsure > 20 && unsure > 2 * sure {
        flags.push(QcFlag::LowConfidenceSegmentation);
        messages.push(format!(
            "low-confidence segmentation: {unsure} warped pixels with a probability between {:.2} and {threshold:.2} against {sure} at or above {threshold:.2}",
            threshold * 0.5
        ));
    }
    (flags, messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_confidence_segmentation_says_why() {
        let flat = crate::flat::FlatRegions::find(&vec![0.5f32; PIXELS]);
        let mut planes = vec![vec![0.0f32; PIXELS]; 2];
        planes[0][..30].fill(0.2); // between 0.15 and 0.3
        planes[1][..5].fill(0.9);
        let (flags, messages) = flags_for(1.0, 0.0, 5, &flat, &planes, 0.3);
        assert!(
            flags.contains(&QcFlag::LowConfidenceSegmentation),
            "{flags:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("30 warped pixels") && m.contains("against 5")),
            "{messages:?}"
        );
        planes[1][..30].fill(0.9);
        let (flags, messages) = flags_for(1.0, 0.0, 5, &flat, &planes, 0.3);
        assert!(!flags.contains(&QcFlag::LowConfidenceSegmentation));
        assert!(
            !messages.iter().any(|m| m.contains("low-confidence")),
            "{messages:?}"
        );
        // Every flag raised says why.
        assert_eq!(flags.len(), messages.len(), "{flags:?} {messages:?}");
    }
}
