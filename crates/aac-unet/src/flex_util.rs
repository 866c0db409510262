//! Small helpers shared by the `flex` CPU kernels (`conv3x3`, `upconv`,
//! `batchnorm`).

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::Flex;
use burn::prelude::TensorData;

/// The `flex` backend's tensor.
pub(crate) type FlexTensor = FloatTensor<Flex>;

/// A `flex` tensor of `shape` holding `values` (row-major).
pub(crate) fn flex_from(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    Flex::float_from_data(TensorData::new(values, shape), &Default::default())
}

/// How to thread the matrix products of a batch of `images`: one image per
/// thread when there are enough images, otherwise threads inside each product.
pub(crate) fn gemm_parallelism(images: usize) -> gemm::Parallelism {
    if images >= rayon::current_num_threads() {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(0)
    }
}
