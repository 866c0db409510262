//! The U-net of Ronneberger et al. with the paper's changes: batch
//! normalisation after every 3x3 convolution (zero padding, output size =
//! input size), dropout between the two convolutions of each contracting
//! level, 2x2 max-pooling down, 2x2 stride-2 transposed convolution up with
//! skip concatenation, and a final 1x1 convolution with one sigmoid per class.

use crate::batchnorm::batch_norm;
use crate::dropout::dropout;
use crate::upconv::upconv;
use burn::module::Param;
use burn::module::{ModuleMapper, ParamId, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Network hyper-parameters (saved with the weights).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UNetConfig {
    /// Output channels: 1 (calcified) or 2 (anterior, posterior wall).
    pub classes: usize,
    /// Filters at the first level (doubles per level); the paper uses 64.
    pub width: usize,
    /// Number of down-sampling levels (the paper: 4).
    pub depth: usize,
    /// Dropout probability in the contracting path (the paper: 0.5).
    pub dropout: f64,
    /// Initial output bias: log-odds of the calcified-pixel frequency, so the
    /// first epochs are not spent learning that almost everything is background.
    pub prior: f64,
    /// Give the network the warped column as a second input channel (x from
    /// -1 at the spine to 1 at the anterior edge). In warped space the walls
    /// lie at fixed-ish columns, and without it a 2-class network must first
    /// learn position from context: until then the class with more pixels
    /// (posterior) takes the shared "calcified" feature and the other class
    /// stays below threshold. Off in files written before it existed.
    #[serde(default)]
    pub coords: bool,
    /// Give the network the row too (y from -1 at the top to 1 at the
    /// bottom), after the column channel. The landmark finder's heatmap
    /// networks need it: vertebrae look alike, and a convolution alone
    /// cannot tell which one it is looking at. Off in files written before
    /// it existed.
    #[serde(default)]
    pub rows: bool,
}

/// Two 3x3 convolutions, each followed by batch normalisation and ReLU, with
/// optional dropout between them.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub(crate) c1: Conv2d,
    pub(crate) b1: BatchNorm,
    pub(crate) c2: Conv2d,
    pub(crate) b2: BatchNorm,
    act: Relu,
    drop: Option<Dropout>,
}

fn conv3(cin: usize, cout: usize, dev: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(dev)
}

impl ConvBlock {
    fn new(cin: usize, cout: usize, dropout: Option<f64>, dev: &Device) -> Self {
        ConvBlock {
            c1: conv3(cin, cout, dev),
            b1: BatchNormConfig::new(cout).init(dev),
            c2: conv3(cout, cout, dev),
            b2: BatchNormConfig::new(cout).init(dev),
            act: Relu::new(),
            drop: dropout
                .filter(|p| *p > 0.0)
                .map(|p| DropoutConfig::new(p).init()),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.act.forward(batch_norm(&self.b1, conv(&self.c1, x)));
        let x = match &self.drop {
            Some(d) => dropout(d, x),
            None => x,
        };
        self.act.forward(batch_norm(&self.b2, conv(&self.c2, x)))
    }
}

/// A 3x3 'same' convolution of the block: on the CPU backend through
/// [`crate::conv3x3`] (same values, a much faster weight gradient), on a GPU
/// through burn's own.
fn conv(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(not(feature = "gpu"))]
    {
        // conv3x3 has no bias and padding 1, as every block's layer (conv3).
        debug_assert!(layer.bias.is_none());
        crate::conv3x3::conv3x3(x, layer.weight.val())
    }
    #[cfg(feature = "gpu")]
    {
        layer.forward(x)
    }
}

/// 2x2 max-pooling: on the CPU backend through [`crate::maxpool`] (same
/// values, no index bookkeeping), on a GPU through burn's own layer.
fn pool(layer: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(not(feature = "gpu"))]
    {
        let _ = layer;
        crate::maxpool::max_pool2x2(x)
    }
    #[cfg(feature = "gpu")]
    {
        layer.forward(x)
    }
}

/// Numbers a network's parameters 1, 2, ... in the order they are visited
/// ([`sequential_ids`]).
struct SequentialIds(u64);

impl SequentialIds {
    fn id(&mut self) -> ParamId {
        self.0 += 1;
        ParamId::from(self.0)
    }

    fn next<T: burn::module::Parameter>(&mut self, p: Param<T>) -> Param<T> {
        let (_, value, mapper) = p.consume();
        Param::from_mapped_value(self.id(), value, mapper)
    }

    /// The network with every id renumbered: parameters through the
    /// mapper, the batch norms' running statistics (which keep their own
    /// ids through a mapper) rebuilt.
    fn apply(mut self, net: UNet) -> UNet {
        let mut net = net.map(&mut self);
        renumber_running_stats(&mut net, || self.id());
        net
    }
}

/// Gives each batch norm's running mean and variance, in a fixed order, the
/// next id from `id` (a [`ModuleMapper`] cannot: running statistics keep
/// their own ids through one).
pub(crate) fn renumber_running_stats(net: &mut UNet, mut id: impl FnMut() -> ParamId) {
    let blocks = net
        .down
        .iter_mut()
        .chain(std::iter::once(&mut net.bottom))
        .chain(net.dec.iter_mut());
    for block in blocks {
        for bn in [&mut block.b1, &mut block.b2] {
            bn.running_mean = RunningState::with_id(id(), bn.running_mean.value_sync());
            bn.running_var = RunningState::with_id(id(), bn.running_var.value_sync());
        }
    }
}

