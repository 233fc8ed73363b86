//! State-space Gaussian processes: exact GP regression on 1-D inputs in `O(n)`.
//!
//! A Matérn-ν kernel with half-integer `ν = p + ½` is the covariance of the stationary solution
//! of the linear SDE `(D + λ)^{p+1} f = w`, `λ = √(2ν)/ℓ`, with a `(p+1)`-dimensional state
//! `(f, f', …, f⁽ᵖ⁾)` (Hartikainen & Särkkä, 2010); a sum of such kernels is the sum of
//! independent processes with the stacked state. On sorted inputs the GP posterior and its
//! marginal likelihood are then computed by a square-root Kalman filter and
//! Rauch–Tung–Striebel smoother at a cost linear in the number of data points — the same
//! numbers as the dense `O(n³)` computation, to round-off.
//!
//! # Discretisation in closed form
//!
//! Each component is written in the dimensionless state `x̃ⱼ = f⁽ʲ⁾/λʲ` and time `τ = λ h`,
//! where its drift is the companion matrix `F̃` of `(s + 1)^{p+1}` and `N = F̃ + I` is
//! nilpotent (`N^{p+1} = 0`, Cayley–Hamilton). Hence, exactly,
//!
//! - `A(τ) = exp(F̃ τ) = e^{−τ} Σ_{k≤p} τᵏ/k! Nᵏ`, and
//! - `Q(τ) = q̃ ∫₀^τ A(s) e eᵀ A(s)ᵀ ds`, whose entries are sums of
//!   `∫₀^τ sᵐ e^{−2s} ds = m!/2^{m+1} · P(m+1, 2τ)` (regularised lower incomplete gamma,
//!   evaluated by its series for small arguments), so no entry is formed by cancellation
//!   `P∞ − A P∞ Aᵀ` and the factor of `Q` is accurate for steps far below the lengthscale;
//! - the stationary covariance is `P∞ = Q(∞)`, and `q̃ = σ² (p!)²/(2p)! · 2^{2p+1}` makes
//!   `P∞₀₀ = σ²`.
//!
//! # The filter
//!
//! Beliefs are kept as `(m, L)` with `Σ = L Lᵀ`; every predict, update and smoothing step
//! triangularises a small pre-array by Householder reflections (`tria(M)`: the lower-triangular
//! `L` with `L Lᵀ = M Mᵀ`), so covariances are never formed, never re-factorised and stay
//! positive semi-definite. All per-step work happens in preallocated buffers: the cost per data
//! point is a few hundred floating-point operations for a single Matérn-³⁄₂ (state size 2),
//! and the memory is that of the filtering and smoothing beliefs, `2 (d + d²)` numbers per
//! distinct input for a state of size `d`.
//!
//! The same model is also available, through general matrix exponentials and quadrature, in
//! `pn-filter` (`Matern`, `Stacked`, `filter`); this module's tests use it as an independent
//! reference.

use ndarray::{Array1, ArrayView1};
use pn_core::memory::zeroed;

use crate::error::Result;

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Half-integer smoothness of a Matérn kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nu {
    /// `ν = ½` (exponential kernel, Ornstein–Uhlenbeck process).
    Half,
    /// `ν = 3/2`.
    ThreeHalves,
    /// `ν = 5/2`.
    FiveHalves,
}

impl Nu {
    fn p(self) -> usize {
        match self {
            Nu::Half => 0,
            Nu::ThreeHalves => 1,
            Nu::FiveHalves => 2,
        }
    }
}

/// One Matérn component `σ² k_ν(|x − x'| / ℓ)` of the kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaternComponent {
    /// Smoothness.
    pub nu: Nu,
    /// Lengthscale `ℓ > 0`.
    pub lengthscale: f64,
    /// Variance (output scale) `σ² > 0`.
    pub variance: f64,
}

/// One component's closed-form discretisation (dimensionless coordinates).
#[derive(Debug, Clone)]
struct Component {
    /// State size `p + 1`.
    k: usize,
    /// Offset of this component's block in the stacked state.
    off: usize,
    /// `λ = √(2p+1)/ℓ`.
    lambda: f64,
    /// `A(τ)ᵢⱼ = e^{−τ} Σ_deg a[(i k + j) k + deg] τ^deg / 1` (the `1/deg!` is folded in).
    a_poly: Vec<f64>,
    /// `Q(τ)ᵢⱼ = Σ_m q[(i k + j)(2p+1) + m] J_m(τ)`, `J_m(τ) = ∫₀^τ sᵐ e^{−2s} ds`
    /// (the spectral density `q̃` is folded in).
    q_poly: Vec<f64>,
    /// Lower Cholesky factor of `P∞` (`k × k`, row-major).
    pinf_chol: Vec<f64>,
}

