//! Hamiltonian Monte Carlo: the Euclidean metric, the leapfrog integrator, NUTS (multinomial
//! sampling with the generalised no-U-turn criterion, as in Stan) and static HMC, and the
//! warm-up: dual averaging of the step size, and metric adaptation on Stan's windows or on the
//! continuous schedule.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::chain::{Counters, Kernel, StepInfo};
use crate::error::{Error, Result};
use crate::options::{AdaptOptions, MetricKind, Schedule};
use crate::target::LogDensity;

/// The inverse metric `M⁻¹` (an estimate of the posterior covariance) and what is needed to
/// draw momenta `p ~ N(0, M)`.
#[derive(Debug, Clone)]
pub(crate) enum Metric {
    /// Diagonal `M⁻¹ = diag(inv)`.
    Diag { inv: Vec<f64> },
    /// Dense `M⁻¹ = inv` (row-major `d × d`) with its lower Cholesky factor `l` (`M⁻¹ = L Lᵀ`).
    Dense { inv: Vec<f64>, l: Vec<f64> },
}

impl Metric {
    fn identity(d: usize) -> Self {
        Metric::Diag { inv: vec![1.0; d] }
    }

    /// The velocity `v = M⁻¹ p`.
    fn velocity(&self, p: &[f64], v: &mut [f64]) {
        match self {
            Metric::Diag { inv } => {
                for i in 0..p.len() {
                    v[i] = inv[i] * p[i];
                }
            }
            Metric::Dense { inv, .. } => {
                let d = p.len();
                for i in 0..d {
                    v[i] = dot(&inv[i * d..(i + 1) * d], p);
                }
            }
        }
    }

    /// A fresh momentum `p ~ N(0, M)` for the point `z`, with its velocity `v = M⁻¹ p` and
    /// kinetic energy `½ pᵀ M⁻¹ p`.
    fn refresh_momentum<R: Rng + ?Sized>(&self, rng: &mut R, z: &mut Phase) {
        self.sample_momentum(rng, &mut z.p);
        match self {
            Metric::Diag { inv } => {
                // One pass: vᵢ = invᵢ pᵢ and pᵢvᵢ (so ½ pᵀv = ½ Σ zᵢ², but computed from p and v
                // as everywhere else).
                for ((v, p), m) in z.v.iter_mut().zip(&z.p).zip(inv) {
                    *v = m * p;
                }
            }
            Metric::Dense { .. } => self.velocity(&z.p, &mut z.v),
        }
        z.kin = 0.5 * dot(&z.p, &z.v);
    }

    /// `p ~ N(0, M)`: diagonal `pᵢ = zᵢ / √invᵢ`; dense `p = L⁻ᵀ z` (so `Cov p = (L Lᵀ)⁻¹`).
    fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, p: &mut [f64]) {
        for pi in p.iter_mut() {
            *pi = rng.sample(StandardNormal);
        }
        match self {
            Metric::Diag { inv } => {
                // A separate pass over the slices (no bounds checks) that compiles to vector
                // square roots and divisions.
                for (pi, m) in p.iter_mut().zip(inv) {
                    *pi /= m.sqrt();
                }
            }
            Metric::Dense { l, .. } => {
                // Back substitution with Lᵀ (upper triangular).
                let d = p.len();
                for i in (0..d).rev() {
                    let mut s = p[i];
                    for k in i + 1..d {
                        s -= l[k * d + i] * p[k];
                    }
                    p[i] = s / l[i * d + i];
                }
            }
        }
    }

    /// The diagonal of `M⁻¹`.
    pub(crate) fn inv_diag(&self) -> Vec<f64> {
        match self {
            Metric::Diag { inv } => inv.clone(),
            Metric::Dense { inv, .. } => {
                let d = (inv.len() as f64).sqrt() as usize;
                (0..d).map(|i| inv[i * d + i]).collect()
            }
        }
    }
}

/// Lower Cholesky factor of a row-major SPD matrix, or `None` if it is not positive definite.
pub(crate) fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= l[j * d + k] * l[j * d + k];
        }
        if s.is_nan() || s <= 0.0 || !s.is_finite() {
            return None;
        }
        let ljj = s.sqrt();
        l[j * d + j] = ljj;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = s / ljj;
        }
    }
    Some(l)
}

/// A point in phase space with its cached log-density, gradient and velocity.
#[derive(Debug)]
struct Phase {
    q: Vec<f64>,
    p: Vec<f64>,
    v: Vec<f64>,
    g: Vec<f64>,
    logp: f64,
    /// The kinetic energy `½ pᵀ M⁻¹ p`, kept up to date with `p` by the leapfrog step and the
    /// momentum refresh (the hot loop computes it within the second half-kick).
    kin: f64,
    /// The Hamiltonian recorded when the point became a NUTS proposal (for the energy
    /// statistic; a proposal carries only its position, gradient, log-density and energy).
    energy: f64,
}

impl Clone for Phase {
    fn clone(&self) -> Self {
        Self {
            q: self.q.clone(),
            p: self.p.clone(),
            v: self.v.clone(),
            g: self.g.clone(),
            logp: self.logp,
            kin: self.kin,
            energy: self.energy,
        }
    }
    /// Copies into the existing buffers (the derived `clone_from` would allocate anew, and
    /// NUTS copies a phase point at every leapfrog step).
    fn clone_from(&mut self, src: &Self) {
        self.q.clone_from(&src.q);
        self.p.clone_from(&src.p);
        self.v.clone_from(&src.v);
        self.g.clone_from(&src.g);
        self.logp = src.logp;
        self.kin = src.kin;
        self.energy = src.energy;
    }
}

impl Phase {
    /// Copies what a proposal needs (position, gradient, log-density) and records its energy
    /// `h`; the momentum and velocity are left as they are (a new transition draws new ones).
    fn propose_from(&mut self, src: &Self, h: f64) {
        self.q.copy_from_slice(&src.q);
        self.g.copy_from_slice(&src.g);
        self.logp = src.logp;
        self.energy = h;
    }
    /// Copies a proposal (see [`Phase::propose_from`]).
    fn take_proposal(&mut self, src: &Self) {
        self.q.copy_from_slice(&src.q);
        self.g.copy_from_slice(&src.g);
        self.logp = src.logp;
        self.energy = src.energy;
    }
}

impl Phase {
    fn kinetic(&self) -> f64 {
        self.kin
    }
    /// `H = −log p(q) + ½ pᵀ M⁻¹ p`; NaN becomes `+∞` (an infinitely bad point).
    fn hamiltonian(&self) -> f64 {
        let h = -self.logp + self.kinetic();
        if h.is_nan() { f64::INFINITY } else { h }
    }
}

/// Evaluates `log p` and its gradient, counting evaluations and NaNs; `+∞` is an error.
/// A NaN anywhere (value or gradient) returns NaN.
pub(crate) fn eval_grad<T: LogDensity + ?Sized>(
    target: &T,
    x: &[f64],
    g: &mut [f64],
    counters: &mut Counters,
) -> Result<f64> {
    counters.grad_evals += 1;
    let lp = target.logp_and_grad(x, g);
    if lp == f64::INFINITY {
        return Err(Error::InfiniteLogDensity { x: x.to_vec() });
    }
    if lp.is_nan() || (lp.is_finite() && !all_finite(g)) {
        counters.nan_logp += 1;
        return Ok(f64::NAN);
    }
    Ok(lp)
}

