//! Block-diagonal ODE filters: cost and memory linear in the dimension `d`.
//!
//! Under the IWP prior the `d` coordinates are a priori independent, each with its own
//! `(q + 1)`-dimensional state `(xⱼ, xⱼ', …, xⱼ^{(q)})`. The **EK0** observes `xⱼ' = fⱼ(x̂)` with
//! the same `H = E₁` in every coordinate, so (with one diffusion for all coordinates) every
//! coordinate keeps *the same* covariance: the joint covariance is the Kronecker product
//! `Σ ⊗ I_d` and one `(q + 1) × (q + 1)` factor describes it ("isotropic"). The **diagonal EK1**
//! linearises with the diagonal of the Jacobian, `Hⱼ = E₁ − Jⱼⱼ E₀`, which keeps the coordinates
//! independent but gives each its own covariance block. Per-coordinate diffusions also give each
//! coordinate its own block.
//!
//! All algebra is square-root and in the preconditioned coordinates `X̄ = T(h)⁻¹ X` of the step
//! (constant `Ā`, `L̄_Q`), on blocks of size `q + 1` with a small Householder QR. A noise-free
//! scalar observation is the exact projection `L̄⁺ = L̄⁻ (I − ĝ ĝᵀ)`, `ĝ = (H̄ L̄⁻)ᵀ / ‖H̄ L̄⁻‖`.

use ndarray::Array2;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::{Error, Result};

/// The constant parts of the one-dimensional IWP(q) prior in preconditioned coordinates.
#[derive(Debug, Clone)]
pub(crate) struct Prior1d {
    pub(crate) n: usize,
    /// `Ā`, row-major `n × n`.
    a: Vec<f64>,
    /// `L̄_Q`, row-major `n × n` lower triangular.
    lq: Vec<f64>,
    /// `1/(q − i)!` for the preconditioner `T(h)ᵢ = h^{q−i+½}/(q − i)!`.
    inv_fact: Vec<f64>,
    q: usize,
}

impl Prior1d {
    pub(crate) fn new(q: usize) -> Result<Self> {
        let iwp = pn_filter::Iwp::new(q, 1)?;
        let tr = pn_filter::GaussMarkov::transition(&iwp, 1.0)?;
        let n = q + 1;
        let a = tr.a.iter().copied().collect();
        let lq = tr.q_chol.iter().copied().collect();
        let inv_fact = (0..n)
            .map(|i| 1.0 / (1..=(q - i)).map(|v| v as f64).product::<f64>())
            .collect();
        Ok(Self {
            n,
            a,
            lq,
            inv_fact,
            q,
        })
    }

    /// The preconditioner `T(h)` into `p`.
    pub(crate) fn precond(&self, h: f64, p: &mut [f64]) {
        let sh = h.sqrt();
        for (i, pi) in p.iter_mut().enumerate() {
            *pi = sh * h.powi((self.q - i) as i32) * self.inv_fact[i];
        }
    }

    /// `Ā`, row-major.
    pub(crate) fn a(&self) -> &[f64] {
        &self.a
    }

    /// `L̄_Q`, row-major lower triangular.
    pub(crate) fn lq(&self) -> &[f64] {
        &self.lq
    }

    /// `out = Ā v` (`v`, `out` of length `n`).
    fn a_mul(&self, v: &[f64], out: &mut [f64]) {
        let n = self.n;
        for i in 0..n {
            let row = &self.a[i * n..(i + 1) * n];
            out[i] = (i..n).map(|l| row[l] * v[l]).sum();
        }
    }

    /// `‖h̄ L̄_Q‖²` for a row vector `h̄` in preconditioned coordinates.
    pub(crate) fn hqh(&self, hb: &[f64]) -> f64 {
        let n = self.n;
        let mut s = 0.0;
        for c in 0..n {
            let v: f64 = (c..n).map(|i| hb[i] * self.lq[i * n + c]).sum();
            s += v * v;
        }
        s
    }

