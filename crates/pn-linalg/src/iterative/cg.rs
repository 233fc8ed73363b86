//! Conjugate gradients, plain and preconditioned.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};
use pn_core::LinearOperator;

use super::{Control, Identity, Preconditioner, check_finite, check_len, norm, square_dim};
use crate::error::{Error, Result};

/// Options of [`cg`] and [`cg_batch`].
///
/// **Stopping rule.** The iteration stops successfully at the first iterate with
/// `‖b − A xₖ‖₂ ≤ max(rtol · ‖b‖₂, atol)`, where the residual is the *explicitly recomputed*
/// one (a recursively updated residual that meets the tolerance is verified by one extra product
/// before stopping). It fails after `max_iter` iterations ([`Error::NoConvergence`] when
/// `require_convergence`, otherwise the last iterate is returned with `converged = false`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CgParams {
    /// Relative tolerance on `‖r‖/‖b‖` (default `1e-6`).
    pub rtol: f64,
    /// Absolute tolerance on `‖r‖` (default `0`).
    pub atol: f64,
    /// Iteration budget; `None` (default) means `10 n`.
    pub max_iter: Option<usize>,
    /// Replace the recursively updated residual by `b − A x` every this many iterations
    /// (default 50; `0` never), against the drift of the recursion in floating point.
    pub recompute_every: usize,
    /// Whether running out of iterations is an error (default `true`).
    pub require_convergence: bool,
}

impl Default for CgParams {
    fn default() -> Self {
        Self {
            rtol: 1e-6,
            atol: 0.0,
            max_iter: None,
            recompute_every: 50,
            require_convergence: true,
        }
    }
}

impl CgParams {
    /// Sets [`rtol`](Self::rtol).
    pub fn rtol(mut self, rtol: f64) -> Self {
        self.rtol = rtol;
        self
    }
    /// Sets [`atol`](Self::atol).
    pub fn atol(mut self, atol: f64) -> Self {
        self.atol = atol;
        self
    }
    /// Sets [`max_iter`](Self::max_iter).
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = Some(max_iter);
        self
    }
    /// Sets [`recompute_every`](Self::recompute_every).
    pub fn recompute_every(mut self, k: usize) -> Self {
        self.recompute_every = k;
        self
    }
    /// Sets [`require_convergence`](Self::require_convergence).
    pub fn require_convergence(mut self, yes: bool) -> Self {
        self.require_convergence = yes;
        self
    }

    fn validate(&self) -> Result<()> {
        pn_core::validate::non_negative("rtol", self.rtol)?;
        pn_core::validate::non_negative("atol", self.atol)?;
        Ok(())
    }
}

/// What the observer of [`cg`] sees after iteration `iteration` (zero-based): the step
/// `x ← x + α p`, `r ← r − α A p`, `z = P⁻¹ r`, `p ← z + β p` has just been taken.
#[derive(Debug)]
#[non_exhaustive]
pub struct CgState<'a> {
    /// Zero-based index of the iteration just completed.
    pub iteration: usize,
    /// The new iterate `xₖ₊₁`.
    pub x: ArrayView1<'a, f64>,
    /// The new residual `b − A xₖ₊₁` (recursively updated between recomputations).
    pub residual: ArrayView1<'a, f64>,
    /// `‖r‖ / ‖b‖`.
    pub relative_residual: f64,
    /// The direction `pₖ` the step was taken along.
    pub direction: ArrayView1<'a, f64>,
    /// `pₖᵀ A pₖ`.
    pub curvature: f64,
    /// The step length `αₖ`.
    pub alpha: f64,
    /// The coefficient `βₖ` of the next direction.
    pub beta: f64,
}

/// What [`cg`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CgInfo {
    /// Iterations (products with `A` in the recursion; verification and recomputation
    /// products are counted in `matvecs`).
    pub iterations: usize,
    /// All products with `A`.
    pub matvecs: usize,
    /// Whether the stopping rule was met.
    pub converged: bool,
    /// `‖b − A x‖ / ‖b‖` of the returned `x`, recomputed explicitly.
    pub relative_residual: f64,
    /// `‖rₖ‖ / ‖b‖` of the recursion, one entry per iterate starting with `x₀`.
    pub residual_history: Vec<f64>,
}