/// Whether every element is finite, in one pass without early exit (vectorised): `xᵢ · 0` is
/// `0` for finite `xᵢ` and NaN otherwise, so the sum of the products is `0` exactly when all
/// are finite.
fn all_finite(x: &[f64]) -> bool {
    let mut acc = [0.0f64; 4];
    let c = x.chunks_exact(4);
    let r = c.remainder();
    for x in c {
        for k in 0..4 {
            acc[k] += x[k] * 0.0;
        }
    }
    let tail: f64 = r.iter().map(|v| v * 0.0).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail == 0.0
}

fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// `aᵀb` with eight independent accumulators: a serial sum is bound by the latency of the
/// floating-point add, and dense metrics, Gaussians and the no-U-turn criteria spend their time
/// here. On x86-64 processors with AVX2 the same code runs compiled for AVX2 (chosen at run
/// time; the order of operations, and so the result, is the same bit for bit).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_body(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[f64], b: &[f64]) -> f64 {
    dot_body(a, b)
}

#[inline(always)]
fn dot_body(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// The first half of a leapfrog step under a diagonal metric: half a kick `p += ε/2 ∇`, the
/// velocity `v = M⁻¹ p`, and the drift `q += ε v`, in one pass (AVX2 where available, with
/// the same operations and so the same result). Returns `(vᵀ∇, vᵀp)` at the half step, for
/// the curvature along the step (see `HmcKernel::leapfrog`).
fn kick_drift_diag(
    q: &mut [f64],
    p: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    inv: &[f64],
    eps: f64,
    measure: bool,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { kick_drift_diag_avx2(q, p, v, g, inv, eps, measure) };
        }
    }
    kick_drift_diag_body(q, p, v, g, inv, eps, measure)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn kick_drift_diag_avx2(
    q: &mut [f64],
    p: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    inv: &[f64],
    eps: f64,
    measure: bool,
) -> (f64, f64) {
    kick_drift_diag_body(q, p, v, g, inv, eps, measure)
}

#[inline(always)]
fn kick_drift_diag_body(
    q: &mut [f64],
    p: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    inv: &[f64],
    eps: f64,
    measure: bool,
) -> (f64, f64) {
    let n = q.len();
    let (p, v, g, inv) = (&mut p[..n], &mut v[..n], &g[..n], &inv[..n]);
    let h = 0.5 * eps;
    for i in 0..n {
        p[i] += h * g[i];
        v[i] = inv[i] * p[i];
        q[i] += eps * v[i];
    }
    // Two separate reductions (L1-resident, each with `dot`'s eight accumulators) compile to
    // better code than accumulating inside the update loop.
    if measure {
        (dot_body(v, g), dot_body(v, p))
    } else {
        (0.0, 1.0)
    }
}

/// The second half-kick of a leapfrog step and the new velocity under a diagonal metric;
/// returns the kinetic energy `½ pᵀv` and `vᵀ∇` with the half-step velocity that `v` held
/// before, both computed in the same pass.
fn kick_diag(
    p: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    inv: &[f64],
    eps: f64,
    measure: bool,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { kick_diag_avx2(p, v, g, inv, eps, measure) };
        }
    }
    kick_diag_body(p, v, g, inv, eps, measure)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn kick_diag_avx2(
    p: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    inv: &[f64],
    eps: f64,
    measure: bool,
) -> (f64, f64) {
    kick_diag_body(p, v, g, inv, eps, measure)
}

#[inline(always)]
fn kick_diag_body(
    p: &mut [f64],
    v: &mut [f64],
    g: &[f64],
    inv: &[f64],
    eps: f64,
    measure: bool,
) -> (f64, f64) {
    let n = p.len();
    let (v, g, inv) = (&mut v[..n], &g[..n], &inv[..n]);
    let h = 0.5 * eps;
    // vᵀ∇ with the half-step velocity, the update, then ½ pᵀv (separate passes over
    // L1-resident data compile to better code than one loop with two reductions).
    let vg = if measure { dot_body(v, g) } else { 0.0 };
    for i in 0..n {
        p[i] += h * g[i];
        v[i] = inv[i] * p[i];
    }
    (0.5 * dot_body(p, v), vg)
}

/// `a += b` (a separate function so that the loop compiles without bounds checks).
#[inline]
fn add_assign(a: &mut [f64], b: &[f64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// `out = a + b`.
#[inline]
fn add_to(out: &mut [f64], a: &[f64], b: &[f64]) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x + y;
    }
}

/// Records a leaf's momentum and velocity for the no-U-turn criteria (`p_out = p`,
/// `p_sharp_out = v`) and adds its momentum to the sum `rho`, in one pass.
#[inline]
fn record_leaf(p: &[f64], v: &[f64], p_out: &mut [f64], p_sharp_out: &mut [f64], rho: &mut [f64]) {
    let n = p.len();
    let (v, p_out, p_sharp_out, rho) = (
        &v[..n],
        &mut p_out[..n],
        &mut p_sharp_out[..n],
        &mut rho[..n],
    );
    // One fused pass (three copies would read `p` twice).
    #[allow(clippy::manual_memcpy)]
    for i in 0..n {
        p_out[i] = p[i];
        p_sharp_out[i] = v[i];
        rho[i] += p[i];
    }
}

/// The generalised no-U-turn criterion: both end velocities point along the summed momentum.
fn no_u_turn(p_sharp_minus: &[f64], p_sharp_plus: &[f64], rho: &[f64]) -> bool {
    let (a, b) = dot2(p_sharp_minus, p_sharp_plus, rho);
    a > 0.0 && b > 0.0
}

/// `(aᵀr, bᵀr)` in one pass over `r` (four accumulators each; AVX2 where available).
fn dot2(a: &[f64], b: &[f64], r: &[f64]) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { dot2_avx2(a, b, r) };
        }
    }
    dot2_body(a, b, r)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot2_avx2(a: &[f64], b: &[f64], r: &[f64]) -> (f64, f64) {
    dot2_body(a, b, r)
}

#[inline(always)]
fn dot2_body(a: &[f64], b: &[f64], r: &[f64]) -> (f64, f64) {
    let n = r.len().min(a.len()).min(b.len());
    let (a, b, r) = (&a[..n], &b[..n], &r[..n]);
    let (mut sa, mut sb) = ([0.0f64; 4], [0.0f64; 4]);
    let (ca, cb, cr) = (a.chunks_exact(4), b.chunks_exact(4), r.chunks_exact(4));
    for ((x, y), z) in ca.zip(cb).zip(cr) {
        for k in 0..4 {
            sa[k] += x[k] * z[k];
            sb[k] += y[k] * z[k];
        }
    }
    let (mut ta, mut tb) = (0.0, 0.0);
    for i in n - n % 4..n {
        ta += a[i] * r[i];
        tb += b[i] * r[i];
    }
    (
        (sa[0] + sa[2]) + (sa[1] + sa[3]) + ta,
        (sb[0] + sb[2]) + (sb[1] + sb[3]) + tb,
    )
}