impl Component {
    fn new(c: &MaternComponent, off: usize) -> Result<Self> {
        pn_core::validate::positive("lengthscale", c.lengthscale)?;
        pn_core::validate::positive("variance", c.variance)?;
        let p = c.nu.p();
        let k = p + 1;
        // N = F̃ + I with F̃ the companion matrix of (s + 1)^{p+1}.
        let mut n = vec![0.0; k * k];
        for i in 0..p {
            n[i * k + i] = 1.0;
            n[i * k + i + 1] = 1.0;
        }
        for j in 0..k {
            n[p * k + j] = -(binomial(k, j) as f64);
        }
        n[p * k + p] += 1.0;
        // Powers N⁰ … Nᵖ.
        let mut powers = vec![identity(k)];
        for _ in 0..p {
            let last = powers.last().expect("non-empty");
            powers.push(matmul(last, &n, k));
        }
        let mut a_poly = vec![0.0; k * k * k];
        for (deg, pw) in powers.iter().enumerate() {
            let f = 1.0 / factorial(deg);
            for ij in 0..k * k {
                a_poly[ij * k + deg] = pw[ij] * f;
            }
        }
        // v(s) = A(s) e_p = e^{−s} Σ_a c[i][a] sᵃ with c[i][a] = (Nᵃ e_p)ᵢ / a!.
        let c_of = |i: usize, a: usize| powers[a][i * k + p] / factorial(a);
        let qc = c.variance * factorial(p).powi(2) / factorial(2 * p) * 2f64.powi(2 * p as i32 + 1);
        let nm = 2 * p + 1;
        let mut q_poly = vec![0.0; k * k * nm];
        for i in 0..k {
            for j in 0..k {
                for a in 0..k {
                    for b in 0..k {
                        q_poly[(i * k + j) * nm + a + b] += qc * c_of(i, a) * c_of(j, b);
                    }
                }
            }
        }
        let mut comp = Self {
            k,
            off,
            lambda: (2.0 * p as f64 + 1.0).sqrt() / c.lengthscale,
            a_poly,
            q_poly,
            pinf_chol: vec![0.0; k * k],
        };
        let mut pinf = vec![0.0; k * k];
        comp.q_block(f64::INFINITY, &mut pinf);
        let mut l = vec![0.0; k * k];
        small_cholesky(&pinf, k, &mut l);
        comp.pinf_chol = l;
        Ok(comp)
    }

    /// `A(τ)` into the `k × k` row-major `out`.
    fn a_block(&self, tau: f64, out: &mut [f64]) {
        let k = self.k;
        let e = (-tau).exp();
        for ij in 0..k * k {
            let mut s = 0.0;
            let mut tp = 1.0;
            for deg in 0..k {
                s += self.a_poly[ij * k + deg] * tp;
                tp *= tau;
            }
            out[ij] = e * s;
        }
    }

    /// `Q(τ)` into the `k × k` row-major `out` (`τ = ∞` gives `P∞`).
    fn q_block(&self, tau: f64, out: &mut [f64]) {
        let k = self.k;
        let nm = 2 * k - 1;
        let mut j = [0.0; 2 * MAX_K - 1];
        moments(tau, &mut j[..nm]);
        for ij in 0..k * k {
            let q = &self.q_poly[ij * nm..(ij + 1) * nm];
            out[ij] = q.iter().zip(&j[..nm]).map(|(a, b)| a * b).sum();
        }
    }
}

const MAX_K: usize = 3;

/// `J_m(τ) = ∫₀^τ sᵐ e^{−2s} ds = m!/2^{m+1} · P(m+1, 2τ)` for `m = 0 … out.len() − 1`.
///
/// With `x = 2τ` below the largest order `a = out.len()`, `P(a, x)` comes from its series and
/// the lower orders from the recurrence `P(b, x) = P(b+1, x) + e^{−x} xᵇ/b!`, which only adds
/// positive terms; otherwise every `P(b, x)`, `b ≤ a ≤ x`, is at least about ½ and its
/// complement form does not cancel.
fn moments(tau: f64, out: &mut [f64]) {
    let a = out.len();
    let x = 2.0 * tau;
    if x < a as f64 {
        let mut p = gamma_p(a, x);
        let e = (-x).exp();
        // e^{−x} x^{b−1}/(b−1)!, from b = a down.
        let mut pow = (0..a - 1).fold(1.0, |acc, _| acc * x) / factorial(a - 1);
        for b in (1..=a).rev() {
            out[b - 1] = factorial(b - 1) / f64::from(1u32 << b) * p;
            if b > 1 {
                p += e * pow;
                pow *= (b - 1) as f64 / x.max(f64::MIN_POSITIVE);
            }
        }
    } else {
        for (m, o) in out.iter_mut().enumerate() {
            *o = factorial(m) / f64::from(1u32 << (m + 1)) * gamma_p(m + 1, x);
        }
    }
}

