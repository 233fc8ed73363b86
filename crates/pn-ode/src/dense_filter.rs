//! The dense-covariance ODE filter step (EK1, and the EK0 for comparison) on flat buffers.
//!
//! The state `X = (x, x', …, x^{(q)})` is stored derivative-major (`k · d + j`) with a full
//! square-root factor `L` (`n × n`, `n = (q + 1) d`, row-major). The prior acts as `Ā ⊗ I_d` and
//! `L̄_Q ⊗ I_d` in the preconditioned coordinates `X̄ = (T(h) ⊗ I_d)⁻¹ X`, which the code exploits
//! instead of forming Kronecker products. The noise-free observation `H̄ X̄ = y` (`d` rows) is
//! processed row by row with the exact projection update of [`condition_factor`] — sequential
//! conditioning on the rows equals joint conditioning — so the only QR per step is the
//! prediction's `n × 2n` one.

use ndarray::{Array1, Array2};
use pn_filter::SqrtGaussian;

use crate::blockwise::{Prior1d, Workspace, dot, tria_lower_first};

/// The dense filter's state and scratch space.
pub(crate) struct DenseFilter {
    prior: Prior1d,
    d: usize,
    n: usize,
    /// The order `o` of the equation: observe `x^{(o)} − f(t, x, …, x^{(o−1)})`.
    order: usize,
    ek1: bool,
    /// Current mean (original coordinates).
    pub(crate) mean: Vec<f64>,
    /// Current factor (original coordinates, row-major `n × n`).
    pub(crate) chol: Vec<f64>,
    ws: Workspace,
    // The attempted step.
    p: Vec<f64>,
    mbar: Vec<f64>,
    jac: Array2<f64>,
    fx: Vec<f64>,
    lbar: Vec<f64>,
    hrow: Vec<f64>,
    // Scratch of `measure` and `accept` (no allocation per step).
    bmat: Vec<f64>,
    smat: Vec<f64>,
    z: Vec<f64>,
    w: Vec<f64>,
    sd: Vec<f64>,
    y: Vec<f64>,
    g: Vec<f64>,
    k: Vec<f64>,
    /// The last accepted step's correction of `x, …, x^{(o−1)}` by the update (original
    /// coordinates, `o · d`): how far conditioning moved the extrapolated solution.
    pub(crate) x_correction: Vec<f64>,
}

/// What an attempted step measured.
pub(crate) struct Attempt {
    /// `σ̂² = zᵀ (H Q Hᵀ)⁻¹ z / d`: the local diffusion from an exact start (error estimate).
    pub(crate) sigma2: f64,
}

impl DenseFilter {
    pub(crate) fn new(
        q: usize,
        d: usize,
        order: usize,
        ek1: bool,
        mean: Vec<f64>,
        chol: Vec<f64>,
    ) -> crate::Result<Self> {
        let n = (q + 1) * d;
        Ok(Self {
            prior: Prior1d::new(q)?,
            d,
            n,
            order,
            ek1,
            mean,
            chol,
            ws: Workspace::default(),
            p: vec![0.0; q + 1],
            mbar: vec![0.0; n],
            jac: Array2::zeros((d, order * d)),
            fx: vec![0.0; d],
            lbar: vec![0.0; n * n],
            hrow: vec![0.0; n],
            bmat: vec![0.0; d * (order + 1) * d],
            smat: vec![0.0; d * d],
            z: vec![0.0; d],
            w: vec![0.0; d],
            sd: vec![0.0; d],
            y: vec![0.0; d],
            g: vec![0.0; n],
            k: vec![0.0; n],
            x_correction: vec![0.0; order * d],
        })
    }

    /// The current belief as a [`SqrtGaussian`].
    pub(crate) fn belief(&self) -> SqrtGaussian {
        SqrtGaussian {
            mean: Array1::from(self.mean.clone()),
            chol: Array2::from_shape_vec((self.n, self.n), self.chol.clone()).expect("n × n"),
        }
    }

    /// Predict the mean over `h` into `x` (the predicted `x`), keeping `m̄⁻`.
    pub(crate) fn predict_mean(&mut self, h: f64, x: &mut [f64]) {
        let (d, q1) = (self.d, self.prior.n);
        self.prior.precond(h, &mut self.p);
        let a = self.prior.a();
        for i in 0..q1 {
            for j in 0..d {
                let mut v = 0.0;
                for l in i..q1 {
                    v += a[i * q1 + l] * self.mean[l * d + j] / self.p[l];
                }
                self.mbar[i * d + j] = v;
            }
        }
        for k in 0..self.order {
            for j in 0..d {
                x[k * d + j] = self.mbar[k * d + j] * self.p[k];
            }
        }
    }

