#!/usr/bin/env bash
# Bayesian quadrature: pn-quad vs emukit (GPy) vs ProbNum on the same Sobol node sets.
# Do not run while something else is compiling (timing noise).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
cargo build --release -q -p pn-quad --example peer_side
py="$("$here/setup_venv.sh" emukit GPy probnum | tail -1)"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "$py" "$here/quad_peers.py" target/release/examples/peer_side