/// The regularised lower incomplete gamma function `P(a, x)` for integer `a ≥ 1`, `x ≥ 0`:
/// for `x < a` the series `e^{−x} Σ_{j≥a} xʲ/j!` (no cancellation, ratio `x/(j+1) < 1`),
/// else `1 − e^{−x} Σ_{j<a} xʲ/j!` (then `P ≥ ½` roughly, so the difference is benign).
fn gamma_p(a: usize, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x > 745.0 {
        return 1.0;
    }
    if x < a as f64 {
        let mut t = x.powi(a as i32) / factorial(a);
        let mut s = t;
        let mut j = a;
        loop {
            t *= x / (j + 1) as f64;
            s += t;
            j += 1;
            if t <= 1e-17 * s {
                break;
            }
        }
        (-x).exp() * s
    } else {
        let mut t = 1.0;
        let mut s = 1.0;
        for j in 1..a {
            t *= x / j as f64;
            s += t;
        }
        1.0 - (-x).exp() * s
    }
}

fn factorial(n: usize) -> f64 {
    const TABLE: [f64; 8] = [1.0, 1.0, 2.0, 6.0, 24.0, 120.0, 720.0, 5040.0];
    TABLE
        .get(n)
        .copied()
        .unwrap_or_else(|| (1..=n).map(|v| v as f64).product())
}

fn binomial(n: usize, k: usize) -> usize {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

fn identity(k: usize) -> Vec<f64> {
    let mut m = vec![0.0; k * k];
    for i in 0..k {
        m[i * k + i] = 1.0;
    }
    m
}

fn matmul(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
    let mut c = vec![0.0; k * k];
    for i in 0..k {
        for l in 0..k {
            let v = a[i * k + l];
            for j in 0..k {
                c[i * k + j] += v * b[l * k + j];
            }
        }
    }
    c
}

/// Lower Cholesky factor of a small symmetric positive semi-definite matrix; a pivot that
/// round-off drove to `≤ 0` (only for steps so short that `Q` underflows) gives a zero column.
fn small_cholesky(a: &[f64], k: usize, l: &mut [f64]) {
    l[..k * k].iter_mut().for_each(|v| *v = 0.0);
    for j in 0..k {
        let mut d = a[j * k + j];
        for r in 0..j {
            d -= l[j * k + r] * l[j * k + r];
        }
        if d <= 0.0 {
            continue;
        }
        let djj = d.sqrt();
        l[j * k + j] = djj;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for r in 0..j {
                s -= l[i * k + r] * l[j * k + r];
            }
            l[i * k + j] = s / djj;
        }
    }
}

/// `out ← tria([G L, Z])`: the lower-triangular square root of `G L Lᵀ Gᵀ + Z Zᵀ` for row-major
/// `d × d` matrices, built in the `d × 2d` scratch `pre` (`v`: scratch of length `≥ 2d`).
fn sqrt_product_plus(
    g: &[f64],
    l: &[f64],
    z: &[f64],
    d: usize,
    pre: &mut [f64],
    v: &mut [f64],
    out: &mut [f64],
) {
    let cols = 2 * d;
    for i in 0..d {
        for j in 0..d {
            pre[i * cols + j] = (0..d).map(|r| g[i * d + r] * l[r * d + j]).sum();
            pre[i * cols + d + j] = z[i * d + j];
        }
    }
    tria(pre, d, cols, v);
    for i in 0..d {
        out[i * d..(i + 1) * d].copy_from_slice(&pre[i * cols..i * cols + d]);
    }
}

/// `tria`: overwrite the row-major `rows × cols` matrix `m` (`cols ≥ rows`) by `[L 0]`, `L`
/// lower triangular with a non-negative diagonal and `L Lᵀ = M Mᵀ`, by Householder reflections
/// applied from the right. `v` is scratch of length `≥ cols`.
fn tria(m: &mut [f64], rows: usize, cols: usize, v: &mut [f64]) {
    debug_assert!(cols >= rows && m.len() >= rows * cols && v.len() >= cols);
    for i in 0..rows {
        let (head, tail) = m.split_at_mut((i + 1) * cols);
        let ri = &mut head[i * cols + i..];
        let norm2: f64 = ri.iter().map(|x| x * x).sum();
        let x0 = ri[0];
        let below = tail[..(rows - i - 1) * cols].chunks_exact_mut(cols);
        if norm2 - x0 * x0 <= 0.0 {
            // Already [x0, 0, …]: only fix the sign.
            if x0 < 0.0 {
                ri[0] = -x0;
                below.for_each(|row| row[i] = -row[i]);
            }
            continue;
        }
        let norm = norm2.sqrt();
        // H x = α e₁ with α = −sign(x₀)‖x‖, v = x − α e₁, H = I − 2 v vᵀ / vᵀv; the column is
        // negated afterwards where α < 0, so the diagonal ends non-negative.
        let alpha = if x0 > 0.0 { -norm } else { norm };
        let v = &mut v[..ri.len()];
        v.copy_from_slice(ri);
        v[0] -= alpha;
        let beta = 1.0 / (norm2 - alpha * x0);
        ri[0] = alpha.abs();
        ri[1..].iter_mut().for_each(|x| *x = 0.0);
        let flip = alpha < 0.0;
        for row in below {
            let r = &mut row[i..];
            let w = beta * r.iter().zip(v.iter()).map(|(a, b)| a * b).sum::<f64>();
            r.iter_mut().zip(v.iter()).for_each(|(a, b)| *a -= w * b);
            if flip {
                r[0] = -r[0];
            }
        }
    }
}

