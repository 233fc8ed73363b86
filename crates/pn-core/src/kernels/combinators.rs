//! Sums and products of kernels, and the `+` / `*` operators that build them.

use std::ops::{Add, Mul};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, s};

use super::util::par_fill_rows;
use super::{
    GradRows, Kernel, Linear, Matern12, Matern32, Matern52, Periodic, RationalQuadratic,
    SquaredExponential,
};
use crate::error::{Error, Result, check};

/// Validates a list of factors or summands: not empty, and no two fixed input dimensions differ.
fn check_parts(kernels: &[Box<dyn Kernel>], op: &'static str) -> Result<()> {
    if kernels.is_empty() {
        return Err(Error::Empty { what: "kernels" });
    }
    let mut dim = None;
    for k in kernels {
        match (dim, k.input_dim()) {
            (Some(d0), Some(d)) => check::shape(op, &[d0], &[d])?,
            (None, Some(d)) => dim = Some(d),
            _ => {}
        }
    }
    Ok(())
}

/// Rows per block in [`combine_blocks`].
const BLOCK_ROWS: usize = 32;

/// `Σᵢ Kᵢ(X, Y)` (or `Πᵢ` when `PRODUCT`), assembled block of rows by block of rows (in
/// parallel) so that no part's full matrix is ever stored.
fn combine_blocks<const PRODUCT: bool>(
    kernels: &[Box<dyn Kernel>],
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
) -> Array2<f64> {
    let m = y.nrows();
    par_fill_rows(x.nrows(), m, BLOCK_ROWS, |i0, block| {
        let xb = x.slice(s![i0..i0 + block.len() / m, ..]);
        for (c, k) in kernels.iter().enumerate() {
            let part = k.matrix_unchecked(xb, y);
            let values = block.iter_mut().zip(part.iter());
            match (c, PRODUCT) {
                (0, _) => values.for_each(|(o, &v)| *o = v),
                (_, true) => values.for_each(|(o, &v)| *o *= v),
                (_, false) => values.for_each(|(o, &v)| *o += v),
            }
        }
    })
}

/// Parameter bookkeeping shared by [`Sum`] and [`Product`].
fn input_dim(kernels: &[Box<dyn Kernel>]) -> Option<usize> {
    kernels.iter().find_map(|k| k.input_dim())
}

fn check_input_dim(kernels: &[Box<dyn Kernel>], d: usize) -> Result<()> {
    kernels.iter().try_for_each(|k| k.check_input_dim(d))
}

fn n_params(kernels: &[Box<dyn Kernel>]) -> usize {
    kernels.iter().map(|k| k.n_params()).sum()
}

fn log_params(kernels: &[Box<dyn Kernel>]) -> Array1<f64> {
    kernels.iter().flat_map(|k| k.log_params()).collect()
}

/// Sets every part's parameters, or none of them if any part rejects its slice.
fn set_log_params(kernels: &mut Vec<Box<dyn Kernel>>, p: ArrayView1<'_, f64>) -> Result<()> {
    check::shape("Kernel::set_log_params", &[n_params(kernels)], &[p.len()])?;
    let mut updated = kernels.clone();
    let mut at = 0;
    for k in &mut updated {
        let np = k.n_params();
        k.set_log_params(p.slice(ndarray::s![at..at + np]))?;
        at += np;
    }
    *kernels = updated;
    Ok(())
}

fn param_names(kernels: &[Box<dyn Kernel>]) -> Vec<String> {
    kernels
        .iter()
        .enumerate()
        .flat_map(|(i, k)| k.param_names().into_iter().map(move |n| format!("{i}.{n}")))
        .collect()
}

/// The parts of a sum or product, prepared for the same points.
struct PartRows<'a> {
    parts: Vec<Box<dyn GradRows + 'a>>,
    /// Each part's number of hyperparameters.
    nps: Vec<usize>,
}

