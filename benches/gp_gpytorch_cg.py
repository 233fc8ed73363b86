#!/usr/bin/env python3
"""GPyTorch's conjugate-gradient path on CPU against pn's preconditioned CG, n = 20 000, d = 3.

Same data and fixed hyperparameters as `crates/pn-linalg/examples/iter_bench_20k.rs`
(squared exponential, lengthscale 0.2, output scale 1, noise variance 0.01, zero prior mean;
20 000 training and 2 000 test points written by the pn binary, so both sides read the same
numbers). Both sides store K (GPyTorch evaluates the kernel lazily into a dense tensor; pn uses
a stored `K + σ²I` here) and precondition with a pivoted Cholesky factor of rank 100 or 300;
both stop CG on the relative residual ‖r‖/‖b‖ ≤ tol (GPyTorch: mean over columns, at least 10
iterations). GPyTorch runs in float64 with `max_cholesky_size(0)` (never Cholesky),
`cg_tolerance` = `eval_cg_tolerance` = tol, `max_preconditioner_size` = rank and
`skip_posterior_variances` (the predictive mean only). Its CG iterations are counted by wrapping
`linear_operator.utils.linear_cg`'s matrix-product closure.

Every answer is validated against pn's exact predictive mean (Cholesky), written once by the
pn binary: the largest deviation relative to max |exact mean| and the test RMSE are reported.

Timed (wall clock): GPyTorch — `model(x_test).mean` in eval mode on a fresh model (kernel
evaluation, preconditioner, CG, cross-covariance); pn — assembling K + σ²I, the pivoted
Cholesky, CG and the product with K* (K* itself is built once per process, untimed: ~0.1 s).
The two tools alternate: for each thread count (torch.set_num_threads / RAYON_NUM_THREADS) and
each repetition, one pn process runs its four configurations, then GPyTorch runs its four.

Usage: benches/.venv/bin/python benches/gp_gpytorch_cg.py [--reps 2] [--threads 1 2]
       (build first: cargo build --release -p pn-linalg --example iter_bench_20k)
Writes benches/results/gp_gpytorch_cg.json.
"""
import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import gpytorch
import linear_operator

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "examples" / "iter_bench_20k"
DATA = ROOT / "target" / "gp_peer"
OUT = ROOT / "benches" / "results" / "gp_gpytorch_cg.json"
CONFIGS = [(100, 1e-2), (100, 1e-3), (300, 1e-2), (300, 1e-3)]

_cg_iterations = []
_linear_cg = linear_operator.utils.linear_cg


def _counting_linear_cg(matmul_closure, rhs, *args, **kwargs):
    calls = [0]

    def counted(v):
        calls[0] += 1
        return matmul_closure(v)

    out = _linear_cg(counted, rhs, *args, **kwargs)
    # One product for the initial residual, then one per iteration.
    _cg_iterations.append(calls[0] - 1)
    return out


linear_operator.utils.linear_cg = _counting_linear_cg


class Model(gpytorch.models.ExactGP):
    def __init__(self, x, y, likelihood):
        super().__init__(x, y, likelihood)
        self.mean_module = gpytorch.means.ZeroMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def load(name):
    a = np.loadtxt(DATA / name, delimiter=",", skiprows=1)
    return torch.from_numpy(a[:, :3].copy()), torch.from_numpy(a[:, 3].copy())


def gpytorch_mean(x, y, xs, rank, tol):
    likelihood = gpytorch.likelihoods.GaussianLikelihood()
    model = Model(x, y, likelihood).double()
    model.covar_module.base_kernel.lengthscale = 0.2
    model.covar_module.outputscale = 1.0
    likelihood.noise = 0.01
    model.eval()
    likelihood.eval()
    _cg_iterations.clear()
    with torch.no_grad(), gpytorch.settings.max_cholesky_size(0), gpytorch.settings.cg_tolerance(
        tol
    ), gpytorch.settings.eval_cg_tolerance(tol), gpytorch.settings.max_preconditioner_size(
        rank
    ), gpytorch.settings.skip_posterior_variances(True), gpytorch.settings.max_cg_iterations(
        5000
    ):
        t0 = time.perf_counter()
        mean = model(xs).mean
        seconds = time.perf_counter() - t0
    mean = mean.numpy().copy()
    # GPyTorch modules hold reference cycles: without a collection every fresh model keeps its
    # 3.2 GB kernel matrix alive (the first version of this script ran out of memory).
    del model, likelihood
    gc.collect()
    return mean, seconds, list(_cg_iterations)