/// GP regression `y = f(x) + ε`, `f ~ GP(0, Σᵢ kᵢ)`, `ε ~ N(0, σ_n²)`, on 1-D inputs, solved in
/// state-space form.
#[derive(Debug, Clone)]
pub struct StateSpaceGp {
    model: Model,
    jitter_ladder: Vec<f64>,
}

#[derive(Debug, Clone)]
struct Model {
    comps: Vec<Component>,
    /// Stacked state size.
    d: usize,
    noise_variance: f64,
}

/// Preallocated buffers for one pass (all row-major).
struct Work {
    a: Vec<f64>,
    lq: Vec<f64>,
    pre: Vec<f64>,
    v: Vec<f64>,
    blk: Vec<f64>,
    mean: Vec<f64>,
    gain: Vec<f64>,
    offset: Vec<f64>,
    chol: Vec<f64>,
    /// The step whose transition `a`, `lq` hold (regular grids reuse it).
    last_h: f64,
}

impl Work {
    fn new(d: usize) -> Self {
        Self {
            a: vec![0.0; d * d],
            lq: vec![0.0; d * d],
            pre: vec![0.0; 4 * d * d],
            v: vec![0.0; 2 * d + 1],
            blk: vec![0.0; MAX_K * MAX_K],
            mean: vec![0.0; d],
            gain: vec![0.0; d * d],
            offset: vec![0.0; d],
            chol: vec![0.0; d * d],
            last_h: f64::NAN,
        }
    }
}

impl Model {
    /// `A(h)` and the factor of `Q(h)` of the stacked state into `w.a`, `w.lq`.
    fn transition(&self, h: f64, w: &mut Work) {
        if h == w.last_h {
            return;
        }
        w.last_h = h;
        let d = self.d;
        w.a.iter_mut().for_each(|v| *v = 0.0);
        w.lq.iter_mut().for_each(|v| *v = 0.0);
        for c in &self.comps {
            let k = c.k;
            let tau = c.lambda * h;
            c.a_block(tau, &mut w.blk);
            for i in 0..k {
                for j in 0..k {
                    w.a[(c.off + i) * d + c.off + j] = w.blk[i * k + j];
                }
            }
            let mut q = [0.0; MAX_K * MAX_K];
            c.q_block(tau, &mut q);
            small_cholesky(&q, k, &mut w.blk);
            for i in 0..k {
                for j in 0..=i {
                    w.lq[(c.off + i) * d + c.off + j] = w.blk[i * k + j];
                }
            }
        }
    }

    /// The stationary prior's factor (block diagonal).
    fn stationary_chol(&self, out: &mut [f64]) {
        let d = self.d;
        out[..d * d].iter_mut().for_each(|v| *v = 0.0);
        for c in &self.comps {
            for i in 0..c.k {
                for j in 0..c.k {
                    out[(c.off + i) * d + c.off + j] = c.pinf_chol[i * c.k + j];
                }
            }
        }
    }

    /// Predict `(m, L)` over a step `h > 0`: `w.mean`, `w.chol` ← `A m`, `tria([A L, L_Q])`.
    fn predict(&self, m: &[f64], l: &[f64], h: f64, w: &mut Work) {
        let d = self.d;
        self.transition(h, w);
        for i in 0..d {
            w.mean[i] = (0..d).map(|j| w.a[i * d + j] * m[j]).sum();
        }
        sqrt_product_plus(&w.a, l, &w.lq, d, &mut w.pre, &mut w.v, &mut w.chol);
    }

    /// The backward kernel `p(x_k | x_{k+1}) = N(G x_{k+1} + g, Z Zᵀ)` of a step `h` from the
    /// belief `(m, L)` at `x_k`, from one `tria` of `[[A L, L_Q], [L, 0]]`: into `w.gain`,
    /// `w.offset`, `w.chol`.
    fn backward_kernel(&self, m: &[f64], l: &[f64], h: f64, w: &mut Work) {
        let d = self.d;
        self.transition(h, w);
        let cols = 2 * d;
        for i in 0..d {
            for j in 0..d {
                w.pre[i * cols + j] = (0..d).map(|r| w.a[i * d + r] * l[r * d + j]).sum();
                w.pre[i * cols + d + j] = w.lq[i * d + j];
                w.pre[(d + i) * cols + j] = l[i * d + j];
                w.pre[(d + i) * cols + d + j] = 0.0;
            }
        }
        tria(&mut w.pre, cols, cols, &mut w.v);
        // G X = Y with X = pre[..d, ..d] lower triangular: forward over columns of G.
        let xmax = (0..d).fold(0.0f64, |a, i| a.max(w.pre[i * cols + i]));
        for r in 0..d {
            for j in (0..d).rev() {
                let xjj = w.pre[j * cols + j];
                if xjj <= 1e-300 + 1e-15 * xmax {
                    // No predicted uncertainty in this direction: it carries nothing back.
                    w.gain[r * d + j] = 0.0;
                    continue;
                }
                let mut s = w.pre[(d + r) * cols + j];
                for i in j + 1..d {
                    s -= w.gain[r * d + i] * w.pre[i * cols + j];
                }
                w.gain[r * d + j] = s / xjj;
            }
        }
        for i in 0..d {
            for j in 0..d {
                w.chol[i * d + j] = w.pre[(d + i) * cols + d + j];
            }
        }
        // g = m − G A m.
        for i in 0..d {
            w.mean[i] = (0..d).map(|j| w.a[i * d + j] * m[j]).sum();
        }
        for i in 0..d {
            w.offset[i] = m[i] - (0..d).map(|j| w.gain[i * d + j] * w.mean[j]).sum::<f64>();
        }
    }