impl ModuleMapper for SequentialIds {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.next(p)
    }

    fn map_int<const D: usize>(&mut self, p: Param<Tensor<D, Int>>) -> Param<Tensor<D, Int>> {
        self.next(p)
    }

    fn map_bool<const D: usize>(&mut self, p: Param<Tensor<D, Bool>>) -> Param<Tensor<D, Bool>> {
        self.next(p)
    }
}

/// The network with its parameters (and batch-norm running statistics)
/// numbered 1, 2, ... in a fixed order. burn draws each parameter's id at
/// random when it is made, and model files carry the ids with the weights,
/// so without this the same weights (two runs of one training) would give
/// different files and checksums. Every network made or read has these ids.
pub(crate) fn sequential_ids(net: UNet) -> UNet {
    SequentialIds(0).apply(net)
}

/// The U-net.
#[derive(Module, Debug)]
pub struct UNet {
    pub(crate) down: Vec<ConvBlock>,
    pool: MaxPool2d,
    pub(crate) bottom: ConvBlock,
    pub(crate) up: Vec<ConvTranspose2d>,
    pub(crate) dec: Vec<ConvBlock>,
    pub(crate) head: Conv2d,
    pub(crate) coords: bool,
    pub(crate) rows: bool,
}

impl UNet {
    /// A freshly initialised network on `dev`.
    pub fn new(cfg: &UNetConfig, dev: &Device) -> UNet {
        let w = cfg.width.max(1);
        let mut down = Vec::new();
        let mut cin = 1 + usize::from(cfg.coords) + usize::from(cfg.rows);
        for level in 0..cfg.depth {
            let cout = w << level;
            down.push(ConvBlock::new(cin, cout, Some(cfg.dropout), dev));
            cin = cout;
        }
        let bottom = ConvBlock::new(cin, w << cfg.depth, Some(cfg.dropout), dev);
        let mut up = Vec::new();
        let mut dec = Vec::new();
        for level in (0..cfg.depth).rev() {
            let cout = w << level;
            up.push(
                ConvTranspose2dConfig::new([cout * 2, cout], [2, 2])
                    .with_stride([2, 2])
                    .init(dev),
            );
            dec.push(ConvBlock::new(cout * 2, cout, None, dev));
        }
        let mut head = Conv2dConfig::new([w, cfg.classes], [1, 1]).init(dev);
        // Non-negative weights: the head reads ReLU outputs (>= 0). A row
        // that drew only negative weights can never raise its class above the
        // prior where the features are 0, and its gradient pushes those
        // features further down: with 2 classes that kept the anterior class
        // unlearned for whole trainings (the anterior sub-scores of 0 of
        // version 0.1). With |w| every class's gradient raises the features
        // at its own targets from the first step.
        let magnitudes = head.weight.val().abs().into_data();
        head.weight = Param::from_tensor(Tensor::<4>::from_data(magnitudes, dev));
        let p = cfg.prior.clamp(1e-6, 0.5);
        head.bias = Some(Param::from_tensor(Tensor::<1>::full(
            [cfg.classes],
            (p / (1.0 - p)).ln(),
            dev,
        )));
        sequential_ids(UNet {
            down,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            bottom,
            up,
            dec,
            head,
            coords: cfg.coords,
            rows: cfg.rows,
        })
    }

    /// Logits [N, classes, H, W] for input [N, 1, H, W] (H and W divisible by 2^depth).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = if self.coords {
            with_column_channel(x)
        } else {
            x
        };
        if self.rows {
            x = with_row_channel(x);
        }
        for block in &self.down {
            x = block.forward(x);
            skips.push(x.clone());
            x = pool(&self.pool, x);
        }
        x = self.bottom.forward(x);
        for (up, dec) in self.up.iter().zip(&self.dec) {
            let skip = skips.pop().expect("one skip per level");
            x = upconv(up, x);
            x = Tensor::cat(vec![x, skip], 1);
            x = dec.forward(x);
        }
        self.head.forward(x)
    }
}

/// Appends the row coordinate (-1 at y = 0 .. 1 at the last row) as a
/// channel to a batch [N, C, H, W].
fn with_row_channel(x: Tensor<4>) -> Tensor<4> {
    let [n, _, h, w] = x.dims();
    let step = if h > 1 { 2.0 / (h - 1) as f32 } else { 0.0 };
    let plane: Vec<f32> = (0..h)
        .flat_map(|i| std::iter::repeat_n(i as f32 * step - 1.0, w))
        .collect();
    let rows = Tensor::<4>::from_data(TensorData::new(plane, [1, 1, h, w]), &x.device())
        .expand([n, 1, h, w]);
    Tensor::cat(vec![x, rows], 1)
}

/// Appends the column coordinate (-1 at x = 0 .. 1 at the last column) as a
/// second channel to a one-channel batch [N, 1, H, W].
fn with_column_channel(x: Tensor<4>) -> Tensor<4> {
    let [n, _, h, w] = x.dims();
    let step = if w > 1 { 2.0 / (w - 1) as f32 } else { 0.0 };
    let row: Vec<f32> = (0..w).map(|i| i as f32 * step - 1.0).collect();
    let plane: Vec<f32> = row.iter().copied().cycle().take(h * w).collect();
    let coords = Tensor::<4>::from_data(TensorData::new(plane, [1, 1, h, w]), &x.device())
        .expand([n, 1, h, w]);
    Tensor::cat(vec![x, coords], 1)
}
