//! `Σ = B + U diag(w) Uᵀ`: a structured base plus a low-rank update (or downdate).
//!
//! Solves use the Woodbury identity and log-determinants the matrix determinant lemma, with the
//! `k × k` capacitance `C = diag(w)⁻¹ + Uᵀ B⁻¹ U`:
//!
//! `Σ⁻¹ = B⁻¹ − B⁻¹ U C⁻¹ Uᵀ B⁻¹`,  `log det Σ = log det B + Σᵢ log|wᵢ| + log|det C|`.
//!
//! By Haynsworth's inertia theorem `Σ` is positive definite (given `B` is) exactly when `C` has
//! as many negative eigenvalues as `w` has negative entries; that is what [`LowRank::new`]
//! checks when some weights are negative.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView2, Axis, concatenate};

use super::Covariance;
use crate::dense;
use crate::error::{Error, Result, check};
use crate::map::LinearMap;
use crate::operator::LinearOperator;

/// `B + U diag(w) Uᵀ`. Build it with [`Covariance::low_rank_update`].
#[derive(Debug, Clone)]
pub struct LowRank {
    base: Box<Covariance>,
    u: Arc<Array2<f64>>,
    w: Arc<Array1<f64>>,
    /// `B⁻¹ U` and the eigendecomposition of the capacitance, or why they do not exist.
    woodbury: Arc<Result<Woodbury>>,
}

#[derive(Debug)]
struct Woodbury {
    binv_u: Array2<f64>,
    cap_vals: Array1<f64>,
    cap_vecs: Array2<f64>,
}

impl LowRank {
    /// `B + U diag(w) Uᵀ`. Errors if `U` has not `dim(B)` rows, `w` not one entry per column of
    /// `U`, anything is non-finite, a weight is zero, or — when a weight is negative — the
    /// result is not positive definite.
    pub fn new(base: Covariance, u: Array2<f64>, w: Array1<f64>) -> Result<Self> {
        check::shape("Covariance::low_rank_update", &[base.dim()], &[u.nrows()])?;
        check::shape("Covariance::low_rank_update", &[u.ncols()], &[w.len()])?;
        check::finite("U", &u)?;
        check::finite("w", &w)?;
        if let Some(&z) = w.iter().find(|&&v| v == 0.0) {
            return Err(Error::InvalidParameter {
                name: "w",
                value: z,
                reason: "weights of a low-rank update must be non-zero",
            });
        }
        let lr = Self::new_trusted(base, u, w);
        if lr.w.iter().any(|&v| v < 0.0) {
            lr.inertia_ok()?;
        }
        Ok(lr)
    }

    /// Without the positive-definiteness check (the caller guarantees it).
    pub(crate) fn new_trusted(base: Covariance, u: Array2<f64>, w: Array1<f64>) -> Self {
        let woodbury = Arc::new(Self::capacitance(&base, &u, &w));
        Self {
            base: Box::new(base),
            u: Arc::new(u),
            w: Arc::new(w),
            woodbury,
        }
    }

    fn capacitance(base: &Covariance, u: &Array2<f64>, w: &Array1<f64>) -> Result<Woodbury> {
        let binv_u = base.solve_unchecked(u.view())?;
        let mut c = dense::mm(u.t(), binv_u.view());
        for i in 0..w.len() {
            c[[i, i]] += 1.0 / w[i];
        }
        let c = super::symmetrise(c);
        let (cap_vals, cap_vecs) = dense::eigh(c.view())?;
        Ok(Woodbury {
            binv_u,
            cap_vals,
            cap_vecs,
        })
    }

    fn woodbury(&self) -> Result<&Woodbury> {
        self.woodbury.as_ref().as_ref().map_err(Clone::clone)
    }

    fn inertia_ok(&self) -> Result<()> {
        let wb = self.woodbury()?;
        let scale = wb.cap_vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if let Some(i) = wb.cap_vals.iter().position(|&v| v.abs() <= 1e-13 * scale) {
            return Err(Error::Singular {
                index: i,
                value: wb.cap_vals[i],
            });
        }
        let neg_c = wb.cap_vals.iter().filter(|&&v| v < 0.0).count();
        let neg_w = self.w.iter().filter(|&&v| v < 0.0).count();
        if neg_c != neg_w {
            return Err(Error::NotPositiveDefinite { pivot: 0 });
        }
        Ok(())
    }

    /// The base structure `B`.
    pub fn base(&self) -> &Covariance {
        &self.base
    }

