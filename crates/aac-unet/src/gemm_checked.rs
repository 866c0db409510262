//! The one door to `gemm` for the CPU kernels: the extent of every block is
//! checked against its slice, in release builds too, before the unchecked
//! product runs. The checks cost nothing next to the products they guard.

/// Where a strided matrix lies in its slice: element (i, j) is at
/// `offset + i * row + j * col`.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Index of element (0, 0).
    pub offset: usize,
    /// Distance between rows.
    pub row: usize,
    /// Distance between columns.
    pub col: usize,
}

impl Layout {
    /// A block starting at `offset` with the given row and column strides.
    pub const fn new(offset: usize, row: usize, col: usize) -> Self {
        Layout { offset, row, col }
    }

    /// Index of the last element of an `rows` x `cols` block.
    fn last(&self, rows: usize, cols: usize) -> usize {
        self.offset + (rows - 1) * self.row + (cols - 1) * self.col
    }
}

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)`, adding to `dst` when
/// `accumulate`. Panics (naming the block) if a block leaves its slice.
#[allow(clippy::too_many_arguments)]
pub fn product(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    d: Layout,
    accumulate: bool,
    lhs: &[f32],
    l: Layout,
    rhs: &[f32],
    r: Layout,
    parallelism: gemm::Parallelism,
) {
    assert!(m > 0 && n > 0 && k > 0, "empty product {m}x{n}x{k}");
    assert!(
        d.last(m, n) < dst.len(),
        "product: destination block out of bounds"
    );
    assert!(
        l.last(m, k) < lhs.len(),
        "product: left block out of bounds"
    );
    assert!(
        r.last(k, n) < rhs.len(),
        "product: right block out of bounds"
    );
    // SAFETY: the three blocks lie inside their slices (asserted above), and
    // `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().add(d.offset),
            d.col as isize,
            d.row as isize,
            accumulate,
            lhs.as_ptr().add(l.offset),
            l.col as isize,
            l.row as isize,
            rhs.as_ptr().add(r.offset),
            r.col as isize,
            r.row as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
