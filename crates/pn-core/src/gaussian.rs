//! The multivariate normal belief.

use ndarray::{Array1, Array2, ArrayView1, Axis, s};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::covariance::{Covariance, LowRank, symmetrise};
use crate::dense::{self, Triangle};
use crate::error::{Error, Result, check};
use crate::map::LinearMap;
use crate::operator::LinearOperator;

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// A multivariate normal belief `N(μ, Σ)` with a structured covariance.
///
/// Operations keep the covariance's structure wherever the algebra allows; see
/// [`Gaussian::affine`] and [`Gaussian::condition`].
#[derive(Debug, Clone)]
pub struct Gaussian {
    mean: Array1<f64>,
    cov: Covariance,
}

/// The result of conditioning a Gaussian on a linear-Gaussian observation.
#[derive(Debug, Clone)]
pub struct Conditioned {
    /// `p(x | y)`.
    pub posterior: Gaussian,
    /// `log p(y) = log N(y; H μ, H Σ Hᵀ + R)`, the evidence of the observation.
    pub log_marginal_likelihood: f64,
}

impl Gaussian {
    /// `N(mean, cov)`. Errors if the lengths disagree or the mean is not finite (the
    /// covariance was validated when it was built).
    pub fn new(mean: Array1<f64>, cov: Covariance) -> Result<Self> {
        check::shape("Gaussian::new", &[cov.dim()], &[mean.len()])?;
        check::finite("mean", &mean)?;
        Ok(Self { mean, cov })
    }

    /// The standard normal `N(0, I)` on `ℝⁿ`.
    pub fn standard(n: usize) -> Self {
        Self {
            mean: Array1::zeros(n),
            cov: Covariance::ScaledIdentity(n, 1.0),
        }
    }

    /// The dimension `n`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The mean `μ`.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// The covariance `Σ` as a structured operator.
    pub fn cov(&self) -> &Covariance {
        &self.cov
    }

    /// The covariance as a dense `n × n` matrix.
    pub fn cov_dense(&self) -> Array2<f64> {
        self.cov.to_dense()
    }

    /// The marginal variances `diag Σ` (round-off below zero is clipped to zero).
    pub fn var(&self) -> Array1<f64> {
        self.cov.diagonal().mapv(|v| v.max(0.0))
    }

    /// The marginal standard deviations `√diag Σ`.
    pub fn std(&self) -> Array1<f64> {
        self.var().mapv(f64::sqrt)
    }