    /// Predict one block: `m̄⁻ = Ā T⁻¹ m`, `L̄⁻` with `L̄⁻ L̄⁻ᵀ = Ā L̄ L̄ᵀ Āᵀ + σ² L̄_Q L̄_Qᵀ`
    /// where `L̄ = T⁻¹ L`. Inputs in original coordinates, outputs preconditioned.
    pub(crate) fn predict_block(
        &self,
        p: &[f64],
        chol: &[f64],
        sigma: f64,
        ws: &mut Workspace,
        lbar_pred: &mut [f64],
    ) {
        let n = self.n;
        let f = ws.buffer(n * 2 * n);
        // F = [σ L̄_Q | Ā T⁻¹ L], row-major n × 2n (the triangular block first).
        for i in 0..n {
            for c in 0..n {
                let mut v = 0.0;
                for l in i..n {
                    v += self.a[i * n + l] * chol[l * n + c] / p[l];
                }
                f[i * 2 * n + n + c] = v;
                f[i * 2 * n + c] = sigma * self.lq[i * n + c];
            }
        }
        tria_lower_first(f, n, lbar_pred);
    }

    /// The backward kernel of one step in preconditioned coordinates: from the filtered block
    /// `(m, L)` (original coordinates) at the start of a step with preconditioner `p` and
    /// diffusion `σ²`, the gain `G`, the offset `c = m̄ − G Ā m̄` and the factor `Λ̄`, so that
    /// `X̄ₖ | X̄ₖ₊₁ ~ N(c + G X̄ₖ₊₁, Λ̄ Λ̄ᵀ)`.
    pub(crate) fn backward(
        &self,
        p: &[f64],
        mean: &[f64],
        chol: &[f64],
        sigma: f64,
        ws: &mut Workspace,
    ) -> Backward {
        let n = self.n;
        let m2 = 2 * n;
        let f = ws.buffer(m2 * m2);
        // [[Ā L̄, σ L̄_Q], [L̄, 0]], row-major 2n × 2n.
        for i in 0..n {
            for c in 0..n {
                let mut v = 0.0;
                for l in i..n {
                    v += self.a[i * n + l] * chol[l * n + c] / p[l];
                }
                f[i * m2 + c] = v;
                f[i * m2 + n + c] = sigma * self.lq[i * n + c];
                f[(n + i) * m2 + c] = chol[i * n + c] / p[i];
            }
        }
        let mut l = vec![0.0; m2 * m2];
        tria(f, m2, m2, &mut l);
        // G L̄⁻ = G̃: solve row by row (L̄⁻ lower triangular, columns with a zero pivot carry no
        // information and get a zero gain).
        let mut g = vec![0.0; n * n];
        let tiny = (0..n).fold(0.0f64, |a, c| a.max(l[c * m2 + c].abs())) * 1e-14;
        for i in 0..n {
            for c in (0..n).rev() {
                let piv = l[c * m2 + c];
                let mut v = l[(n + i) * m2 + c];
                for k in c + 1..n {
                    v -= g[i * n + k] * l[k * m2 + c];
                }
                g[i * n + c] = if piv.abs() > tiny { v / piv } else { 0.0 };
            }
        }
        let mut lam = vec![0.0; n * n];
        for i in 0..n {
            for c in 0..n {
                lam[i * n + c] = l[(n + i) * m2 + n + c];
            }
        }
        let mbar: Vec<f64> = mean.iter().zip(p).map(|(m, p)| m / p).collect();
        let mut am = vec![0.0; n];
        self.a_mul(&mbar, &mut am);
        let offset = (0..n)
            .map(|i| mbar[i] - (0..n).map(|k| g[i * n + k] * am[k]).sum::<f64>())
            .collect();
        Backward {
            g,
            offset,
            lam,
            p: p.to_vec(),
        }
    }
}

