#!/usr/bin/env python3
"""pn-linalg against scikit-learn's GaussianProcessRegressor on the shipped real data sets.

Same data (crates/pn-linalg/data/*.csv), same splits, same kernel families and initial values,
same target standardisation (``normalize_y=True``), 3 random restarts each:

* mcycle: ``C(1) * RBF(5) + WhiteKernel(0.1)``; test = every fifth point (indices 2, 7, …).
* co2: ``C(1)*RBF(50) + C(0.1)*RBF(100)*ExpSineSquared(1, 1) + C(0.01)*RQ(1, 1) + C(0.001)*RBF(0.1)
  + WhiteKernel(0.001)``; train 1959–1990, test 1991–1997.

pn's side is ``cargo run --release -p pn-linalg --example real_data -- --json`` (run by this
script). Reported: test RMSE and NLPD (mean negative log predictive density of the noisy test
targets, in the targets' units), training log marginal likelihood, fit time, hyperparameters.
Results go to benches/results/gp_real_data.json; docs/gp.md quotes them.

Usage:  benches/setup_venv.sh scikit-learn:sklearn && benches/.venv/bin/python benches/gp_real_data.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import (  # noqa: E402
    RBF,
    ConstantKernel as C,
    ExpSineSquared,
    RationalQuadratic,
    WhiteKernel,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "crates" / "pn-linalg" / "data"


def load(name):
    a = np.loadtxt(DATA / f"{name}.csv", delimiter=",", skiprows=1)
    return a[:, :1], a[:, 1]


def sklearn_fit(name, kernel, x, y, is_test):
    test = np.array([is_test(i, x) for i in range(len(y))])
    xt, yt, xs, ys = x[~test], y[~test], x[test], y[test]
    gpr = GaussianProcessRegressor(
        kernel=kernel, normalize_y=True, n_restarts_optimizer=3, random_state=0
    )
    t0 = time.perf_counter()
    gpr.fit(xt, yt)
    seconds = time.perf_counter() - t0
    mean, std = gpr.predict(xs, return_std=True)  # std of the noisy target (White included)
    rmse = float(np.sqrt(np.mean((mean - ys) ** 2)))
    var = std**2
    nlpd = float(np.mean(0.5 * (np.log(2 * np.pi * var) + (ys - mean) ** 2 / var)))
    # log p(y) in the original units: sklearn's value is for the standardised targets.
    lml = float(gpr.log_marginal_likelihood_value_ - len(yt) * np.log(np.std(yt)))
    return {
        "data": name,
        "n_train": int(len(yt)),
        "n_test": int(len(ys)),
        "rmse": rmse,
        "nlpd": nlpd,
        "lml": lml,
        "seconds": seconds,
        "kernel": str(gpr.kernel_),
    }


def main():
    out = {"sklearn": [], "pn": []}
    x, y = load("mcycle")
    out["sklearn"].append(
        sklearn_fit(
            "mcycle",
            C(1.0) * RBF(5.0) + WhiteKernel(0.1),
            x,
            y,
            lambda i, x: i % 5 == 2,
        )
    )
    x, y = load("co2")
    k = (
        C(1.0) * RBF(50.0)
        + C(0.1) * RBF(100.0) * ExpSineSquared(1.0, 1.0)
        + C(0.01) * RationalQuadratic(1.0, 1.0)
        + C(0.001) * RBF(0.1)
        + WhiteKernel(0.001)
    )
    out["sklearn"].append(sklearn_fit("co2", k, x, y, lambda i, x: x[i, 0] >= 1991.0))

    res = subprocess.run(
        ["cargo", "run", "--release", "-q", "-p", "pn-linalg", "--example", "real_data", "--", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out["pn"] = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]

    print(f"{'data':<8} {'tool':<8} {'RMSE':>9} {'NLPD':>8} {'log p(y)':>10} {'fit s':>7}")
    for side in ("pn", "sklearn"):
        for r in out[side]:
            print(
                f"{r['data']:<8} {side:<8} {r['rmse']:9.4f} {r['nlpd']:8.4f} {r['lml']:10.3f} {r['seconds']:7.2f}"
            )
    for r in out["sklearn"]:
        print(f"sklearn {r['data']} kernel: {r['kernel']}")
    for r in out["pn"]:
        print(f"pn {r['data']} params: {r['params']} noise {r['noise_variance']:.3e}")
    dest = ROOT / "benches" / "results" / "gp_real_data.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