def run_pn(threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run(
        [str(BIN), "20000", "peer", str(DATA)], env=env, capture_output=True, text=True, check=True
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    if not (DATA / "exact_mean.csv").exists():
        print("writing data and the exact mean (pn, Cholesky in place) ...", file=sys.stderr)
        for row in run_pn(2):
            print("pn", row, file=sys.stderr)
    x, y = load("train.csv")
    xs, ys = load("test.csv")
    exact = np.loadtxt(DATA / "exact_mean.csv")
    scale = np.abs(exact).max()
    ys = ys.numpy()
    rmse = lambda m: float(np.sqrt(np.mean((m - ys) ** 2)))
    records = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for rep in range(args.reps):
            for row in run_pn(threads):
                if row.get("method") != "PCG, stored K":
                    continue
                row.update(rep=rep, load=os.getloadavg(), total_s=row["assemble_s"] + row["precond_s"] + row["solve_s"] + row["predict_s"])
                records.append(row)
                print(
                    f"pn        threads {threads} rank {row['rank']} tol {row['rtol']:.0e}: "
                    f"{row['total_s']:.2f} s, {row['iterations']} it, rmse {row['rmse']:.5f}, "
                    f"dev {row['max_dev_rel']:.1e}",
                    file=sys.stderr,
                )
            for rank, tol in CONFIGS:
                mean, seconds, its = gpytorch_mean(x, y, xs, rank, tol)
                dev = float(np.abs(mean - exact).max() / scale)
                rec = dict(
                    tool="gpytorch",
                    rank=rank,
                    rtol=tol,
                    threads=threads,
                    rep=rep,
                    total_s=seconds,
                    iterations=its,
                    rmse=rmse(mean),
                    max_dev_rel=dev,
                    load=os.getloadavg(),
                )
                records.append(rec)
                save(records, [], rmse(exact))
                print(
                    f"gpytorch  threads {threads} rank {rank} tol {tol:.0e}: {seconds:.2f} s, "
                    f"{its} it, rmse {rec['rmse']:.5f}, dev {dev:.1e}",
                    file=sys.stderr,
                )
    save(records, [], rmse(exact))
    summary = []
    for threads in args.threads:
        for rank, tol in CONFIGS:
            sel = lambda tool: [
                r for r in records if r["tool"] == tool and r["threads"] == threads and r["rank"] == rank and r["rtol"] == tol
            ]
            pn, gp = sel("pn"), sel("gpytorch")
            if not pn or not gp:
                continue
            tp = statistics.median(r["total_s"] for r in pn)
            tg = statistics.median(r["total_s"] for r in gp)
            summary.append(
                dict(
                    threads=threads,
                    rank=rank,
                    rtol=tol,
                    pn_s=tp,
                    gpytorch_s=tg,
                    ratio_gpytorch_over_pn=tg / tp,
                    pn_iterations=pn[0]["iterations"],
                    gpytorch_iterations=gp[0]["iterations"],
                    pn_rmse=pn[0]["rmse"],
                    gpytorch_rmse=gp[0]["rmse"],
                    pn_max_dev_rel=pn[0]["max_dev_rel"],
                    gpytorch_max_dev_rel=gp[0]["max_dev_rel"],
                )
            )
            print(json.dumps(summary[-1]))
    save(records, summary, rmse(exact))
    print(f"wrote {OUT}", file=sys.stderr)


def save(records, summary, exact_rmse):
    """Write everything measured so far (also after every GPyTorch run)."""
    OUT.write_text(
        json.dumps(
            dict(
                machine=dict(
                    python=platform.python_version(),
                    torch=torch.__version__,
                    gpytorch=gpytorch.__version__,
                    linear_operator=linear_operator.__version__,
                    cpu_count=os.cpu_count(),
                    load_average_at_end=os.getloadavg(),
                ),
                exact_rmse=exact_rmse,
                summary=summary,
                records=records,
            ),
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