    /// The factor `U` (`n × k`).
    pub fn u(&self) -> ArrayView2<'_, f64> {
        self.u.view()
    }

    /// The weights `w` (length `k`).
    pub fn weights(&self) -> &Array1<f64> {
        &self.w
    }

    pub(super) fn dim(&self) -> usize {
        self.base.dim()
    }

    pub(super) fn matmat(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut utx = dense::mm(self.u.t(), x);
        for (mut row, &wi) in utx.axis_iter_mut(Axis(0)).zip(self.w.iter()) {
            row *= wi;
        }
        self.base.matmat(x) + dense::mm(self.u.view(), utx.view())
    }

    pub(super) fn diagonal(&self) -> Array1<f64> {
        let mut d = self.base.diagonal();
        for (i, row) in self.u.axis_iter(Axis(0)).enumerate() {
            d[i] += row
                .iter()
                .zip(self.w.iter())
                .map(|(u, w)| w * u * u)
                .sum::<f64>();
        }
        d
    }

    pub(super) fn to_dense(&self) -> Array2<f64> {
        let mut uw = (*self.u).clone();
        for (mut col, &wi) in uw.axis_iter_mut(Axis(1)).zip(self.w.iter()) {
            col *= wi;
        }
        self.base.to_dense() + dense::mm(uw.view(), self.u.t())
    }

    pub(super) fn solve(&self, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.inertia_ok()?;
        let wb = self.woodbury()?;
        let binv_b = self.base.solve_unchecked(b)?;
        // C⁻¹ (Uᵀ B⁻¹ b) through the eigendecomposition of C.
        let t = dense::mm(wb.binv_u.t(), b);
        let mut vt = dense::mm(wb.cap_vecs.t(), t.view());
        for (mut row, &l) in vt.axis_iter_mut(Axis(0)).zip(wb.cap_vals.iter()) {
            row /= l;
        }
        let cinv_t = dense::mm(wb.cap_vecs.view(), vt.view());
        Ok(binv_b - dense::mm(wb.binv_u.view(), cinv_t.view()))
    }

    pub(super) fn logdet(&self) -> Result<f64> {
        self.inertia_ok()?;
        let wb = self.woodbury()?;
        Ok(self.base.logdet()?
            + self.w.iter().map(|v| v.abs().ln()).sum::<f64>()
            + wb.cap_vals.iter().map(|v| v.abs().ln()).sum::<f64>())
    }

    fn all_positive(&self) -> bool {
        self.w.iter().all(|&v| v > 0.0)
    }

    fn scaled_u(&self) -> Array2<f64> {
        let mut us = (*self.u).clone();
        for (mut col, &wi) in us.axis_iter_mut(Axis(1)).zip(self.w.iter()) {
            col *= wi.sqrt();
        }
        us
    }

    pub(super) fn root_cols(&self) -> usize {
        if self.all_positive() {
            self.base.root_cols() + self.u.ncols()
        } else {
            self.dim()
        }
    }

    /// With non-negative weights `Σ` is the covariance of `R_B z₁ + U diag(√w) z₂`, so the
    /// square root is `[R_B, U diag(√w)]`; a downdate needs a dense square root.
    pub(super) fn root_mul(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        if self.all_positive() {
            let r = self.base.root_cols();
            let top = self.base.root_mul(z.slice(ndarray::s![..r, ..]))?;
            Ok(top + dense::mm(self.scaled_u().view(), z.slice(ndarray::s![r.., ..])))
        } else {
            Ok(dense::mm(self.root_dense()?.view(), z))
        }
    }

    pub(super) fn root_dense(&self) -> Result<Array2<f64>> {
        if self.all_positive() {
            Ok(concatenate(
                Axis(1),
                &[self.base.root_dense()?.view(), self.scaled_u().view()],
            )
            .expect("same number of rows"))
        } else {
            Covariance::dense_trusted(super::symmetrise(self.to_dense())).root_dense()
        }
    }

    pub(super) fn select(&self, map: &LinearMap, idx: &[usize]) -> Result<Self> {
        Ok(Self::new_trusted(
            self.base.congruence(map)?,
            self.u.select(Axis(0), idx),
            (*self.w).clone(),
        ))
    }

    pub(super) fn scale(&self, c: f64) -> Result<Covariance> {
        if c == 0.0 {
            return Ok(Covariance::ScaledIdentity(self.dim(), 0.0));
        }
        Ok(Covariance::LowRankUpdate(Self::new_trusted(
            self.base.scale(c)?,
            (*self.u).clone(),
            &*self.w * c,
        )))
    }
}
