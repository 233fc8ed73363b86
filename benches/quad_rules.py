"""Error at equal numbers of evaluations: SciPy `quad` (1-D) and `nquad` (3-D) against pn-quad's
Monte Carlo, scrambled-Sobol' QMC, tensor Gauss-Legendre and Bayesian quadrature.

Genz "gaussian" exp(-sum a^2 (x_k - 1/2)^2) on [0, 1]^d, d = 1 (a = 10) and d = 3 (a = 5), with
its closed-form integral. SciPy's evaluations are counted with a wrapper around the integrand;
for each SciPy tolerance the pn rules are run at the same number of evaluations (BQ up to
n = 1024). Usage: benches/quad_rules.sh
"""
import json
import subprocess
import sys

import numpy as np
from scipy import integrate
from scipy.special import erf

PN = sys.argv[1]


def truth(d, a):
    return (np.sqrt(np.pi) / (2 * a) * 2 * erf(a / 2)) ** d


def scipy_runs(d, a):
    out = []
    for eps in [1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-13]:
        calls = [0]

        def f(*x):
            calls[0] += 1
            return float(np.exp(-np.sum((a * (np.array(x) - 0.5)) ** 2)))

        if d == 1:
            v, _ = integrate.quad(f, 0.0, 1.0, epsabs=eps, epsrel=0.0, limit=200)
        else:
            v, _ = integrate.nquad(f, [[0.0, 1.0]] * d, opts={"epsabs": eps, "epsrel": 0.0, "limit": 200})
        out.append({"eps": eps, "n": calls[0], "err": abs(v - truth(d, a))})
    return out


def main():
    print("| d | SciPy epsabs | n (SciPy's evaluations) | SciPy |err| | MC |err| (median of 20) | Sobol' |err| (median of 20) | Gauss-Legendre |err| (nodes) | BQ |err|, std |")
    print("|---|---|---|---|---|---|---|---|")
    for d, a in [(1, 10.0), (3, 5.0)]:
        runs = scipy_runs(d, a)
        ns = sorted({r["n"] for r in runs})
        extra = [16, 64, 256, 1024] if d == 3 else [16, 32, 64]
        allns = sorted(set(ns) | set(extra))
        res = subprocess.run([PN, str(d)] + [str(n) for n in allns], capture_output=True, text=True, check=True).stdout
        pn = {r["n"]: r for r in map(json.loads, res.splitlines())}
        rows = {n: [] for n in allns}
        for r in runs:
            rows[r["n"]].append(r)
        for n in allns:
            p = pn[n]
            sc = rows[n]
            eps = ", ".join(f"{r['eps']:.0e}" for r in sc) if sc else "–"
            serr = f"{sc[0]['err']:.1e}" if sc else "–"
            bq = f"{p['bq']:.1e}, {p['bq_std']:.1e}" if p["bq"] is not None else "– (n > 1024)"
            print(f"| {d} | {eps} | {n} | {serr} | {p['mc']:.1e} | {p['sobol']:.1e} | {p['gl']:.1e} ({p['gl_n']}) | {bq} |")


if __name__ == "__main__":
    main()
