//! A compact random forest of CART trees (Gini impurity, bootstrap samples,
//! random feature subsets, histogram split search on quantile bins).
//!
//! Written here rather than taken from a crate: the sliding-window response
//! image is only fast if each tree node evaluates its own Haar feature lazily
//! from the integral image (a handful of features per pixel instead of all of
//! them), which needs direct access to the tree structure; the Rust forests we
//! checked (smartcore, linfa) do not expose it, and train several times slower
//! than scikit-learn on 10^5 x 10^2 matrices. See docs/random-forest.md.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Maximum number of classes.
pub const MAX_CLASSES: usize = 3;
const BINS: usize = 32;

/// Settings of the forest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth.
    pub max_depth: usize,
    /// Minimum samples in a leaf.
    pub min_leaf: usize,
    /// Features tried per split (0 = sqrt of the feature count).
    pub mtry: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 10,
            max_depth: 18,
            min_leaf: 5,
            mtry: 0,
            seed: 1,
        }
    }
}

/// A tree node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Node {
    /// Go left if feature < threshold.
    Split {
        /// Feature index.
        feature: u32,
        /// Threshold.
        threshold: f32,
        /// Left child index.
        left: u32,
        /// Right child index.
        right: u32,
    },
    /// A leaf with the majority class.
    Leaf {
        /// Predicted class.
        class: u8,
    },
}

/// One decision tree (nodes[0] is the root).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tree {
    /// Nodes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The class this tree votes for, evaluating features lazily.
    #[inline]
    pub fn vote(&self, feature: &mut impl FnMut(usize) -> f32) -> u8 {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf { class } => return *class,
                Node::Split {
                    feature: f,
                    threshold,
                    left,
                    right,
                } => {
                    i = if feature(*f as usize) < *threshold {
                        *left as usize
                    } else {
                        *right as usize
                    };
                }
            }
        }
    }
}

/// A trained forest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Forest {
    /// Number of classes.
    pub classes: usize,
    /// Trees.
    pub trees: Vec<Tree>,
}

/// Training data: `n` rows of `f` features (row-major) and class labels.
pub struct Data<'a> {
    /// Features, row-major.
    pub x: &'a [f32],
    /// Labels (0..classes).
    pub y: &'a [u8],
    /// Number of features per row.
    pub n_features: usize,
}

/// Quantile bin edges of each feature and the binned matrix (column-major).
struct Binned {
    edges: Vec<Vec<f32>>,
    bins: Vec<Vec<u8>>,
}

fn bin_data(d: &Data) -> Binned {
    let n = d.y.len();
    let f = d.n_features;
    let (edges, bins): (Vec<Vec<f32>>, Vec<Vec<u8>>) = (0..f)
        .into_par_iter()
        .map(|j| {
            let step = (n / 4096).max(1);
            let mut sample: Vec<f32> = (0..n).step_by(step).map(|i| d.x[i * f + j]).collect();
            sample.sort_by(f32::total_cmp);
            let mut e: Vec<f32> = (1..BINS)
                .map(|b| sample[(b * sample.len() / BINS).min(sample.len() - 1)])
                .collect();
            e.dedup();
            let col: Vec<u8> = (0..n)
                .map(|i| e.partition_point(|&t| t <= d.x[i * f + j]) as u8)
                .collect();
            (e, col)
        })
        .unzip();
    Binned { edges, bins }
}

fn gini(counts: &[f64; MAX_CLASSES], total: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    1.0 - counts.iter().map(|c| (c / total).powi(2)).sum::<f64>()
}

fn majority(y: &[u8], idx: &[u32]) -> u8 {
    let mut c = [0usize; MAX_CLASSES];
    for &i in idx {
        c[y[i as usize] as usize] += 1;
    }
    (0..MAX_CLASSES)
        .max_by_key(|&k| (c[k], usize::MAX - k))
        .unwrap_or(0) as u8
}