    /// Push the belief `(m, L)` at `x_{k+1}` back through the kernel in `w`: into `out_m`,
    /// `out_l` (`G m + g`, `tria([G L, Z])`).
    fn marginalise(
        &self,
        m: &[f64],
        l: &[f64],
        w: &mut Work,
        out_m: &mut [f64],
        out_l: &mut [f64],
    ) {
        let d = self.d;
        for i in 0..d {
            out_m[i] = w.offset[i] + (0..d).map(|j| w.gain[i * d + j] * m[j]).sum::<f64>();
        }
        sqrt_product_plus(&w.gain, l, &w.chol, d, &mut w.pre, &mut w.v, out_l);
    }

    /// Condition `(m, L)` in place on one scalar observation `y = H x + e`, `e ~ N(0, σ_n²)`
    /// (`H` sums the `f`-coordinates of the components): `tria([[σ_n, H L], [0, L]])`.
    /// Returns `log N(y; H m, H Σ Hᵀ + σ_n²)`.
    fn update(&self, m: &mut [f64], l: &mut [f64], y: f64, w: &mut Work) -> Result<f64> {
        let d = self.d;
        let cols = d + 1;
        w.pre[..cols * cols].iter_mut().for_each(|v| *v = 0.0);
        w.pre[0] = self.noise_variance.sqrt();
        for j in 0..d {
            w.pre[1 + j] = self.comps.iter().map(|c| l[c.off * d + j]).sum();
            for i in 0..d {
                w.pre[(1 + i) * cols + 1 + j] = l[i * d + j];
            }
        }
        tria(&mut w.pre, cols, cols, &mut w.v);
        let s = w.pre[0];
        let prior_var: f64 = self.comps.iter().map(|c| c.pinf_chol[0].powi(2)).sum();
        // A zero innovation up to the round-off of the square-root form (`s` is accurate to
        // about ε √prior_var): the observation is already known exactly.
        if s.is_nan() || s * s <= 1e-28 * prior_var {
            return Err(pn_core::Error::NotPositiveDefinite { pivot: 0 }.into());
        }
        let hm: f64 = self.comps.iter().map(|c| m[c.off]).sum();
        let z = (y - hm) / s;
        for i in 0..d {
            m[i] += w.pre[(1 + i) * cols] * z;
            for j in 0..d {
                l[i * d + j] = w.pre[(1 + i) * cols + 1 + j];
            }
        }
        Ok(-0.5 * (z * z + LN_2PI) - s.ln())
    }

    /// `(H m, ‖H L‖²)`.
    fn observe(&self, m: &[f64], l: &[f64]) -> (f64, f64) {
        let d = self.d;
        let mean = self.comps.iter().map(|c| m[c.off]).sum();
        let var = (0..d)
            .map(|j| {
                let v: f64 = self.comps.iter().map(|c| l[c.off * d + j]).sum();
                v * v
            })
            .sum();
        (mean, var)
    }
}

impl StateSpaceGp {
    /// A GP with the kernel `Σᵢ componentsᵢ` and observation noise variance `σ_n² ≥ 0`.
    /// Errors on an empty list, invalid hyperparameters or a negative/non-finite noise.
    pub fn new(components: &[MaternComponent], noise_variance: f64) -> Result<Self> {
        pn_core::validate::non_negative("noise_variance", noise_variance)?;
        if components.is_empty() {
            return Err(pn_core::Error::Empty {
                what: "Matérn components",
            }
            .into());
        }
        let mut comps = Vec::with_capacity(components.len());
        let mut off = 0;
        for c in components {
            let comp = Component::new(c, off)?;
            off += comp.k;
            comps.push(comp);
        }
        Ok(Self {
            model: Model {
                comps,
                d: off,
                noise_variance,
            },
            jitter_ladder: vec![1e-10, 1e-8, 1e-6, 1e-4],
        })
    }

    /// Replaces the jitter ladder (default `[1e-10, 1e-8, 1e-6, 1e-4]`, as on the exact path):
    /// rungs `c` relative to `mean(diag(K + σ_n² I)) = Σ σᵢ² + σ_n²`, each finite, `> 0` and
    /// increasing; empty disables jitter (see [`fit`](Self::fit)).
    ///
    /// Errors: a rung that is not finite and positive, or rungs that do not increase.
    pub fn with_jitter_ladder(mut self, rungs: Vec<f64>) -> Result<Self> {
        crate::exact::validate_ladder(&rungs)?;
        self.jitter_ladder = rungs;
        Ok(self)
    }

