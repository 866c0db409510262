//! The one rule for a pixel spacing, whether it comes from a DICOM header or
//! from `--pixel-spacing`: finite, at least [`MIN_SPACING_MM`] and at most
//! [`MAX_SPACING_MM`]. DXA scanners write 0.1-1 mm; a value outside the range
//! would turn every wall length into nonsense without an error.

/// The smallest pixel spacing accepted, in mm.
pub const MIN_SPACING_MM: f64 = 0.01;
/// The largest pixel spacing accepted, in mm.
pub const MAX_SPACING_MM: f64 = 10.0;

/// Why a spacing [row, column] in mm is refused, or None when it is valid.
pub fn spacing_problem(v: [f64; 2]) -> Option<String> {
    let bad = v
        .iter()
        .any(|x| !x.is_finite() || *x < MIN_SPACING_MM || *x > MAX_SPACING_MM);
    bad.then(|| {
        format!(
            "pixel spacing {} x {} mm is outside {MIN_SPACING_MM}-{MAX_SPACING_MM} mm",
            v[0], v[1]
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacings_outside_the_range_are_refused() {
        assert!(spacing_problem([0.3, 0.3]).is_none());
        assert!(spacing_problem([MIN_SPACING_MM, MAX_SPACING_MM]).is_none());
        for bad in [f64::INFINITY, 1e308, 1e6, 1e-9, 0.0, -0.3, f64::NAN] {
            let why = spacing_problem([0.3, bad]).expect("refused");
            assert!(why.contains("outside"), "{why}");
        }
    }
}