impl<'a> PartRows<'a> {
    fn new(kernels: &'a [Box<dyn Kernel>], x: ArrayView2<'a, f64>) -> Self {
        let parts: Vec<_> = kernels.iter().map(|k| k.grad_rows(x)).collect();
        let nps = parts.iter().map(|p| p.n_params()).collect();
        Self { parts, nps }
    }

    fn n_params(&self) -> usize {
        self.nps.iter().sum()
    }

    /// The largest scratch any part needs.
    fn part_scratch(&self, m: usize) -> usize {
        self.parts
            .iter()
            .map(|p| p.scratch_len(m))
            .max()
            .unwrap_or(0)
    }
}

/// Rows of a sum: the first part writes the output row, the others a scratch row added to it;
/// every part writes its own gradient rows.
struct SumRows<'a>(PartRows<'a>);

impl GradRows for SumRows<'_> {
    fn n_params(&self) -> usize {
        self.0.n_params()
    }

    fn scratch_len(&self, m: usize) -> usize {
        m + self.0.part_scratch(m)
    }

    fn fill_row(&self, i: usize, k: &mut [f64], grads: &mut [&mut [f64]], scratch: &mut [f64]) {
        let m = k.len();
        let (row, rest) = scratch.split_at_mut(m);
        let mut at = 0;
        for (c, (part, &np)) in self.0.parts.iter().zip(&self.0.nps).enumerate() {
            let g = &mut grads[at..at + np];
            if c == 0 {
                part.fill_row(i, k, g, rest);
            } else {
                part.fill_row(i, row, g, rest);
                for (o, &v) in k.iter_mut().zip(row.iter()) {
                    *o += v;
                }
            }
            at += np;
        }
    }
}

/// Rows of a product: every factor's value row into scratch, its gradient rows in place, then
/// the product rule `∂K/∂θ = (∂Kᵢ/∂θ) ∘ Π_{j≠i} Kⱼ` row by row.
struct ProductRows<'a>(PartRows<'a>);

impl GradRows for ProductRows<'_> {
    fn n_params(&self) -> usize {
        self.0.n_params()
    }

    fn scratch_len(&self, m: usize) -> usize {
        (self.0.parts.len() + 1) * m + self.0.part_scratch(m)
    }

    fn fill_row(&self, i: usize, k: &mut [f64], grads: &mut [&mut [f64]], scratch: &mut [f64]) {
        let m = k.len();
        let nc = self.0.parts.len();
        let (vals, tail) = scratch.split_at_mut(nc * m);
        let (others, rest) = tail.split_at_mut(m);
        let mut at = 0;
        for (c, (part, &np)) in self.0.parts.iter().zip(&self.0.nps).enumerate() {
            part.fill_row(
                i,
                &mut vals[c * m..(c + 1) * m],
                &mut grads[at..at + np],
                rest,
            );
            at += np;
        }
        let vals = &*vals;
        let mut at = 0;
        for (c, &np) in self.0.nps.iter().enumerate() {
            if np > 0 && nc > 1 {
                // Π_{j≠c} Kⱼ, in the order of the factors.
                let mut first = true;
                for (j, vj) in vals.chunks_exact(m).enumerate() {
                    if j == c {
                        continue;
                    }
                    if first {
                        others.copy_from_slice(vj);
                        first = false;
                    } else {
                        for (o, &v) in others.iter_mut().zip(vj) {
                            *o *= v;
                        }
                    }
                }
                for g in grads[at..at + np].iter_mut() {
                    for (gv, &o) in g.iter_mut().zip(others.iter()) {
                        *gv *= o;
                    }
                }
            }
            at += np;
        }
        k.copy_from_slice(&vals[..m]);
        for vj in vals.chunks_exact(m).skip(1) {
            for (o, &v) in k.iter_mut().zip(vj) {
                *o *= v;
            }
        }
    }
}