/// A backward (smoothing) kernel of one block over one step, in preconditioned coordinates.
pub(crate) struct Backward {
    g: Vec<f64>,
    offset: Vec<f64>,
    lam: Vec<f64>,
    p: Vec<f64>,
}

impl Backward {
    /// Marginalise: the smoothed block at the earlier time from the smoothed block `(m, L)` at
    /// the later one (original coordinates in and out).
    pub(crate) fn marginalise(&self, mean: &[f64], chol: &[f64], ws: &mut Workspace) -> Block {
        let n = self.p.len();
        let f = ws.buffer(n * 2 * n);
        let mut out_mean = vec![0.0; n];
        for i in 0..n {
            let mut v = self.offset[i];
            for k in 0..n {
                v += self.g[i * n + k] * mean[k] / self.p[k];
            }
            out_mean[i] = v * self.p[i];
            for c in 0..n {
                let mut w = 0.0;
                for k in 0..n {
                    w += self.g[i * n + k] * chol[k * n + c] / self.p[k];
                }
                f[i * 2 * n + c] = w;
                f[i * 2 * n + n + c] = self.lam[i * n + c];
            }
        }
        let mut l = vec![0.0; n * n];
        tria(f, n, 2 * n, &mut l);
        for i in 0..n {
            for c in 0..n {
                l[i * n + c] *= self.p[i];
            }
        }
        Block {
            mean: out_mean,
            chol: l,
        }
    }

    /// A draw of the earlier block given a draw `x` of the later one (original coordinates).
    pub(crate) fn sample_given<R: Rng + ?Sized>(&self, x: &[f64], rng: &mut R) -> Vec<f64> {
        let n = self.p.len();
        let xi: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
        (0..n)
            .map(|i| {
                let mut v = self.offset[i];
                for k in 0..n {
                    v += self.g[i * n + k] * x[k] / self.p[k] + self.lam[i * n + k] * xi[k];
                }
                v * self.p[i]
            })
            .collect()
    }
}

/// One block's belief in original coordinates: mean (length `n`) and a square-root factor
/// (row-major `n × n`).
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) mean: Vec<f64>,
    pub(crate) chol: Vec<f64>,
}

/// Scratch space reused across steps.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    f: Vec<f64>,
}

impl Workspace {
    /// A zeroed buffer of `len` entries.
    pub(crate) fn buffer(&mut self, len: usize) -> &mut [f64] {
        self.f.clear();
        self.f.resize(len, 0.0);
        &mut self.f
    }
}

/// Lower-triangular `L` (`n × n`, row-major) with `L Lᵀ = F Fᵀ` for `F` (`n × k`, row-major), by
/// Householder QR of `Fᵀ` — whose column-major storage is `F`'s row-major storage, so no copy is
/// made. `f` is overwritten.
pub(crate) fn tria(f: &mut [f64], n: usize, k: usize, l: &mut [f64]) {
    let m = k;
    let steps = m.min(n);
    for j in 0..steps {
        let col = j * m;
        let x0 = f[col + j];
        let norm2: f64 = f[col + j..col + m].iter().map(|v| v * v).sum();
        if norm2 == 0.0 {
            continue;
        }
        let norm = norm2.sqrt();
        let alpha = if x0 > 0.0 { -norm } else { norm };
        let v0 = x0 - alpha;
        f[col + j] = v0;
        let vnorm2 = norm2 - x0 * x0 + v0 * v0;
        // Apply I − 2 v vᵀ/‖v‖² to the later columns (disjoint slices: no bounds checks in the
        // inner loops, which vectorise).
        let (head, tail) = f.split_at_mut((j + 1) * m);
        let v = &head[col + j..col + m];
        for cc in tail.chunks_exact_mut(m).take(n - j - 1) {
            let w = &mut cc[j..m];
            let s = 2.0 * dot(v, w) / vnorm2;
            for (wi, vi) in w.iter_mut().zip(v) {
                *wi -= s * vi;
            }
        }
        f[col + j] = alpha;
    }
    for i in 0..n {
        for j in 0..n {
            l[i * n + j] = if j <= i && j < steps {
                f[i * m + j]
            } else {
                0.0
            };
        }
    }
}