/// Stan's dual averaging of `log ε` towards a target acceptance statistic δ
/// (Hoffman & Gelman 2014, §3.2).
#[derive(Debug, Clone)]
struct DualAveraging {
    mu: f64,
    s_bar: f64,
    x_bar: f64,
    counter: f64,
    delta: f64,
    gamma: f64,
    kappa: f64,
    t0: f64,
}

impl DualAveraging {
    fn new(o: &AdaptOptions) -> Self {
        Self {
            mu: 0.0,
            s_bar: 0.0,
            x_bar: 0.0,
            counter: 0.0,
            delta: o.target_accept,
            gamma: o.gamma,
            kappa: o.kappa,
            t0: o.t0,
        }
    }
    fn restart(&mut self, eps: f64) {
        self.counter = 0.0;
        self.s_bar = 0.0;
        self.x_bar = 0.0;
        self.mu = (10.0 * eps).ln();
    }
    /// One update with acceptance statistic `a`; returns the new step size.
    fn learn(&mut self, a: f64) -> f64 {
        self.counter += 1.0;
        let a = if a.is_nan() { 0.0 } else { a.min(1.0) };
        let eta = 1.0 / (self.counter + self.t0);
        self.s_bar = (1.0 - eta) * self.s_bar + eta * (self.delta - a);
        let x = self.mu - self.s_bar * self.counter.sqrt() / self.gamma;
        let x_eta = self.counter.powf(-self.kappa);
        self.x_bar = (1.0 - x_eta) * self.x_bar + x_eta * x;
        x.exp()
    }
    fn final_step_size(&self) -> f64 {
        self.x_bar.exp()
    }
}

/// Stan's warm-up windows: an initial fast buffer, doubling slow windows in which the metric
/// is estimated, and a final fast buffer.
#[derive(Debug, Clone)]
struct Windows {
    num_warmup: usize,
    init_buffer: usize,
    term_buffer: usize,
    window_size: usize,
    next_window: usize,
    counter: usize,
}

impl Windows {
    fn new(num_warmup: usize, o: &AdaptOptions) -> Self {
        let (mut init, mut term, mut base) = (o.init_buffer, o.term_buffer, o.base_window);
        if num_warmup < 20 {
            // Too short for metric adaptation: step size only.
            init = num_warmup;
            term = 0;
            base = 0;
        } else if init + base + term > num_warmup {
            init = (0.15 * num_warmup as f64) as usize;
            term = (0.1 * num_warmup as f64) as usize;
            base = num_warmup - (init + term);
        }
        Self {
            num_warmup,
            init_buffer: init,
            term_buffer: term,
            window_size: base,
            next_window: (init + base).saturating_sub(1),
            counter: 0,
        }
    }
    fn in_window(&self) -> bool {
        self.window_size > 0
            && self.counter >= self.init_buffer
            && self.counter < self.num_warmup - self.term_buffer
            && self.counter != self.num_warmup
    }
    fn end_of_window(&self) -> bool {
        self.window_size > 0 && self.counter == self.next_window && self.counter != self.num_warmup
    }
    fn compute_next_window(&mut self) {
        let last = self.num_warmup - self.term_buffer - 1;
        if self.next_window == last {
            return;
        }
        self.window_size *= 2;
        self.next_window = self.counter + self.window_size;
        if self.next_window != last {
            let boundary = self.next_window + 2 * self.window_size;
            if boundary >= self.num_warmup - self.term_buffer {
                self.next_window = last;
            }
        }
    }
}

/// Running mean and (co)variance of the warm-up draws (Welford).
#[derive(Debug, Clone)]
pub(crate) struct Welford {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
    dense: bool,
}

impl Welford {
    pub(crate) fn new(d: usize, dense: bool) -> Self {
        Self {
            n: 0.0,
            mean: vec![0.0; d],
            m2: vec![0.0; if dense { d * d } else { d }],
            dense,
        }
    }
    pub(crate) fn add(&mut self, x: &[f64]) {
        self.n += 1.0;
        let d = x.len();
        if self.dense {
            // δ = x − mean before the update, x − mean after it: m2 += (x − m_new)(x − m_old)ᵀ.
            let delta: Vec<f64> = x.iter().zip(&self.mean).map(|(a, m)| a - m).collect();
            for i in 0..d {
                self.mean[i] += delta[i] / self.n;
            }
            for i in 0..d {
                let di = x[i] - self.mean[i];
                for j in 0..d {
                    self.m2[i * d + j] += delta[j] * di;
                }
            }
        } else {
            for i in 0..d {
                let delta = x[i] - self.mean[i];
                self.mean[i] += delta / self.n;
                self.m2[i] += delta * (x[i] - self.mean[i]);
            }
        }
    }
    /// Stan's regularised estimate `n/(n+5) Σ̂ + 10⁻³ · 5/(n+5) I`.
    pub(crate) fn regularised(&self) -> Vec<f64> {
        let n = self.n;
        let d = self.mean.len();
        let w = n / (n + 5.0);
        let shrink = 1e-3 * 5.0 / (n + 5.0);
        let mut out: Vec<f64> = self.m2.iter().map(|v| w * v / (n - 1.0)).collect();
        if self.dense {
            for i in 0..d {
                out[i * d + i] += shrink;
            }
        } else {
            for v in out.iter_mut() {
                *v += shrink;
            }
        }
        out
    }
    fn restart(&mut self) {
        self.n = 0.0;
        self.mean.iter_mut().for_each(|v| *v = 0.0);
        self.m2.iter_mut().for_each(|v| *v = 0.0);
    }
    /// The number of draws added.
    fn count(&self) -> usize {
        self.n as usize
    }
    /// The unregularised sample variance of coordinate `i` (`n ≥ 2`).
    fn variance(&self, i: usize) -> f64 {
        let d = self.mean.len();
        let m2 = if self.dense {
            self.m2[i * d + i]
        } else {
            self.m2[i]
        };
        m2 / (self.n - 1.0)
    }
}

/// The inverse metric from draw (and, for [`MetricKind::DiagGrad`], gradient) statistics, or
/// `None` where the estimate is not usable (too few draws, not positive definite). A dense
/// estimate that is not positive definite falls back to its diagonal.
fn metric_from(est: &Welford, est_grad: Option<&Welford>, prev: &Metric) -> Option<Metric> {
    if est.count() < 3 {
        return None;
    }
    let d = est.mean.len();
    let mut inv = est.regularised();
    if let Some(eg) = est_grad {
        // For a Gaussian, Var(xᵢ) · Var(∂ᵢ log p) = 1 along the axes: √(Var x / Var ∂ log p)
        // is exact there and robust elsewhere. Where it is not finite (a coordinate that has
        // not moved, a constant gradient) the previous value is kept.
        let old = prev.inv_diag();
        for i in 0..d {
            let r = (est.variance(i) / eg.variance(i)).sqrt();
            inv[i] = if r.is_finite() && r > 0.0 {
                r.clamp(1e-20, 1e20)
            } else {
                old[i]
            };
        }
    }
    Some(if est.dense {
        match cholesky(&inv, d) {
            Some(l) => Metric::Dense { inv, l },
            // Fewer draws than dimensions can leave the estimate singular in floating point;
            // fall back to its diagonal.
            None => Metric::Diag {
                inv: (0..d).map(|i| inv[i * d + i]).collect(),
            },
        }
    } else {
        Metric::Diag { inv }
    })
}