    /// The size of the stacked state (`Σ (pᵢ + 1)`).
    pub fn state_dim(&self) -> usize {
        self.model.d
    }

    /// Condition on data `(xᵢ, yᵢ)` (any order; repeated inputs allowed). Cost `O(n log n)`
    /// for the sort and `O(n)` for the filter and smoother; memory `2 (d + d²)` numbers per
    /// distinct input.
    ///
    /// **Jitter**, as on the exact path: with zero noise, repeated inputs make `K` singular and
    /// the second observation at an input has a zero innovation variance (zero up to the
    /// round-off of the square-root filter, `s² ≤ 10⁻²⁸ Σ σᵢ²`). The fit then restarts with
    /// `c · mean(diag(K + σ_n² I))` added to the noise for the rungs `c` of the jitter ladder
    /// ([`with_jitter_ladder`](Self::with_jitter_ladder)), stopping at the first that works;
    /// [`StateSpacePosterior::jitter`] reports the amount, and the model is `K + (σ_n² +
    /// jitter) I` from then on (the log marginal likelihood included).
    ///
    /// Errors: mismatched lengths, no data, NaN/∞ in `x` or `y`; inputs whose span
    /// `max x − min x` overflows (e.g. `±1e308`: rescale them) give
    /// [`pn_core::Error::NonFinite`] naming the span; past the last rung (or with an empty
    /// ladder), [`Error::JitterExhausted`](crate::Error::JitterExhausted) with the index of
    /// the failing observation in sorted order.
    pub fn fit(
        &self,
        x: ArrayView1<'_, f64>,
        y: ArrayView1<'_, f64>,
    ) -> Result<StateSpacePosterior> {
        if x.len() != y.len() {
            return Err(pn_core::Error::ShapeMismatch {
                op: "StateSpaceGp::fit (x and y)",
                expected: vec![x.len()],
                found: vec![y.len()],
            }
            .into());
        }
        if x.is_empty() {
            return Err(pn_core::Error::Empty { what: "data" }.into());
        }
        for (what, a) in [("x", &x), ("y", &y)] {
            if let Some(i) = a.iter().position(|v| !v.is_finite()) {
                return Err(pn_core::Error::NonFinite {
                    what,
                    index: vec![i],
                    value: a[i],
                }
                .into());
            }
        }
        let model = &self.model;
        // (input, target) pairs sorted by input: sorting the pairs themselves keeps the
        // comparisons in cache (an index sort would gather x at random); already sorted data
        // (time series, grids) are only copied.
        let mut data: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
        if !data.windows(2).all(|w| w[0].0 <= w[1].0) {
            data.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        }
        let mut times = zeroed(data.len());
        times.clear();
        for &(t, _) in &data {
            if times.last() != Some(&t) {
                times.push(t);
            }
        }
        let span = times[times.len() - 1] - times[0];
        if !span.is_finite() {
            return Err(pn_core::Error::NonFinite {
                what: "span max(x) − min(x) of the inputs (overflows f64: rescale x)",
                index: vec![],
                value: span,
            }
            .into());
        }
        let scale = model.noise_variance
            + model
                .comps
                .iter()
                .map(|c| c.pinf_chol[0].powi(2))
                .sum::<f64>();
        let mut jitter = 0.0;
        let mut rungs = self.jitter_ladder.iter();
        loop {
            let mut m = model.clone();
            m.noise_variance += jitter;
            match m.run(&data, times.clone(), jitter) {
                Err(crate::Error::Core(pn_core::Error::NotPositiveDefinite { pivot })) => {
                    match rungs.next() {
                        Some(c) => jitter = c * scale,
                        None => {
                            return Err(crate::Error::JitterExhausted { jitter, pivot });
                        }
                    }
                }
                other => return other,
            }
        }
    }
}