/// The sum `k(x, y) = Σᵢ kᵢ(x, y)` of kernels.
///
/// Log-parameters: those of the summands, concatenated in order; their names are prefixed with
/// the summand's index (`"0.lengthscale"`, `"1.outputscale"`, …). Build one with [`Sum::new`] or
/// with `+` on kernels (`a + b + c` gives one flat sum of three).
#[derive(Debug, Clone)]
pub struct Sum {
    kernels: Vec<Box<dyn Kernel>>,
}

impl Sum {
    /// The sum of `kernels`.
    ///
    /// Errors: [`Error::Empty`] for no kernels, [`Error::ShapeMismatch`] if two summands fix
    /// different input dimensions.
    pub fn new(kernels: Vec<Box<dyn Kernel>>) -> Result<Self> {
        check_parts(&kernels, "Sum::new")?;
        Ok(Self { kernels })
    }

    /// The summands.
    pub fn kernels(&self) -> &[Box<dyn Kernel>] {
        &self.kernels
    }
}

impl Kernel for Sum {
    /// The first input dimension fixed by a summand, if any.
    fn input_dim(&self) -> Option<usize> {
        input_dim(&self.kernels)
    }

    fn check_input_dim(&self, d: usize) -> Result<()> {
        check_input_dim(&self.kernels, d)
    }

    fn n_params(&self) -> usize {
        n_params(&self.kernels)
    }

    fn log_params(&self) -> Array1<f64> {
        log_params(&self.kernels)
    }

    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
        set_log_params(&mut self.kernels, p)
    }

    fn param_names(&self) -> Vec<String> {
        param_names(&self.kernels)
    }

    fn box_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }

    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        self.kernels.iter().map(|k| k.eval_unchecked(x, y)).sum()
    }

    fn matrix_unchecked(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        combine_blocks::<false>(&self.kernels, x, y)
    }

    fn diag_unchecked(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        let mut acc = Array1::zeros(x.nrows());
        for k in &self.kernels {
            acc += &k.diag_unchecked(x);
        }
        acc
    }

    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        super::grad::matrix_with_grad(self, x)
    }

    fn grad_rows<'a>(&'a self, x: ArrayView2<'a, f64>) -> Box<dyn GradRows + 'a> {
        Box::new(SumRows(PartRows::new(&self.kernels, x)))
    }
}

/// The product `k(x, y) = Πᵢ kᵢ(x, y)` of kernels (positive semi-definite by the Schur product
/// theorem).
///
/// Log-parameters: those of the factors, concatenated in order; their names are prefixed with
/// the factor's index (`"0.lengthscale"`, `"1.period"`, …). Build one with [`Product::new`] or
/// with `*` on kernels (`a * b * c` gives one flat product of three).
#[derive(Debug, Clone)]
pub struct Product {
    kernels: Vec<Box<dyn Kernel>>,
}

impl Product {
    /// The product of `kernels`.
    ///
    /// Errors: [`Error::Empty`] for no kernels, [`Error::ShapeMismatch`] if two factors fix
    /// different input dimensions.
    pub fn new(kernels: Vec<Box<dyn Kernel>>) -> Result<Self> {
        check_parts(&kernels, "Product::new")?;
        Ok(Self { kernels })
    }

    /// The factors.
    pub fn kernels(&self) -> &[Box<dyn Kernel>] {
        &self.kernels
    }
}

impl Kernel for Product {
    /// The first input dimension fixed by a factor, if any.
    fn input_dim(&self) -> Option<usize> {
        input_dim(&self.kernels)
    }

    fn check_input_dim(&self, d: usize) -> Result<()> {
        check_input_dim(&self.kernels, d)
    }

    fn n_params(&self) -> usize {
        n_params(&self.kernels)
    }

    fn log_params(&self) -> Array1<f64> {
        log_params(&self.kernels)
    }

    fn set_log_params(&mut self, p: ArrayView1<'_, f64>) -> Result<()> {
        set_log_params(&mut self.kernels, p)
    }