/// [`metric_from`] for a diagonal estimate, written into the current diagonal `inv`; returns
/// `false` (leaving `inv` as it is) where the estimate is not usable yet.
fn diag_metric_in_place(est: &Welford, est_grad: Option<&Welford>, inv: &mut [f64]) -> bool {
    if est.count() < 3 || est.dense {
        return false;
    }
    let n = est.n;
    match est_grad {
        Some(eg) => {
            for (i, m) in inv.iter_mut().enumerate() {
                let r = (est.variance(i) / eg.variance(i)).sqrt();
                if r.is_finite() && r > 0.0 {
                    *m = r.clamp(1e-20, 1e20);
                }
            }
        }
        None => {
            let (w, shrink) = (n / (n + 5.0), 1e-3 * 5.0 / (n + 5.0));
            for (m, m2) in inv.iter_mut().zip(&est.m2) {
                *m = w * m2 / (n - 1.0) + shrink;
            }
        }
    }
    true
}

/// The state of the [`Schedule::Continuous`] warm-up: two overlapping running estimators
/// (the current one, from which the metric is computed after every iteration, and the
/// younger one, which replaces it at each switch).
#[derive(Debug, Clone)]
struct Continuous {
    early_end: usize,
    final_start: usize,
    early_window: usize,
    window: usize,
    growth: f64,
    counter: usize,
    fg: Welford,
    bg: Welford,
    fg_grad: Option<Welford>,
    bg_grad: Option<Welford>,
    /// Whether the metric has been estimated yet (the first estimate restarts the step size).
    estimated: bool,
}

impl Continuous {
    fn new(num_warmup: usize, o: &AdaptOptions, d: usize, dense: bool, grad: bool) -> Self {
        let n = num_warmup as f64;
        let final_start = num_warmup - ((o.final_fraction * n) as usize).min(num_warmup);
        Self {
            early_end: ((o.early_fraction * n) as usize).min(final_start),
            final_start,
            early_window: o.early_window.max(1),
            window: o.main_window.max(1),
            growth: o.window_growth.max(1.0),
            counter: 0,
            fg: Welford::new(d, dense),
            bg: Welford::new(d, dense),
            fg_grad: grad.then(|| Welford::new(d, false)),
            bg_grad: grad.then(|| Welford::new(d, false)),
            estimated: false,
        }
    }

    /// Adds the draw `(q, g)` of iteration `counter`; returns whether the estimators switched
    /// (`None` when this iteration is in the final, step-size-only phase).
    fn add(&mut self, q: &[f64], g: &[f64]) -> Option<bool> {
        let it = self.counter;
        self.counter += 1;
        if it >= self.final_start {
            return None;
        }
        self.fg.add(q);
        self.bg.add(q);
        if let (Some(a), Some(b)) = (&mut self.fg_grad, &mut self.bg_grad) {
            a.add(g);
            b.add(g);
        }
        let early = it < self.early_end;
        if it == self.early_end {
            // The first main window is never shorter than what the younger estimator holds.
            self.window = self.window.max(self.bg.count());
        }
        let (len, next) = if early {
            (self.early_window, self.early_window)
        } else {
            let grown = ((self.window as f64) * self.growth).round() as usize;
            (self.window, grown.max(self.window + 1))
        };
        // Switch when the younger estimator holds a full window and another window still fits
        // before the final phase.
        if self.bg.count() >= len && it + next <= self.final_start {
            std::mem::swap(&mut self.fg, &mut self.bg);
            self.bg.restart();
            if let (Some(a), Some(b)) = (&mut self.fg_grad, &mut self.bg_grad) {
                std::mem::swap(a, b);
                b.restart();
            }
            if !early {
                self.window = next;
            }
            return Some(true);
        }
        Some(false)
    }
}

/// Buffers of one tree depth of NUTS, kept between transitions.
#[derive(Debug, Clone, Default)]
struct Scratch {
    p_sharp_init_end: Vec<f64>,
    p_init_end: Vec<f64>,
    rho_init: Vec<f64>,
    p_sharp_final_beg: Vec<f64>,
    p_final_beg: Vec<f64>,
    rho_final: Vec<f64>,
    /// A sum of momenta for the criteria across the halves.
    tmp: Vec<f64>,
}

impl Scratch {
    /// Sizes the buffers to `d` and zeroes the momentum sums (the other buffers are always
    /// written before they are read).
    fn reset(&mut self, d: usize) {
        for v in [
            &mut self.p_sharp_init_end,
            &mut self.p_init_end,
            &mut self.p_sharp_final_beg,
            &mut self.p_final_beg,
        ] {
            v.resize(d, 0.0);
        }
        for v in [&mut self.rho_init, &mut self.rho_final] {
            v.clear();
            v.resize(d, 0.0);
        }
    }
}

/// Which trajectory rule the kernel follows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trajectory {
    /// NUTS with a maximum tree depth and the divergence threshold on the energy error.
    Nuts {
        max_depth: usize,
        max_energy_error: f64,
    },
    /// Static HMC with a fixed number of leapfrog steps.
    Static {
        n_steps: usize,
        max_energy_error: f64,
        jitter: f64,
    },
}

/// One chain of NUTS or static HMC with its warm-up (dual averaging and metric adaptation).
pub(crate) struct HmcKernel<'a, T: ?Sized> {
    target: &'a T,
    traj: Trajectory,
    metric: Metric,
    eps: f64,
    z: Phase,
    da: DualAveraging,
    windows: Windows,
    est: Welford,
    /// Gradient statistics for [`MetricKind::DiagGrad`].
    est_grad: Option<Welford>,
    /// The state of the continuous schedule (`None` on Stan's).
    continuous: Option<Continuous>,
    adapt_metric: bool,
    counters: Counters,
    divergent: bool,
    n_leapfrog: usize,
    sum_metro: f64,
    h0: f64,
    max_dh: f64,
    scratch: Vec<Scratch>,
    /// Buffers of the top level of NUTS, kept between transitions.
    top: Option<Box<Top>>,
    /// Whether the current transition is after warm-up (unstable steps are counted then).
    sampling: bool,
}

/// The stability limit of the leapfrog integrator: on a harmonic oscillator of angular
/// frequency `ω` it is stable only for `εω < 2`; beyond, the energy error grows exponentially
/// with the number of steps. NUTS counts the steps after warm-up whose curvature along the
/// step, `ω² = −ΔqᵀΔ∇ log p / |Δq|²_M` (a lower bound on the largest eigenvalue of
/// `M⁻¹ ∇²(−log p)` there), puts them beyond it: where such regions carry mass, a step size
/// adapted to the rest of the posterior cannot enter them, and the estimates can be biased
/// without divergences, R̂ or ESS saying so (the banana with δ = 0.95 in `docs/mcmc.md`).
pub(crate) const STABILITY_LIMIT: f64 = 2.0;