impl Model {
    /// The filter and smoother on sorted `data` with distinct sorted inputs `times`.
    fn run(
        &self,
        data: &[(f64, f64)],
        times: Vec<f64>,
        jitter: f64,
    ) -> Result<StateSpacePosterior> {
        let model = self;
        let d = model.d;
        let dd = d * d;
        let nt = times.len();
        let mut fm = zeroed(nt * d);
        let mut fl = zeroed(nt * dd);
        let mut w = Work::new(d);
        let mut lml = 0.0;
        // Forward: filtering beliefs at each distinct input.
        model.stationary_chol(&mut fl[..dd]);
        let mut next = 0; // index into `data`
        for k in 0..nt {
            if k > 0 {
                let (prev_m, cur_m) = fm.split_at_mut(k * d);
                let (prev_l, cur_l) = fl.split_at_mut(k * dd);
                model.predict(
                    &prev_m[(k - 1) * d..],
                    &prev_l[(k - 1) * dd..],
                    times[k] - times[k - 1],
                    &mut w,
                );
                cur_m[..d].copy_from_slice(&w.mean);
                cur_l[..dd].copy_from_slice(&w.chol);
            }
            let (m, l) = (&mut fm[k * d..(k + 1) * d], &mut fl[k * dd..(k + 1) * dd]);
            while next < data.len() && data[next].0 == times[k] {
                lml += match model.update(m, l, data[next].1, &mut w) {
                    Err(crate::Error::Core(pn_core::Error::NotPositiveDefinite { .. })) => {
                        return Err(pn_core::Error::NotPositiveDefinite { pivot: next }.into());
                    }
                    r => r?,
                };
                next += 1;
            }
        }
        // Backward: Rauch–Tung–Striebel in square-root form.
        let mut sm = zeroed(nt * d);
        let mut sl = zeroed(nt * dd);
        sm[(nt - 1) * d..].copy_from_slice(&fm[(nt - 1) * d..]);
        sl[(nt - 1) * dd..].copy_from_slice(&fl[(nt - 1) * dd..]);
        for k in (0..nt.saturating_sub(1)).rev() {
            model.backward_kernel(
                &fm[k * d..(k + 1) * d],
                &fl[k * dd..(k + 1) * dd],
                times[k + 1] - times[k],
                &mut w,
            );
            let (cur_m, after_m) = sm.split_at_mut((k + 1) * d);
            let (cur_l, after_l) = sl.split_at_mut((k + 1) * dd);
            model.marginalise(
                &after_m[..d],
                &after_l[..dd],
                &mut w,
                &mut cur_m[k * d..],
                &mut cur_l[k * dd..],
            );
        }
        if !lml.is_finite() {
            return Err(pn_core::Error::NonFinite {
                what: "log marginal likelihood",
                index: vec![],
                value: lml,
            }
            .into());
        }
        Ok(StateSpacePosterior {
            model: model.clone(),
            times,
            filtered_mean: fm,
            filtered_chol: fl,
            smoothed_mean: sm,
            smoothed_chol: sl,
            log_marginal_likelihood: lml,
            jitter,
        })
    }
}

/// The posterior of a [`StateSpaceGp`].
#[derive(Debug, Clone)]
pub struct StateSpacePosterior {
    model: Model,
    times: Vec<f64>,
    filtered_mean: Vec<f64>,
    filtered_chol: Vec<f64>,
    smoothed_mean: Vec<f64>,
    smoothed_chol: Vec<f64>,
    log_marginal_likelihood: f64,
    jitter: f64,
}

