//! Independent priors side by side: the state of a sum of Gauss–Markov processes.

use std::sync::Arc;

use ndarray::{Array1, Array2, s};
use pn_core::{Covariance, Gaussian};

use super::{GaussMarkov, Transition};
use crate::error::Result;

/// Independent Gauss–Markov processes stacked into one state (block-diagonal transition and
/// noise). Its [`value_sum`](Self::value_sum) observes `Σᵢ fᵢ(t)`, the state-space form of a
/// sum of kernels `k = Σᵢ kᵢ`.
///
/// Every component must model the same number of coordinates `d`; the state is the
/// concatenation of the components' states, so [`GaussMarkov::order`] and
/// [`GaussMarkov::projection`] refer to the first component and are rarely what a stacked
/// model needs — use [`value_sum`](Self::value_sum) and [`offsets`](Self::offsets).
#[derive(Debug, Clone)]
pub struct Stacked {
    parts: Vec<Arc<dyn GaussMarkov>>,
}

impl Stacked {
    /// Stack `parts` (at least one, all with the same `dim`).
    pub fn new(parts: Vec<Arc<dyn GaussMarkov>>) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(pn_core::Error::Empty { what: "parts" }.into());
        };
        let d = first.dim();
        for p in &parts {
            if p.dim() != d {
                return Err(pn_core::Error::ShapeMismatch {
                    op: "Stacked::new (dimensions of the parts)",
                    expected: vec![d],
                    found: vec![p.dim()],
                }
                .into());
            }
        }
        Ok(Self { parts })
    }

    /// The components.
    pub fn parts(&self) -> &[Arc<dyn GaussMarkov>] {
        &self.parts
    }

    /// Where each component's state starts in the stacked state.
    pub fn offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.parts
            .iter()
            .map(|p| {
                let o = at;
                at += p.state_dim();
                o
            })
            .collect()
    }

    /// The `d × state_dim` map `x ↦ Σᵢ E₀⁽ⁱ⁾ xᵢ`: the sum of the components' values.
    pub fn value_sum(&self) -> Array2<f64> {
        let mut h = Array2::zeros((self.dim(), self.state_dim()));
        for (p, o) in self.parts.iter().zip(self.offsets()) {
            let e = p.projection(0);
            h.slice_mut(s![.., o..o + p.state_dim()]).assign(&e);
        }
        h
    }
}

impl GaussMarkov for Stacked {
    fn dim(&self) -> usize {
        self.parts[0].dim()
    }

    fn order(&self) -> usize {
        self.parts[0].order()
    }

    fn state_dim(&self) -> usize {
        self.parts.iter().map(|p| p.state_dim()).sum()
    }

    fn transition(&self, h: f64) -> Result<Transition> {
        let n = self.state_dim();
        let mut a = Array2::zeros((n, n));
        let mut l = Array2::zeros((n, n));
        let mut t = Array1::zeros(n);
        for (p, o) in self.parts.iter().zip(self.offsets()) {
            let tr = p.transition(h)?;
            let m = p.state_dim();
            a.slice_mut(s![o..o + m, o..o + m]).assign(&tr.a);
            l.slice_mut(s![o..o + m, o..o + m]).assign(&tr.q_chol);
            t.slice_mut(s![o..o + m]).assign(&tr.precond);
        }
        Ok(Transition {
            a,
            q_chol: l,
            precond: t,
        })
    }

    fn stationary(&self) -> Option<Gaussian> {
        let n = self.state_dim();
        let mut cov = Array2::zeros((n, n));
        for (p, o) in self.parts.iter().zip(self.offsets()) {
            let g = p.stationary()?;
            let m = p.state_dim();
            cov.slice_mut(s![o..o + m, o..o + m]).assign(&g.cov_dense());
        }
        Gaussian::new(Array1::zeros(n), Covariance::dense(cov).ok()?).ok()
    }

    fn projection(&self, k: usize) -> Array2<f64> {
        let mut e = Array2::zeros((self.dim(), self.state_dim()));
        let first = self.parts[0].projection(k);
        e.slice_mut(s![.., ..self.parts[0].state_dim()])
            .assign(&first);
        e
    }
}