/// The top-level state of a NUTS transition: the trajectory's two ends, the proposals, and the
/// momenta and momentum sums the no-U-turn criteria need.
#[derive(Debug, Clone)]
struct Top {
    z_fwd: Phase,
    z_bck: Phase,
    z_propose: Phase,
    p_fwd_fwd: Vec<f64>,
    p_fwd_bck: Vec<f64>,
    p_bck_fwd: Vec<f64>,
    p_bck_bck: Vec<f64>,
    ps_fwd_fwd: Vec<f64>,
    ps_fwd_bck: Vec<f64>,
    ps_bck_fwd: Vec<f64>,
    ps_bck_bck: Vec<f64>,
    rho: Vec<f64>,
    rho_fwd: Vec<f64>,
    rho_bck: Vec<f64>,
    tmp: Vec<f64>,
}

impl Top {
    fn new(z: &Phase) -> Self {
        let v = vec![0.0; z.q.len()];
        Self {
            z_fwd: z.clone(),
            z_bck: z.clone(),
            z_propose: z.clone(),
            p_fwd_fwd: v.clone(),
            p_fwd_bck: v.clone(),
            p_bck_fwd: v.clone(),
            p_bck_bck: v.clone(),
            ps_fwd_fwd: v.clone(),
            ps_fwd_bck: v.clone(),
            ps_bck_fwd: v.clone(),
            ps_bck_bck: v.clone(),
            rho: v.clone(),
            rho_fwd: v.clone(),
            rho_bck: v.clone(),
            tmp: v,
        }
    }
}

impl<'a, T: LogDensity + ?Sized> HmcKernel<'a, T> {
    /// Sets up a chain at `q0` (which must have finite log-density and gradient) and runs
    /// Stan's step-size initialisation.
    pub(crate) fn new<R: Rng + ?Sized>(
        target: &'a T,
        q0: &[f64],
        traj: Trajectory,
        adapt: &AdaptOptions,
        num_warmup: usize,
        chain: usize,
        rng: &mut R,
    ) -> Result<Self> {
        let d = q0.len();
        let mut counters = Counters::default();
        let mut g = vec![0.0; d];
        let lp = eval_grad(target, q0, &mut g, &mut counters)?;
        if !lp.is_finite() {
            return Err(Error::InitialPointOutsideSupport {
                chain,
                logp: lp,
                x: q0.to_vec(),
            });
        }
        let dense = adapt.metric == MetricKind::Dense;
        let continuous = match adapt.schedule {
            Schedule::Stan => false,
            Schedule::Continuous => true,
            _ => !dense,
        };
        let max_dh = match traj {
            Trajectory::Nuts {
                max_energy_error, ..
            } => max_energy_error,
            Trajectory::Static {
                max_energy_error, ..
            } => max_energy_error,
        };
        let grad_metric = adapt.metric == MetricKind::DiagGrad;
        // With gradient-based adaptation the metric starts from the gradient at the initial
        // point (`1/|∂ᵢ log p|`, clamped), which removes most of the cost of the first window.
        let metric = if grad_metric {
            Metric::Diag {
                inv: g.iter().map(|v| (1.0 / v.abs()).clamp(1e-6, 1e6)).collect(),
            }
        } else {
            Metric::identity(d)
        };
        let mut k = Self {
            target,
            traj,
            metric,
            eps: adapt.init_step_size,
            z: Phase {
                q: q0.to_vec(),
                p: vec![0.0; d],
                v: vec![0.0; d],
                g,
                logp: lp,
                kin: 0.0,
                energy: f64::NAN,
            },
            da: DualAveraging::new(adapt),
            windows: Windows::new(num_warmup, adapt),
            est: Welford::new(d, dense && !continuous),
            est_grad: (grad_metric && !continuous).then(|| Welford::new(d, false)),
            continuous: continuous
                .then(|| Continuous::new(num_warmup, adapt, d, dense, grad_metric)),
            adapt_metric: adapt.metric != MetricKind::Unit,
            counters,
            divergent: false,
            n_leapfrog: 0,
            sum_metro: 0.0,
            h0: 0.0,
            max_dh,
            scratch: Vec::new(),
            top: None,
            sampling: false,
        };
        k.init_step_size(rng)?;
        k.da.restart(k.eps);
        Ok(k)
    }

    /// Stan's windowed metric adaptation after a warm-up iteration.
    fn adapt_stan<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<()> {
        if !self.adapt_metric {
            return Ok(());
        }
        if self.windows.in_window() {
            self.est.add(&self.z.q);
            if let Some(eg) = &mut self.est_grad {
                eg.add(&self.z.g);
            }
        }
        let mut updated = false;
        if self.windows.end_of_window() {
            self.windows.compute_next_window();
            if let Some(m) = metric_from(&self.est, self.est_grad.as_ref(), &self.metric) {
                self.metric = m;
                updated = true;
            }
            self.est.restart();
            if let Some(eg) = &mut self.est_grad {
                eg.restart();
            }
        }
        self.windows.counter += 1;
        if updated {
            self.init_step_size(rng)?;
            self.da.restart(self.eps);
        }
        Ok(())
    }

    /// The continuous schedule's metric adaptation after a warm-up iteration.
    fn adapt_continuous<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<()> {
        if !self.adapt_metric {
            return Ok(());
        }
        let c = self.continuous.as_mut().expect("continuous schedule");
        let Some(switched) = c.add(&self.z.q, &self.z.g) else {
            return Ok(());
        };
        // A dense metric costs a Cholesky factorisation: at the switches only, except in
        // small dimension.
        let d = self.z.q.len();
        if c.fg.dense && !switched && d > 16 && c.estimated {
            return Ok(());
        }
        if let (false, Metric::Diag { inv }) = (c.fg.dense, &mut self.metric) {
            // The diagonal metric is re-estimated after every iteration: in place, with the
            // same values as `metric_from` (no allocation per iteration).
            if !diag_metric_in_place(&c.fg, c.fg_grad.as_ref(), inv) {
                return Ok(());
            }
        } else {
            let Some(m) = metric_from(&c.fg, c.fg_grad.as_ref(), &self.metric) else {
                return Ok(());
            };
            self.metric = m;
        }
        if !c.estimated {
            c.estimated = true;
            self.init_step_size(rng)?;
            self.da.restart(self.eps);
        }
        Ok(())
    }

