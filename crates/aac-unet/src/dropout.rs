//! Inverted dropout whose mask is drawn on the CPU with a fast counter-based
//! stream, for burn's `flex` backend.
//!
//! Why this exists: burn's dropout draws one Bernoulli sample per element
//! through its generic random-tensor path, about 30 ns each here; with five
//! dropout layers that was a tenth of a width-16 training step
//! (`examples/unet_profile.rs`). Here the mask comes from ChaCha8 in
//! parallel blocks (one bit of randomness per element at p = 0.5 would be
//! enough; we use 32 bits for any p) and is applied with one multiplication.
//!
//! Determinism: every call takes the next number of its thread's counter,
//! which [`seed_dropout`] resets; call `k` draws from stream `k` of the seed,
//! block `b` from word `b * BLOCK` on, so a training run with the same seed
//! draws the same masks whatever the number of threads. GPU builds use burn's dropout.

use burn::nn::Dropout;
use burn::prelude::*;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::cell::Cell;

/// Elements per independently seeded block of the mask.
const BLOCK: usize = 1 << 16;

thread_local! {
    /// (seed, calls so far) of this thread's stream: per thread, so that two
    /// trainings in one process (tests, a server) do not share a stream.
    static STREAM: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Restarts the dropout masks' random stream at `seed` (training does so at
/// the start of every epoch, so a resumed run draws the masks of an
/// uninterrupted one).
pub fn seed_dropout(seed: u64) {
    STREAM.with(|s| s.set((seed, 0)));
}

/// The seed and number of the next call on this thread's stream.
fn next_call() -> (u64, u64) {
    STREAM.with(|s| {
        let (seed, calls) = s.get();
        s.set((seed, calls + 1));
        (seed, calls)
    })
}

/// The scaled keep-mask of `len` elements: `1 / (1 - p)` where kept, 0 where dropped.
fn mask(len: usize, p: f64, seed: u64, call: u64) -> Vec<f32> {
    let keep = 1.0 - p;
    // Keep an element when its 32-bit draw is below keep * 2^32.
    let limit = (keep * 4_294_967_296.0).min(4_294_967_295.0) as u32;
    let scale = (1.0 / keep) as f32;
    let mut out = vec![0f32; len];
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(block, chunk)| {
            // One ChaCha8 stream per call, each block at its own position in
            // it (one 32-bit word per element): no two elements share a draw.
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(call);
            rng.set_word_pos((block * BLOCK) as u128);
            for v in chunk.iter_mut() {
                if rng.next_u32() < limit {
                    *v = scale;
                }
            }
        });
    out
}

/// `layer` applied to `x`: in training (an autodiff device) each element is
/// kept with probability 1 - p and scaled by 1 / (1 - p); otherwise `x`.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let p = layer.prob;
    if cfg!(feature = "gpu") {
        return layer.forward(x);
    }
    if !x.device().is_autodiff() || !layer.training.is_enabled() || p <= 0.0 {
        return x;
    }
    if p >= 1.0 {
        return x.zeros_like();
    }
    if x.dtype() != burn::tensor::DType::F32 {
        return layer.forward(x);
    }
    let shape = x.shape();
    let (seed, call) = next_call();
    let m = mask(shape.num_elements(), p, seed, call);
    let m = Tensor::<D>::from_data(TensorData::new(m, shape), &x.device());
    x * m
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::DropoutConfig;

    #[test]
    fn mask_keeps_the_right_fraction_and_scale_and_is_reproducible() {
        let m = mask(300_000, 0.5, 7, 3);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.5).abs() < 0.01, "kept {kept}");
        assert!(m.iter().all(|&v| v == 0.0 || v == 2.0));
        assert_eq!(m, mask(300_000, 0.5, 7, 3));
        assert_ne!(m, mask(300_000, 0.5, 7, 4));
        let m = mask(100_000, 0.2, 1, 0);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.8).abs() < 0.01, "kept {kept}");
    }

    #[test]
    fn identity_without_autodiff_and_gradient_is_the_mask() {
        let layer = DropoutConfig::new(0.5).init();
        let x = Tensor::<2>::ones([4, 1000], &Device::flex());
        let y = dropout(&layer, x.clone());
        assert_eq!(
            y.into_data().try_to_vec::<f32>().unwrap(),
            x.into_data().try_to_vec::<f32>().unwrap()
        );

        let dev = Device::flex().autodiff();
        let x = Tensor::<2>::ones([4, 1000], &dev).require_grad();
        let y = dropout(&layer, x.clone());
        let out: Vec<f32> = y.clone().into_data().try_to_vec().unwrap();
        let grads = y.sum().backward();
        let g: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        // With x = 1 the output is the mask, and so is the gradient.
        assert_eq!(out, g);
        let kept = out.iter().filter(|&&v| v == 2.0).count();
        assert!((1800..2200).contains(&kept), "kept {kept} of 4000");
    }
}