impl StateSpacePosterior {
    /// `log p(y)`, the log marginal likelihood of the data.
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.log_marginal_likelihood
    }

    /// The jitter added to the noise variance (0 unless the data needed it; see
    /// [`StateSpaceGp::fit`]).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The distinct training inputs, sorted.
    pub fn inputs(&self) -> &[f64] {
        &self.times
    }

    /// Posterior mean and variance of the latent `f` at the distinct training inputs (in the
    /// order of [`inputs`](Self::inputs)), read off the smoothed states in `O(n)`.
    pub fn at_inputs(&self) -> (Array1<f64>, Array1<f64>) {
        let (d, dd) = (self.model.d, self.model.d * self.model.d);
        let mut mean = Array1::from_vec(zeroed(self.times.len()));
        let mut var = Array1::from_vec(zeroed(self.times.len()));
        for k in 0..self.times.len() {
            let (m, v) = self.model.observe(
                &self.smoothed_mean[k * d..(k + 1) * d],
                &self.smoothed_chol[k * dd..(k + 1) * dd],
            );
            mean[k] = m;
            var[k] = v;
        }
        (mean, var)
    }

    /// Posterior mean and variance of the latent `f` at the test inputs (any order, anywhere:
    /// between inputs by conditioning the filtered prediction on the next smoothed state,
    /// outside them through the stationary prior). `O(log n)` per point.
    ///
    /// Errors: NaN/∞ test inputs.
    pub fn predict(&self, x: ArrayView1<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(pn_core::Error::NonFinite {
                what: "test inputs",
                index: vec![i],
                value: x[i],
            }
            .into());
        }
        let lo = x.iter().copied().fold(self.times[0], f64::min);
        let hi = x
            .iter()
            .copied()
            .fold(self.times[self.times.len() - 1], f64::max);
        if !(hi - lo).is_finite() {
            return Err(pn_core::Error::NonFinite {
                what: "span of the training and test inputs (overflows f64: rescale x)",
                index: vec![],
                value: hi - lo,
            }
            .into());
        }
        let model = &self.model;
        let (d, dd) = (model.d, model.d * model.d);
        let nt = self.times.len();
        let mut w = Work::new(d);
        let mut bm = vec![0.0; d];
        let mut bl = vec![0.0; dd];
        let mut mean = Array1::zeros(x.len());
        let mut var = Array1::zeros(x.len());
        let fm = |k: usize| &self.filtered_mean[k * d..(k + 1) * d];
        let fl = |k: usize| &self.filtered_chol[k * dd..(k + 1) * dd];
        let sm = |k: usize| &self.smoothed_mean[k * d..(k + 1) * d];
        let sl = |k: usize| &self.smoothed_chol[k * dd..(k + 1) * dd];
        // Unsorted queries are visited in sorted order, so the searches and the stored
        // states they read stay in cache.
        let mut queries: Vec<(f64, usize)> = x.iter().copied().zip(0..).collect();
        if !queries.windows(2).all(|w| w[0].0 <= w[1].0) {
            queries.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        }
        for (t, i) in queries {
            let pos = self.times.partition_point(|&s| s <= t);
            let (m, v) = if pos == 0 {
                // Left of the data: the stationary prior at t, conditioned on the smoothed
                // state at the first input through the step t → t₀.
                let zero = vec![0.0; d];
                let mut pinf = vec![0.0; dd];
                model.stationary_chol(&mut pinf);
                model.backward_kernel(&zero, &pinf, self.times[0] - t, &mut w);
                model.marginalise(sm(0), sl(0), &mut w, &mut bm, &mut bl);
                model.observe(&bm, &bl)
            } else if self.times[pos - 1] == t {
                model.observe(sm(pos - 1), sl(pos - 1))
            } else if pos == nt {
                model.predict(sm(nt - 1), sl(nt - 1), t - self.times[nt - 1], &mut w);
                model.observe(&w.mean, &w.chol)
            } else {
                let k = pos - 1;
                model.predict(fm(k), fl(k), t - self.times[k], &mut w);
                bm.copy_from_slice(&w.mean);
                bl.copy_from_slice(&w.chol);
                model.backward_kernel(&bm, &bl, self.times[k + 1] - t, &mut w);
                model.marginalise(sm(k + 1), sl(k + 1), &mut w, &mut bm, &mut bl);
                model.observe(&bm, &bl)
            };
            mean[i] = m;
            var[i] = v;
        }
        Ok((mean, var))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_p_matches_closed_forms() {
        // P(1, x) = 1 − e^{−x}; P(2, x) = 1 − e^{−x}(1 + x); P(3, x) = 1 − e^{−x}(1 + x + x²/2).
        for &x in &[1e-8f64, 1e-3, 0.3, 0.99, 1.0, 2.5, 7.0, 40.0] {
            let e = (-x).exp();
            let want = [
                -(-x).exp_m1(),
                1.0 - e * (1.0 + x),
                1.0 - e * (1.0 + x + 0.5 * x * x),
            ];
            for (a, w) in want.iter().enumerate() {
                let got = gamma_p(a + 1, x);
                // Small x: compare to the leading term of the series instead of the
                // cancelling closed form.
                let w = if x < 1e-2 {
                    x.powi(a as i32 + 1) / factorial(a + 1)
                        * (1.0 - x * (a + 1) as f64 / (a + 2) as f64)
                } else {
                    *w
                };
                let tol = if x < 1e-2 { 1e-5 * w.abs() } else { 1e-14 };
                assert!((got - w).abs() <= tol, "P({}, {x}) = {got} vs {w}", a + 1);
            }
        }
    }

    #[test]
    fn moments_match_quadrature_and_closed_forms() {
        for &tau in &[1e-9f64, 1e-4, 0.03, 0.7, 1.9, 2.6, 10.0, 400.0] {
            let mut j = [0.0; 5];
            moments(tau, &mut j);
            // Closed forms without cancellation for m = 0, and composite Simpson for all m
            // (on [0, min(τ, 40)]: the integrand is below e^{−80} · 40⁴ beyond).
            let j0 = -(-2.0 * tau).exp_m1() / 2.0;
            assert!((j[0] - j0).abs() <= 1e-15 * j0, "J0({tau})");
            let top = tau.min(40.0);
            let steps = 20_000;
            let hstep = top / steps as f64;
            for (m, &got) in j.iter().enumerate() {
                let f = |s: f64| s.powi(m as i32) * (-2.0 * s).exp();
                let mut sum = f(0.0) + f(top);
                for i in 1..steps {
                    sum += f(i as f64 * hstep) * if i % 2 == 1 { 4.0 } else { 2.0 };
                }
                let want = sum * hstep / 3.0;
                assert!(
                    (got - want).abs() <= 1e-11 * want,
                    "J_{m}({tau}) = {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn tria_reproduces_the_gram_matrix() {
        let m0 = [
            3.0, -1.0, 2.0, 0.5, 1.0, 4.0, -2.0, 1.5, 0.0, 1.0, 1.0, -3.0,
        ];
        let mut m = m0;
        let mut v = [0.0; 4];
        tria(&mut m, 3, 4, &mut v);
        for i in 0..3 {
            assert!(m[i * 4 + i] >= 0.0);
            for j in i + 1..4 {
                assert_eq!(m[i * 4 + j], 0.0);
            }
            for j in 0..3 {
                let want: f64 = (0..4).map(|c| m0[i * 4 + c] * m0[j * 4 + c]).sum();
                let got: f64 = (0..4).map(|c| m[i * 4 + c] * m[j * 4 + c]).sum();
                assert!((got - want).abs() < 1e-13 * want.abs().max(1.0));
            }
        }
    }
}