/// `Σ aᵢ bᵢ` with four independent partial sums (a sequential sum is one chain of dependent
/// additions, which the compiler may not reorder), over the common length.
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f64; 4];
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

/// [`tria`] for `F = [T | X]` (`n × 2n`, row-major) whose first block `T` is lower triangular
/// (the process-noise factor): the Householder vector of column `j` of `Fᵀ` is nonzero only in
/// row `j` and the `n` rows of `Xᵀ`, since the rows of `Tᵀ` below `j` are still untouched and zero
/// there. Length `n + 1` instead of `2n − j`.
pub(crate) fn tria_lower_first(f: &mut [f64], n: usize, l: &mut [f64]) {
    let m = 2 * n;
    for j in 0..n {
        let col = j * m;
        let x0 = f[col + j];
        let tail2 = dot(&f[col + n..col + m], &f[col + n..col + m]);
        let norm2 = x0 * x0 + tail2;
        if norm2 == 0.0 {
            continue;
        }
        let norm = norm2.sqrt();
        let alpha = if x0 > 0.0 { -norm } else { norm };
        let v0 = x0 - alpha;
        let vnorm2 = tail2 + v0 * v0;
        let (head, rest) = f.split_at_mut((j + 1) * m);
        let v = &head[col + n..col + m];
        for cc in rest.chunks_exact_mut(m).take(n - j - 1) {
            let dot = v0 * cc[j] + dot(v, &cc[n..m]);
            let s = 2.0 * dot / vnorm2;
            cc[j] -= s * v0;
            for (w, vi) in cc[n..m].iter_mut().zip(v) {
                *w -= s * vi;
            }
        }
        head[col + j] = alpha;
    }
    for i in 0..n {
        for j in 0..n {
            l[i * n + j] = if j <= i { f[i * m + j] } else { 0.0 };
        }
    }
}

/// The gain of a noise-free scalar observation `h̄ · X̄ = y` of one block.
pub(crate) struct Gain {
    /// `K = L̄⁻ (h̄ L̄⁻)ᵀ / S`.
    k: Vec<f64>,
    /// The innovation variance `S = ‖h̄ L̄⁻‖²`.
    pub(crate) s: f64,
}

/// Condition a block's factor on `h̄ · X̄` (preconditioned coordinates): the exact projection
/// `L̄⁺ = L̄⁻ − u ĝᵀ` with `ĝ = (h̄ L̄⁻)ᵀ/√S`, `u = L̄⁻ ĝ`; returns the gain for the means.
pub(crate) fn condition_factor(hb: &[f64], lbar: &mut [f64]) -> Gain {
    let n = hb.len();
    let mut g = vec![0.0; n];
    for (c, gc) in g.iter_mut().enumerate() {
        *gc = (0..n).map(|i| hb[i] * lbar[i * n + c]).sum();
    }
    let s: f64 = g.iter().map(|v| v * v).sum();
    let mut k = vec![0.0; n];
    if !(s > 0.0 && s.is_finite()) {
        return Gain { k, s: 0.0 };
    }
    let sq = s.sqrt();
    for gc in g.iter_mut() {
        *gc /= sq;
    }
    for i in 0..n {
        let row = &mut lbar[i * n..(i + 1) * n];
        let u: f64 = row.iter().zip(&g).map(|(l, g)| l * g).sum();
        k[i] = u / sq;
        for (l, g) in row.iter_mut().zip(&g) {
            *l -= u * g;
        }
    }
    Gain { k, s }
}

