//! # pn-ode — ODE solvers that are Bayesian filters
//!
//! An ODE solve is inference: the residual `x'(t) − f(t, x(t))` is *observed* to be zero at each
//! step under an integrated-Wiener-process prior, and square-root Kalman filtering and smoothing
//! (from `pn-filter`) return a Gaussian belief over the whole trajectory.
//!
//! Vector fields are written once over dual numbers ([`OdeFunction`]), which gives exact
//! Jacobians for the EK1 and exact Taylor coefficients for initialisation; plain closures with
//! a user Jacobian work too ([`Closure`], initialised by a classical Runge–Kutta start), and
//! second-order problems `x'' = f(t, x, x')` are solved natively ([`SecondOrderFunction`]).
//!
//! Methods ([`Method`]): the **EK1** (exact Jacobian, dense covariance; the default, handles
//! stiffness), the **EK0** (no Jacobian, Kronecker covariance: cost and memory linear in the
//! dimension), and the **diagonal EK1** (diagonal of the Jacobian, block-diagonal covariance:
//! linear in the dimension). [`solve`] is the front door with documented defaults
//! ([`Options`]); [`OdeFilter`] is the stepper underneath and [`solve_observed`] watches (and may
//! stop) a solve step by step.
//!
//! ```
//! use ndarray::array;
//! use num_dual::DualNum;
//! use pn_ode::{AutoDiff, OdeFunction, Options, solve};
//!
//! struct Logistic;
//! impl OdeFunction for Logistic {
//!     fn dim(&self) -> usize { 1 }
//!     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
//!         dx[0] = x[0] * (-x[0] + 1.0);
//!     }
//! }
//! let sol = solve(&AutoDiff(Logistic), (0.0, 2.0), array![0.1].view(), Options::default())?;
//! let end = sol.final_belief()?;
//! let exact = 1.0 / (1.0 + 9.0 * (-2.0f64).exp());
//! assert!((end.mean()[0] - exact).abs() < 1e-5);
//! assert!(end.std()[0] < 1e-3);
//! # Ok::<(), pn_ode::Error>(())
//! ```

mod blockwise;
mod dense_filter;
mod error;
mod function;
pub mod problems;
mod solver;

pub use problems::{Problem, ProblemInfo, catalogue};

pub use error::{Error, Result};
pub use function::{
    AutoDiff, Closure, MAX_TAYLOR_ORDER, OdeFunction, SecondOrder, SecondOrderFunction,
    VectorField, taylor_coefficients, taylor_coefficients_second_order,
};
pub use solver::{
    Calibration, Control, Init, Method, OdeFilter, OdeSolution, Options, Stats, StepInfo, Steps,
    solve, solve_observed,
};