    fn param_names(&self) -> Vec<String> {
        param_names(&self.kernels)
    }

    fn box_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }

    fn eval_unchecked(&self, x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>) -> f64 {
        self.kernels
            .iter()
            .map(|k| k.eval_unchecked(x, y))
            .product()
    }

    fn matrix_unchecked(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Array2<f64> {
        combine_blocks::<true>(&self.kernels, x, y)
    }

    fn diag_unchecked(&self, x: ArrayView2<'_, f64>) -> Array1<f64> {
        let mut acc = Array1::ones(x.nrows());
        for k in &self.kernels {
            acc *= &k.diag_unchecked(x);
        }
        acc
    }

    /// Product rule: `∂K/∂θ = (∂Kᵢ/∂θ) ∘ Π_{j≠i} Kⱼ` for a parameter `θ` of factor `i`.
    fn matrix_with_grad_unchecked(
        &self,
        x: ArrayView2<'_, f64>,
    ) -> (Array2<f64>, Vec<Array2<f64>>) {
        super::grad::matrix_with_grad(self, x)
    }

    fn grad_rows<'a>(&'a self, x: ArrayView2<'a, f64>) -> Box<dyn GradRows + 'a> {
        Box::new(ProductRows(PartRows::new(&self.kernels, x)))
    }
}

/// `+` and `*` on a kernel type: the right-hand side may be any kernel that converts into a
/// `Box<dyn Kernel>`.
macro_rules! kernel_ops {
    ($($t:ty),* $(,)?) => {$(
        impl<R: Into<Box<dyn Kernel>>> Add<R> for $t {
            type Output = Sum;
            /// The sum `self + rhs` of two kernels.
            fn add(self, rhs: R) -> Sum {
                Sum { kernels: vec![self.into(), rhs.into()] }
            }
        }

        impl<R: Into<Box<dyn Kernel>>> Mul<R> for $t {
            type Output = Product;
            /// The product `self · rhs` of two kernels.
            fn mul(self, rhs: R) -> Product {
                Product { kernels: vec![self.into(), rhs.into()] }
            }
        }
    )*};
}

/// `Box<dyn Kernel>` from each concrete kernel, so they mix freely in sums and products.
macro_rules! into_box {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Box<dyn Kernel> {
            fn from(k: $t) -> Self {
                Box::new(k)
            }
        }
    )*};
}

kernel_ops!(
    SquaredExponential,
    Matern12,
    Matern32,
    Matern52,
    RationalQuadratic,
    Periodic,
    Linear,
    Box<dyn Kernel>,
);
into_box!(
    SquaredExponential,
    Matern12,
    Matern32,
    Matern52,
    RationalQuadratic,
    Periodic,
    Linear,
    Sum,
    Product,
);

impl<R: Into<Box<dyn Kernel>>> Add<R> for Sum {
    type Output = Sum;
    /// Appends `rhs` as one more summand (sums stay flat).
    fn add(mut self, rhs: R) -> Sum {
        self.kernels.push(rhs.into());
        self
    }
}

impl<R: Into<Box<dyn Kernel>>> Mul<R> for Sum {
    type Output = Product;
    /// The product of this sum with `rhs`.
    fn mul(self, rhs: R) -> Product {
        Product {
            kernels: vec![Box::new(self), rhs.into()],
        }
    }
}

impl<R: Into<Box<dyn Kernel>>> Add<R> for Product {
    type Output = Sum;
    /// The sum of this product and `rhs`.
    fn add(self, rhs: R) -> Sum {
        Sum {
            kernels: vec![Box::new(self), rhs.into()],
        }
    }
}

impl<R: Into<Box<dyn Kernel>>> Mul<R> for Product {
    type Output = Product;
    /// Appends `rhs` as one more factor (products stay flat).
    fn mul(mut self, rhs: R) -> Product {
        self.kernels.push(rhs.into());
        self
    }
}
