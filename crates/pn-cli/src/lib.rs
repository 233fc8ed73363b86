//! Support library of the `pn` binary.
//!
//! It has no public API. It exists so that `cargo test --workspace` compiles and runs the code
//! examples of the workspace `README.md` as doctests, which keeps them in step with the API.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
