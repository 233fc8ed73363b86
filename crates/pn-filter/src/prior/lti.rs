//! General linear time-invariant priors (integrated Ornstein–Uhlenbeck, Matérn) discretised
//! exactly through the matrix exponential.
//!
//! For `dx = F x dt + e_q dW` (diffusion `γ`), the transition is `A(h) = exp(F h)` and the
//! noise `Q(h) = γ ∫₀ʰ Φ(s) e_q e_qᵀ Φ(s)ᵀ ds` with `Φ(s) = exp(F s)`. The integral is taken
//! by composite Gauss–Legendre quadrature *as a sum of outer products*, so a square root
//! `[√wₖ Φ(sₖ) e_q]ₖ` comes for free and is triangularised by QR: `Q` is never formed and
//! never factorised, and the factor is positive semi-definite by construction.

use ndarray::{Array1, Array2, s};
use pn_core::{Covariance, Gaussian};

use super::iwp::factorial;
use super::{GaussMarkov, Transition, check_diffusion, check_step, lift};
use crate::error::{Error, Result};
use crate::linalg::{expm, gauss_legendre, lyapunov, symmetrise};

/// Largest supported order for these priors.
const MAX_ORDER: usize = 10;

#[derive(Debug, Clone, PartialEq)]
struct Lti {
    /// Drift of one coordinate, `(q+1) × (q+1)`.
    f: Array2<f64>,
    /// Spectral density of the driving white noise (per unit diffusion).
    qc: f64,
    diffusion: Array1<f64>,
}

impl Lti {
    fn order(&self) -> usize {
        self.f.nrows() - 1
    }

    /// IWP-style preconditioner `√h diag(h^{q−i}/(q−i)!)`: these priors behave like IWP(q) on
    /// steps short against their time scale, where the preconditioning matters.
    fn preconditioner(&self, h: f64) -> Array1<f64> {
        let q = self.order();
        Array1::from_shape_fn(q + 1, |i| {
            h.sqrt() * h.powi((q - i) as i32) / factorial(q - i)
        })
    }

    fn transition(&self, h: f64) -> Result<Transition> {
        check_step(h)?;
        let n = self.f.nrows();
        let t = self.preconditioner(h);
        let a = expm(&(&self.f * h));
        let abar = Array2::from_shape_fn((n, n), |(i, j)| a[[i, j]] * t[j] / t[i]);
        // Composite Gauss–Legendre: enough panels that each sees a bounded decay.
        let stiffness = self.f.iter().fold(0.0f64, |m, v| m.max(v.abs())) * h;
        let panels = (stiffness / 2.0).ceil().clamp(1.0, 256.0) as usize;
        let (x, w) = gauss_legendre(2 * n + 8)?;
        let mut cols = Array2::zeros((n, panels * x.len()));
        let width = h / panels as f64;
        let mut c = 0;
        for p in 0..panels {
            for (xk, wk) in x.iter().zip(w.iter()) {
                let sk = width * (p as f64 + 0.5 * (xk + 1.0));
                let phi = expm(&(&self.f * sk));
                let scale = (0.5 * width * wk * self.qc).sqrt();
                for i in 0..n {
                    cols[[i, c]] = phi[[i, n - 1]] * scale / t[i];
                }
                c += 1;
            }
        }
        let l = pn_core::dense::cholesky_of_sum(&[cols.view()])?;
        Ok(lift(&abar, &l, &t, &self.diffusion))
    }

    fn stationary(&self) -> Option<Gaussian> {
        let n = self.f.nrows();
        let mut g = Array2::zeros((n, n));
        g[[n - 1, n - 1]] = self.qc;
        let p = lyapunov(&self.f, &g).ok()?;
        let p = symmetrise(p);
        let d = self.diffusion.len();
        let cov = Covariance::kronecker(
            Covariance::dense(p).ok()?,
            Covariance::diagonal(self.diffusion.clone()).ok()?,
        );
        Gaussian::new(Array1::zeros(n * d), cov).ok()
    }
}

/// The integrated Ornstein–Uhlenbeck process IOUP(q): the `q`-th derivative is an
/// Ornstein–Uhlenbeck process `dx^{(q)} = −θ x^{(q)} dt + √γ dW`, the lower ones its integrals.
/// With `θ = 0` it is IWP(q).
#[derive(Debug, Clone, PartialEq)]
pub struct Ioup(Lti);