/// Condition a block's mean on `h̄ · X̄ = y` with a gain from [`condition_factor`]; returns the
/// innovation `r = y − h̄ m̄⁻`.
pub(crate) fn condition_mean(hb: &[f64], y: f64, mbar: &mut [f64], gain: &Gain) -> f64 {
    let r = y - hb.iter().zip(mbar.iter()).map(|(h, m)| h * m).sum::<f64>();
    for (m, k) in mbar.iter_mut().zip(&gain.k) {
        *m += k * r;
    }
    r
}

/// Which block-diagonal method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// EK0 (`H = E₁` in every coordinate).
    Ek0,
    /// Diagonal EK1 (`Hⱼ = E₁ − Jⱼⱼ E₀`).
    DiagonalEk1,
}

/// A filtered state: means (derivative-major, `(q + 1) · d`) and factors (one shared block, or
/// one per coordinate), in original coordinates.
#[derive(Debug, Clone)]
pub(crate) struct BlockState {
    pub(crate) t: f64,
    /// Means, row `k` (derivative) × column `j` (coordinate), flattened `k · d + j`.
    pub(crate) mean: Vec<f64>,
    /// Factors: `blocks · n · n`, each row-major.
    pub(crate) chol: Vec<f64>,
    /// Diffusions `σ²` of the step that led here (one per block), for interpolation and smoothing.
    pub(crate) diffusion: Vec<f64>,
}

impl BlockState {
    pub(crate) fn blocks(&self, n: usize) -> usize {
        self.chol.len() / (n * n)
    }

    /// Block `j` of coordinate `j` (the shared factor when there is one).
    pub(crate) fn block(&self, j: usize, d: usize, n: usize) -> Block {
        let b = if self.blocks(n) == 1 { 0 } else { j };
        Block {
            mean: (0..n).map(|k| self.mean[k * d + j]).collect(),
            chol: self.chol[b * n * n..(b + 1) * n * n].to_vec(),
        }
    }

    /// The variance of derivative `k` of coordinate `j`.
    pub(crate) fn var(&self, k: usize, j: usize, n: usize) -> f64 {
        let b = if self.blocks(n) == 1 { 0 } else { j };
        let row = &self.chol[b * n * n + k * n..b * n * n + (k + 1) * n];
        row.iter().map(|v| v * v).sum()
    }
}

/// Predict a whole state by `h` with the given per-block diffusions (original coordinates out):
/// used for interpolation between steps.
pub(crate) fn predict_state(
    prior: &Prior1d,
    state: &BlockState,
    d: usize,
    h: f64,
    diffusion: &[f64],
    ws: &mut Workspace,
) -> BlockState {
    let n = prior.n;
    let mut p = vec![0.0; n];
    prior.precond(h, &mut p);
    let mut mean = vec![0.0; n * d];
    let mut mb = vec![0.0; n];
    let mut am = vec![0.0; n];
    for j in 0..d {
        for k in 0..n {
            mb[k] = state.mean[k * d + j] / p[k];
        }
        prior.a_mul(&mb, &mut am);
        for k in 0..n {
            mean[k * d + j] = am[k] * p[k];
        }
    }
    let blocks = state.blocks(n);
    let mut chol = vec![0.0; blocks * n * n];
    for b in 0..blocks {
        let lb = &mut chol[b * n * n..(b + 1) * n * n];
        prior.predict_block(
            &p,
            &state.chol[b * n * n..(b + 1) * n * n],
            diffusion[b].max(0.0).sqrt(),
            ws,
            lb,
        );
        for i in 0..n {
            for c in 0..n {
                lb[i * n + c] *= p[i];
            }
        }
    }
    BlockState {
        t: state.t + h,
        mean,
        chol,
        diffusion: diffusion.to_vec(),
    }
}

/// Marginals at the step times (filtering, or smoothing after [`smooth`]).
pub(crate) struct BlockPosterior {
    pub(crate) prior: Prior1d,
    pub(crate) d: usize,
    pub(crate) filtered: Vec<BlockState>,
    pub(crate) smoothed: Option<Vec<BlockState>>,
}

