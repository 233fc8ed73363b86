//! # pn-optim — optimisation with beliefs
//!
//! Deep-learning style empirical risk minimisation observes the gradient only through noisy
//! mini-batches. This crate will offer:
//!
//! - per-example gradients and the mini-batch gradient's mean **and** variance;
//! - the probabilistic line search (a Gaussian process on the 1-D loss along the search
//!   direction, built on `pn-filter`'s integrated Wiener process, with probabilistic Wolfe
//!   conditions);
//! - Laplace approximations: a Gaussian posterior over parameters from the curvature at the
//!   optimum;
//! - Bayesian optimisation of hyperparameters using `pn-linalg`'s GP regression.
//!
//! It builds on [`pn_core`] for beliefs.
//!
//! Nothing is implemented here yet.