    /// The Jacobian buffer to fill (EK1).
    pub(crate) fn jac_mut(&mut self) -> &mut Array2<f64> {
        &mut self.jac
    }

    /// The predicted residual's standard deviations `√(H Q Hᵀ)ᵢᵢ` (unit diffusion) of the last
    /// [`measure`](Self::measure).
    pub(crate) fn sd(&self) -> &[f64] {
        &self.sd
    }

    /// Local calibration and error-estimate data from `H Q Hᵀ`, given `f(x̂)`.
    pub(crate) fn measure(&mut self, fx: &[f64]) -> Attempt {
        let d = self.d;
        let q1 = self.prior.n;
        self.fx.copy_from_slice(fx);
        let lq = self.prior.lq();
        let o = self.order;
        // B = H̄ (L̄_Q ⊗ I) with H̄ = pₒ Eₒ − Σ_{k<o} (∂f/∂x⁽ᵏ⁾) pₖ Eₖ:
        // B[i, (c, j)] = δᵢⱼ pₒ L̄_Q[o, c] − Σ_{k<o} J[i, (k, j)] pₖ L̄_Q[k, c]; only c ≤ o is nonzero
        // (L̄_Q is lower triangular). H Q Hᵀ = B Bᵀ.
        let w = (o + 1) * d;
        let b = &mut self.bmat;
        for i in 0..d {
            for c in 0..=o {
                for j in 0..d {
                    let mut v = if i == j {
                        self.p[o] * lq[o * q1 + c]
                    } else {
                        0.0
                    };
                    if self.ek1 {
                        for k in c..o {
                            v -= self.jac[[i, k * d + j]] * self.p[k] * lq[k * q1 + c];
                        }
                    }
                    b[i * w + c * d + j] = v;
                }
            }
        }
        let s = &mut self.smat;
        for i in 0..d {
            for k in 0..=i {
                let v: f64 = b[i * w..(i + 1) * w]
                    .iter()
                    .zip(&b[k * w..(k + 1) * w])
                    .map(|(x, y)| x * y)
                    .sum();
                s[i * d + k] = v;
                s[k * d + i] = v;
            }
        }
        for (i, sd) in self.sd.iter_mut().enumerate() {
            *sd = s[i * d + i].sqrt();
        }
        // σ̂² = zᵀ S⁻¹ z / d by a Cholesky of S (d × d, positive definite: pₒ L̄_Q[o, o] > 0).
        for (i, z) in self.z.iter_mut().enumerate() {
            *z = self.mbar[o * d + i] * self.p[o] - fx[i];
        }
        let sigma2 = chol_solve_norm2(s, d, &self.z, &mut self.w) / d as f64;
        Attempt { sigma2 }
    }

