#!/usr/bin/env bash
# Independent reference solutions (SciPy) for the ODE test problems of pn_ode::problems:
# writes crates/pn-ode/data/<name>.json, which crates/pn-ode/tests/problems.rs checks the Rust
# problems against. See benches/ode_reference.py for the methods and the cross-checks.
#
# Usage: benches/ode_reference.sh [NAME ...] [--out-dir DIR]     (default: every problem)
#   e.g.  benches/ode_reference.sh                 (all; a few minutes)
#         benches/ode_reference.sh lorenz rober
#
# Needs: python3 (with venv); the virtualenv benches/.venv (NumPy, SciPy) is created on first
# use, by benches/setup_venv.sh where present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ -x benches/setup_venv.sh ]; then
    python="$(benches/setup_venv.sh | tail -n 1)"
else
    venv=benches/.venv
    if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import numpy, scipy' 2>/dev/null; then
        echo "ode_reference: creating $venv with numpy scipy" >&2
        "${PYTHON:-python3}" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
        "$venv/bin/python" -m pip install --quiet numpy scipy >&2
    fi
    python="$venv/bin/python"
fi

# The command as recorded in every JSON file (relative to the repository root).
PN_ODE_REFERENCE_COMMAND="benches/ode_reference.sh${*:+ $*}"
export PN_ODE_REFERENCE_COMMAND
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec "$python" benches/ode_reference.py "$@"
