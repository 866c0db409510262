//! Checkpoint averaging: one network whose every weight, bias and batch-norm
//! running statistic is the mean of that value over several epochs of one
//! training run (Izmailov et al. 2018, "Averaging weights leads to wider
//! optima"). Consecutive epochs of a decaying learning rate lie in one basin,
//! so their mean is a network too, and one that is steadier than any of them:
//! the epoch-to-epoch swing of the anterior/posterior balance averages out.
//! It costs nothing at inference (still one network).

use crate::net::{UNet, UNetConfig};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;

/// Every float tensor of a module (parameters and running statistics), in
/// the module's visiting order.
struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        self.0.push(values);
    }
}

/// Replaces every float tensor of a module, in visiting order, by the next
/// of the given values (same shapes: the networks share one configuration).
struct Replace(std::vec::IntoIter<Vec<f32>>);

impl ModuleMapper for Replace {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.0.next() {
            Some(values) => param.map(|t| {
                let (shape, device) = (t.shape(), t.device());
                Tensor::from_data(TensorData::new(values, shape), &device)
            }),
            None => param,
        }
    }
}

/// The float tensors of a network, in visiting order.
fn tensors(net: &UNet) -> Vec<Vec<f32>> {
    let mut c = Collect(Vec::new());
    net.visit(&mut c);
    c.0
}

/// The network of configuration `cfg` whose every float tensor is the mean
/// of `nets`' (which must have that configuration), on the CPU device; None
/// for an empty list or networks whose tensors do not match `cfg`'s.
pub fn average(cfg: &UNetConfig, nets: &[UNet]) -> Option<UNet> {
    let first = nets.first()?;
    let mut sums: Vec<Vec<f64>> = tensors(first)
        .into_iter()
        .map(|t| t.into_iter().map(f64::from).collect())
        .collect();
    for net in &nets[1..] {
        let t = tensors(net);
        if t.len() != sums.len() || t.iter().zip(&sums).any(|(a, s)| a.len() != s.len()) {
            return None;
        }
        for (s, a) in sums.iter_mut().zip(t) {
            for (s, a) in s.iter_mut().zip(a) {
                *s += f64::from(a);
            }
        }
    }
    let n = nets.len() as f64;
    let means: Vec<Vec<f32>> = sums
        .into_iter()
        .map(|s| s.into_iter().map(|v| (v / n) as f32).collect())
        .collect();
    // A fresh network, not a clone of one of `nets`: clones share their
    // batch-norm running statistics (burn keeps them behind a shared lock),
    // so mapping a clone would overwrite the input's.
    let out = UNet::new(cfg, &crate::device());
    if tensors(&out)
        .iter()
        .zip(&means)
        .any(|(a, m)| a.len() != m.len())
    {
        return None;
    }
    Some(out.map(&mut Replace(means.into_iter())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::UNetConfig;

    fn cfg() -> UNetConfig {
        UNetConfig {
            classes: 2,
            width: 4,
            depth: 2,
            dropout: 0.0,
            prior: 0.01,
            coords: true,
            rows: false,
        }
    }

    /// A network of [`cfg`] with random weights and running statistics.
    fn net(seed: u64) -> UNet {
        let dev = crate::device();
        dev.seed(seed);
        let n = UNet::new(&cfg(), &dev);
        let stats: Vec<Vec<f32>> = tensors(&n)
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (0..t.len())
                    .map(|j| ((seed as usize * 31 + i * 7 + j) % 13) as f32 * 0.1 + 0.5)
                    .collect()
            })
            .collect();
        n.map(&mut Replace(stats.into_iter()))
    }

    #[test]
    fn every_tensor_is_the_mean_of_the_inputs() {
        let (a, b, c) = (net(1), net(2), net(3));
        let (ta, tb, tc) = (tensors(&a), tensors(&b), tensors(&c));
        assert!(ta.len() > 10, "weights, biases and batch-norm statistics");
        let mean = tensors(&average(&cfg(), &[a.clone(), b, c]).expect("same configuration"));
        assert_eq!(tensors(&a), ta, "the inputs are left as they were");
        let mut differing = 0;
        for (i, m) in mean.iter().enumerate() {
            for (j, &v) in m.iter().enumerate() {
                let want = (ta[i][j] as f64 + tb[i][j] as f64 + tc[i][j] as f64) / 3.0;
                assert!((v as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()));
                differing += usize::from(ta[i][j] != tb[i][j]);
            }
        }
        assert!(differing > 100, "the seeds gave different networks");
    }

    #[test]
    fn one_network_averages_to_itself_and_none_to_nothing() {
        let a = net(7);
        assert_eq!(
            tensors(&average(&cfg(), std::slice::from_ref(&a)).unwrap()),
            tensors(&a)
        );
        assert!(average(&cfg(), &[]).is_none());
        let mut wider = cfg();
        wider.width = 8;
        assert!(average(&wider, &[a]).is_none());
    }
}