impl BlockPosterior {
    fn n(&self) -> usize {
        self.prior.n
    }

    /// Rescale every covariance by `scale[b]` (global calibration).
    pub(crate) fn calibrate(&mut self, scale: &[f64]) {
        let n = self.n();
        for st in &mut self.filtered {
            for (b, blk) in st.chol.chunks_mut(n * n).enumerate() {
                let s = scale[b.min(scale.len() - 1)].sqrt();
                blk.iter_mut().for_each(|v| *v *= s);
            }
            for (b, v) in st.diffusion.iter_mut().enumerate() {
                *v *= scale[b.min(scale.len() - 1)];
            }
        }
    }

    fn backward(&self, k: usize, ws: &mut Workspace) -> Vec<Backward> {
        // Kernel of step k → k + 1 for every block.
        let n = self.n();
        let (a, b) = (&self.filtered[k], &self.filtered[k + 1]);
        let h = b.t - a.t;
        let mut p = vec![0.0; n];
        self.prior.precond(h, &mut p);
        let blocks = a.blocks(n);
        let shared = blocks == 1;
        (0..if shared { 1 } else { self.d })
            .map(|j| {
                let blk = a.block(j, self.d, n);
                self.prior.backward(
                    &p,
                    &vec![0.0; n],
                    &blk.chol,
                    b.diffusion[if shared { 0 } else { j }].max(0.0).sqrt(),
                    ws,
                )
            })
            .collect()
    }

    /// The backward kernel of step `k → k + 1` for coordinate `j`, with its offset.
    fn backward_coord(&self, k: usize, j: usize, ws: &mut Workspace) -> Backward {
        let n = self.n();
        let (a, b) = (&self.filtered[k], &self.filtered[k + 1]);
        let mut p = vec![0.0; n];
        self.prior.precond(b.t - a.t, &mut p);
        let blk = a.block(j, self.d, n);
        let bi = if a.blocks(n) == 1 { 0 } else { j };
        self.prior.backward(
            &p,
            &blk.mean,
            &blk.chol,
            b.diffusion[bi].max(0.0).sqrt(),
            ws,
        )
    }

    /// Rauch–Tung–Striebel smoothing, block by block, in square-root form.
    pub(crate) fn smooth(&mut self) {
        let n = self.n();
        let d = self.d;
        let steps = self.filtered.len();
        let mut ws = Workspace::default();
        let mut out = self.filtered.clone();
        for k in (0..steps.saturating_sub(1)).rev() {
            let kernels = self.backward(k, &mut ws);
            let shared = kernels.len() == 1;
            let mut mean = vec![0.0; n * d];
            let mut chol = vec![0.0; out[k].chol.len()];
            for j in 0..d {
                // Offsets depend on the mean of coordinate j; the gains only on the factors.
                let a = self.filtered[k].block(j, d, n);
                let kern = &kernels[if shared { 0 } else { j }];
                let mbar: Vec<f64> = a.mean.iter().zip(&kern.p).map(|(m, p)| m / p).collect();
                let mut am = vec![0.0; n];
                self.prior.a_mul(&mbar, &mut am);
                let later = out[k + 1].block(j, d, n);
                for i in 0..n {
                    let mut v = mbar[i];
                    for c in 0..n {
                        v += kern.g[i * n + c] * (later.mean[c] / kern.p[c] - am[c]);
                    }
                    mean[i * d + j] = v * kern.p[i];
                }
                if !shared || j == 0 {
                    let sm = kern.marginalise(&vec![0.0; n], &later.chol, &mut ws);
                    let b = if shared { 0 } else { j };
                    chol[b * n * n..(b + 1) * n * n].copy_from_slice(&sm.chol);
                }
            }
            out[k] = BlockState {
                t: self.filtered[k].t,
                mean,
                chol,
                diffusion: self.filtered[k].diffusion.clone(),
            };
        }
        self.smoothed = Some(out);
    }