    /// One leapfrog step of size `eps` (negative: backwards in time). Returns the squared
    /// stability number `(εω)²` of the step, `ω²` the curvature of `−log p` along it in the
    /// metric (see [`STABILITY_LIMIT`]), after warm-up (0 during it); NaN where the step left
    /// the support.
    fn leapfrog(&mut self, z: &mut Phase, eps: f64) -> Result<f64> {
        let d = z.q.len();
        // Measured after warm-up only (0 during warm-up, where it is not used).
        let measure = self.sampling;
        // At the half step: vᵀ∇ log p(q₀) and vᵀp (= |v|² in the metric).
        let (vg0, vp) = match &self.metric {
            // One fused pass each side of the gradient (the same operations, in the same
            // order, as the general form below).
            Metric::Diag { inv } => {
                kick_drift_diag(&mut z.q, &mut z.p, &mut z.v, &z.g, inv, eps, measure)
            }
            Metric::Dense { .. } => {
                for i in 0..d {
                    z.p[i] += 0.5 * eps * z.g[i];
                }
                self.metric.velocity(&z.p, &mut z.v);
                for i in 0..d {
                    z.q[i] += eps * z.v[i];
                }
                (dot(&z.v, &z.g), dot(&z.v, &z.p))
            }
        };
        z.logp = eval_grad(self.target, &z.q, &mut z.g, &mut self.counters)?;
        if !z.logp.is_finite() {
            // The trajectory has left the support (or the region where the target is
            // defined): the energy error is infinite and the step counts as divergent.
            z.logp = f64::NEG_INFINITY;
            return Ok(f64::NAN);
        }
        let vg1;
        (z.kin, vg1) = match &self.metric {
            Metric::Diag { inv } => kick_diag(&mut z.p, &mut z.v, &z.g, inv, eps, measure),
            Metric::Dense { .. } => {
                let vg1 = dot(&z.v, &z.g);
                for i in 0..d {
                    z.p[i] += 0.5 * eps * z.g[i];
                }
                self.metric.velocity(&z.p, &mut z.v);
                (0.5 * dot(&z.p, &z.v), vg1)
            }
        };
        // Δq = ε v, so ΔqᵀΔ∇(−log p) = −ε vᵀ(∇₁ − ∇₀) and |Δq|²_M = ε² vᵀp:
        // (εω)² = −ε vᵀ(∇₁ − ∇₀) / vᵀp.
        Ok(-eps * (vg1 - vg0) / vp)
    }

    /// Stan's heuristic: double or halve ε until one leapfrog step crosses acceptance 0.8.
    fn init_step_size<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Result<()> {
        let z_init = self.z.clone();
        let mut direction = 0.0;
        loop {
            let mut z = z_init.clone();
            self.metric.refresh_momentum(rng, &mut z);
            let h0 = z.hamiltonian();
            let eps = self.eps;
            self.leapfrog(&mut z, eps)?;
            let dh = h0 - z.hamiltonian();
            let good = dh > 0.8f64.ln();
            if direction == 0.0 {
                direction = if good { 1.0 } else { -1.0 };
            } else if (direction > 0.0 && !good) || (direction < 0.0 && good) {
                break;
            }
            self.eps = if direction > 0.0 {
                2.0 * self.eps
            } else {
                0.5 * self.eps
            };
            if self.eps > 1e7 {
                return Err(Error::StepSize {
                    reason: "step size grew beyond 1e7: the target is probably improper (flat)",
                });
            }
            if self.eps < 1e-300 {
                return Err(Error::StepSize {
                    reason: "no acceptably small step size: the log-density or its gradient is not finite near the initial point",
                });
            }
        }
        self.z = z_init;
        Ok(())
    }

    /// One leapfrog step of a trajectory: its energy error (divergence), its multinomial
    /// weight added to `log_sum_weight`, its acceptance statistic, and the new point as the
    /// proposal of its one-point subtree. Returns whether the trajectory may go on.
    ///
    /// The new subtree's proposal is drawn progressively over its leaves: the leaf with weight
    /// `w = e^{H₀ − H}` replaces the proposal with probability `w / W`, `W` the sum of the
    /// weights of the subtree's leaves so far. At the end of the subtree each of its leaves is
    /// the proposal with probability `wᵢ / W` — the distribution of Stan's recursive
    /// multinomial choice between the halves of every subtree — but a point is copied into the
    /// proposal only when it is chosen (≈ ln n times in a subtree of n leaves instead of n).
    fn leaf<R: Rng + ?Sized>(
        &mut self,
        z: &mut Phase,
        z_propose: &mut Phase,
        sign: f64,
        log_sum_weight: &mut f64,
        rng: &mut R,
    ) -> Result<bool> {
        let eps = sign * self.eps;
        let stiffness = self.leapfrog(z, eps)?;
        if self.sampling && stiffness > STABILITY_LIMIT * STABILITY_LIMIT {
            self.counters.unstable_steps += 1;
        }
        self.n_leapfrog += 1;
        let h = z.hamiltonian();
        if h - self.h0 > self.max_dh {
            self.divergent = true;
        }
        let w = self.h0 - h;
        let first = *log_sum_weight == f64::NEG_INFINITY;
        *log_sum_weight = log_add_exp(*log_sum_weight, w);
        self.sum_metro += if w > 0.0 { 1.0 } else { w.exp() };
        if self.divergent {
            // The subtree is discarded.
            return Ok(false);
        }
        if first || rng.random::<f64>() < (w - *log_sum_weight).exp() {
            z_propose.propose_from(z, h);
        }
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_tree<R: Rng + ?Sized>(
        &mut self,
        depth: usize,
        z: &mut Phase,
        z_propose: &mut Phase,
        p_sharp_beg: &mut [f64],
        p_sharp_end: &mut [f64],
        rho: &mut [f64],
        p_beg: &mut [f64],
        p_end: &mut [f64],
        sign: f64,
        log_sum_weight: &mut f64,
        rng: &mut R,
    ) -> Result<bool> {
        if depth == 0 {
            let ok = self.leaf(z, z_propose, sign, log_sum_weight, rng)?;
            record_leaf(&z.p, &z.v, p_beg, p_sharp_beg, rho);
            p_sharp_end.copy_from_slice(&z.v);
            p_end.copy_from_slice(&z.p);
            return Ok(ok);
        }
        if depth == 1 {
            // Two leaves. The three criteria of a merge coincide here (each half is one
            // point), so one is checked, and each leaf's momentum and velocity are stored
            // once.
            let ok = self.leaf(z, z_propose, sign, log_sum_weight, rng)?;
            record_leaf(&z.p, &z.v, p_beg, p_sharp_beg, rho);
            if !ok {
                return Ok(false);
            }
            let ok = self.leaf(z, z_propose, sign, log_sum_weight, rng)?;
            record_leaf(&z.p, &z.v, p_end, p_sharp_end, rho);
            return Ok(ok && no_u_turn(p_sharp_beg, p_sharp_end, rho));
        }
        // Buffers of this depth, reused across transitions (the recursion below uses only
        // smaller depths, so taking them out of `self` is safe).
        if self.scratch.len() <= depth {
            self.scratch.resize_with(depth + 1, Scratch::default);
        }
        let mut sc = std::mem::take(&mut self.scratch[depth]);
        let result = self.build_halves(
            depth,
            z,
            z_propose,
            p_sharp_beg,
            p_sharp_end,
            rho,
            p_beg,
            p_end,
            sign,
            log_sum_weight,
            rng,
            &mut sc,
        );
        self.scratch[depth] = sc;
        result
    }

    /// The two half-subtrees of a subtree of depth `depth ≥ 1` (whose leaves extend the
    /// progressive draw of the proposal), and the no-U-turn checks across and between them.
    #[allow(clippy::too_many_arguments)]
    fn build_halves<R: Rng + ?Sized>(
        &mut self,
        depth: usize,
        z: &mut Phase,
        z_propose: &mut Phase,
        p_sharp_beg: &mut [f64],
        p_sharp_end: &mut [f64],
        rho: &mut [f64],
        p_beg: &mut [f64],
        p_end: &mut [f64],
        sign: f64,
        log_sum_weight: &mut f64,
        rng: &mut R,
        sc: &mut Scratch,
    ) -> Result<bool> {
        let d = z.q.len();
        sc.reset(d);
        // The first half-subtree. Both halves add their leaves' weights to the running sum of
        // the whole new subtree, over which the proposal is drawn progressively (see `leaf`).
        let ok = self.build_tree(
            depth - 1,
            z,
            z_propose,
            p_sharp_beg,
            &mut sc.p_sharp_init_end,
            &mut sc.rho_init,
            p_beg,
            &mut sc.p_init_end,
            sign,
            log_sum_weight,
            rng,
        )?;
        if !ok {
            return Ok(false);
        }
        // The second half-subtree.
        let ok = self.build_tree(
            depth - 1,
            z,
            z_propose,
            &mut sc.p_sharp_final_beg,
            p_sharp_end,
            &mut sc.rho_final,
            &mut sc.p_final_beg,
            p_end,
            sign,
            log_sum_weight,
            rng,
        )?;
        if !ok {
            return Ok(false);
        }
        add_assign(rho, &sc.rho_init);
        add_assign(rho, &sc.rho_final);
        // The subtree's momentum sum `rho` is `rho_init + rho_final` (it started at zero).
        let mut persist = no_u_turn(p_sharp_beg, p_sharp_end, rho);
        // Across the junction of the halves: the first half plus the second's first point,
        // and the second half plus the first's last point.
        let tmp = &mut sc.tmp;
        tmp.resize(d, 0.0);
        add_to(tmp, &sc.rho_init, &sc.p_final_beg);
        persist &= no_u_turn(p_sharp_beg, &sc.p_sharp_final_beg, tmp);
        add_to(tmp, &sc.rho_final, &sc.p_init_end);
        persist &= no_u_turn(&sc.p_sharp_init_end, p_sharp_end, tmp);
        Ok(persist)
    }

    fn nuts_transition<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        max_depth: usize,
    ) -> Result<StepInfo> {
        // The buffers of the top level, kept between transitions (no allocation per draw).
        let mut b = self
            .top
            .take()
            .unwrap_or_else(|| Box::new(Top::new(&self.z)));
        let result = self.nuts_transition_with(rng, max_depth, &mut b);
        self.top = Some(b);
        result
    }