    /// Accept the step: predict the factor with diffusion `σ²`, condition on the linearised
    /// residual, and return `Σ r²/S` (the squared Mahalanobis norm of the innovation).
    pub(crate) fn accept(&mut self, diffusion: f64) -> f64 {
        let (d, n, q1) = (self.d, self.n, self.prior.n);
        let a = self.prior.a();
        let lq = self.prior.lq();
        let sigma = diffusion.max(0.0).sqrt();
        // F = [σ (L̄_Q ⊗ I) | (Ā ⊗ I) (T ⊗ I)⁻¹ L], row-major n × 2n, built from row operations
        // with the preconditioner folded into the coefficients (`Ā[i, l] / p[l]`).
        let f = self.ws.buffer(n * 2 * n);
        for i in 0..q1 {
            for j in 0..d {
                let r = i * d + j;
                let row = &mut f[r * 2 * n..(r + 1) * 2 * n];
                // [σ (L̄_Q ⊗ I) | (Ā ⊗ I) L̄]: the triangular block first.
                let (right, left) = row.split_at_mut(n);
                for l in i..q1 {
                    let al = a[i * q1 + l];
                    if al != 0.0 {
                        let al = al / self.p[l];
                        let src = &self.chol[(l * d + j) * n..(l * d + j + 1) * n];
                        for (o, s) in left.iter_mut().zip(src) {
                            *o += al * s;
                        }
                    }
                }
                for c in 0..=i {
                    right[c * d + j] = sigma * lq[i * q1 + c];
                }
            }
        }
        tria_lower_first(f, n, &mut self.lbar);
        // Condition row by row on (Eₒ − Σ_{k<o} Jₖ Eₖ) X = f(x̂) − Σ_{k<o} Jₖ x̂⁽ᵏ⁾ (EK1) or
        // Eₒ X = f(x̂) (EK0). The targets use the linearisation point (the predicted mean),
        // fixed before the rows update the mean.
        let o = self.order;
        for (i, y) in self.y.iter_mut().enumerate() {
            *y = self.fx[i];
            if self.ek1 {
                for k in 0..o {
                    for c in 0..d {
                        *y -= self.jac[[i, k * d + c]] * self.mbar[k * d + c] * self.p[k];
                    }
                }
            }
        }
        for (c, m) in self.x_correction.iter_mut().zip(&self.mbar) {
            *c = *m;
        }
        // Only the first (o + 1) d entries of a row of H̄ can be nonzero.
        let rows = (o + 1) * d;
        let mut maha = 0.0;
        for i in 0..d {
            let h = &mut self.hrow[..rows];
            h.fill(0.0);
            h[o * d + i] = self.p[o];
            if self.ek1 {
                for k in 0..o {
                    for c in 0..d {
                        h[k * d + c] = -self.jac[[i, k * d + c]] * self.p[k];
                    }
                }
            }
            // Exact projection L̄⁺ = L̄⁻ − u ĝᵀ, ĝ = (h̄ L̄⁻)ᵀ/√S, u = L̄⁻ ĝ, gain K = u/√S.
            let g = &mut self.g;
            g.fill(0.0);
            for (r, &hr) in h.iter().enumerate() {
                if hr != 0.0 {
                    for (gc, l) in g.iter_mut().zip(&self.lbar[r * n..(r + 1) * n]) {
                        *gc += hr * l;
                    }
                }
            }
            let s = dot(g, g);
            if !(s > 0.0 && s.is_finite()) {
                continue;
            }
            let sq = s.sqrt();
            let inv = 1.0 / sq;
            for gc in g.iter_mut() {
                *gc *= inv;
            }
            for (row, k) in self.lbar.chunks_exact_mut(n).zip(self.k.iter_mut()) {
                let u = dot(row, g);
                *k = u * inv;
                for (l, g) in row.iter_mut().zip(g.iter()) {
                    *l -= u * g;
                }
            }
            let hm: f64 = h.iter().zip(&self.mbar[..rows]).map(|(h, m)| h * m).sum();
            let r = self.y[i] - hm;
            for (m, k) in self.mbar.iter_mut().zip(&self.k) {
                *m += k * r;
            }
            maha += r * r / s;
        }
        for (r, c) in self.x_correction.iter_mut().enumerate() {
            *c = (self.mbar[r] - *c) * self.p[r / d];
        }
        for i in 0..q1 {
            let pi = self.p[i];
            for j in 0..d {
                let r = i * d + j;
                self.mean[r] = self.mbar[r] * pi;
                for (dst, src) in self.chol[r * n..(r + 1) * n]
                    .iter_mut()
                    .zip(&self.lbar[r * n..(r + 1) * n])
                {
                    *dst = src * pi;
                }
            }
        }
        maha
    }
}

/// `‖L⁻¹ z‖²` for `S = L Lᵀ` (`S` row-major `d × d`, overwritten by its factor; `w` scratch of
/// length `d`); a non-positive pivot (which `H Q Hᵀ` cannot have) gives `∞`.
fn chol_solve_norm2(s: &mut [f64], d: usize, z: &[f64], w: &mut [f64]) -> f64 {
    for j in 0..d {
        let mut v = s[j * d + j];
        for k in 0..j {
            v -= s[j * d + k] * s[j * d + k];
        }
        if v <= 0.0 {
            return f64::INFINITY;
        }
        let ljj = v.sqrt();
        s[j * d + j] = ljj;
        for i in j + 1..d {
            let mut w = s[i * d + j];
            for k in 0..j {
                w -= s[i * d + k] * s[j * d + k];
            }
            s[i * d + j] = w / ljj;
        }
    }
    let mut acc = 0.0;
    for i in 0..d {
        let mut v = z[i];
        for k in 0..i {
            v -= s[i * d + k] * w[k];
        }
        w[i] = v / s[i * d + i];
        acc += w[i] * w[i];
    }
    acc
}