    /// The marginals to report (smoothed if available).
    pub(crate) fn marginals(&self) -> &[BlockState] {
        self.smoothed.as_deref().unwrap_or(&self.filtered)
    }

    /// The belief over the whole state at `t` (interpolated between steps).
    pub(crate) fn at(&self, t: f64) -> Result<BlockState> {
        let times: Vec<f64> = self.filtered.iter().map(|s| s.t).collect();
        let (t0, t1) = (times[0], times[times.len() - 1]);
        if !(t.is_finite() && t >= t0 && t <= t1) {
            return Err(Error::InvalidInput {
                what: "t",
                value: t,
                reason: "must lie in the solved time span",
            });
        }
        let k = times.partition_point(|&s| s <= t).saturating_sub(1);
        let marg = self.marginals();
        if times[k] == t || k + 1 == times.len() {
            return Ok(marg[k].clone());
        }
        let n = self.n();
        let d = self.d;
        let mut ws = Workspace::default();
        let next = &self.filtered[k + 1];
        let mid = predict_state(
            &self.prior,
            &self.filtered[k],
            d,
            t - self.filtered[k].t,
            &next.diffusion,
            &mut ws,
        );
        let Some(sm) = &self.smoothed else {
            return Ok(mid);
        };
        // Condition the interpolated filtering belief on the smoothed belief at the next step.
        let mut p = vec![0.0; n];
        self.prior.precond(next.t - t, &mut p);
        let blocks = mid.blocks(n);
        let mut mean = vec![0.0; n * d];
        let mut chol = vec![0.0; mid.chol.len()];
        for j in 0..d {
            let a = mid.block(j, d, n);
            let bi = if blocks == 1 { 0 } else { j };
            let kern = self.prior.backward(
                &p,
                &a.mean,
                &a.chol,
                next.diffusion[bi].max(0.0).sqrt(),
                &mut ws,
            );
            let later = sm[k + 1].block(j, d, n);
            let b = kern.marginalise(&later.mean, &later.chol, &mut ws);
            for i in 0..n {
                mean[i * d + j] = b.mean[i];
            }
            if blocks > 1 || j == 0 {
                chol[bi * n * n..(bi + 1) * n * n].copy_from_slice(&b.chol);
            }
        }
        Ok(BlockState {
            t,
            mean,
            chol,
            diffusion: next.diffusion.clone(),
        })
    }

