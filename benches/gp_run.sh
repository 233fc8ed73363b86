#!/usr/bin/env bash
# Exact GP regression end to end (SE, d = 2, 500 test points, n = 1000 … 8000): pn-linalg
# against the NumPy/SciPy recipe, plus the bare Cholesky of both, in one alternating run.
# Writes benches/results/gp_exact.json and docs/img/gp-exact-vs-numpy.svg; the numbers go into
# docs/benchmarks.md.
#
# Usage: benches/gp_run.sh [--n 1000 2000] [--reps 3]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="$(benches/setup_venv.sh | tail -n 1)"
echo "gp_run: building the pn timing example (release)" >&2
cargo build --release --quiet -p pn-linalg --example gp_timing
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec "$python" benches/gp_exact_vs_numpy.py --bin target/release/examples/gp_timing "$@"
