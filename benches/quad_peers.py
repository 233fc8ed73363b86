"""Bayesian quadrature: pn-quad vs emukit (GPy) vs ProbNum `bayesquad` on the same node sets.

Genz "gaussian" exp(-sum a^2 (x_k - u)^2) on [0,1]^d (d = 1: a = 10; d = 3: a = 5; u = 0.5),
scrambled Sobol nodes (SciPy, seed 0), n = 16 ... 256, squared-exponential kernel with initial
lengthscale 0.5/a and output scale 1. For each case both sides run alternately (pn, then the
Python peers, then pn again); times are medians; Python runs on one BLAS thread. Every answer is
validated against the closed-form integral before its time is reported (finite, |error| < |truth|;
the errors themselves are reported).

Usage: benches/quad_peers.sh  (builds pn's side, creates the venv, runs this script)
"""
import json
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from scipy.special import erf
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

warnings.filterwarnings("ignore")
# ProbNum 0.1.25 still uses NumPy 1 aliases removed in NumPy 2.
for _alias, _value in [("Inf", np.inf), ("NaN", np.nan), ("infty", np.inf), ("float_", np.float64), ("complex_", np.complex128), ("int_", np.int64)]:
    if not hasattr(np, _alias):
        setattr(np, _alias, _value)
PN = sys.argv[1]
REPS = 7


def genz_gaussian(x, a, u):
    return np.exp(-np.sum((a * (x - u)) ** 2, axis=1))


def truth(d, a, u):
    return (np.sqrt(np.pi) / (2 * a) * (erf(a * (1 - u)) + erf(a * u))) ** d


def emukit_bq(x, y, d, ell, fit):
    import GPy
    from emukit.model_wrappers.gpy_quadrature_wrappers import BaseGaussianProcessGPy, RBFGPy
    from emukit.quadrature.kernels import QuadratureRBFLebesgueMeasure
    from emukit.quadrature.measures import LebesgueMeasure
    from emukit.quadrature.methods import VanillaBayesianQuadrature

    t, c = time.perf_counter(), time.process_time()
    gpy = GPy.models.GPRegression(X=x, Y=y[:, None], kernel=GPy.kern.RBF(input_dim=d, lengthscale=ell, variance=1.0, ARD=True))
    gpy.Gaussian_noise.constrain_fixed(1e-10)
    if fit:
        gpy.optimize()
    meas = LebesgueMeasure.from_bounds(bounds=[(0.0, 1.0)] * d)
    qk = QuadratureRBFLebesgueMeasure(RBFGPy(gpy.kern), meas)
    model = BaseGaussianProcessGPy(kern=qk, gpy_model=gpy)
    vbq = VanillaBayesianQuadrature(base_gp=model, X=x, Y=y[:, None])
    m, v = vbq.integrate()
    return time.perf_counter() - t, time.process_time() - c, float(m), float(np.sqrt(max(v, 0.0)))


def probnum_bq(x, y, d, ell):
    from probnum.quad import bayesquad_from_data
    from probnum.quad.integration_measures import LebesgueMeasure
    from probnum.randprocs.kernels import ExpQuad

    t, c = time.perf_counter(), time.process_time()
    k = ExpQuad(input_shape=(d,), lengthscales=ell)
    meas = LebesgueMeasure(domain=(np.zeros(d), np.ones(d)), input_dim=d)
    belief, _ = bayesquad_from_data(nodes=x, fun_evals=y, kernel=k, measure=meas)
    return time.perf_counter() - t, time.process_time() - c, float(belief.mean), float(belief.std)