    /// `count` joint draws of `x` at the step times (`steps × d` each), by backward sampling.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R, count: usize) -> Vec<Array2<f64>> {
        let n = self.n();
        let d = self.d;
        let steps = self.filtered.len();
        let mut ws = Workspace::default();
        let mut out = vec![Array2::zeros((steps, d)); count];
        // Draws of every block at the current step, one Vec per draw: (d blocks × n).
        let last = &self.filtered[steps - 1];
        let mut cur: Vec<Vec<Vec<f64>>> = (0..count)
            .map(|_| {
                (0..d)
                    .map(|j| {
                        let b = last.block(j, d, n);
                        let xi: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
                        (0..n)
                            .map(|i| {
                                b.mean[i] + (0..n).map(|c| b.chol[i * n + c] * xi[c]).sum::<f64>()
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        for (s, draw) in cur.iter().enumerate() {
            for j in 0..d {
                out[s][[steps - 1, j]] = draw[j][0];
            }
        }
        for k in (0..steps.saturating_sub(1)).rev() {
            let kernels: Vec<Backward> =
                (0..d).map(|j| self.backward_coord(k, j, &mut ws)).collect();
            for (s, draw) in cur.iter_mut().enumerate() {
                for j in 0..d {
                    draw[j] = kernels[j].sample_given(&draw[j], rng);
                    out[s][[k, j]] = draw[j][0];
                }
            }
        }
        out
    }

    /// Means of `x` at the steps.
    pub(crate) fn mean_x(&self) -> Array2<f64> {
        let m = self.marginals();
        Array2::from_shape_fn((m.len(), self.d), |(k, j)| m[k].mean[j])
    }

    /// Standard deviations of `x` at the steps.
    pub(crate) fn std_x(&self) -> Array2<f64> {
        let m = self.marginals();
        let n = self.n();
        Array2::from_shape_fn((m.len(), self.d), |(k, j)| m[k].var(0, j, n).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tria_reproduces_f_ft() {
        let (n, k) = (4, 7);
        let f0: Vec<f64> = (0..n * k)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut f = f0.clone();
        let mut l = vec![0.0; n * n];
        tria(&mut f, n, k, &mut l);
        for i in 0..n {
            for j in 0..n {
                let a: f64 = (0..k).map(|c| f0[i * k + c] * f0[j * k + c]).sum();
                let b: f64 = (0..n).map(|c| l[i * n + c] * l[j * n + c]).sum();
                assert!(
                    (a - b).abs() < 1e-12 * (1.0 + a.abs()),
                    "{i} {j}: {a} vs {b}"
                );
                if j > i {
                    assert_eq!(l[i * n + j], 0.0);
                }
            }
        }
    }

    #[test]
    fn tria_with_a_triangular_first_block_equals_tria() {
        let n = 5;
        let mut f0 = vec![0.0; n * 2 * n];
        for i in 0..n {
            for c in 0..n {
                if c <= i {
                    f0[i * 2 * n + c] = 0.3 + ((i * 5 + c * 3) % 7) as f64 / 4.0;
                }
                f0[i * 2 * n + n + c] = ((i * 11 + c * 7) % 13) as f64 / 5.0 - 1.2;
            }
        }
        let (mut a, mut b) = (f0.clone(), f0.clone());
        let (mut la, mut lb) = (vec![0.0; n * n], vec![0.0; n * n]);
        tria(&mut a, n, 2 * n, &mut la);
        tria_lower_first(&mut b, n, &mut lb);
        for i in 0..n {
            for j in 0..n {
                // Equal up to the signs of the columns: compare L Lᵀ.
                let x: f64 = (0..n).map(|c| la[i * n + c] * la[j * n + c]).sum();
                let y: f64 = (0..n).map(|c| lb[i * n + c] * lb[j * n + c]).sum();
                assert!(
                    (x - y).abs() < 1e-12 * (1.0 + x.abs()),
                    "{i} {j}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn projection_update_equals_covariance_formula() {
        let n = 3;
        let l0 = [1.0, 0.0, 0.0, 0.5, 2.0, 0.0, -0.3, 0.4, 1.5];
        let hb = [0.2, 1.0, -0.5];
        let mut m = vec![0.1, -0.2, 0.3];
        let mut l = l0.to_vec();
        let gain = condition_factor(&hb, &mut l);
        let r = condition_mean(&hb, 0.7, &mut m, &gain);
        let s = gain.s;
        let p0 = |i: usize, j: usize| (0..n).map(|c| l0[i * n + c] * l0[j * n + c]).sum::<f64>();
        let ph: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| p0(i, j) * hb[j]).sum())
            .collect();
        let s_ref: f64 = (0..n).map(|i| hb[i] * ph[i]).sum();
        assert!((s - s_ref).abs() < 1e-12);
        for i in 0..n {
            assert!((m[i] - ([0.1, -0.2, 0.3][i] + ph[i] / s_ref * r)).abs() < 1e-12);
            for j in 0..n {
                let want = p0(i, j) - ph[i] * ph[j] / s_ref;
                let got: f64 = (0..n).map(|c| l[i * n + c] * l[j * n + c]).sum();
                assert!((want - got).abs() < 1e-12);
            }
        }
    }
}
