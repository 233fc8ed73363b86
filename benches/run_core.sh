#!/usr/bin/env bash
# pn-core vs NumPy/SciPy: SE kernel-matrix assembly (n = 4000, d = 2) and Cholesky
# (n = 2000, 4000, 8000), run side by side in one script. Writes benches/results/core.json and
# docs/img/core-vs-numpy.svg; the numbers go into docs/benchmarks.md.
#
# Usage: benches/run_core.sh [--lapack] [options of core_vs_numpy.py]
#   --lapack   also time pn built with `--features lapack` (needs a system OpenBLAS,
#              e.g. Debian's libopenblas-dev), as an extra column
#   e.g.  benches/run_core.sh --lapack
#         benches/run_core.sh --reps 3 --cholesky-n 2000 4000     (a quicker run)
#
# Needs: cargo, python3 (with venv); the venv (benches/.venv) is created on first use.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

lapack=0
args=()
for a in "$@"; do
    if [ "$a" = "--lapack" ]; then lapack=1; else args+=("$a"); fi
done

python="$(benches/setup_venv.sh | tail -n 1)"

echo "run_core: building the pn timing example (release)" >&2
cargo build --release --quiet -p pn-core --example timing
bins=(--bin target/release/examples/timing)
if [ "$lapack" = 1 ]; then
    echo "run_core: building it again with --features lapack (target/lapack)" >&2
    cargo build --release --quiet -p pn-core --example timing --features lapack \
        --target-dir target/lapack
    bins+=(--lapack-bin target/lapack/release/examples/timing)
fi

# One BLAS thread on the Python side (the script also enforces and checks this with
# threadpoolctl). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if set, are removed for the NumPy side
# only by the script itself and passed on unchanged to the pn processes.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec "$python" benches/core_vs_numpy.py "${bins[@]}" "${args[@]}"
