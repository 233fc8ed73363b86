#!/usr/bin/env bash
# Create (or reuse) benches/.venv with what the comparison scripts in benches/ need:
# NumPy and SciPy (the reference tools), threadpoolctl (to verify and report the BLAS and its
# thread count) and matplotlib (plots). Idempotent: a venv that already imports them is kept.
#
# Usage: benches/setup_venv.sh [PIP_SPEC[:IMPORT_NAME] ...]
#        (prints the venv's python path on its last line). Extra arguments are further packages a
#        particular comparison needs (e.g. `arviz emcee`, `scikit-learn:sklearn`); each is
#        installed only if its import name does not import yet.
# Env:   PYTHON=python3.X to choose the interpreter the venv is made from.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
packages=(numpy scipy threadpoolctl matplotlib)

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c 'import numpy, scipy, threadpoolctl, matplotlib' 2>/dev/null; then
    echo "setup_venv: reusing $venv" >&2
else
    echo "setup_venv: creating $venv with ${packages[*]}" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet "${packages[@]}" >&2
fi
for extra in "$@"; do
    spec="${extra%%:*}"
    module="${extra#*:}"
    [ "$module" = "$extra" ] && module="${spec%%[<>=!~ ]*}"
    module="${module//-/_}"
    if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
        echo "setup_venv: installing $spec" >&2
        "$venv/bin/python" -m pip install --quiet "$spec" >&2
    fi
done
"$venv/bin/python" - >&2 <<'PY'
import sys, numpy, scipy, threadpoolctl, matplotlib
print(f"setup_venv: python {sys.version.split()[0]}, numpy {numpy.__version__}, "
      f"scipy {scipy.__version__}, threadpoolctl {threadpoolctl.__version__}, "
      f"matplotlib {matplotlib.__version__}")
PY
echo "$venv/bin/python"