    /// `n` independent draws, one per **row** of the result (`n × dim`): `μ + R z` with
    /// `R Rᵀ = Σ` taken from the structure (e.g. `R_A ⊗ R_B` for a Kronecker covariance) and
    /// `z ~ N(0, I)` from `rng`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> Result<Array2<f64>> {
        let r = self.cov.root_cols();
        let z = Array2::from_shape_simple_fn((r, n), || rng.sample::<f64, _>(StandardNormal));
        let mut x = self.cov.root_mul(z.view())?.reversed_axes();
        for mut row in x.axis_iter_mut(Axis(0)) {
            row += &self.mean;
        }
        Ok(x.as_standard_layout().into_owned())
    }

    /// `log N(x; μ, Σ) = −½ [(x−μ)ᵀ Σ⁻¹ (x−μ) + log det Σ + n log 2π]`.
    ///
    /// Errors on a length mismatch, non-finite `x`, or a singular `Σ`.
    pub fn logpdf(&self, x: ArrayView1<'_, f64>) -> Result<f64> {
        check::shape("Gaussian::logpdf", &[self.dim()], &[x.len()])?;
        check::finite("x", &x)?;
        let r = &x - &self.mean;
        let quad = r.dot(
            &self
                .cov
                .solve_unchecked(r.view().insert_axis(Axis(1)))?
                .column(0),
        );
        Ok(-0.5 * (quad + self.cov.logdet()? + self.dim() as f64 * LN_2PI))
    }

    /// The push-forward of `x ~ N(μ, Σ)` through `A x + b (+ e)`, `e ~ N(0, noise)`:
    /// `N(A μ + b, A Σ Aᵀ + noise)`.
    ///
    /// Structure is kept where the algebra allows: an identity map keeps `Σ`, a selection takes
    /// the sub-structure, a Kronecker map of a Kronecker covariance stays Kronecker, diagonal maps
    /// keep diagonal forms, and a square-root (Cholesky) covariance stays in square-root form:
    /// `[A L, R_noise]` is re-triangularised by QR, never forming `A Σ Aᵀ`.
    pub fn affine(
        &self,
        a: impl Into<LinearMap>,
        b: Option<ArrayView1<'_, f64>>,
        noise: Option<&Covariance>,
    ) -> Result<Gaussian> {
        let a = a.into();
        a.validate()?;
        let (m, n) = a.shape();
        check::shape("Gaussian::affine (columns of A)", &[self.dim()], &[n])?;
        let mut mean = a.matvec(self.mean.view());
        if let Some(b) = b {
            check::shape("Gaussian::affine (b)", &[m], &[b.len()])?;
            check::finite("b", &b)?;
            mean += &b;
        }
        let mut cov = self.cov.congruence(&a)?;
        if let Some(noise) = noise {
            check::shape("Gaussian::affine (noise)", &[m], &[noise.dim()])?;
            cov = cov.add(noise)?;
        }
        Ok(Gaussian { mean, cov })
    }

    /// The marginal belief over `x[indices]`, keeping structure (a sub-matrix, a sub-diagonal,
    /// a square-root factor re-triangularised, a low-rank update of the base's marginal).
    pub fn marginal(&self, indices: &[usize]) -> Result<Gaussian> {
        if indices.is_empty() {
            return Err(Error::Empty { what: "indices" });
        }
        let map = LinearMap::selection(indices.to_vec(), self.dim())?;
        self.affine(map, None, None)
    }

    /// Condition on observing `y = H x + e`, `e ~ N(0, R)`.
    ///
    /// Returns the posterior `N(μ + K r, Σ − K S Kᵀ)` with the innovation `r = y − H μ`, its
    /// covariance `S = H Σ Hᵀ + R` and the gain `K = Σ Hᵀ S⁻¹`, and the evidence
    /// `log N(y; H μ, S)`. Which algorithm runs depends on the prior's structure:
    ///
    /// - **square-root form** ([`Covariance::Cholesky`]): the QR-based square-root update. The
    ///   pre-array `[[R^{1/2}, H L], [0, L]]` is triangularised; its blocks hold `S^{1/2}`,
    ///   the gain and the posterior factor, so `L Lᵀ` is never formed and the posterior stays
    ///   positive semi-definite to working precision;
    /// - **dense**: the Kalman (gain) form, with a symmetrised posterior;
    /// - **every other structure**: the posterior is the prior minus a rank-`m` term,
    ///   `Σ − W Wᵀ` with `W = Σ Hᵀ S^{-1/2}`, kept as a [`Covariance::LowRankUpdate`] of the
    ///   prior's structure.
    ///
    /// `R` may be zero (noise-free observations) as long as `H Σ Hᵀ` is non-singular. Errors on
    /// shape mismatches, non-finite `y` or `H`, and a singular `S`
    /// ([`Error::NotPositiveDefinite`]).
    pub fn condition(
        &self,
        h: impl Into<LinearMap>,
        y: ArrayView1<'_, f64>,
        noise: &Covariance,
    ) -> Result<Conditioned> {
        let h = h.into();
        h.validate()?;
        let (m, n) = h.shape();
        check::shape("Gaussian::condition (columns of H)", &[self.dim()], &[n])?;
        check::shape("Gaussian::condition (y)", &[m], &[y.len()])?;
        check::shape("Gaussian::condition (noise)", &[m], &[noise.dim()])?;
        check::finite("y", &y)?;
        if m == 0 {
            return Ok(Conditioned {
                posterior: self.clone(),
                log_marginal_likelihood: 0.0,
            });
        }
        let r = &y - &h.matvec(self.mean.view());
        match &self.cov {
            Covariance::Cholesky(l) => self.condition_sqrt(l, &h, r, noise),
            _ => self.condition_kalman(&h, r, noise),
        }
    }

    fn condition_kalman(
        &self,
        h: &LinearMap,
        r: Array1<f64>,
        noise: &Covariance,
    ) -> Result<Conditioned> {
        let m = r.len();
        // Σ Hᵀ through the structured product, then S = H Σ Hᵀ + R.
        let sht = self.cov.matmat(h.to_dense().t());
        let s_mat = symmetrise(h.left_mul(sht.view()) + noise.to_dense());
        let s_chol = dense::cholesky(s_mat.view())?;
        // Whitened innovation and whitened cross-covariance Wᵀ = L_S⁻¹ H Σ.
        let z = dense::trsm(
            s_chol.l(),
            r.view().insert_axis(Axis(1)),
            Triangle::Lower,
            false,
        );
        let wt = dense::trsm(s_chol.l(), sht.t(), Triangle::Lower, false);
        let z = z.column(0);
        let mean = &self.mean + &wt.t().dot(&z);
        let lml = -0.5 * (z.dot(&z) + s_chol.logdet() + m as f64 * LN_2PI);
        let cov = match &self.cov {
            Covariance::Dense(_) => {
                let post = self.cov.to_dense() - dense::mm(wt.t(), wt.view());
                Covariance::dense_trusted(symmetrise(post))
            }
            _ => Covariance::LowRankUpdate(LowRank::new_trusted(
                self.cov.clone(),
                wt.reversed_axes(),
                Array1::from_elem(m, -1.0),
            )),
        };
        Ok(Conditioned {
            posterior: Gaussian { mean, cov },
            log_marginal_likelihood: lml,
        })
    }

    fn condition_sqrt(
        &self,
        l: &Array2<f64>,
        h: &LinearMap,
        r: Array1<f64>,
        noise: &Covariance,
    ) -> Result<Conditioned> {
        let (m, n) = (r.len(), self.dim());
        let rn = noise.root_dense()?;
        let q = rn.ncols();
        let hl = h.left_mul(l.view());
        // Aᵀ for A = [[R^{1/2}, H L], [0, L]]: QR of Aᵀ gives A Aᵀ = Uᵀ U with Uᵀ lower.
        let mut at = Array2::zeros((q + n, m + n));
        at.slice_mut(s![..q, ..m]).assign(&rn.t());
        at.slice_mut(s![q.., ..m]).assign(&hl.t());
        at.slice_mut(s![q.., m..]).assign(&l.t());
        let low = dense::lower_from_r(dense::qr_r_unchecked(at.view()), m + n);
        let x = low.slice(s![..m, ..m]);
        let scale = x.diag().iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if let Some(i) = x
            .diag()
            .iter()
            .position(|&d| d <= 1e-14 * scale || d == 0.0)
        {
            return Err(Error::NotPositiveDefinite { pivot: i });
        }
        let yk = low.slice(s![m.., ..m]);
        let z = dense::trsm(x, r.view().insert_axis(Axis(1)), Triangle::Lower, false);
        let z = z.column(0);
        let mean = &self.mean + &yk.dot(&z);
        let logdet_s = 2.0 * x.diag().iter().map(|d| d.ln()).sum::<f64>();
        let lml = -0.5 * (z.dot(&z) + logdet_s + m as f64 * LN_2PI);
        let post_l = low.slice(s![m.., m..]).to_owned();
        Ok(Conditioned {
            posterior: Gaussian {
                mean,
                cov: Covariance::Cholesky(std::sync::Arc::new(post_l)),
            },
            log_marginal_likelihood: lml,
        })
    }
}