impl Ioup {
    /// IOUP(q) with mean-reversion rate `θ` on `d` coordinates with unit diffusion.
    pub fn new(q: usize, rate: f64, d: usize) -> Result<Self> {
        Self::with_diffusion(q, rate, Array1::ones(d))
    }

    /// IOUP(q) with per-coordinate diffusions.
    pub fn with_diffusion(q: usize, rate: f64, diffusion: Array1<f64>) -> Result<Self> {
        if q > MAX_ORDER {
            return Err(Error::UnsupportedOrder {
                order: q,
                min: 0,
                max: MAX_ORDER,
            });
        }
        if !rate.is_finite() {
            return Err(pn_core::Error::InvalidParameter {
                name: "rate",
                value: rate,
                reason: "must be finite",
            }
            .into());
        }
        check_diffusion(&diffusion)?;
        let mut f = Array2::zeros((q + 1, q + 1));
        for i in 0..q {
            f[[i, i + 1]] = 1.0;
        }
        f[[q, q]] = -rate;
        Ok(Self(Lti {
            f,
            qc: 1.0,
            diffusion,
        }))
    }
}

/// Both public priors are thin wrappers of [`Lti`]; `$stationary` says whether the prior has a
/// stationary distribution to report.
macro_rules! lti_prior {
    ($ty:ty, $stationary:expr) => {
        impl GaussMarkov for $ty {
            fn dim(&self) -> usize {
                self.0.diffusion.len()
            }
            fn order(&self) -> usize {
                self.0.order()
            }
            fn transition(&self, h: f64) -> Result<Transition> {
                self.0.transition(h)
            }
            fn stationary(&self) -> Option<Gaussian> {
                if $stationary {
                    self.0.stationary()
                } else {
                    None
                }
            }
        }
    };
}

lti_prior!(Ioup, false);

/// The Matérn-ν process with half-integer `ν = p + ½` as the state-space model of
/// Hartikainen & Särkkä (2010): the state is `(f, f', …, f^{(p)})`, the drift has characteristic
/// polynomial `(s + λ)^{p+1}` with `λ = √(2ν)/ℓ`, and the white-noise spectral density is
/// `q_c = σ² (p!)² / (2p)! · (2λ)^{2p+1}`, so that the stationary covariance of `f` is the
/// Matérn kernel with lengthscale `ℓ` and variance `σ²`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matern(Lti);

impl Matern {
    /// Matérn-(p + ½) with lengthscale `ℓ` and variance `σ²` on `d` independent coordinates
    /// (`p = 0, 1, 2` are Matérn ½, ³⁄₂, ⁵⁄₂).
    pub fn new(p: usize, lengthscale: f64, variance: f64, d: usize) -> Result<Self> {
        if p > MAX_ORDER {
            return Err(Error::UnsupportedOrder {
                order: p,
                min: 0,
                max: MAX_ORDER,
            });
        }
        pn_core::validate::positive("lengthscale", lengthscale)?;
        pn_core::validate::positive("variance", variance)?;
        if d == 0 {
            return Err(pn_core::Error::Empty { what: "dimensions" }.into());
        }
        let nu = p as f64 + 0.5;
        let lam = (2.0 * nu).sqrt() / lengthscale;
        let n = p + 1;
        let mut f = Array2::zeros((n, n));
        for i in 0..p {
            f[[i, i + 1]] = 1.0;
        }
        for k in 0..n {
            let binom = factorial(n) / (factorial(k) * factorial(n - k));
            f[[p, k]] = -binom * lam.powi((n - k) as i32);
        }
        let qc =
            variance * factorial(p).powi(2) / factorial(2 * p) * (2.0 * lam).powi(2 * p as i32 + 1);
        Ok(Self(Lti {
            f,
            qc,
            diffusion: Array1::ones(d),
        }))
    }

    /// The drift matrix `F` of one coordinate.
    pub fn drift(&self) -> ndarray::ArrayView2<'_, f64> {
        self.0.f.slice(s![.., ..])
    }
}

lti_prior!(Matern, true);
