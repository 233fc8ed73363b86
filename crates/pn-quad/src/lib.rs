//! # pn-quad — Bayesian quadrature: integrals with error bars
//!
//! A Gaussian-process prior on an integrand turns its evaluations into a Gaussian belief over
//! `∫ f dp`. This crate will offer:
//!
//! - vanilla Bayesian quadrature with closed-form kernel embeddings (squared exponential against
//!   Gaussian measures and boxes, Matérn against boxes, Wiener and integrated-Wiener kernels);
//! - classical rules recovered as special cases (trapezoid, cubic splines);
//! - adaptive node selection (integral-variance reduction, uncertainty sampling, mutual
//!   information) with hyperparameters refitted as nodes arrive;
//! - WSABI-L for non-negative integrands such as model evidences;
//! - Monte Carlo, quasi-Monte Carlo and Gauss tensor rules as baselines in the same API.
//!
//! Kernels and the Gaussian belief come from [`pn_core`].
//!
//! Nothing is implemented here yet.