/// The result of [`cg`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CgSolution {
    /// The approximate solution.
    pub x: Array1<f64>,
    /// Iterations, residuals, convergence.
    pub info: CgInfo,
}

/// Solves `A x = b` for symmetric positive definite `A` by (preconditioned) conjugate gradients
/// (Hestenes & Stiefel, 1952), matrix-free.
///
/// `x0` is the starting guess (default `0`), `precond` a symmetric positive definite `P ≈ A`
/// applied as `P⁻¹` (default none). The system is solved for `b / ‖b‖` and the result scaled
/// back, so the iteration is independent of the scale of `b`; `b = 0` returns `x = 0` at once.
/// See [`CgParams`] for the stopping rule. `observer` sees a [`CgState`] after every iteration
/// and may return [`Control::Stop`].
///
/// Errors: shapes ([`pn_core::Error::ShapeMismatch`]), NaN/∞ in `b` or `x0`,
/// [`Error::NotPositiveDefinite`] on a direction with `pᵀ A p ≤ 0` (or a non-finite product),
/// [`Error::NoConvergence`] when the budget runs out and convergence is required.
///
/// ```
/// use ndarray::array;
/// use pn_linalg::iterative::{cg, CgParams, Control};
/// let a = array![[4.0, 1.0], [1.0, 3.0]];
/// let b = array![1.0, 2.0];
/// let sol = cg(&a, b.view(), None, None, &CgParams::default().rtol(1e-12), |_| Control::Continue)?;
/// assert!((sol.x[0] - 1.0 / 11.0).abs() < 1e-12 && sol.info.iterations <= 2);
/// # Ok::<(), pn_linalg::Error>(())
/// ```
pub fn cg<A, F>(
    a: &A,
    b: ArrayView1<'_, f64>,
    x0: Option<ArrayView1<'_, f64>>,
    precond: Option<&dyn Preconditioner>,
    params: &CgParams,
    mut observer: F,
) -> Result<CgSolution>
where
    A: LinearOperator + ?Sized,
    F: FnMut(&CgState<'_>) -> Control,
{
    const WHAT: &str = "cg";
    params.validate()?;
    let n = square_dim(WHAT, &a)?;
    check_len(WHAT, n, b.len())?;
    check_finite("b", b.iter())?;
    if let Some(x0) = x0 {
        check_len(WHAT, n, x0.len())?;
        check_finite("x0", x0.iter())?;
    }
    let ident = Identity(n);
    let p_op: &dyn Preconditioner = precond.unwrap_or(&ident);
    check_len("cg preconditioner", n, p_op.dim())?;
    let max_iter = params.max_iter.unwrap_or(10 * n.max(1));

    let bnorm = norm(b);
    if bnorm == 0.0 {
        return Ok(CgSolution {
            x: Array1::zeros(n),
            info: CgInfo {
                iterations: 0,
                matvecs: 0,
                converged: true,
                relative_residual: 0.0,
                residual_history: vec![0.0],
            },
        });
    }
    let bs = &b / bnorm;
    let tol = params.rtol.max(params.atol / bnorm);
    let mut x = match x0 {
        Some(x0) => &x0 / bnorm,
        None => Array1::zeros(n),
    };
    let mut matvecs = 0;
    let explicit = |x: &Array1<f64>, matvecs: &mut usize| -> Array1<f64> {
        *matvecs += 1;
        &bs - &a.matvec(x.view())
    };
    let mut r = if x0.is_some() {
        explicit(&x, &mut matvecs)
    } else {
        bs.clone()
    };
    let mut z = p_op.solve(r.view());
    let mut p = z.clone();
    let mut rz = r.dot(&z);
    let mut rnorm = norm(r.view());
    let mut history = vec![rnorm];
    let mut converged = false;
    let mut iterations = 0;
    let mut xs = Array1::zeros(n);
    loop {
        if rnorm <= tol {
            // Verify with the explicit residual before stopping.
            let re = explicit(&x, &mut matvecs);
            let ren = norm(re.view());
            if ren <= tol {
                converged = true;
                rnorm = ren;
                break;
            }
            r = re;
            rnorm = ren;
            z = p_op.solve(r.view());
            rz = r.dot(&z);
            p.assign(&z);
        }
        if iterations >= max_iter {
            break;
        }
        let q = a.matvec(p.view());
        matvecs += 1;
        let pq = p.dot(&q);
        if !(pq > 0.0 && pq.is_finite()) {
            return Err(Error::NotPositiveDefinite {
                what: WHAT,
                iteration: iterations,
                curvature: pq,
            });
        }
        let alpha = rz / pq;
        x.scaled_add(alpha, &p);
        if params.recompute_every > 0 && (iterations + 1) % params.recompute_every == 0 {
            r = explicit(&x, &mut matvecs);
        } else {
            r.scaled_add(-alpha, &q);
        }
        z = p_op.solve(r.view());
        let rz_new = r.dot(&z);
        if !rz_new.is_finite() || rz_new < 0.0 {
            return Err(Error::NotPositiveDefinite {
                what: "cg preconditioner",
                iteration: iterations,
                curvature: rz_new,
            });
        }
        let beta = rz_new / rz;
        let p_old = std::mem::replace(&mut p, z.clone());
        p.scaled_add(beta, &p_old);
        rz = rz_new;
        rnorm = norm(r.view());
        history.push(rnorm);
        iterations += 1;
        Zip::from(&mut xs).and(&x).for_each(|o, &v| *o = v * bnorm);
        let rs = &r * bnorm;
        let ps = &p_old * bnorm;
        let ctl = observer(&CgState {
            iteration: iterations - 1,
            x: xs.view(),
            residual: rs.view(),
            relative_residual: rnorm,
            direction: ps.view(),
            curvature: pq * bnorm * bnorm,
            alpha,
            beta,
        });
        if ctl == Control::Stop {
            let re = explicit(&x, &mut matvecs);
            rnorm = norm(re.view());
            converged = rnorm <= tol;
            break;
        }
    }
    if !converged && iterations >= max_iter {
        let re = explicit(&x, &mut matvecs);
        rnorm = norm(re.view());
        converged = rnorm <= tol;
    }
    if !converged && params.require_convergence {
        return Err(Error::NoConvergence {
            what: WHAT,
            iterations,
            relative_residual: rnorm,
        });
    }
    x *= bnorm;
    Ok(CgSolution {
        x,
        info: CgInfo {
            iterations,
            matvecs,
            converged,
            relative_residual: rnorm,
            residual_history: history,
        },
    })
}

/// Solves `A X = B` for several right-hand sides (the columns of `B`) by (preconditioned)
/// conjugate gradients run in lock-step, so that each iteration costs one block product
/// `A P` — much cheaper than separate products for kernel matrices evaluated on the fly.
///
/// Each column follows the recursion of [`cg`] with its own scaling, step lengths and the
/// stopping rule of [`CgParams`] (checked on the recursive residual, then verified explicitly);
/// converged columns are frozen. Zero columns of `B` give zero solutions. Returns the solutions
/// and one [`CgInfo`] per column.
///
/// Errors as for [`cg`]; [`Error::NoConvergence`] reports the worst column.
pub fn cg_batch<A>(
    a: &A,
    b: ArrayView2<'_, f64>,
    precond: Option<&dyn Preconditioner>,
    params: &CgParams,
) -> Result<(Array2<f64>, Vec<CgInfo>)>
where
    A: LinearOperator + ?Sized,
{
    const WHAT: &str = "cg_batch";
    params.validate()?;
    let n = square_dim(WHAT, &a)?;
    check_len(WHAT, n, b.nrows())?;
    check_finite("B", b.iter())?;
    let ident = Identity(n);
    let p_op: &dyn Preconditioner = precond.unwrap_or(&ident);
    check_len("cg preconditioner", n, p_op.dim())?;
    let max_iter = params.max_iter.unwrap_or(10 * n.max(1));
    let m = b.ncols();
    let bnorm: Vec<f64> = b.axis_iter(Axis(1)).map(norm).collect();
    let mut bs = b.to_owned();
    for (j, mut c) in bs.axis_iter_mut(Axis(1)).enumerate() {
        if bnorm[j] > 0.0 {
            c /= bnorm[j];
        }
    }
    let tol: Vec<f64> = bnorm
        .iter()
        .map(|&bn| params.rtol.max(params.atol / bn))
        .collect();
    let mut x = Array2::<f64>::zeros((n, m));
    let mut r = bs.clone();
    let mut z = p_op.solve_mat(r.view());
    let mut p = z.clone();
    let mut rz: Vec<f64> = (0..m).map(|j| r.column(j).dot(&z.column(j))).collect();
    let mut infos: Vec<CgInfo> = (0..m)
        .map(|j| CgInfo {
            iterations: 0,
            matvecs: 0,
            converged: bnorm[j] == 0.0,
            relative_residual: 0.0,
            residual_history: vec![if bnorm[j] == 0.0 { 0.0 } else { 1.0 }],
        })
        .collect();
    let mut active: Vec<usize> = (0..m).filter(|&j| bnorm[j] > 0.0).collect();
    let mut it = 0;
    while !active.is_empty() && it < max_iter {
        // Columns whose recursive residual meets the tolerance: verify explicitly.
        let candidates: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&j| infos[j].residual_history.last().copied().unwrap_or(1.0) <= tol[j])
            .collect();
        if !candidates.is_empty() {
            let xc = x.select(Axis(1), &candidates);
            let ax = a.matmat(xc.view());
            for (c, &j) in candidates.iter().enumerate() {
                infos[j].matvecs += 1;
                let re = &bs.column(j) - &ax.column(c);
                let ren = norm(re.view());
                if ren <= tol[j] {
                    infos[j].converged = true;
                    infos[j].relative_residual = ren;
                } else {
                    r.column_mut(j).assign(&re);
                    let zj = p_op.solve(re.view());
                    rz[j] = re.dot(&zj);
                    p.column_mut(j).assign(&zj);
                    z.column_mut(j).assign(&zj);
                }
            }
            active.retain(|&j| !infos[j].converged);
            if active.is_empty() {
                break;
            }
        }
        let pa = p.select(Axis(1), &active);
        let q = a.matmat(pa.view());
        let recompute = params.recompute_every > 0 && (it + 1) % params.recompute_every == 0;
        for (c, &j) in active.iter().enumerate() {
            let qj = q.column(c);
            let pq = p.column(j).dot(&qj);
            if !(pq > 0.0 && pq.is_finite()) {
                return Err(Error::NotPositiveDefinite {
                    what: WHAT,
                    iteration: it,
                    curvature: pq,
                });
            }
            let alpha = rz[j] / pq;
            let pj = p.column(j).to_owned();
            x.column_mut(j).scaled_add(alpha, &pj);
            r.column_mut(j).scaled_add(-alpha, &qj);
            infos[j].iterations += 1;
            infos[j].matvecs += 1;
        }
        if recompute {
            let xa = x.select(Axis(1), &active);
            let ax = a.matmat(xa.view());
            for (c, &j) in active.iter().enumerate() {
                infos[j].matvecs += 1;
                let re = &bs.column(j) - &ax.column(c);
                r.column_mut(j).assign(&re);
            }
        }
        let ra = r.select(Axis(1), &active);
        let za = p_op.solve_mat(ra.view());
        for (c, &j) in active.iter().enumerate() {
            let zj = za.column(c);
            let rz_new = r.column(j).dot(&zj);
            let beta = rz_new / rz[j];
            rz[j] = rz_new;
            let pj = p.column(j).to_owned();
            let mut pc = p.column_mut(j);
            pc.assign(&zj);
            pc.scaled_add(beta, &pj);
            z.column_mut(j).assign(&zj);
            infos[j].residual_history.push(norm(r.column(j)));
        }
        it += 1;
    }
    if !active.is_empty() {
        let xa = x.select(Axis(1), &active);
        let ax = a.matmat(xa.view());
        let mut worst = 0.0f64;
        for (c, &j) in active.iter().enumerate() {
            let ren = norm((&bs.column(j) - &ax.column(c)).view());
            infos[j].matvecs += 1;
            infos[j].relative_residual = ren;
            infos[j].converged = ren <= tol[j];
            if !infos[j].converged {
                worst = worst.max(ren);
            }
        }
        if params.require_convergence && worst > 0.0 {
            return Err(Error::NoConvergence {
                what: WHAT,
                iterations: it,
                relative_residual: worst,
            });
        }
    }
    for (j, mut c) in x.axis_iter_mut(Axis(1)).enumerate() {
        c *= bnorm[j];
    }
    Ok((x, infos))
}
