//! Structured kernel matrices: products of 1-D kernels on grids (Kronecker) and stationary
//! kernels on regular 1-D grids (Toeplitz), where the structure gives exact solves and
//! log-determinants (Kronecker) or fast matrix–vector products for CG (Toeplitz).
//!
//! - [`KroneckerGp`]: `K = K₁ ⊗ K₂ ⊗ … ⊗ K_D` on the Cartesian grid of per-dimension points,
//!   `(K + σ² I)⁻¹ y` and `log det(K + σ² I)` exactly from per-dimension eigendecompositions in
//!   `O(Σ nᵢ³ + N Σ nᵢ)` for `N = Π nᵢ` points (Saatçi, 2012).
//! - [`Toeplitz`]: a symmetric Toeplitz matrix (a stationary kernel on `xᵢ = x₀ + i h`) whose
//!   products cost `O(n log n)` by circulant embedding and FFT (rustfft), and [`ToeplitzGp`],
//!   GP regression solved by CG with those products.

mod kronecker;
mod toeplitz;

pub use kronecker::{KroneckerGp, KroneckerPosterior};
pub use toeplitz::{Toeplitz, ToeplitzGp, ToeplitzPosterior};
