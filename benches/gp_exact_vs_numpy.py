#!/usr/bin/env python3
"""Exact GP regression end to end: pn-linalg against the NumPy/SciPy recipe, in one run.

Work (same deterministic inputs on both sides, see crates/pn-linalg/examples/gp_timing.rs):
squared-exponential kernel (ℓ = 1, σ_f² = 1), d = 2, noise σ² = 1e-2, n training points, 500 test
points. End to end = build K, add σ²I, factorise, α = (K + σ²I)⁻¹ y, log marginal likelihood,
predictive mean and variance at the 500 test points.

* NumPy/SciPy (the course recipe): K by broadcasting,
  ``sf2 * np.exp(-0.5 * ((X[:, None] - X[None]) ** 2).sum(-1) / ell**2)``, then
  ``scipy.linalg.cho_factor`` / ``cho_solve`` for α and for K⁻¹ K*, variance
  ``diag K** − Σ K* ∘ K⁻¹K*``.
* pn: ``ExactGp::new`` + ``ExactGp::predict`` (faer Cholesky, on 1 and on 2 rayon threads).
* bare Cholesky of the same K + σ²I: ``pn_core::dense::cholesky`` and ``scipy.linalg.cho_factor``
  (the machine's Cholesky limit the end-to-end time is judged against), each into a fresh
  buffer; and in place (``pn_core::dense::cholesky_owned`` of an untimed copy,
  ``cho_factor(copy.T, overwrite_a=True)``), the factorisation without the first touch of a new
  n × n buffer — the stricter limit, since ExactGp factorises in place.

Protocol: Python and its BLAS on one thread (threadpoolctl checked). Every answer validated before
timing and on every timed run (log marginal likelihood to 1e-8 relative, sums of predictive means
and variances to 1e-6 relative); sides alternated (pn 1 thread, NumPy, pn 2 threads, repeat);
medians and ratios reported. Writes benches/results/gp_exact.json and docs/img/gp-exact-vs-numpy.svg.

Run through ``benches/gp_run.sh``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# One BLAS thread everywhere (threadpoolctl enforces it below); `--two-threads` starts the pool
# with two so that the recipe can also be timed on both cores.
_POOL = "2" if "--two-threads" in sys.argv else "1"
os.environ["OPENBLAS_NUM_THREADS"] = _POOL
os.environ["OMP_NUM_THREADS"] = _POOL
os.environ["MKL_NUM_THREADS"] = _POOL

import numpy as np  # noqa: E402
import scipy.linalg as sla  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOISE = 1e-2
N_TEST = 500


def points(n, a, b, c):
    t = np.arange(n, dtype=float)
    return np.stack([2 * np.sin(a * t + b), 2 * np.cos(c * t)], axis=1)


def se(a, b, ell=1.0, sf2=1.0):
    return sf2 * np.exp(-0.5 * ((a[:, None] - b[None]) ** 2).sum(-1) / ell**2)


def numpy_exact(n):
    x = points(n, 0.7, 0.3, 1.3)
    xs = points(N_TEST, 0.37, 1.1, 0.91)
    y = np.sin(3 * x[:, 0]) + np.cos(2 * x[:, 1])
    t0 = time.perf_counter()
    k = se(x, x)
    k[np.diag_indices_from(k)] += NOISE
    c = sla.cho_factor(k, lower=True)
    alpha = sla.cho_solve(c, y)
    logdet = 2 * np.log(np.diag(c[0])).sum()
    lml = -0.5 * (y @ alpha + logdet + n * np.log(2 * np.pi))
    ks = se(x, xs)
    mean = ks.T @ alpha
    var = 1.0 - (ks * sla.cho_solve(c, ks)).sum(0)
    dt = time.perf_counter() - t0
    return dt, {"lml": lml, "mean_sum": mean.sum(), "mean_abs_sum": np.abs(mean).sum(), "var_sum": var.sum()}


def numpy_cholesky(n):
    x = points(n, 0.7, 0.3, 1.3)
    k = se(x, x)
    k[np.diag_indices_from(k)] += NOISE
    t0 = time.perf_counter()
    c = sla.cho_factor(k, lower=True)
    dt = time.perf_counter() - t0
    return dt, {"logdet": 2 * np.log(np.diag(c[0])).sum()}


def numpy_cholesky_inplace(n):
    x = points(n, 0.7, 0.3, 1.3)
    k = se(x, x)
    k[np.diag_indices_from(k)] += NOISE
    k = k.copy()
    t0 = time.perf_counter()
    # K is symmetric: its transpose is the Fortran-ordered array LAPACK factorises in place.
    c = sla.cho_factor(k.T, lower=True, overwrite_a=True)
    dt = time.perf_counter() - t0
    assert np.shares_memory(c[0], k)
    return dt, {"logdet": 2 * np.log(np.diag(c[0])).sum()}


def pn(binary, task, n, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([binary, task, str(n), "1"], capture_output=True, text=True, env=env, check=True)
    r = json.loads(out.stdout)
    return r["seconds"][0], r


def check(ref, got, what):
    for key, rtol in (("lml", 1e-8), ("mean_sum", 1e-6), ("mean_abs_sum", 1e-6), ("var_sum", 1e-6), ("logdet", 1e-8)):
        if key in ref:
            a, b = ref[key], got[key]
            if abs(a - b) > rtol * max(abs(a), 1e-300) + (1e-9 if key == "var_sum" else 0.0):
                sys.exit(f"validation failed for {what}: {key} {a!r} vs {b!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/examples/gp_timing"))
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--two-threads",
        action="store_true",
        help="also time the recipe with OpenBLAS on 2 threads (the configuration of the issue's figures); "
        "only meaningful on an otherwise idle 2-core machine",
    )
    args = ap.parse_args()
    with threadpool_limits(1):
        blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
        assert all(t == 1 for _, t in blas), blas
        results = []
        for n in args.n:
            reps = args.reps if n < 8000 else max(2, args.reps - 1)
            row = {"n": n}
            for task, fn in (
                ("exact", numpy_exact),
                ("cholesky", numpy_cholesky),
                ("cholesky_inplace", numpy_cholesky_inplace),
            ):
                # Validation (untimed warm-ups on both sides).
                _, ref = fn(n)
                _, g1 = pn(args.bin, task, n, 1)
                check(ref, g1, f"{task} n={n}")
                times = {"pn1": [], "numpy": [], "pn2": []}
                if args.two_threads:
                    times["numpy2"] = []
                for _ in range(reps):
                    dt, g = pn(args.bin, task, n, 1)
                    check(ref, g, f"{task} n={n} pn1")
                    times["pn1"].append(dt)
                    dt, r = fn(n)
                    check(ref, r, f"{task} n={n} numpy")
                    times["numpy"].append(dt)
                    dt, g = pn(args.bin, task, n, 2)
                    check(ref, g, f"{task} n={n} pn2")
                    times["pn2"].append(dt)
                    if args.two_threads:
                        with threadpool_limits(2):
                            assert all(i["num_threads"] == 2 for i in threadpool_info()), threadpool_info()
                            dt, r = fn(n)
                        check(ref, r, f"{task} n={n} numpy 2 threads")
                        times["numpy2"].append(dt)
                med = {k: statistics.median(v) for k, v in times.items()}
                row[task] = {"median_s": med, "all_s": times}
                print(
                    f"n={n:5d} {task:8s} pn(1t) {med['pn1']:8.3f}s  numpy/scipy {med['numpy']:8.3f}s  "
                    f"pn(2t) {med['pn2']:8.3f}s  ratio numpy/pn(1t) {med['numpy'] / med['pn1']:5.2f}"
                    + (
                        f"  numpy/scipy(2t) {med['numpy2']:8.3f}s  ratio (2t) {med['numpy2'] / med['pn2']:5.2f}"
                        if "numpy2" in med
                        else ""
                    ),
                    flush=True,
                )
            e, c = row["exact"]["median_s"], row["cholesky"]["median_s"]
            row["pn_end_to_end_over_pn_cholesky"] = e["pn1"] / c["pn1"]
            row["pn_end_to_end_over_scipy_cholesky"] = e["pn1"] / c["numpy"]
            ci = row["cholesky_inplace"]["median_s"]
            row["pn_end_to_end_over_pn_cholesky_inplace"] = e["pn1"] / ci["pn1"]
            row["pn_end_to_end_over_best_cholesky"] = e["pn1"] / min(c["pn1"], c["numpy"], ci["pn1"], ci["numpy"])
            row["load_average"] = os.getloadavg()
            print(
                f"        end-to-end / bare Cholesky: pn {row['pn_end_to_end_over_pn_cholesky']:.2f}x of pn's, "
                f"{row['pn_end_to_end_over_scipy_cholesky']:.2f}x of SciPy's, "
                f"{row['pn_end_to_end_over_pn_cholesky_inplace']:.2f}x of pn's in place, "
                f"{row['pn_end_to_end_over_best_cholesky']:.2f}x of the fastest; load {row['load_average']}",
                flush=True,
            )
            results.append(row)
    out = {
        "blas": blas,
        "numpy": np.__version__,
        "scipy": sla.__name__ and __import__("scipy").__version__,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "results": results,
    }
    dest = ROOT / ("benches/results/gp_exact_2threads.json" if args.two_threads else "benches/results/gp_exact.json")
    dest.write_text(json.dumps(out, indent=2) + "\n")
    if args.two_threads:
        print(f"wrote {dest.relative_to(ROOT)} (no plot in --two-threads mode)", file=sys.stderr)
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ns = [r["n"] for r in results]
        fig, ax = plt.subplots(figsize=(6, 4))
        for key, label in (("numpy", "NumPy/SciPy recipe (1 thread)"), ("pn1", "pn ExactGp (1 thread)"), ("pn2", "pn ExactGp (2 threads)")):
            ax.loglog(ns, [r["exact"]["median_s"][key] for r in results], "o-", label=label)
        ax.loglog(ns, [r["cholesky"]["median_s"]["pn1"] for r in results], "k--", label="bare Cholesky, pn (1 thread)")
        ax.loglog(ns, [r["cholesky"]["median_s"]["numpy"] for r in results], "k:", label="bare Cholesky, SciPy (1 thread)")
        ax.loglog(ns, [r["cholesky_inplace"]["median_s"]["pn1"] for r in results], "g--", label="Cholesky in place, pn (1 thread)")
        ax.set_xlabel("n (training points)")
        ax.set_ylabel("seconds (median)")
        ax.set_title("Exact GP end to end: SE kernel, d = 2, 500 test points")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(ROOT / "docs/img/gp-exact-vs-numpy.svg")
    except Exception as e:  # plotting is optional
        print(f"no plot: {e}", file=sys.stderr)
    print(f"wrote {dest.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
