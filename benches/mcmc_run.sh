#!/usr/bin/env bash
# The MCMC comparisons, each side by side in one run:
#   pn-mcmc NUTS (its defaults, Stan's warm-up, the dense metric) vs nuts-rs 0.19 (diagonal /
#   low-rank; benches/mcmc-peers, a separate Cargo project) on diag100, corr10, funnel-nc and
#   eight-schools, 4 chains x (1000 + 1000), same seeds -> benches/results/mcmc_vs_nuts_rs.csv
#   pn's ensemble sampler vs emcee on corr10 -> benches/results/mcmc_vs_emcee.{csv,txt}
# Run on a quiet machine (nothing compiling). Usage: benches/mcmc_run.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-3}"
py="$(benches/setup_venv.sh arviz emcee | tail -1)"
cargo build --release -p pn-cli
(cd benches/mcmc-peers && CARGO_TARGET_DIR=../../target/mcmc-peers cargo build --release)
target/mcmc-peers/release/mcmc-peers "$seeds" | tee benches/results/mcmc_vs_nuts_rs.csv
"$py" benches/mcmc_vs_emcee.py --pn-bin target/release/pn --seeds "$((seeds + 2))" | tee benches/results/mcmc_vs_emcee.txt