fn grow(
    b: &Binned,
    y: &[u8],
    idx: Vec<u32>,
    p: &ForestParams,
    mtry: usize,
    rng: &mut ChaCha8Rng,
) -> Tree {
    let mut nodes = vec![Node::Leaf { class: 0 }];
    let mut stack = vec![(0usize, idx, 0usize)];
    let nf = b.bins.len();
    while let Some((node, idx, depth)) = stack.pop() {
        let mut counts = [0f64; MAX_CLASSES];
        for &i in &idx {
            counts[y[i as usize] as usize] += 1.0;
        }
        let total = idx.len() as f64;
        let pure = counts.iter().filter(|&&c| c > 0.0).count() <= 1;
        if pure || depth >= p.max_depth || idx.len() < 2 * p.min_leaf {
            nodes[node] = Node::Leaf {
                class: majority(y, &idx),
            };
            continue;
        }
        let parent = gini(&counts, total);
        let mut best: Option<(f64, usize, usize)> = None;
        for _ in 0..mtry {
            let j = rng.random_range(0..nf);
            let col = &b.bins[j];
            let mut hist = [[0f64; MAX_CLASSES]; BINS];
            for &i in &idx {
                hist[col[i as usize] as usize][y[i as usize] as usize] += 1.0;
            }
            let mut left = [0f64; MAX_CLASSES];
            let mut nl = 0.0;
            for (bin, h) in hist.iter().enumerate().take(b.edges[j].len()) {
                for k in 0..MAX_CLASSES {
                    left[k] += h[k];
                }
                nl += h.iter().sum::<f64>();
                let nr = total - nl;
                if nl < p.min_leaf as f64 || nr < p.min_leaf as f64 {
                    continue;
                }
                let mut right = [0f64; MAX_CLASSES];
                for k in 0..MAX_CLASSES {
                    right[k] = counts[k] - left[k];
                }
                let gain = parent - (nl * gini(&left, nl) + nr * gini(&right, nr)) / total;
                if best.is_none_or(|bb| gain > bb.0) {
                    best = Some((gain, j, bin));
                }
            }
        }
        match best {
            Some((gain, j, bin)) if gain > 1e-12 => {
                let (l, r): (Vec<u32>, Vec<u32>) = idx
                    .iter()
                    .partition(|&&i| (b.bins[j][i as usize] as usize) <= bin);
                let (li, ri) = (nodes.len(), nodes.len() + 1);
                nodes.push(Node::Leaf { class: 0 });
                nodes.push(Node::Leaf { class: 0 });
                nodes[node] = Node::Split {
                    feature: j as u32,
                    threshold: b.edges[j][bin],
                    left: li as u32,
                    right: ri as u32,
                };
                stack.push((li, l, depth + 1));
                stack.push((ri, r, depth + 1));
            }
            _ => {
                nodes[node] = Node::Leaf {
                    class: majority(y, &idx),
                }
            }
        }
    }
    Tree { nodes }
}

impl Forest {
    /// Trains a forest; each tree on a bootstrap sample with its own seeded
    /// random stream (deterministic regardless of thread scheduling).
    pub fn train(d: &Data, classes: usize, p: &ForestParams) -> Forest {
        let n = d.y.len();
        let binned = bin_data(d);
        let mtry = if p.mtry == 0 {
            ((d.n_features as f64).sqrt().ceil() as usize).max(1)
        } else {
            p.mtry
        };
        let trees = (0..p.trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    p.seed.wrapping_mul(1_000_003).wrapping_add(t as u64),
                );
                let idx: Vec<u32> = (0..n).map(|_| rng.random_range(0..n) as u32).collect();
                grow(&binned, d.y, idx, p, mtry, &mut rng)
            })
            .collect();
        Forest {
            classes: classes.clamp(2, MAX_CLASSES),
            trees,
        }
    }

    /// Fraction of tree votes for each class.
    pub fn votes(&self, mut feature: impl FnMut(usize) -> f32) -> [f32; MAX_CLASSES] {
        let mut v = [0f32; MAX_CLASSES];
        for t in &self.trees {
            v[t.vote(&mut feature) as usize] += 1.0;
        }
        let n = self.trees.len().max(1) as f32;
        v.map(|x| x / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_threshold_rule_and_is_deterministic() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 2000;
        let f = 5;
        let x: Vec<f32> = (0..n * f).map(|_| rng.random_range(0.0..1.0)).collect();
        let y: Vec<u8> = (0..n).map(|i| (x[i * f + 2] > 0.6) as u8).collect();
        let d = Data {
            x: &x,
            y: &y,
            n_features: f,
        };
        let p = ForestParams {
            trees: 5,
            ..Default::default()
        };
        let forest = Forest::train(&d, 2, &p);
        assert_eq!(forest, Forest::train(&d, 2, &p));
        let mut correct = 0;
        for i in 0..200 {
            let row: Vec<f32> = (0..f)
                .map(|j| ((i * 7 + j * 13) % 100) as f32 / 100.0)
                .collect();
            let v = forest.votes(|j| row[j]);
            if (v[1] > 0.5) == (row[2] > 0.6) {
                correct += 1;
            }
        }
        assert!(correct > 190, "{correct}/200");
    }
}