def main():
    cases = []
    for d, a in [(1, 10.0), (3, 5.0)]:
        for n in [16, 32, 64, 128, 256]:
            x = qmc.Sobol(d, scramble=True, seed=0).random(n)
            cases.append((d, a, 0.5, n, 0.5 / a, x))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        for d, a, u, n, ell, x in cases:
            fh.write(" ".join(map(repr, [d, a, u, n, ell] + x.ravel().tolist())) + "\n")
        path = fh.name
    rows = []
    for rnd in range(2):  # alternate: pn, peers, pn, peers
        out = subprocess.run([PN, path, str(REPS)], capture_output=True, text=True, check=True).stdout
        pn = [json.loads(l) for l in out.splitlines() if l.strip()]
        with threadpool_limits(limits=1):
            for (d, a, u, n, ell, x), p in zip(cases, pn):
                y = genz_gaussian(x, a, u)
                tr = truth(d, a, u)
                res = {"d": d, "n": n, "truth": tr, "pn": p}
                for name, f in [
                    ("emukit_fixed", lambda: emukit_bq(x, y, d, ell, False)),
                    ("emukit_fitted", lambda: emukit_bq(x, y, d, ell, True)),
                    ("probnum_fixed", lambda: probnum_bq(x, y, d, ell)),
                ]:
                    ts, cs, m, s = [], [], None, None
                    for _ in range(REPS):
                        t, c, m, s = f()
                        ts.append(t)
                        cs.append(c)
                    if not (np.isfinite(m) and abs(m - tr) < abs(tr)):
                        print(f"# {name} d={d} n={n}: answer {m} vs truth {tr} rejected", file=sys.stderr)
                        res[name] = None
                        continue
                    res[name] = {"s": float(np.median(ts)), "cpu": float(np.mean(cs)), "mean": m, "std": s}
                rows.append((rnd, res))
    # Report the second round (warm caches on both sides), pn timed in the same round.
    print("| d | n | pn fixed: ms, |err|, std | emukit fixed: ms, |err|, std | ProbNum fixed: ms, |err|, std | pn fitted: ms, |err|, std (evals) | emukit fitted: ms, |err|, std | emukit/pn (fixed, fitted) | ProbNum/pn (fixed) |")
    print("|---|---|---|---|---|---|---|---|---|")
    cpu_rows = []
    for rnd, r in rows:
        if rnd != 1:
            continue
        p, tr = r["pn"], r["truth"]
        def cell(ms, m, s):
            return f"{ms * 1e3:.2f}, {abs(m - tr):.1e}, {s:.1e}"
        def peer(k):
            v = r.get(k)
            return cell(v["s"], v["mean"], v["std"]) if v else "rejected"
        ef, eF, pf = r.get("emukit_fixed"), r.get("emukit_fitted"), r.get("probnum_fixed")
        ratio_e = f"{ef['s'] / p['fixed_s']:.1f}×, {eF['s'] / p['fitted_s']:.1f}×" if ef and eF else "–"
        ratio_p = f"{pf['s'] / p['fixed_s']:.1f}×" if pf else "–"
        print(f"| {r['d']} | {r['n']} | {cell(p['fixed_s'], p['fixed_mean'], p['fixed_std'])} | {peer('emukit_fixed')} | {peer('probnum_fixed')} | {cell(p['fitted_s'], p['fitted_mean'], p['fitted_std'])} ({p['fit_evals']}) | {peer('emukit_fitted')} | {ratio_e} | {ratio_p} |")
        if ef and eF and pf and p["fixed_cpu_s"] > 0 and p["fitted_cpu_s"] > 0:
            cpu_rows.append((r["d"], r["n"], p["fixed_cpu_s"], pf["cpu"], ef["cpu"], p["fitted_cpu_s"], eF["cpu"]))
    print()
    print("CPU time per call (process/thread CPU time, mean of the round; insensitive to descheduling on a loaded machine):")
    print()
    print("| d | n | pn fixed ms | ProbNum fixed ms | emukit fixed ms | pn fitted ms | emukit fitted ms | ProbNum/pn fixed | emukit/pn fixed | emukit/pn fitted |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d, n, pfc, prc, efc, pFc, eFc in cpu_rows:
        print(f"| {d} | {n} | {pfc * 1e3:.2f} | {prc * 1e3:.2f} | {efc * 1e3:.2f} | {pFc * 1e3:.2f} | {eFc * 1e3:.1f} | {prc / pfc:.1f}× | {efc / pfc:.1f}× | {eFc / pFc:.1f}× |")


if __name__ == "__main__":
    main()
