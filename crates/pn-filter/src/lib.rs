//! # pn-filter — Gauss–Markov priors and square-root Kalman filtering
//!
//! This crate will hold the state-space machinery shared by the ODE filters (`pn-ode`), the
//! state-space Gaussian processes of `pn-linalg` and the probabilistic line search of `pn-optim`:
//!
//! - **Gauss–Markov priors with exact discretisation**: the integrated Wiener process IWP(q), the
//!   integrated Ornstein–Uhlenbeck process and Matérn-ν processes (half-integer ν), with closed-form
//!   transition matrices and process-noise Cholesky factors in preconditioned (Nordsieck-like)
//!   coordinates, and Kronecker/isotropic structure across dimensions.
//! - **Square-root Kalman filtering**: predict and update by QR of stacked square-root factors,
//!   so covariances stay positive semi-definite at high orders and tight tolerances.
//! - **Rauch–Tung–Striebel smoothing** in square-root form with stored backward kernels, the
//!   marginal log-likelihood of the data, joint posterior samples and interpolation at any time.
//!
//! The belief type it builds on is [`pn_core`]'s Gaussian with a Cholesky-factor covariance.
//!
//! Nothing is implemented here yet.