    fn nuts_transition_with<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        max_depth: usize,
        b: &mut Top,
    ) -> Result<StepInfo> {
        let Top {
            z_fwd,
            z_bck,
            z_propose,
            p_fwd_fwd,
            p_fwd_bck,
            p_bck_fwd,
            p_bck_bck,
            ps_fwd_fwd,
            ps_fwd_bck,
            ps_bck_fwd,
            ps_bck_bck,
            rho,
            rho_fwd,
            rho_bck,
            tmp,
        } = b;
        // The sample starts as the current point (`self.z`, which receives every accepted
        // proposal); the two ends of the trajectory start from it with a fresh momentum and
        // are integrated in place.
        z_fwd.q.copy_from_slice(&self.z.q);
        z_fwd.g.copy_from_slice(&self.z.g);
        z_fwd.logp = self.z.logp;
        self.metric.refresh_momentum(rng, z_fwd);
        self.h0 = z_fwd.hamiltonian();
        self.divergent = false;
        self.n_leapfrog = 0;
        self.sum_metro = 0.0;
        z_fwd.energy = self.h0;
        self.z.energy = self.h0;
        z_bck.clone_from(z_fwd);
        // The criteria's buffers of a one-point tree; the inner ends (`p_fwd_bck`, `p_bck_fwd`
        // and their velocities) are written before they are read.
        rho.iter_mut().for_each(|v| *v = 0.0);
        record_leaf(&z_fwd.p, &z_fwd.v, p_fwd_fwd, ps_fwd_fwd, rho);
        p_bck_bck.copy_from_slice(p_fwd_fwd);
        ps_bck_bck.copy_from_slice(ps_fwd_fwd);
        let mut log_sum_weight = 0.0;
        let mut depth = 0;
        while depth < max_depth {
            let mut lsw_subtree = f64::NEG_INFINITY;
            let valid = if rng.random::<f64>() > 0.5 {
                // Extend forward: the old tree becomes the backward subtree.
                rho_fwd.iter_mut().for_each(|v| *v = 0.0);
                rho_bck.copy_from_slice(rho);
                p_bck_fwd.copy_from_slice(p_fwd_fwd);
                ps_bck_fwd.copy_from_slice(ps_fwd_fwd);
                self.build_tree(
                    depth,
                    z_fwd,
                    z_propose,
                    ps_fwd_bck,
                    ps_fwd_fwd,
                    rho_fwd,
                    p_fwd_bck,
                    p_fwd_fwd,
                    1.0,
                    &mut lsw_subtree,
                    rng,
                )?
            } else {
                // Extend backward: the old tree becomes the forward subtree.
                rho_bck.iter_mut().for_each(|v| *v = 0.0);
                rho_fwd.copy_from_slice(rho);
                p_fwd_bck.copy_from_slice(p_bck_bck);
                ps_fwd_bck.copy_from_slice(ps_bck_bck);
                self.build_tree(
                    depth,
                    z_bck,
                    z_propose,
                    ps_bck_fwd,
                    ps_bck_bck,
                    rho_bck,
                    p_bck_fwd,
                    p_bck_bck,
                    -1.0,
                    &mut lsw_subtree,
                    rng,
                )?
            };
            if !valid {
                break;
            }
            depth += 1;
            if lsw_subtree > log_sum_weight
                || rng.random::<f64>() < (lsw_subtree - log_sum_weight).exp()
            {
                self.z.take_proposal(z_propose);
            }
            log_sum_weight = log_add_exp(log_sum_weight, lsw_subtree);
            add_to(rho, rho_bck, rho_fwd);
            let mut persist = no_u_turn(ps_bck_bck, ps_fwd_fwd, rho);
            // The criteria across the junction of the old and the new subtree.
            add_to(tmp, rho_bck, p_fwd_bck);
            persist &= no_u_turn(ps_bck_bck, ps_fwd_bck, tmp);
            add_to(tmp, rho_fwd, p_bck_fwd);
            persist &= no_u_turn(ps_bck_fwd, ps_fwd_fwd, tmp);
            if !persist {
                break;
            }
        }
        let accept = if self.n_leapfrog > 0 {
            self.sum_metro / self.n_leapfrog as f64
        } else {
            0.0
        };
        Ok(StepInfo {
            accept_stat: accept,
            tree_depth: depth,
            n_steps: self.n_leapfrog,
            divergent: self.divergent,
            energy: self.z.energy,
            step_size: self.eps,
        })
    }

    fn static_transition<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        n_steps: usize,
        jitter: f64,
    ) -> Result<StepInfo> {
        let mut z = self.z.clone();
        let u: f64 = rng.random();
        self.metric.refresh_momentum(rng, &mut z);
        let h0 = z.hamiltonian();
        let mut divergent = false;
        let eps = self.eps * (1.0 + jitter * (2.0 * u - 1.0));
        let mut taken = 0;
        for _ in 0..n_steps {
            let stiffness = self.leapfrog(&mut z, eps)?;
            if self.sampling && stiffness > STABILITY_LIMIT * STABILITY_LIMIT {
                self.counters.unstable_steps += 1;
            }
            taken += 1;
            if z.hamiltonian() - h0 > self.max_dh {
                divergent = true;
                break;
            }
        }
        let h = z.hamiltonian();
        let accept = if divergent {
            0.0
        } else {
            (h0 - h).exp().min(1.0)
        };
        let mut energy = h0;
        if !divergent && rng.random::<f64>() < accept {
            self.z = z;
            energy = h;
        }
        Ok(StepInfo {
            accept_stat: accept,
            tree_depth: 0,
            n_steps: taken,
            divergent,
            energy,
            step_size: self.eps,
        })
    }
}

