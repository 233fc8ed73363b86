"""pn's ensemble sampler (stretch move, a = 2) against emcee on the same target, draws and walker
count: the 10-d Gaussian with unit variances and all correlations 0.9 (pn_mcmc::models `corr10`).

Both run one ensemble of 20 walkers, 1000 burn-in + 1000 kept steps, single-threaded (NumPy on
one BLAS thread). Efficiency is the minimum over the 10 coordinates of the bulk ESS (ArviZ's
definition for both; walkers as chains, as ArviZ's from_emcee) per second of sampling. Every
answer is validated before it counts: means within 5 MCSE of 0 and sds within 15 % of 1.
Runs alternate pn / emcee; medians and the ratio are reported, raw lines go to
benches/results/mcmc_vs_emcee.csv.

Usage: benches/mcmc_run.sh   (or: $(benches/setup_venv.sh arviz emcee | tail -1)
       benches/mcmc_vs_emcee.py --pn-bin target/release/pn [--seeds 5])
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

import arviz as az  # noqa: E402
import emcee  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

D, WALKERS, BURN, KEEP = 10, 20, 1000, 1000
COV = np.full((D, D), 0.9) + 0.1 * np.eye(D)
PREC = np.linalg.inv(COV)


def log_prob(x):
    return -0.5 * x @ PREC @ x


def validate(means, mcses, sds, who):
    z = np.abs(np.asarray(means)) / np.asarray(mcses)
    rel = np.abs(np.asarray(sds) - 1.0)
    ok = bool((z < 5).all() and (rel < 0.15).all())
    if not ok:
        print(f"  {who}: INVALID answer (max |z| {z.max():.1f}, max sd error {rel.max():.2f})")
    return ok


def run_pn(pn_bin, seed):
    out = subprocess.run(
        [pn_bin, "mcmc", "--model", "corr10", "--sampler", "ensemble", "--chains", "1",
         "--warmup", str(BURN), "--draws", str(KEEP), "--seed", str(seed), "--json"],
        check=True, capture_output=True, text=True)
    doc = json.loads(out.stdout)
    rows = doc["summary"]
    ess = min(r["ess_bulk"] for r in rows)
    ok = validate([r["mean"] for r in rows], [r["mcse_mean"] for r in rows], [r["sd"] for r in rows], "pn")
    return ess, doc["seconds"], ok


def run_emcee(seed):
    rng = np.random.default_rng(seed)
    p0 = rng.uniform(-2, 2, size=(WALKERS, D))
    sampler = emcee.EnsembleSampler(WALKERS, D, log_prob, moves=emcee.moves.StretchMove(a=2.0))
    sampler._random = np.random.mtrand.RandomState(seed)
    t = time.perf_counter()
    sampler.run_mcmc(p0, BURN + KEEP, progress=False)
    secs = time.perf_counter() - t
    chain = sampler.get_chain()[BURN:]            # steps × walkers × dim
    x = np.transpose(chain, (1, 0, 2))            # walkers (as chains) × draws × dim
    ess = min(float(az.ess(x[:, :, i], method="bulk")) for i in range(D))
    means = [x[:, :, i].mean() for i in range(D)]
    mcses = [float(az.mcse(x[:, :, i], method="mean")) for i in range(D)]
    sds = [x[:, :, i].std(ddof=1) for i in range(D)]
    return ess, secs, validate(means, mcses, sds, "emcee")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pn-bin", default="target/release/pn")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    root = pathlib.Path(__file__).resolve().parent
    lines = ["seed,tool,min_ess_bulk,seconds,ess_per_second,valid"]
    res = {"pn": [], "emcee": []}
    with threadpool_limits(1):
        for seed in range(args.seeds):
            for tool in ("pn", "emcee"):
                ess, secs, ok = run_pn(args.pn_bin, seed) if tool == "pn" else run_emcee(seed)
                lines.append(f"{seed},{tool},{ess:.0f},{secs:.4f},{ess / secs:.0f},{ok}")
                print(lines[-1])
                if ok:
                    res[tool].append((ess, secs))
    (root / "results" / "mcmc_vs_emcee.csv").write_text("\n".join(lines) + "\n")
    med = {t: (statistics.median(e for e, _ in v), statistics.median(s for _, s in v),
               statistics.median(e / s for e, s in v)) for t, v in res.items() if v}
    for t, (e, s, r) in med.items():
        print(f"{t:6s} median min bulk ESS {e:.0f}, seconds {s:.4f}, ESS/s {r:.0f} ({len(res[t])} valid runs)")
    if "pn" in med and "emcee" in med:
        print(f"ratio pn/emcee ESS per second: {med['pn'][2] / med['emcee'][2]:.1f}x "
              f"(emcee {emcee.__version__}, numpy {np.__version__})")


if __name__ == "__main__":
    main()
