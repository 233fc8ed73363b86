#!/usr/bin/env bash
# Error at equal evaluations: SciPy quad/nquad vs pn-quad's MC, Sobol', Gauss-Legendre and BQ.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
cargo build --release -q -p pn-quad --example rules_side
py="$("$here/setup_venv.sh" | tail -1)"
"$py" "$here/quad_rules.py" target/release/examples/rules_side