impl<T: LogDensity + ?Sized> Kernel for HmcKernel<'_, T> {
    fn step(&mut self, rng: &mut dyn rand::RngCore, warmup: bool) -> Result<StepInfo> {
        self.sampling = !warmup;
        let info = match self.traj {
            Trajectory::Nuts { max_depth, .. } => self.nuts_transition(rng, max_depth)?,
            Trajectory::Static {
                n_steps, jitter, ..
            } => self.static_transition(rng, n_steps, jitter)?,
        };
        if warmup {
            self.eps = self.da.learn(info.accept_stat);
            if self.continuous.is_some() {
                self.adapt_continuous(rng)?;
            } else {
                self.adapt_stan(rng)?;
            }
        }
        Ok(info)
    }

    fn end_warmup(&mut self) {
        if self.da.counter > 0.0 {
            self.eps = self.da.final_step_size();
        }
    }

    fn position(&self) -> &[f64] {
        &self.z.q
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn inv_metric_diag(&self) -> Option<Vec<f64>> {
        Some(self.metric.inv_diag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The iterations at which the metric is updated, for a warm-up of `n`.
    fn window_ends(n: usize) -> Vec<usize> {
        let mut w = Windows::new(n, &AdaptOptions::default());
        let mut ends = Vec::new();
        for _ in 0..n {
            if w.end_of_window() {
                ends.push(w.counter);
                w.compute_next_window();
            }
            w.counter += 1;
        }
        ends
    }

    /// Stan's documented schedule for 1000 warm-up iterations: a 75-iteration fast buffer,
    /// slow windows of 25, 50, 100, 200 and 500 iterations, and a 50-iteration final buffer.
    #[test]
    fn warmup_windows_follow_stan() {
        assert_eq!(window_ends(1000), vec![99, 149, 249, 449, 949]);
        // Short warm-ups rescale the buffers to 15 % / 75 % / 10 % (Stan's rule).
        assert_eq!(window_ends(100), vec![89]);
        assert!(window_ends(10).is_empty());
    }

    /// The continuous schedule for 1000 warm-up iterations: switches every 10 iterations in
    /// the first 300, then after windows of 80 · 1.5ᵏ (rounded) as long as the window after
    /// the switch still ends before the final 150 step-size-only iterations; nothing is added
    /// after iteration 849. The final metric comes from the last 470 draws.
    #[test]
    fn continuous_schedule_switches() {
        let mut c = Continuous::new(1000, &AdaptOptions::default(), 1, false, true);
        let mut switches = Vec::new();
        let mut last_added = 0;
        for it in 0..1000 {
            match c.add(&[it as f64], &[-(it as f64)]) {
                Some(true) => switches.push(it),
                Some(false) => last_added = it,
                None => {}
            }
        }
        let early: Vec<usize> = (1..=30).map(|k| 10 * k - 1).collect();
        assert_eq!(&switches[..30], &early[..]);
        // After the early phase: windows of 80 and 120 end at 379 and 499; a switch at 679
        // would start a window of 270 that ends after 850, so there is none.
        assert_eq!(&switches[30..], &[379, 499]);
        assert_eq!(last_added, 849);
        // The current estimator holds the draws since the second-to-last switch.
        assert_eq!(c.fg.count(), 849 - 379);
        assert_eq!(c.bg.count(), 849 - 499);
    }

    /// The stability number of a leapfrog step on a Gaussian `N(0, diag(σ²))` under the metric
    /// `M⁻¹ = diag(m)`: the curvature along any step is a weighted mean of `mᵢ/σᵢ²`, exactly
    /// `m/σ²` in one dimension, so `(εω)² = ε² m / σ²` whatever the point and momentum.
    #[test]
    fn stability_number_on_a_gaussian() {
        let var = 4.0;
        let target = crate::models::DiagGaussian { var: vec![var] };
        let mut rng = crate::chain::chain_rng(5, 0);
        let traj = Trajectory::Nuts {
            max_depth: 10,
            max_energy_error: 1000.0,
        };
        let adapt = AdaptOptions::default().metric(MetricKind::Diag);
        let mut k = HmcKernel::new(&target, &[0.7], traj, &adapt, 100, 0, &mut rng).unwrap();
        k.sampling = true;
        let m = 2.5;
        k.metric = Metric::Diag { inv: vec![m] };
        for (eps, p) in [(0.3, 1.1), (-1.7, -0.4), (3.0, 0.2)] {
            let mut z = k.z.clone();
            z.p = vec![p];
            k.metric.velocity(&z.p, &mut z.v);
            let s = k.leapfrog(&mut z, eps).unwrap();
            let want: f64 = eps * eps * m / var;
            assert!((s - want).abs() < 1e-12 * want, "{s} vs {want}");
        }
        // Two dimensions: between the two coordinates' values.
        let target = crate::models::DiagGaussian {
            var: vec![1.0, 0.01],
        };
        let mut k = HmcKernel::new(&target, &[0.3, 0.05], traj, &adapt, 100, 0, &mut rng).unwrap();
        k.sampling = true;
        k.metric = Metric::Diag {
            inv: vec![1.0, 1.0],
        };
        let mut z = k.z.clone();
        z.p = vec![0.5, -0.8];
        k.metric.velocity(&z.p, &mut z.v);
        let s = k.leapfrog(&mut z, 0.1).unwrap();
        assert!(s > 0.01 * (1.0 - 1e-12) && s < 1.0 * (1.0 + 1e-12), "{s}");
    }

    /// The leapfrog integrator is time-reversible: forward then backward returns to the start.
    #[test]
    fn leapfrog_is_reversible() {
        let target = crate::models::Banana { b: 0.1 };
        let mut rng = crate::chain::chain_rng(3, 0);
        let adapt = AdaptOptions::default();
        let traj = Trajectory::Nuts {
            max_depth: 10,
            max_energy_error: 1000.0,
        };
        let mut k = HmcKernel::new(&target, &[1.0, -0.5], traj, &adapt, 100, 0, &mut rng).unwrap();
        let mut z = k.z.clone();
        z.p = vec![0.3, -1.2];
        k.metric.velocity(&z.p, &mut z.v);
        let start = z.clone();
        for _ in 0..20 {
            k.leapfrog(&mut z, 0.05).unwrap();
        }
        for _ in 0..20 {
            k.leapfrog(&mut z, -0.05).unwrap();
        }
        for i in 0..2 {
            assert!((z.q[i] - start.q[i]).abs() < 1e-10);
            assert!((z.p[i] - start.p[i]).abs() < 1e-10);
        }
    }
}
