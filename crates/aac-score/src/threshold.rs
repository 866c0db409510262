//! The probability threshold: one type, one validity rule, for every
//! threshold (`--threshold` of predict and segment, a bundle's, a model's).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A probability threshold, valid by construction: above 0 and at most 1.
/// 1 is allowed because a random forest's vote fraction can be 1 (all trees
/// agree); 0 is not, because it would label every pixel.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f32", into = "f32")]
pub struct Threshold(f32);

/// A value that is not a valid [`Threshold`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("probability threshold {0} is outside (0, 1]: above 0 and at most 1")]
pub struct ThresholdError(pub f32);

impl Threshold {
    /// The threshold `t`, when it is above 0 and at most 1.
    pub fn new(t: f32) -> Result<Threshold, ThresholdError> {
        if t > 0.0 && t <= 1.0 {
            Ok(Threshold(t))
        } else {
            Err(ThresholdError(t))
        }
    }

    /// The probability.
    pub fn get(self) -> f32 {
        self.0
    }

    /// Thresholds per wall (anterior, posterior) from `T` (both walls) or
    /// `ANTERIOR,POSTERIOR`, as `--threshold` takes them.
    pub fn parse_per_wall(s: &str) -> Result<[Threshold; 2], String> {
        let one = |p: &str| -> Result<Threshold, String> { p.trim().parse() };
        match s.split(',').collect::<Vec<_>>()[..] {
            [t] => Ok([one(t)?; 2]),
            [a, p] => Ok([one(a)?, one(p)?]),
            _ => Err(format!("{s}: give one threshold, or ANTERIOR,POSTERIOR")),
        }
    }
}

impl TryFrom<f32> for Threshold {
    type Error = ThresholdError;
    fn try_from(t: f32) -> Result<Self, Self::Error> {
        Threshold::new(t)
    }
}

impl From<Threshold> for f32 {
    fn from(t: Threshold) -> f32 {
        t.0
    }
}

impl FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t: f32 = s
            .trim()
            .parse()
            .map_err(|_| format!("'{}' is not a number", s.trim()))?;
        Threshold::new(t).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_thresholds_above_zero_and_at_most_one_exist() {
        for ok in [1e-6, 0.5, 1.0] {
            assert_eq!(Threshold::new(ok).unwrap().get(), ok);
        }
        for bad in [0.0, -0.1, 1.0001, f32::NAN, f32::INFINITY] {
            assert!(Threshold::new(bad).is_err(), "{bad}");
        }
        assert!("0".parse::<Threshold>().unwrap_err().contains("(0, 1]"));
        assert!("x"
            .parse::<Threshold>()
            .unwrap_err()
            .contains("not a number"));
        let both = Threshold::parse_per_wall("0.4").unwrap();
        assert_eq!(both.map(Threshold::get), [0.4, 0.4]);
        let walls = Threshold::parse_per_wall("0.3, 0.6").unwrap();
        assert_eq!(walls.map(Threshold::get), [0.3, 0.6]);
        assert!(Threshold::parse_per_wall("0.3,0.6,0.7").is_err());
        assert!(Threshold::parse_per_wall("0.3,1.5").is_err());
        let json: Result<Threshold, _> = serde_json::from_str("1.5");
        assert!(json.is_err());
        assert_eq!(serde_json::to_string(&walls[0]).unwrap(), "0.3");
    }
}
