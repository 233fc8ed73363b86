#!/usr/bin/env bash
# Work-precision benchmark of pn-ode's ODE filters (EK0, EK1, diagonal EK1; q = 3, 4, 5) against
# probdiffeq (JAX), ProbNum, SciPy solve_ivp (RK45, DOP853, Radau) and classical Rust solvers
# (diffsol Tsit5/BDF, ode_solvers DOP853; the separate Cargo project benches/ode-peers) on
# Lotka-Volterra, FitzHugh-Nagumo, Van der Pol (mu = 1), Pleiades and HIRES. Writes
# benches/results/ode_wp.json, benches/results/ode_wp_table.md and docs/img/ode-wp-<problem>.svg;
# the numbers go into docs/benchmarks.md. About 10-15 minutes on a 2-core machine.
#
# Usage: benches/ode_wp.sh [options of benches/ode_wp.py]
#   e.g.  benches/ode_wp.sh                                   (everything)
#         benches/ode_wp.sh --pn-only                         (re-run pn, keep the other sides)
#         benches/ode_wp.sh --problems lotka-volterra --sides pn probdiffeq
#         benches/ode_wp.sh --replot                          (plots and table from the JSON)
#
# Needs: cargo, python3 (with venv); benches/.venv gets jax, probdiffeq and probnum on first use.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="$(benches/setup_venv.sh jax probdiffeq probnum | tail -n 1)"

echo "ode_wp: building pn's wp_bench (release) and the Rust peers (benches/ode-peers)" >&2
cargo build --release --quiet -p pn-ode --example wp_bench
(cd benches/ode-peers && cargo build --release --quiet)

# One thread everywhere on the Python side; JAX on the CPU in float64 (set in the script).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 RAYON_NUM_THREADS=1
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
export JAX_PLATFORMS=cpu
exec "$python" benches/ode_wp.py \
    --pn-bin target/release/examples/wp_bench \
    --peers-bin benches/ode-peers/target/release/ode-peers "$@"
