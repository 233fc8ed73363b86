//! The error type shared by every pn crate.

/// Everything a user's input can make go wrong in `pn-core`.
///
/// Variants carry the data needed to find the problem: both shapes of a mismatch, the position
/// of a non-finite entry, the pivot at which a factorisation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two arguments whose shapes must agree do not.
    #[error("shape mismatch in {op}: expected {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// The operation that was attempted.
        op: &'static str,
        /// The shape that was required.
        expected: Vec<usize>,
        /// The shape that was given.
        found: Vec<usize>,
    },
    /// An input holds NaN or ±∞.
    #[error("non-finite value {value} in {what} at index {index:?}")]
    NonFinite {
        /// Which argument held it.
        what: &'static str,
        /// Its multi-index within that argument.
        index: Vec<usize>,
        /// The offending value.
        value: f64,
    },
    /// A matrix that must be symmetric positive definite is not: the Cholesky factorisation
    /// met a non-positive pivot.
    #[error("matrix is not positive definite: Cholesky failed at pivot {pivot}")]
    NotPositiveDefinite {
        /// Zero-based index of the first pivot that was not positive.
        pivot: usize,
    },
    /// A matrix that must be symmetric is not (beyond a relative tolerance).
    #[error("matrix is not symmetric: entries ({i}, {j}) and ({j}, {i}) differ by {difference:e}")]
    NotSymmetric {
        /// Row of the worst pair.
        i: usize,
        /// Column of the worst pair.
        j: usize,
        /// Absolute difference of the pair.
        difference: f64,
    },
    /// A triangular or diagonal matrix has a zero (or non-positive, where required) diagonal.
    #[error("matrix is singular: diagonal entry {index} is {value:e}")]
    Singular {
        /// Index of the offending diagonal entry.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A scalar parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Name of the parameter.
        name: &'static str,
        /// The value that was given.
        value: f64,
        /// What was expected.
        reason: &'static str,
    },
    /// An index (e.g. of a marginal) is out of range.
    #[error("index {index} out of bounds for dimension {len}")]
    IndexOutOfBounds {
        /// The index given.
        index: usize,
        /// The dimension it must be below.
        len: usize,
    },
    /// An input that must not be empty is.
    #[error("empty input: {what}")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// An iterative routine stopped without meeting its tolerance.
    #[error("{what} did not converge within {iterations} iterations")]
    NoConvergence {
        /// The routine.
        what: &'static str,
        /// Iterations spent.
        iterations: usize,
    },
    /// The input is valid but the requested operation cannot keep or use its structure.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) mod check {
    //! Input validation shared by the public functions.
    use super::{Error, Result};
    use ndarray::{ArrayBase, Data, Dimension};

    /// Every entry finite, or the position of the first that is not.
    pub(crate) fn finite<S, D>(what: &'static str, a: &ArrayBase<S, D>) -> Result<()>
    where
        S: Data<Elem = f64>,
        D: Dimension,
    {
        if a.iter().all(|v| v.is_finite()) {
            return Ok(());
        }
        // Logical (row-major) position of the first offender, unravelled into a multi-index.
        let (flat, &value) = a
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
            .expect("a non-finite entry exists");
        let shape = a.shape();
        let mut index = vec![0; shape.len()];
        let mut rest = flat;
        for (k, &len) in shape.iter().enumerate().rev() {
            index[k] = rest % len;
            rest /= len;
        }
        Err(Error::NonFinite { what, index, value })
    }

    /// `found == expected` as shapes.
    pub(crate) fn shape(op: &'static str, expected: &[usize], found: &[usize]) -> Result<()> {
        if expected == found {
            Ok(())
        } else {
            Err(Error::ShapeMismatch {
                op,
                expected: expected.to_vec(),
                found: found.to_vec(),
            })
        }
    }

    /// A square matrix's order.
    pub(crate) fn square<S: Data<Elem = f64>>(
        op: &'static str,
        a: &ArrayBase<S, ndarray::Ix2>,
    ) -> Result<usize> {
        let (r, c) = a.dim();
        shape(op, &[r, r], &[r, c])?;
        Ok(r)
    }

    /// Symmetric to a relative tolerance `1e-8 · max|a|` (plus a tiny absolute floor).
    ///
    /// Walks the matrix in square tiles so that the transposed accesses stay in cache: at
    /// `n = 8000` a naive column walk costs a noticeable fraction of a Cholesky factorisation.
    pub(crate) fn symmetric<S: Data<Elem = f64>>(a: &ArrayBase<S, ndarray::Ix2>) -> Result<()> {
        const TILE: usize = 64;
        let n = a.nrows();
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = 1e-8 * scale + 1e-300;
        let mut worst = (0, 0, 0.0f64);
        for bi in (0..n).step_by(TILE) {
            for bj in (0..=bi).step_by(TILE) {
                for i in bi..(bi + TILE).min(n) {
                    for j in bj..(bj + TILE).min(i) {
                        let d = (a[[i, j]] - a[[j, i]]).abs();
                        if d > worst.2 {
                            worst = (i, j, d);
                        }
                    }
                }
            }
        }
        if worst.2 > tol {
            Err(Error::NotSymmetric {
                i: worst.0,
                j: worst.1,
                difference: worst.2,
            })
        } else {
            Ok(())
        }
    }

    /// A strictly positive, finite scalar.
    pub(crate) fn positive(name: &'static str, value: f64) -> Result<()> {
        crate::validate::positive(name, value)
    }
}
